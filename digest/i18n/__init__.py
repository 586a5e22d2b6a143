"""What readers see around the articles, in the newsletter's language: gettext catalogs and Babel's dates.

English is the source language: every message id is the English text, so English needs no catalog and any
string a catalog lacks stays English. Spanish and Portuguese live in `locales/<lang>/LC_MESSAGES/messages.po`,
compiled in memory on first use (see `translations`).
"""

from __future__ import annotations

import gettext
from collections.abc import Mapping
from functools import lru_cache
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING

# Babel is imported where a language other than English needs it: its import and English locale data cost ~22 ms
# of every English build (python -X importtime, and the first format_date).
if TYPE_CHECKING:
    import jinja2
    from babel import Locale

LOCALES = Path(__file__).resolve().parent / "locales"
DOMAIN = "messages"
SOURCE_LANGUAGE = "en"


def N_(message: str) -> str:
    """Mark a string for extraction where it is defined; it is translated where it is shown."""
    return message


def normalize(tag: str) -> str:
    """'pt_BR', 'PT-br' → 'pt-BR': the spelling of a language tag in HTML's lang attribute."""
    parts = tag.strip().replace("_", "-").split("-")
    return "-".join([parts[0].lower(), *(p.upper() if len(p) == 2 else p.title() for p in parts[1:])])


def is_english(tag: str) -> bool:
    """Whether the tag is English as such (not en-GB): the source language, which needs no Babel."""
    return normalize(tag) == SOURCE_LANGUAGE


def known_language(tag: str) -> str:
    """The tag as HTML writes it (see `normalize`) when CLDR knows the language; ValueError when it does not."""
    if not is_english(tag):
        locale_of(tag)
    return normalize(tag)


def locale_of(tag: str) -> Locale:
    """The Babel locale of a language tag; ValueError when CLDR does not know it."""
    from babel import Locale, UnknownLocaleError

    try:
        return Locale.parse(normalize(tag), sep="-")
    except (UnknownLocaleError, ValueError):
        raise ValueError(f"expected a language tag such as en, es or pt-BR but received {tag!r}") from None


def same_language(declared: str, expected: str) -> bool:
    """Whether a lang attribute names the expected language: equal tags, or one a more precise form of the other
    ('es-AR' is Spanish; 'es' is right for 'es-AR'), but not two different regions ('pt-PT' is not 'pt-BR')."""
    first, second = normalize(declared).split("-"), normalize(expected).split("-")
    shorter = min(len(first), len(second))
    return first[:shorter] == second[:shorter]


def in_language(values: Mapping[str, str], tag: str) -> str | None:
    """The value for a language out of one per language: its own, its base language's (es-AR → es), else English."""
    by_tag = {normalize(key): value for key, value in values.items()}
    wanted = normalize(tag)
    for candidate in (wanted, wanted.split("-")[0], SOURCE_LANGUAGE):
        if candidate in by_tag:
            return by_tag[candidate]
    return None


def catalog_languages() -> list[str]:
    """The languages with a catalog, the source language first."""
    shipped = sorted(p.parent.parent.name for p in LOCALES.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))
    return [SOURCE_LANGUAGE, *shipped]


def catalog_language(tag: str) -> str:
    """The catalog that serves a language tag: itself, else its language without region (es-AR → es), else English."""
    wanted = normalize(tag)
    available = catalog_languages()
    for candidate in (wanted, wanted.split("-")[0]):
        if candidate in available:
            return candidate
    return SOURCE_LANGUAGE


@lru_cache(maxsize=16)
def translations(tag: str) -> gettext.NullTranslations:
    """The compiled catalog of a language: English (the message ids) when there is none.

    The .po files are the only form kept: compiling them here, once per process, works the same from a git
    checkout, an editable install and a wheel, and can never serve a stale .mo. Fuzzy and empty entries are
    left out by the compiler, so a string without a translation falls back to its English id, never to ''.
    """
    language = catalog_language(tag)
    if language == SOURCE_LANGUAGE:
        return gettext.NullTranslations()
    return compile_catalog(LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}.po")


def compile_catalog(path: Path) -> gettext.GNUTranslations:
    """A .po file compiled in memory, as `pybabel compile` would write its .mo (fuzzy entries left out)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with path.open("rb") as handle:
        catalog = read_po(handle, domain=DOMAIN)
    compiled = BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def install(env: jinja2.Environment, tag: str) -> None:
    """Give a Jinja environment `_`, `gettext` and `ngettext` in a language (new-style: `_("%(n)s", n=…)`).

    New-style calls escape their arguments, never the translated text: a message may hold markup such as a
    link, and whatever is put into it is escaped when the environment autoescapes.
    """
    if "jinja2.ext.InternationalizationExtension" not in env.extensions:
        env.add_extension("jinja2.ext.i18n")
    env.install_gettext_translations(translations(tag), newstyle=True)  # type: ignore[attr-defined]
