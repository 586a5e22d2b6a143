"""Variants on the editors' side: the preview shows any of them and the readers of each, approval freezes every
one the list needs, and each passes `digest check` within the size budget."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import REAL_WEEK_NOW, REPO
from previews import ISSUE, demo_copy, preview_client
from servers import SmtpSink
from variants_help import (
    DEMO_SECTIONS,
    NOW,
    add_readers,
    by_recipient,
    html_sections,
    parts,
    text_sections,
)

from digest.config import load_config
from digest.issue import variants
from digest.issue.check import check_eml, check_html, failed, report
from digest.issue.pipeline import build_issue
from digest.mail.message import prepare
from digest.mail.send import send_issue
from digest.mail.summary import describe
from digest.store import variants as variant_rows
from digest.store.db import State

CLOCK = datetime.fromisoformat(NOW.replace("Z", "+00:00"))


def readers_table(page: str) -> str:
    return page.split('<table id="readers">', 1)[1].split("</table>", 1)[0]


def test_the_preview_shows_any_variant_and_the_readers_of_each_copy(tmp_path: Path) -> None:
    config = demo_copy(tmp_path)
    add_readers(
        config,
        {
            **{f"pl{n}@example.org": "palestine,labor" for n in range(3)},
            **{f"l{n}@example.org": "labor" for n in range(2)},
            **{f"all{n}@example.org": "" for n in range(4)},
        },
    )
    with preview_client(config) as (client, guard, _desk):
        table = readers_table(client.get("/").text)
        assert '<tr data-key=""><td><a href="/">the whole issue</a></td><td>4</td>' in table
        assert '<a href="/?variant=labor%2Cpalestine">Labor, Palestine</a></td><td>3</td><td>when approved' in table
        assert '<a href="/?variant=labor">Labor</a></td><td>2</td>' in table

        page = client.get("/", params={"variant": "palestine,labor"})
        assert page.status_code == 200
        assert 'id="as">as a reader of: Labor, Palestine</strong>' in page.text
        assert 'src="/email.html?v=' in page.text and "&amp;variant=labor%2Cpalestine" in page.text
        assert 'value="palestine" checked' in page.text and 'value="latin-america">' in page.text
        for query in ("?variant=palestine,labor", "?variant=labor&variant=palestine"):  # a link, or the checkboxes
            html = client.get("/email.html" + query).text
            assert html_sections(html) == ["Labor", "Palestine"]
            text = client.get("/email.txt" + query).text
            assert text_sections(text) == ["LABOR", "PALESTINE"]
        assert "This copy holds only your themes: Labor, Palestine." in page.text  # the page's own text part
        assert html_sections(client.get("/email.html").text) == DEMO_SECTIONS  # the whole issue, as before
        everything = client.get("/", params={"variant": "latin-america,labor,palestine,more"})
        assert 'id="as"' not in everything.text  # a choice of every section is the whole issue

        # Hostile or mistaken input: one sentence and 400, nothing rendered.
        bad = client.get("/email.html", params={"variant": "labor,<script>x</script>"})
        assert bad.status_code == 400 and bad.headers["content-type"].startswith("text/plain")
        assert bad.text.startswith("'<script>x</script>' is not a section of issue 2024-W09; use one of")
        assert client.get("/", params={"variant": "x" * 600}).status_code == 400

        done = client.post("/approve", data={"csrf": guard.csrf})
        assert done.status_code == 303
        table = readers_table(client.get("/").text)
        assert table.count(">frozen<") == 3
    with State(load_config(config).state_path) as state:
        frozen = variant_rows.of_issue(state, ISSUE)
    assert sorted(frozen) == ["labor", "labor,palestine"]
    assert html_sections(frozen["labor,palestine"].rendered.html) == ["Labor", "Palestine"]


def test_a_choice_with_nothing_this_week_shows_as_nothing(tmp_path: Path) -> None:
    config = demo_copy(tmp_path)
    (tmp_path / "corrections").mkdir(exist_ok=True)
    with preview_client(config) as (client, guard, desk):
        built = desk.built
        assert built is not None
        latam = next(s for s in built.issue.sections if s.slug == "latin-america").items[0].article
        done = client.post("/correct", data={"csrf": guard.csrf, "action": "drop", "id": latam.id})
        assert done.status_code == 303
        page = client.get("/", params={"variant": "latin-america"})
        assert "as a reader of: Latin America: nothing this week" in page.text
        assert page.text.count('src="/email.html?v=') == page.text.count("&amp;variant=latin-america") == 2
        assert "get nothing this week" in client.get("/email.html", params={"variant": "latin-america"}).text


def use_templates(config: Path, tmp_path: Path) -> Path:
    templates = tmp_path / "templates"
    templates.mkdir()
    for name in ("email.mjml.j2", "email.txt.j2", "email.css"):
        shutil.copy(REPO / "digest" / "templates" / name, templates / name)
    data = yaml.safe_load(config.read_text())
    data["templates"] = "templates"
    config.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    return templates


@pytest.mark.usefixtures("secret")
def test_approval_freezes_every_variant_and_the_send_mails_exactly_those(
    send_config: Callable[..., Path], smtp_sink: SmtpSink, cli: Callable[..., Any], tmp_path: Path
) -> None:
    config = send_config()
    templates = use_templates(config, tmp_path)
    add_readers(
        config,
        {
            "pl@example.org": "palestine,labor",
            "l1@example.org": "labor",
            "l2@example.org": "labor",
            "all@example.org": "",
        },
    )
    approved = cli("approve", "--config", config, "--now", NOW)
    assert approved.exit_code == 0, approved.output
    assert re.search(
        r"^  and the copy for readers of Labor only \(2 readers\): [\d,]+ bytes of HTML$", approved.stdout, re.M
    )
    assert "  and the copy for readers of Labor, Palestine only (1 reader): " in approved.stdout

    # After approval: a template changes, and two readers arrive, one with a choice already frozen, one not.
    mjml = templates / "email.mjml.j2"
    mjml.write_text(mjml.read_text().replace("<h1>{{ title }}</h1>", "<h1>{{ title }} CHANGED</h1>"))
    add_readers(config, {"late-labor@example.org": "labor", "late-palestine@example.org": "palestine"})
    with State(load_config(config).state_path) as state:
        summary = send_issue(load_config(config), state, CLOCK)

    assert summary.complete and summary.sent == 6
    assert summary.renders == 0  # everything went out as frozen
    assert summary.late_choice == 1
    assert (
        "1 reader chose their themes after the issue was frozen and got the whole issue (approve again to cut it for "
        "them)" in describe(summary)
    )
    mails = by_recipient(smtp_sink)
    assert all(b"CHANGED" not in raw for [raw] in mails.values())  # exactly what was approved
    assert html_sections(parts(mails["pl@example.org"][0])[1]) == ["Labor", "Palestine"]
    assert html_sections(parts(mails["late-labor@example.org"][0])[1]) == ["Labor"]
    assert html_sections(parts(mails["late-palestine@example.org"][0])[1]) == DEMO_SECTIONS
    assert summary.variants == {"the whole issue": 2, "Labor": 3, "Labor, Palestine": 1}


def test_every_variant_of_the_real_week_passes_digest_check_within_the_size_budget(
    real_week_config: Path, tmp_path: Path
) -> None:
    data = yaml.safe_load(real_week_config.read_text())
    data["issue"]["size_budget"] = 30_000  # the whole week does not fit: its last cards became headlines
    real_week_config.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    settings = load_config(real_week_config)
    now = datetime.fromisoformat(REAL_WEEK_NOW.replace("Z", "+00:00"))
    with State(tmp_path / "probe.db") as state:
        built = build_issue(settings, now, state)
    assert built.rendered.degraded
    shape = variants.shape_of(built.issue)
    slugs = [slug for slug, _, full in shape if full]
    assert len(slugs) == 4 and built.issue.lead is not None
    keys = {variants.key_for(variants.choice(c), shape) for c in [*slugs, *(f"{a},{b}" for a in slugs for b in slugs)]}
    cut = variants.render_variants(built.issue, keys, settings)
    assert len(cut) == 10  # 4 sections alone and 6 pairs
    whole_cards = {p.article.id for s in built.issue.sections for p in s.items}
    for variant in cut:
        html = variant.rendered.html
        assert len(html.encode()) <= 30_000, variant.label
        findings = check_html(html, "en")
        assert not failed(findings), report(findings, variant.label)
        message = prepare(settings, variant.rendered).for_recipient(
            "reader@example.org", "https://newsletter.example.org/unsubscribe/x", now, "A Reader"
        )
        findings = check_eml(message, "en")
        assert not failed(findings), report(findings, variant.label)
        assert html_sections(html) == [title for title in variant.label.split(", ")]
        if not variant.rendered.degraded:  # a card the whole issue had to turn into a headline is a card again
            assert {p.article.id for s in variant.issue.sections for p in s.items} >= {
                p.article.id for s in built.issue.sections if s.title in variant.label for p in s.more
            }
    assert any(not v.rendered.degraded and any(s.more for s in built.issue.sections if s.title in v.label) for v in cut)
    assert whole_cards


def test_an_editor_looks_at_the_issue_as_a_reader_of_palestine_and_labor_in_chromium(tmp_path: Path, page: Any) -> None:
    from playwright.sync_api import expect
    from previews import running_preview

    config = demo_copy(tmp_path)
    add_readers(config, {"pl@example.org": "palestine,labor", "all@example.org": ""})
    with running_preview("--config", str(config)) as base:
        page.goto(base + "/", wait_until="domcontentloaded")
        frame = page.frame_locator("#desktop")
        expect(frame.locator("h2#latin-america")).to_have_count(1)
        page.locator('#as-reader input[value="palestine"]').check()
        page.locator('#as-reader input[value="labor"]').check()
        page.locator("#as-reader button").click()
        expect(page.locator("#as")).to_have_text("as a reader of: Labor, Palestine")
        expect(frame.locator("h2#labor")).to_have_count(1)
        expect(frame.locator("h2#palestine")).to_have_count(1)
        expect(frame.locator("h2#latin-america")).to_have_count(0)
        expect(page.locator("#text")).to_contain_text("This copy holds only your themes: Labor, Palestine.")
        # A correction made while looking at the variant updates the variant in place.
        first = frame.locator("h2#labor ~ .card h3 a").first.inner_text()
        page.locator("li.article", has_text=first).get_by_role("button", name="Drop").click()
        expect(frame.get_by_role("link", name=first, exact=True)).to_have_count(0)
        expect(frame.locator("h2#latin-america")).to_have_count(0)
        expect(page.locator("#as")).to_have_text("as a reader of: Labor, Palestine")
        page.get_by_role("link", name="Show the whole issue").click()
        expect(frame.locator("h2#latin-america")).to_have_count(1)
        expect(page.locator("#readers")).to_contain_text("Labor, Palestine")


def test_a_test_send_from_a_variant_sends_that_copy(tmp_path: Path, smtp_sink: SmtpSink) -> None:
    config = demo_copy(tmp_path, smtp={"host": "127.0.0.1", "port": smtp_sink.port, "security": "none"})
    with preview_client(config) as (client, guard, _desk):
        page = client.get("/", params={"variant": "palestine,labor"})
        assert '<input type="hidden" name="variant" value="labor,palestine">' in page.text
        sent = client.post(
            "/test-send", data={"csrf": guard.csrf, "address": "desk@example.org", "variant": "labor,palestine"}
        )
        assert sent.status_code == 303
        assert "(the copy for readers of Labor, Palestine)" in client.get("/").text
        client.post("/test-send", data={"csrf": guard.csrf, "address": "desk@example.org"})
        refused = client.post("/test-send", data={"csrf": guard.csrf, "address": "desk@example.org", "variant": "nope"})
        assert refused.status_code == 303 and "error: &#39;nope&#39; is not a section" in client.get("/").text
    [labor_palestine, whole] = [parts(raw)[1] for _, _, raw in smtp_sink.handler.messages]
    assert html_sections(labor_palestine) == ["Labor", "Palestine"]
    assert html_sections(whole) == DEMO_SECTIONS
