"""An issue cut to each reader's themes, sent: `digest send` against a real aiosmtpd server on 127.0.0.1 and real
SQLite files or PostgreSQL; every received message is parsed and its section headings read."""

from __future__ import annotations

import os
import re
import subprocess
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import SECRET
from servers import SmtpSink
from test_send import digest_command, kill_send_after
from variants_help import (
    DEMO_SECTIONS,
    ISSUE,
    NOW,
    add_readers,
    by_recipient,
    demo_article_url,
    html_lead,
    html_sections,
    ledger_variants,
    parts,
    text_sections,
)

from digest.config import load_config
from digest.issue.pipeline import SAMPLE_RECIPIENT
from digest.issue.variants import WHOLE, choice, key_for
from digest.mail.send import send_issue
from digest.store.db import State
from digest.subscribers.tokens import unsubscribe_url
from digest.util import preferences_url_of

pytestmark = pytest.mark.usefixtures("secret")
ENGINES = ("sqlite", "postgresql")
UNSUBSCRIBE = re.compile(rb"^List-Unsubscribe: <([^>]+)>", re.M)
CLOCK = datetime.fromisoformat(NOW.replace("Z", "+00:00"))


def send(cli: Callable[..., Any], config: Path, *extra: str) -> Any:
    result = cli("send", "--config", config, "--now", NOW, *extra)
    assert result.exit_code == 0, result.output
    return result


def test_a_reader_of_palestine_and_labor_gets_exactly_those_sections_and_a_reader_with_no_choice_all(
    send_config: Callable[..., Path], smtp_sink: SmtpSink, cli: Callable[..., Any], tmp_path: Path
) -> None:
    config = send_config()
    add_readers(config, {"chose@example.org": "palestine,labor", "everything@example.org": ""})

    send(cli, config)

    mails = by_recipient(smtp_sink)
    assert {a: len(m) for a, m in mails.items()} == {"chose@example.org": 1, "everything@example.org": 1}
    _, html, text = parts(mails["chose@example.org"][0])
    assert html_sections(html) == ["Labor", "Palestine"]  # in the issue's order, whatever order they were chosen
    assert text_sections(text) == ["LABOR", "PALESTINE"]
    assert "This copy holds only your themes: Labor, Palestine." in text
    assert "Latin America" not in html and "More from the week" not in html
    _, html, text = parts(mails["everything@example.org"][0])
    assert html_sections(html) == DEMO_SECTIONS
    assert text_sections(text) == [s.upper() for s in DEMO_SECTIONS]
    assert "only your themes" not in text

    # The reader with no choice gets the whole issue byte for byte as a build renders it (the golden files'
    # render), their own unsubscribe link aside.
    out = tmp_path / "out"
    assert cli("build", "--config", config, "--now", NOW, "--out", out).exit_code == 0
    raw = mails["everything@example.org"][0]
    match = UNSUBSCRIBE.search(raw)
    assert match
    sample = unsubscribe_url(load_config(config), 0, SAMPLE_RECIPIENT)
    mine = match.group(1).decode()
    assert "&" not in mine + sample  # so that the HTML holds each URL as it is
    # (the message's lines end in CRLF, as SMTP wants; the files' in LF; the preferences link has the same token)
    for part, suffix in ((html, "html"), (text, "txt")):
        mine_personal = part.replace(preferences_url_of(mine), preferences_url_of(sample)).replace(mine, sample)
        assert mine_personal.replace("\r\n", "\n").rstrip() == (out / f"{ISSUE}.{suffix}").read_text().rstrip()
    assert ledger_variants(config) == {
        "chose@example.org": ("sent", "labor,palestine"),
        "everything@example.org": ("sent", WHOLE),
    }


def test_the_lead_story_goes_only_to_readers_of_its_section(
    send_config: Callable[..., Path], smtp_sink: SmtpSink, cli: Callable[..., Any], tmp_path: Path
) -> None:
    config = send_config()
    lead = demo_article_url(tmp_path, cli, config, "palestine")
    (tmp_path / "corrections").mkdir()
    (tmp_path / "corrections" / f"{ISSUE}.yaml").write_text(f"lead: {lead}\n")
    add_readers(config, {"labor@example.org": "labor", "palestine@example.org": "palestine", "all@example.org": ""})

    send(cli, config)

    mails = by_recipient(smtp_sink)
    _, html, _ = parts(mails["all@example.org"][0])
    title = html_lead(html)
    assert title is not None and title.startswith("Berlinale")
    _, html, text = parts(mails["palestine@example.org"][0])
    assert html_lead(html) == title and html_sections(html) == ["Palestine"]
    _, html, text = parts(mails["labor@example.org"][0])
    assert html_lead(html) is None and html_sections(html) == ["Labor"]
    assert "Berlinale" not in html and "Berlinale" not in text


def test_many_readers_over_8_choices_cost_8_renders(
    send_config: Callable[..., Path], smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    config = send_config(connections=4)
    choices = ["", "latin-america", "labor", "palestine", "more", "labor,palestine", "latin-america,labor"]
    choices.append("palestine,more")
    readers = {f"reader{n}@example{n % 7}.org": choices[n % 8] for n in range(800)}
    add_readers(config, readers)

    with State(load_config(config).state_target) as state:
        summary = send_issue(load_config(config), state, CLOCK)

    assert summary.complete and summary.sent == 800
    assert summary.renders == 8  # the whole issue and 7 variants, for 800 readers
    assert sum(summary.variants.values()) == 800 and len(summary.variants) == 8
    assert summary.variants["the whole issue"] == 100 and summary.variants["Labor, Palestine"] == 100
    # Every reader got their own cut, and the relay saw 8 distinct contents, personal parts aside.
    mails = by_recipient(smtp_sink)
    titles = dict(zip(["latin-america", "labor", "palestine", "more"], DEMO_SECTIONS, strict=True))
    bodies: set[str] = set()
    for address, themes in readers.items():
        [raw] = mails[address]
        _, html, _text = parts(raw)
        expected = [t for slug, t in titles.items() if slug in themes.split(",")] if themes else DEMO_SECTIONS
        assert html_sections(html) == expected, address
        token = UNSUBSCRIBE.search(raw)
        assert token
        mine = token.group(1).decode()
        bodies.add(html.replace(preferences_url_of(mine), "").replace(mine, ""))
    assert len(bodies) == 8
    variants = Counter(variant for _, variant in ledger_variants(config).values())
    assert len(variants) == 8 and set(variants.values()) == {100}


def without_latin_america(
    write_config: Callable[..., Path], smtp_sink: SmtpSink, cli: Callable[..., Any], tmp_path: Path
) -> Path:
    """The demo config whose issue has no Latin America: the editors dropped the week's only article of it."""
    from conftest import DEMO_FEED

    config = write_config(
        DEMO_FEED,
        issue={"window_days": 10},
        editors=["editors@example.org"],
        smtp={"host": "127.0.0.1", "port": smtp_sink.port, "security": "none", "rate_per_second": 5000},
    )
    dropped = demo_article_url(tmp_path, cli, config, "latin-america")
    (tmp_path / "corrections").mkdir()
    (tmp_path / "corrections" / f"{ISSUE}.yaml").write_text(f"drop: [{dropped}]\n")
    return config


def test_a_reader_whose_themes_are_empty_this_week_gets_nothing_and_is_counted(
    write_config: Callable[..., Path], smtp_sink: SmtpSink, cli: Callable[..., Any], tmp_path: Path
) -> None:
    config = without_latin_america(write_config, smtp_sink, cli, tmp_path)
    add_readers(
        config,
        {"latam@example.org": "latin-america", "latam-labor@example.org": "latin-america,labor", "all@example.org": ""},
    )

    result = cli("run", "--config", config, "--now", NOW)

    assert result.exit_code == 0, result.output
    line = "1 reader got nothing, as every theme they chose is empty in this issue (nothing for you this week)"
    assert line in result.stdout
    mails = by_recipient(smtp_sink)
    assert "latam@example.org" not in mails
    assert html_sections(parts(mails["latam-labor@example.org"][0])[1]) == ["Labor"]
    assert html_sections(parts(mails["all@example.org"][0])[1]) == ["Labor", "Palestine", "More from the week"]
    [report] = mails["editors@example.org"]
    assert line in parts_of_report(report)
    assert "latam@example.org" not in ledger_variants(config)  # nothing went out, so nothing to resume
    archived = (tmp_path / "archive" / f"{ISSUE}.html").read_text()
    assert html_sections(archived) == ["Labor", "Palestine", "More from the week"]  # the archive: the whole issue

    again = cli("send", "--config", config, "--now", NOW)
    assert again.exit_code == 0 and "already sent" in again.stdout


def test_readers_with_nothing_this_week_are_counted_once_by_several_workers(
    write_config: Callable[..., Path], smtp_sink: SmtpSink, cli: Callable[..., Any], tmp_path: Path
) -> None:
    config = without_latin_america(write_config, smtp_sink, cli, tmp_path)
    readers = {f"latam{n}@example.org": "latin-america" for n in range(40)}
    readers |= {f"labor{n}@example.org": "labor" for n in range(40)}
    add_readers(config, readers)

    # Each worker looks for readers once more before it stops, and finds the ones let go queued again.
    result = cli("send", "--config", config, "--now", NOW, "--workers", 3)

    assert result.exit_code == 0, result.output
    assert "40 readers got nothing, as every theme they chose is empty in this issue" in result.stdout
    mails = by_recipient(smtp_sink)
    assert sorted(mails) == sorted(a for a in readers if a.startswith("labor"))


def parts_of_report(raw: bytes) -> str:
    import email
    import email.policy

    message: Any = email.message_from_bytes(raw, policy=email.policy.default)
    return str(message.get_content())


def test_the_subject_names_the_sections_of_each_copy(
    send_config: Callable[..., Path], smtp_sink: SmtpSink, cli: Callable[..., Any], tmp_path: Path
) -> None:
    config = send_config()
    text = config.read_text().replace("subject: '{title}: the week of {date}'", "subject: '{title}: {sections}'")
    assert text != config.read_text()
    config.write_text(text)
    add_readers(config, {"chose@example.org": "palestine,labor", "all@example.org": ""})

    send(cli, config)

    mails = by_recipient(smtp_sink)
    assert parts(mails["chose@example.org"][0])[0] == "Left Voice Weekly: Labor, Palestine"
    assert parts(mails["all@example.org"][0])[0] == "Left Voice Weekly: " + ", ".join(DEMO_SECTIONS)


def test_a_choice_of_themes_comes_down_to_a_key() -> None:
    shape = [("latin-america", "Latin America", True), ("labor", "Labor", True), ("culture", "Culture", False)]
    assert key_for(choice(""), shape) == WHOLE
    assert key_for(choice("gone-theme"), shape) == WHOLE  # only themes the config no longer has: everything
    assert key_for(choice("Labor, gone-theme"), shape) == "labor"
    assert key_for(choice("labor,latin-america"), shape) == WHOLE  # every section that holds something
    assert key_for(choice("latin-america,labor,culture"), shape) == WHOLE
    assert key_for(choice("culture"), shape) is None  # nothing this week
    assert key_for(choice(["culture", "labor"]), shape) == "labor"


@pytest.mark.parametrize("connections", [1, 4])
def test_a_killed_send_of_several_variants_resumes_and_mails_each_reader_their_copy_once(
    send_config: Callable[..., Path], smtp_sink: SmtpSink, connections: int
) -> None:
    config = send_config(connections=connections, rate_per_second=400)
    choices = ["", "labor", "palestine,labor", "more,latin-america"]
    readers = {f"reader{n}@example{n % 5}.org": choices[n % 4] for n in range(1000)}
    add_readers(config, readers)
    env = {**os.environ, "DIGEST_SECRET": SECRET}

    kill_send_after(config, smtp_sink, env, 300)
    at_kill = len(smtp_sink.handler.messages)
    assert 300 <= at_kill < 1000

    second = subprocess.run(digest_command(config), env=env, capture_output=True, text=True, timeout=120)

    assert second.returncode == 0, second.stderr
    mails = by_recipient(smtp_sink)
    assert sorted(mails) == sorted(readers), "someone never received the issue"
    twice = sorted(a for a, m in mails.items() if len(m) > 1)
    print(f"\nkilled after {at_kill} messages over {connections} connection(s); received twice: {twice or 'nobody'}")
    assert len(twice) <= 1 and max(len(m) for m in mails.values()) <= 2
    in_flight = re.search(r"went out again \(may arrive twice\): (.*)", second.stdout)
    assert set(twice) <= (set(in_flight.group(1).split(", ")) if in_flight else set())
    titles = dict(zip(["latin-america", "labor", "palestine", "more"], DEMO_SECTIONS, strict=True))
    ledger = ledger_variants(config)
    for address, themes in readers.items():
        expected = [t for slug, t in titles.items() if slug in themes.split(",")] if themes else DEMO_SECTIONS
        for raw in mails[address]:  # a copy sent twice is the same variant both times
            assert html_sections(parts(raw)[1]) == expected, address
        key = key_for(choice(themes), [(s, t, True) for s, t in titles.items()])
        assert ledger[address] == ("sent", key)
    assert "copies per variant: the whole issue 250; Labor 250" in second.stdout
