"""The page's edit actions on an issue's corrections (`apply_action`), run on a real grouped issue."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from test_corrections import ISSUE, NOW, rss

from digest.config import load_config
from digest.errors import DigestError
from digest.issue import corrections
from digest.issue.corrections import Corrections
from digest.issue.edits import ACTIONS, apply_action
from digest.issue.pipeline import Built, finish, grouped_issue
from digest.models import Issue
from digest.store.db import State

CLOCK = datetime.fromisoformat(NOW.replace("Z", "+00:00"))


class Page:
    """What the preview does on each POST: load the file, apply one action, save, render again."""

    def __init__(self, config: Path, tmp_path: Path) -> None:
        self.settings = load_config(config)
        with State(tmp_path / "probe.db") as state:
            self.grouped: Issue = grouped_issue(self.settings, CLOCK, state)
        self.built: Built = finish(self.settings, self.grouped)

    def post(self, **form: str) -> str:
        found = corrections.load(self.settings, ISSUE)
        changed, notice = apply_action(found, form, self.grouped, self.built.issue)
        corrections.save(self.settings, ISSUE, changed)
        self.built = finish(self.settings, self.grouped)
        return notice

    @property
    def file(self) -> dict[str, Any]:
        return corrections.load(self.settings, ISSUE).to_data()

    def section(self, slug: str) -> list[str]:
        return [p.article.id for s in self.built.issue.sections if s.slug == slug for p in s.items]


@pytest.fixture
def page(tmp_path: Path, write_config: Callable[..., Path]) -> Page:
    (tmp_path / "feed.xml").write_text(rss(["a", "b", "c", "d", "e", "g"]))
    return Page(write_config([{"name": "News", "url": "feed.xml"}]), tmp_path)


def test_every_action_of_the_page_changes_the_file_as_the_editors_expect(page: Page) -> None:
    assert set(ACTIONS) == {
        *("intro", "unpin", "drop", "restore", "lead", "move", "rewrite", "unrewrite", "up", "down"),
        *("promote", "add"),  # tests/test_promote_add.py
    }
    assert page.post(action="drop", id="story-a") == "article dropped"
    assert page.file == {"drop": ["story-a"]} and "story-a" not in page.section("labor")
    assert page.post(action="lead", id="story-b") == "article pinned as the lead story"
    assert page.built.issue.lead is not None and page.built.issue.lead.article.id == "story-b"
    assert page.post(action="move", id="story-d", section="palestine") == "article moved to Palestine"
    assert page.file["move"] == {"story-d": "palestine"} and page.section("palestine")[0] == "story-d"
    assert page.post(action="move", id="story-d", section="labor") == "article moved to Labor"
    assert "move" not in page.file  # back home: nothing to remember
    assert page.post(action="rewrite", id="story-e", title="Rafah, shorter", teaser="") == "article re-worded"
    assert page.file["rewrite"] == {"story-e": {"title": "Rafah, shorter", "teaser": ""}}
    original = next(p.article for p in page.grouped.articles() if p.article.id == "story-e")
    page.post(action="rewrite", id="story-e", title=original.title, teaser=original.teaser)
    assert "rewrite" not in page.file
    before = page.section("palestine")
    assert page.post(action="down", id=before[0]) == "Palestine reordered"
    assert page.section("palestine") == [before[1], before[0], *before[2:]] == page.file["order"]["palestine"]
    assert page.post(action="up", id=before[0]) and page.section("palestine") == before
    assert page.post(action="intro", intro="  Hello, readers.  ") == "intro note saved"
    assert page.built.issue.intro == "Hello, readers."
    assert page.post(action="intro", intro="") == "intro note removed" and "intro" not in page.file
    assert page.post(action="restore", id="story-a") == "article restored" and "drop" not in page.file
    assert page.post(action="unpin") == "lead story unpinned" and "lead" not in page.file
    assert page.post(action="drop", id="story-c") and page.post(action="drop", id="story-c")
    assert page.file["drop"] == ["story-c"]  # dropping twice lists it once


@pytest.mark.parametrize(
    ("form", "said"),
    [
        ({"action": "pin", "id": "story-a"}, "unknown action 'pin'"),
        ({"action": "drop", "id": "story-z"}, "no article with the id 'story-z'"),
        ({"action": "move", "id": "story-a", "section": "lab0r"}, "no section 'lab0r'"),
        ({"action": "intro", "intro": "Hello\x1b[2J"}, "U+001B"),
    ],
)
def test_an_action_that_cannot_be_done_is_a_sentence_and_leaves_the_file(
    page: Page, form: dict[str, str], said: str
) -> None:
    page.post(action="drop", id="story-a")
    with pytest.raises(DigestError, match=re.escape(said)):
        page.post(**form)
    assert page.file == {"drop": ["story-a"]}


def test_the_file_a_page_writes_is_the_file_a_build_reads(page: Page) -> None:
    page.post(action="rewrite", id="story-b", title="Gaza: «talks» collapse", teaser="A teaser: with colons")
    page.post(action="move", id="story-c", section="labor")
    path = corrections.corrections_path(page.settings, ISSUE)
    assert Corrections.load(path).to_data() == page.file
    assert path.read_text().startswith("move:") and "«talks»" in path.read_text()
