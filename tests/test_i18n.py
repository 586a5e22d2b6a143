"""The reader-facing text in the newsletter's language: complete catalogs, no English left, Babel's dates."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from conftest import REPO, load_manifest

from digest.config import parse_config
from digest.i18n import LOCALES, catalog_language, compile_catalog, dates, install, same_language, translations
from digest.jobs.archive import write_archive
from digest.store.db import State

TRANSLATED = ["es", "pt"]
HOW_TO_UPDATE = (
    "run `pybabel extract -F babel.cfg -k N_ -c Translators: --add-location=file --sort-output "
    "-o digest/i18n/locales/messages.pot digest` and `pybabel update -i digest/i18n/locales/messages.pot "
    "-d digest/i18n/locales`, then translate (README, Languages)"
)


def extracted() -> set[str]:
    """Every message the code and the templates ask to translate, as `pybabel extract` finds them."""
    with open(REPO / "babel.cfg", encoding="utf-8") as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    found = extract_from_dir(REPO / "digest", method_map, options_map, keywords={**DEFAULT_KEYWORDS, "N_": None})
    return {message if isinstance(message, str) else str(message[0]) for _, _, message, _, _ in found}


def catalog(language: str) -> dict[str, Any]:
    path = LOCALES / language / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        return {m.id: m for m in read_po(handle) if m.id}


def placeholders(text: str) -> list[str]:
    return sorted(re.findall(r"%\([a-z_]+\)s|</?[a-z]+", text))


def test_the_template_lists_every_message_of_the_code_and_templates() -> None:
    with (LOCALES / "messages.pot").open("rb") as handle:
        template = {m.id for m in read_po(handle) if m.id}
    assert extracted() == template, f"messages.pot is out of date: {HOW_TO_UPDATE}"


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_message_is_translated(language: str) -> None:
    entries = catalog(language)
    missing = [m for m in sorted(extracted()) if m not in entries or not entries[m].string]
    fuzzy = [m for m in sorted(extracted()) if m in entries and entries[m].fuzzy]
    assert not missing, f"{language}: no translation for {missing}: {HOW_TO_UPDATE}"
    assert not fuzzy, f"{language}: fuzzy (unchecked) translations for {fuzzy}: check them and drop the flag"


@pytest.mark.parametrize("language", TRANSLATED)
def test_translations_keep_the_placeholders_and_markup(language: str) -> None:
    for msgid, entry in catalog(language).items():
        assert placeholders(entry.string) == placeholders(msgid), f"{language}: {msgid!r} → {entry.string!r}"


def test_a_missing_or_unchecked_translation_falls_back_to_english(tmp_path: Path) -> None:
    po = tmp_path / "messages.po"
    po.write_text(
        'msgid ""\nmsgstr ""\n"Language: es\\n"\n"Content-Type: text/plain; charset=utf-8\\n"\n\n'
        'msgid "More headlines"\nmsgstr ""\n\n#, fuzzy\nmsgid "Read it on the web"\nmsgstr "Leer"\n\n'
        'msgid "View this issue in your browser"\nmsgstr "Ver esta edición en el navegador"\n',
        encoding="utf-8",
    )
    compiled = compile_catalog(po)
    assert compiled.gettext("More headlines") == "More headlines"
    assert compiled.gettext("Read it on the web") == "Read it on the web"
    assert compiled.gettext("View this issue in your browser") == "Ver esta edición en el navegador"
    assert translations("es").gettext("A string nobody translated") == "A string nobody translated"


def test_a_language_is_served_by_its_catalog_or_its_base_language_or_english() -> None:
    assert [catalog_language(tag) for tag in ("es", "es-AR", "es_MX", "pt-BR", "PT", "en-GB", "fr")] == [
        "es",
        "es",
        "es",
        "pt",
        "pt",
        "en",
        "en",
    ]
    assert translations("pt-BR").gettext("More headlines") == "Mais manchetes"
    assert translations("fr").gettext("More headlines") == "More headlines"


def test_page_templates_get_gettext_that_escapes_arguments_not_the_message() -> None:
    env = jinja2.Environment(autoescape=True)
    install(env, "es")
    page = env.from_string(
        '{{ _("<a href=\\"%(url)s\\">Read it on the web</a>.", url=url) }} {{ _("More headlines") }}'
    )
    assert page.render(url="https://x.org/?a=1&b=2") == (
        '<a href="https://x.org/?a=1&amp;b=2">Léelo en la web</a>. Más titulares'
    )


def test_dates_in_the_newsletters_language_and_time_zone() -> None:
    new_york = ZoneInfo("America/New_York")
    late = datetime(2024, 3, 1, 3, 0, tzinfo=UTC)  # still 29 February in New York
    assert dates.day(late, "en", new_york) == "Feb 29, 2024"
    assert dates.day(late, "es", new_york) == "29 de febrero de 2024"
    assert dates.day(late, "pt", new_york) == "29 de fevereiro de 2024"
    assert dates.long_day(date(2024, 2, 20), "es") == "20 de febrero de 2024"
    assert dates.long_day(date(2024, 2, 20), "pt-BR") == "20 de fevereiro de 2024"
    assert dates.long_day(date(2024, 3, 1), "en") == "March 1, 2024"
    assert dates.day_span(date(2024, 2, 20), date(2024, 2, 28), "es") == "20–28 de febrero de 2024"
    thin = "\u2009–\u2009"  # CLDR sets the dash of a range between thin spaces
    assert dates.day_span(date(2024, 2, 20), date(2024, 3, 1), "es") == f"20 de febrero{thin}1 de marzo de 2024"
    # Babel alone would abbreviate these months (CLDR has no yMMMMd interval for Portuguese).
    assert dates.day_span(date(2024, 2, 20), date(2024, 3, 1), "pt") == f"20 de fevereiro{thin}1 de março de 2024"
    new_year = dates.day_span(date(2023, 12, 28), date(2024, 1, 3), "es")
    assert new_year == f"28 de diciembre de 2023{thin}3 de enero de 2024"
    assert dates.day_span(date(2024, 2, 20), date(2024, 3, 1), "en") == "Feb 20, 2024 – Mar 1, 2024"
    assert [dates.number(14504, tag) for tag in ("en", "es", "pt")] == ["14,504", "14.504", "14.504"]


def test_english_dates_written_without_babel_are_babels() -> None:
    """English builds leave Babel unloaded (digest/i18n/dates.py writes CLDR's two English forms itself)."""
    from babel.dates import format_date

    for year in (1, 999, 2024, 2026, 9998):
        moment = date(year, 1, 1)
        while moment.year == year:
            assert dates.day(moment, "en") == format_date(moment, "medium", locale="en")
            assert dates.long_day(moment, "en") == format_date(moment, "long", locale="en")
            moment += timedelta(days=1)
    # English of a region is Babel's: 20 Sept 2024 in en-GB
    assert dates.day(date(2024, 9, 20), "en-GB") == format_date(date(2024, 9, 20), "medium", locale="en_GB")


def test_an_english_build_loads_no_babel(tmp_path: Path) -> None:
    from conftest import modules_loaded_by_demo_build

    assert [m for m in modules_loaded_by_demo_build(tmp_path) if m.split(".")[0] == "babel"] == []


def test_lang_matching() -> None:
    assert same_language("es", "es") and same_language("es-AR", "es") and same_language("pt", "pt-BR")
    assert same_language("pt_br", "pt-BR")
    assert not same_language("en", "es") and not same_language("pt-PT", "pt-BR")


# --- config ---------------------------------------------------------------------------------------------


def settings_for(language: str, tmp_path: Path, **extra: Any) -> Any:
    data = {
        "newsletter": {"title": "T", "from": "news@example.org", "language": language},
        "feeds": [{"name": "f", "url": "f.xml"}],
        **extra,
    }
    return parse_config(data, tmp_path / "config.yaml")


def test_theme_titles_per_language(tmp_path: Path) -> None:
    themes = [
        {"slug": "labor", "title": {"en": "Labor", "es": "Trabajo", "pt": "Trabalho"}},
        {"slug": "palestine", "title": "Palestina"},
        {"slug": "climate", "title": {"en": "Climate"}},
    ]
    catch_all = {"title": {"en": "More from the week", "es": "Más de la semana"}}
    spanish = settings_for("es-AR", tmp_path, themes=themes, catch_all=catch_all).model
    assert [t.title for t in spanish.themes] == ["Trabajo", "Palestina", "Climate"]
    assert spanish.themes[0].titles["pt"] == "Trabalho" and spanish.catch_all.title == "Más de la semana"
    portuguese = settings_for("pt", tmp_path, themes=themes, catch_all=catch_all).model
    assert portuguese.themes[0].title == "Trabalho" and portuguese.catch_all.title == "More from the week"


def test_the_default_catch_all_title_speaks_the_newsletters_language(tmp_path: Path) -> None:
    assert settings_for("en", tmp_path).model.catch_all.title == "More this week"
    assert settings_for("es", tmp_path).model.catch_all.title == "Más esta semana"
    assert settings_for("pt-BR", tmp_path).model.catch_all.title == "Mais nesta semana"


def test_bad_languages_and_titles_are_reported_by_key(tmp_path: Path) -> None:
    from digest.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        settings_for(
            "klingon", tmp_path, themes=[{"slug": "a", "title": {"pt": "Trabalho"}}, {"slug": "b", "title": {}}]
        )
    message = str(caught.value)
    assert "newsletter.language: expected a language tag such as en, es or pt-BR but received 'klingon'" in message
    assert "themes[1].title: expected a title, or titles by language like" in message
    with pytest.raises(ConfigError, match=r"themes\[0\].title: expected a title in 'es' or 'en' but found only pt"):
        settings_for("es", tmp_path, themes=[{"slug": "a", "title": {"pt": "Trabalho"}}])


# --- the demos --------------------------------------------------------------------------------------------

ENGLISH_DATES = re.compile(r"\b(Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]* \d")
ENGLISH_TITLES = ["Latin America", "Labor", "Palestine", "More from the week", "More this week"]


def english_chrome() -> list[str]:
    """The English of every translatable message, cut at its placeholders and markup: what must not remain."""
    with (LOCALES / "messages.pot").open("rb") as handle:
        ids = [m.id for m in read_po(handle) if m.id]
    pieces = [p.strip(" .:·") for msgid in ids for p in re.split(r"%\([a-z_]+\)s|<[^>]+>", msgid)]
    return sorted({p for p in pieces if re.search(r"[A-Za-z]{2}", p)} | set(ENGLISH_TITLES))


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self.skip += tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self.skip -= tag == "style"

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(data)


def chrome_of(text: str, manifest: dict[str, Any]) -> str:
    """A built issue's text less the articles' own words (their titles, teasers, authors and links)."""
    text = " ".join(re.sub(r"https?://\S+", " ", text).split())
    articles = [a for s in manifest["sections"] for a in s["articles"]]
    for words in [manifest["preheader"]] + [a[k] for a in articles for k in ("title", "teaser", "author") if a[k]]:
        text = text.replace(" ".join(words.split()), " ")
    return text


@pytest.fixture(scope="module", params=["es", "pt"])
def edition(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from click.testing import CliRunner

    from digest.cli import main

    out = tmp_path_factory.mktemp(f"demo-{request.param}")
    result = CliRunner().invoke(main, ["build", "--demo", request.param, "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    parser = _Text()
    parser.feed((out / "2024-W09.html").read_text(encoding="utf-8"))
    return {
        "language": request.param,
        "out": out,
        "manifest": load_manifest(out),
        "html": " ".join(parser.parts),
        "text": (out / "2024-W09.txt").read_text(encoding="utf-8"),
    }


def test_no_english_chrome_is_left(edition: dict[str, Any]) -> None:
    chrome = english_chrome()
    assert "View this issue in your browser" in chrome and "with one click" in chrome
    for kind in ("html", "text"):
        left = chrome_of(edition[kind], edition["manifest"])
        english = [phrase for phrase in chrome if re.search(rf"\b{re.escape(phrase)}\b", left)]
        assert not english, f"English in the {edition['language']} {kind}: {english} in {left!r}"
        assert not ENGLISH_DATES.search(left), left
        assert "2024" in left  # the dates are there, in the edition's language


def test_the_editions_dates_and_subject(edition: dict[str, Any]) -> None:
    expected = {
        "es": ("20 de febrero\u2009–\u20091 de marzo de 2024 · Edición 2024-W09", "la semana del 1 de marzo de 2024"),
        "pt": ("20 de fevereiro\u2009–\u20091 de março de 2024 · Edição 2024-W09", "a semana de 1 de março de 2024"),
    }[edition["language"]]
    assert expected[0] in edition["text"] and expected[0] in edition["html"]
    assert edition["manifest"]["subject"].endswith(expected[1])
    assert ("29 de febrero de 2024" if edition["language"] == "es" else "29 de fevereiro de 2024") in edition["text"]


def test_the_editions_pass_digest_check(cli: Any, edition: dict[str, Any]) -> None:
    language, eml = edition["language"], edition["out"] / "2024-W09.eml"
    by_option = cli("check", eml, "--language", language)
    assert by_option.exit_code == 0, by_option.output
    assert f'lang="{language}"' in by_option.output
    by_config = cli("check", eml, "--config", REPO / "digest" / "demo" / f"config.{language}.yaml")
    assert by_config.exit_code == 0, by_config.output
    wrong = cli("check", eml, "--language", "en")
    assert wrong.exit_code == 1
    assert "FAIL  html lang" in wrong.output and "the newsletter's language is 'en'" in wrong.output


def test_the_archive_index_in_the_newsletters_language(tmp_path: Path) -> None:
    settings = settings_for("es", tmp_path)
    with State(tmp_path / "state.db") as state:
        folder = write_archive(settings, state)
    index = (folder / "index.html").read_text(encoding="utf-8")
    assert '<html lang="es">' in index and "<h1>T: ediciones anteriores</h1>" in index
