"""config.yaml: typed, every problem reported at once before any work, unknown keys warned by name."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from digest.config import load_config
from digest.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


MINIMAL = {
    "newsletter": {"title": "T", "from": "T <t@example.org>"},
    "feeds": [{"name": "F", "url": "feed.xml"}],
}


def test_the_shipped_config_loads_without_warnings() -> None:
    settings = load_config(REPO / "config.yaml", strict=True)
    assert [t.slug for t in settings.model.themes] == ["latin-america", "labor", "palestine"]
    assert settings.model.feeds[0].url == "https://www.leftvoice.org/feed/"
    assert settings.model.catch_all.enabled


def test_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    settings = load_config(write(tmp_path, MINIMAL))
    assert settings.state_path == tmp_path / "digest.db"
    assert settings.resolve("feed.xml") == tmp_path / "feed.xml"


def test_every_problem_is_reported_at_once_with_its_key(tmp_path: Path) -> None:
    bad = {
        "newsletter": {"title": "T", "from": "not an address", "timezone": "Mars/Olympus"},
        "feeds": "x",
        "themes": [{"title": "No slug"}],
        "issue": {"window_days": -1},
    }
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, bad))
    problems = caught.value.problems
    text = " | ".join(problems)
    assert "newsletter.from" in text
    assert "newsletter.timezone" in text and "Mars/Olympus" in text
    assert "feeds:" in text and "'x'" in text
    assert "themes[0].slug" in text
    assert "issue.window_days" in text
    assert len(problems) >= 5


def test_unknown_keys_are_warned_by_name_and_strict_makes_them_fatal(tmp_path: Path) -> None:
    data = {**MINIMAL, "themse": [], "newsletter": {**MINIMAL["newsletter"], "titel": "x"}}
    path = write(tmp_path, data)
    settings = load_config(path)
    assert any("'themse'" in w for w in settings.warnings)
    assert any("'newsletter.titel'" in w for w in settings.warnings)
    with pytest.raises(ConfigError, match="themse"):
        load_config(path, strict=True)


def test_an_unknown_key_names_the_key_it_most_resembles(tmp_path: Path) -> None:
    data = {**MINIMAL, "newsletter": {**MINIMAL["newsletter"], "timezon": "UTC", "zzz": 1}}
    path = write(tmp_path, data)
    warnings = load_config(path).warnings
    assert any("'newsletter.timezon' is ignored (a typo of 'timezone'?)" in w for w in warnings)
    assert any("'newsletter.zzz' is ignored (a typo?)" in w for w in warnings)
    with pytest.raises(ConfigError) as raised:
        load_config(path, strict=True)
    assert "unknown key 'newsletter.timezon' (a typo of 'timezone'?): --strict makes it fatal" in str(raised.value)


def test_an_empty_list_of_feeds_is_said_plainly(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(write(tmp_path, {**MINIMAL, "feeds": []}))
    assert "feeds: expected at least 1 entry but received []" in str(raised.value)


def test_a_short_secret_is_warned_of(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, MINIMAL)
    monkeypatch.setenv("DIGEST_SECRET", "x")
    assert any("DIGEST_SECRET has only 1 character:" in w for w in load_config(path).warnings)
    monkeypatch.setenv("DIGEST_SECRET", "k3Jq9-LmZ0vTr8Yw_2bH")
    assert load_config(path).warnings == []


def test_a_templates_folder_that_is_not_there_is_named_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(write(tmp_path, {**MINIMAL, "templates": "my-templates"}))
    assert f"templates: {tmp_path / 'my-templates'} is not a folder" in str(raised.value)
    (tmp_path / "my-templates").mkdir()
    assert load_config(write(tmp_path, {**MINIMAL, "templates": "my-templates"})).model.templates == "my-templates"


def test_unknown_keys_inside_list_items_are_named_with_their_index(tmp_path: Path) -> None:
    data = {**MINIMAL, "themes": [{"slug": "a", "title": "A", "keywords": ["x"], "keywrods": ["y"]}]}
    settings = load_config(write(tmp_path, data))
    assert any("themes[0].keywrods" in w for w in settings.warnings)


def test_yaml_syntax_errors_name_the_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="line 2"):
        load_config(write(tmp_path, "newsletter:\n\ttitle: x\nfeeds: []\n"))


def test_a_missing_file_says_how_to_fix_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--config"):
        load_config(tmp_path / "nope.yaml")


def test_duplicate_theme_slugs_are_refused(tmp_path: Path) -> None:
    data = {**MINIMAL, "themes": [{"slug": "a", "title": "A"}, {"slug": "a", "title": "B"}]}
    with pytest.raises(ConfigError, match="appears twice"):
        load_config(write(tmp_path, data))


def test_cli_reports_a_bad_config_in_one_line_before_any_fetch(tmp_path: Path, cli, feed_server) -> None:  # type: ignore[no-untyped-def]
    feed_server.routes["/feed"] = __import__("servers").Route(body=b"<rss/>")
    data = {
        "newsletter": {"title": "T", "from": "T <t@example.org>"},
        "feeds": [{"name": "F", "url": feed_server.url("/feed")}],
        "themes": [{"title": "No slug"}],
    }
    result = cli("build", "--config", write(tmp_path, data), "--out", tmp_path / "out")
    assert result.exit_code != 0
    assert "themes[0].slug" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert feed_server.log == []  # nothing was fetched
    assert not (tmp_path / "out").exists()


def test_feeds_as_a_string_fails_before_work(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    data = {"newsletter": {"title": "T", "from": "T <t@example.org>"}, "feeds": "x"}
    result = cli("build", "--config", write(tmp_path, data), "--out", tmp_path / "out")
    assert result.exit_code != 0
    assert "feeds" in result.stderr and "Traceback" not in result.stderr


def test_an_unknown_key_is_a_warning_on_the_command_line(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    feed = REPO / "digest" / "demo" / "leftvoice-sample.xml"
    data = {**MINIMAL, "feeds": [{"name": "F", "url": str(feed)}], "windw_days": 7}
    result = cli("build", "--config", write(tmp_path, data), "--now", "2024-03-01T12:00:00Z", "--out", tmp_path / "o")
    assert result.exit_code == 0, result.stderr
    assert "unknown key 'windw_days'" in result.stderr
    strict = cli("build", "--config", tmp_path / "config.yaml", "--strict", "--out", tmp_path / "o2")
    assert strict.exit_code != 0 and "windw_days" in strict.stderr


def test_a_term_whose_rules_another_spelling_takes_over_is_a_warning(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    feed = REPO / "digest" / "demo" / "leftvoice-sample.xml"
    keywords = ["strike", "union", {"term": "unions", "forbids": ["civil"]}, "Peru", "Perú"]
    themes = [{"slug": "labor", "title": "Labor", "keywords": keywords}]
    data = {**MINIMAL, "feeds": [{"name": "F", "url": str(feed)}], "themes": themes}
    result = cli("build", "--config", write(tmp_path, data), "--now", "2024-03-01T12:00:00Z", "--out", tmp_path / "o")
    assert result.exit_code == 0, result.stderr
    assert (
        "themes[labor].keywords[2]: 'unions' is the same term as 'union' (keywords[1]; plurals and accents match), "
        "so its own rules never apply" in result.stderr
    )
    assert "Perú" not in result.stderr  # another spelling with no rules of its own is only that
    from digest.issue.group import shadowed

    assert [said for theme in load_config(REPO / "config.yaml").model.themes for said in shadowed(theme)] == []


def test_theme_rules_and_feed_hints_are_checked_with_their_keys(tmp_path: Path) -> None:
    bad = {
        **MINIMAL,
        "feeds": [{"name": "F", "url": "f.xml", "theme": "latam", "language": "Spanish"}],
        "themes": [
            {
                "slug": "labor",
                "title": "Labor",
                "context": {"labour": ["workers"]},
                "keywords": ["union", {"term": "strike", "requires": "labor"}],
            },
            {"slug": "la", "title": "LA", "keywords": [{"term": "x", "window": 0}]},
        ],
    }
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, bad))
    text = " | ".join(caught.value.problems)
    assert "feeds[0].language" in text and "'Spanish'" in text
    assert "themes[0]: keywords[1].requires" in text and "'labor'" in text and "labour" in text
    assert "themes[1].keywords[0].window" in text


def test_a_feed_theme_must_be_a_theme(tmp_path: Path) -> None:
    data = {
        **MINIMAL,
        "feeds": [{"name": "F", "url": "f.xml", "theme": "latam"}],
        "themes": [{"slug": "la", "title": "LA"}],
    }
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, data))
    assert caught.value.problems == ["feeds[0].theme: expected the slug of a theme (la) but received 'latam'"]


def test_unknown_keys_of_a_term_rule_are_warned_by_name(tmp_path: Path) -> None:
    data = {**MINIMAL, "themes": [{"slug": "la", "title": "LA", "keywords": [{"term": "Lima", "cse": "proper"}]}]}
    settings = load_config(write(tmp_path, data))
    assert any("themes[0].keywords[0].cse" in w for w in settings.warnings)


# hardening: what a config may hold is checked at load, with short sentences


def alias_bomb(levels: int) -> str:
    """Each level lists the one below nine times: a few hundred bytes that stand for 9**levels strings."""
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 9)}]" for n in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_at_once_in_one_short_sentence(tmp_path: Path) -> None:
    text = alias_bomb(7) + "newsletter: {title: T, from: t@example.org}\nfeeds: *l6\n"
    started = time.monotonic()
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    assert time.monotonic() - started < 5
    message = str(caught.value)
    assert "alias" in message and len(message) < 300, message


def test_a_huge_value_is_quoted_short(tmp_path: Path) -> None:
    data = {**MINIMAL, "newsletter": {**MINIMAL["newsletter"], "timezone": "Mars/" + "x" * 1_000_000}}
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, data))
    assert "newsletter.timezone" in str(caught.value) and len(str(caught.value)) < 400


HEADER_KEYS = [
    ("newsletter", "title", "Weekly\r\nBcc: victim@example.org"),
    ("newsletter", "subject", "{title}\nBcc: victim@example.org"),
    ("newsletter", "from", "T <t@example.org>\r\nBcc: victim@example.org"),
    ("newsletter", "reply_to", "r@example.org\rBcc: victim@example.org"),
    ("smtp", "unsubscribe_mailto", "leave@example.org\r\nBcc: victim@example.org"),
    ("newsletter", "intro", "Hello \x1b[31mreader"),
]


@pytest.mark.parametrize(("section", "key", "value"), HEADER_KEYS, ids=[f"{s}.{k}" for s, k, _ in HEADER_KEYS])
def test_line_breaks_in_header_fields_and_control_characters_in_the_intro_are_refused_at_load(
    tmp_path: Path, section: str, key: str, value: str
) -> None:
    data: dict[str, Any] = {**MINIMAL, "newsletter": dict(MINIMAL["newsletter"])}
    data.setdefault(section, {})[key] = value
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, data))
    assert [p for p in caught.value.problems if p.startswith(f"{section}.{key}:")], caught.value.problems
    assert "U+00" in str(caught.value)


def test_an_escape_in_the_intro_is_one_sentence_from_build(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    feed = REPO / "digest" / "demo" / "leftvoice-sample.xml"
    data = {**MINIMAL, "feeds": [{"name": "F", "url": str(feed)}]}
    data["newsletter"] = {**MINIMAL["newsletter"], "intro": "A word \x1b]0;owned\x07 from the editors"}
    result = cli("build", "--config", write(tmp_path, data), "--now", "2024-03-01T12:00:00Z", "--out", tmp_path / "o")
    assert result.exit_code == 2 and "newsletter.intro" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("section", "key", "value", "said"),
    [
        ("newsletter", "subject", "{title} {foo}", "{foo}"),
        ("newsletter", "subject", "{title", "not a valid template"),
        ("newsletter", "subject", "{title.__class__}", "{title.__class__}"),
        ("newsletter", "subject", "{title:>99999999}", "{title}"),
        ("issue", "window_days", 1e308, "less than or equal to 366"),
        ("issue", "max_lookback_days", float("inf"), "max_lookback_days"),
        ("smtp", "port", 99999, "less than or equal to 65535"),
        ("smtp", "retry_delay", 1e308, "retry_delay"),
        ("preview", "port", -1, "greater than or equal to 0"),
    ],
)
def test_values_that_would_fail_only_at_build_or_send_are_refused_at_load(
    tmp_path: Path, section: str, key: str, value: object, said: str
) -> None:
    data: dict[str, Any] = {**MINIMAL, "newsletter": dict(MINIMAL["newsletter"])}
    data.setdefault(section, {})[key] = value
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, data))
    assert f"{section}.{key}" in str(caught.value) and said in str(caught.value), str(caught.value)
