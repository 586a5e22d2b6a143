"""The commands about one reader (show, forget, purge), the consent that import and add record, themes on the
command line and in the export, and migration 5 on a state file written before it."""

from __future__ import annotations

import csv
import io
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from readers import NOW, confirm, form_token, link, messages_to, public_client, reader_config, subscriber
from servers import SmtpSink

from digest.config import load_config
from digest.store.db import State
from digest.store.migrations import MIGRATIONS
from digest.subscribers import privacy


@pytest.fixture
def config(write_config: Callable[..., Path], smtp_sink: SmtpSink, secret: None) -> Path:
    return reader_config(write_config, smtp_sink)


def test_show_prints_the_choices_the_consent_and_the_history(
    config: Path, smtp_sink: SmtpSink, cli: Callable[..., Any]
) -> None:
    with public_client(config) as client:
        bidi = client.post("/subscribe", data={"email": "ann@example.org", "name": "Ann\u202eevil", "themes": "labor"})
        assert bidi.status_code == 400  # a bidi override would show the name as another
        assert client.post("/subscribe", data={"email": "ann@example.org", "name": "Ann"}).status_code == 200
        [mail] = messages_to(smtp_sink, "ann@example.org")
        confirm(client, link(mail, "confirm"))
        cli("send", "--config", config, "--now", NOW)
        path = link(messages_to(smtp_sink, "ann@example.org")[-1], "preferences")
        page = client.get(path)
        client.post(path, data={"form_token": form_token(page.text), "themes": ["palestine", "more"], "pause": "4",
                                "language": "es", "action": "save"})  # fmt: skip
    shown = cli("subscribers", "show", "ANN@example.org", "--config", config)
    assert shown.exit_code == 0, shown.output
    out = shown.stdout
    assert out.splitlines()[0] == "ann@example.org\tactive\tAnn"
    assert "  themes    Palestine (palestine), More from the week (more)" in out
    assert "language  es" in out and "paused    until 20" in out
    assert "1 issue received, the last 2024-W09" in out
    consent_line = next(line for line in out.splitlines() if line.startswith("  form"))
    assert "from testclient, wording " in consent_line and "; confirmed 20" in consent_line
    history = out.split("\nhistory\n")[1].split("\nbounces and complaints\n")[0]
    events = [line.split()[1:3] for line in history.splitlines()]
    assert [e[0] for e in events] == ["signed", "confirmation", "confirmed", "chose"]
    assert "themes: palestine, more; language: es; paused until" in out
    missing = cli("subscribers", "show", "nobody@example.org", "--config", config)
    assert missing.exit_code == 1 and missing.stderr == "error: nobody@example.org is not on the subscriber list\n"
    assert out.endswith("bounces and complaints\n  no bounce or complaint recorded\n")


def test_forget_erases_everything_but_a_keyed_hash_and_no_import_adds_the_address_back(
    config: Path, smtp_sink: SmtpSink, tmp_path: Path, cli: Callable[..., Any]
) -> None:
    cli("subscribers", "add", "ann@example.org", "--name", "Ann", "--config", config)
    cli("subscribers", "add", "bo@example.org", "--config", config)
    assert cli("send", "--config", config, "--now", NOW).exit_code == 0
    forgotten = cli("subscribers", "forget", "Ann@Example.org", "--config", config)
    assert forgotten.exit_code == 0 and "ann@example.org erased; only a keyed hash is kept" in forgotten.stdout

    state_file = load_config(config).state_path
    with sqlite3.connect(state_file) as db:
        dumped = "\n".join(db.iterdump())
    assert "ann@example.org" not in dumped.lower() and "Ann'" not in dumped  # nothing in clear, anywhere
    assert db.execute("SELECT COUNT(*) FROM forgotten").fetchone() is not None
    with State(state_file) as state:
        assert privacy.is_forgotten(state, b"a-test-secret-that-signs-unsubscribe-links", "ANN@example.org")

    listing = tmp_path / "list.csv"
    listing.write_text("email,name\nbo@example.org,Bo\nann@example.org,Ann\ncy@example.org,Cy\n")
    imported = cli("subscribers", "import", listing, "--config", config)
    assert imported.exit_code == 0, imported.output
    assert "imported 1 new subscriber" in imported.stdout and "1 erased at their owner's request" in imported.stdout
    assert f"{listing}:3: ann@example.org was erased at its owner's request" in imported.stderr
    assert subscriber(config, "ann@example.org") is None and subscriber(config, "cy@example.org") is not None

    refused = cli("subscribers", "add", "ann@example.org", "--config", config)
    assert refused.exit_code == 1 and "--consented" in refused.stderr
    # her own sign-up is fresh consent: confirming it lifts the hold
    with public_client(config) as client:
        client.post("/subscribe", data={"email": "ann@example.org"})
        confirm(client, link(messages_to(smtp_sink, "ann@example.org")[-1], "confirm"))
    assert subscriber(config, "ann@example.org").status == "active"  # type: ignore[union-attr]
    with State(state_file) as state:
        assert not privacy.is_forgotten(state, b"a-test-secret-that-signs-unsubscribe-links", "ann@example.org")


def test_forget_needs_the_secret_and_import_says_why_it_cannot_check(
    config: Path, tmp_path: Path, cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    cli("subscribers", "add", "ann@example.org", "--config", config)
    cli("subscribers", "forget", "gone@example.org", "--config", config)  # not on the list: the hash is kept
    monkeypatch.delenv("DIGEST_SECRET")
    refused = cli("subscribers", "forget", "ann@example.org", "--config", config)
    assert refused.exit_code == 1 and "DIGEST_SECRET" in refused.stderr and "nothing was erased" in refused.stderr
    assert subscriber(config, "ann@example.org") is not None
    listing = tmp_path / "list.csv"
    listing.write_text("gone@example.org\n")
    blind = cli("subscribers", "import", listing, "--config", config)
    assert blind.exit_code == 1 and "needs the secret" in blind.stderr
    assert subscriber(config, "gone@example.org") is None


def test_add_and_import_take_themes_record_their_consent_and_the_export_shows_them(
    config: Path, tmp_path: Path, cli: Callable[..., Any]
) -> None:
    added = cli("subscribers", "add", "ann@example.org", "--themes", "palestine,labor,more", "--config", config)
    assert added.exit_code == 0, added.output
    listing = tmp_path / "list.csv"
    listing.write_text("email,name,language,themes\nbo@example.org,Bo,es,more;latin-america\ncy@example.org,Cy,,\n")
    assert cli("subscribers", "import", listing, "--config", config).exit_code == 0
    with public_client(config) as client:
        client.post("/subscribe", data={"email": "di@example.org"})
    cli("subscribers", "add", "ed@example.org", "--config", config)
    cli("subscribers", "remove", "ed@example.org", "--config", config)
    rows = {r["email"]: r for r in csv.DictReader(io.StringIO(cli("subscribers", "export", "--config", config).stdout))}
    assert rows["ann@example.org"]["themes"] == "palestine;labor;more"
    assert rows["bo@example.org"]["themes"] == "more;latin-america"
    assert {e: r["status"] for e, r in rows.items()} == {
        "ann@example.org": "active", "bo@example.org": "active", "cy@example.org": "active",
        "di@example.org": "pending", "ed@example.org": "unsubscribed",
    }  # fmt: skip
    assert rows["cy@example.org"]["paused_until"] == ""
    with State(load_config(config).state_path) as state:
        sources = {a: [c.source for c in privacy.record_of(state, a).consents] for a in rows}  # type: ignore[union-attr]
    assert sources == {
        "ann@example.org": ["cli"], "bo@example.org": ["import"], "cy@example.org": ["import"],
        "di@example.org": ["form"], "ed@example.org": ["cli"],
    }  # fmt: skip
    unknown = cli("subscribers", "add", "fy@example.org", "--themes", "sports", "--config", config)
    assert unknown.exit_code == 1 and "unknown theme 'sports'" in unknown.stderr


def test_migration_5_keeps_an_older_state_files_subscribers_and_records_their_consent_as_unrecorded(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE migrations (number INTEGER PRIMARY KEY, applied_at TEXT)")
    for migration in MIGRATIONS[:4]:
        for statement in migration.statements:
            db.execute(statement)
        db.execute("INSERT INTO migrations VALUES (?, '2025-01-01T00:00:00+00:00')", (migration.number,))
    db.execute(
        "INSERT INTO subscribers (email, name, themes, status, created_at, updated_at) "
        "VALUES ('old@example.org', 'Old', 'labor', 'active', '2025-01-01T00:00:00+00:00', '2025-01-01')"
    )
    db.commit()
    db.close()
    with State(path) as state:
        assert state.schema_version >= 5
        record = privacy.record_of(state, "old@example.org")
    assert record is not None and record.subscriber.paused_until is None and record.subscriber.themes == ["labor"]
    [consent] = record.consents
    assert consent.source == "unrecorded" and consent.given_at == "2025-01-01T00:00:00+00:00"


def test_the_subscribe_section_is_checked_with_the_rest_of_the_config(tmp_path: Path) -> None:
    from digest.config import parse_config
    from digest.errors import ConfigError

    base = {"newsletter": {"title": "T", "from": "news@example.org"}, "feeds": [{"name": "f", "url": "f.xml"}]}
    bad = {"pending_days": 0, "rate_per_hour": "many", "consent": "yes\x1b[2J", "return_to": ["https://ok.org/page"]}
    with pytest.raises(ConfigError) as refused:
        parse_config({**base, "subscribe": bad}, tmp_path / "config.yaml")
    said = str(refused.value)
    assert "subscribe.pending_days: input should be greater than 0" in said
    assert "subscribe.rate_per_hour:" in said and "subscribe.consent:" in said and "U+001B" in said
    assert "subscribe.return_to[0]: expected an origin such as https://www.example.org" in said
    good = parse_config({**base, "subscribe": {"return_to": ["HTTPS://WWW.Example.org"]}}, tmp_path / "c.yaml")
    assert good.model.subscribe.return_to == ["https://www.example.org"] and good.model.subscribe.pending_days == 7
