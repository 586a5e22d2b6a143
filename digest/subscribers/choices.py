"""What a reader may choose: the themes they get (none chosen: everything), a pause, the language of their pages.

The themes are config.yaml's, and the catch-all section is one of them when it is enabled: a reader who wants only
Palestine and Labor does not get "More this week" unless they tick it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from babel.units import format_unit

from digest.config import Settings
from digest.errors import Refused
from digest.i18n import N_, catalog_language, catalog_languages, in_language, locale_of
from digest.models import Subscriber
from digest.store import consents, signups
from digest.store.db import State, iso
from digest.util import ascii_digits

PAUSE_CHOICES = (1, 2, 4, 8, 12)  # the weeks the preferences page offers
MAX_PAUSE_WEEKS = max(PAUSE_CHOICES)  # and the longest a post of it may ask for


@dataclass(frozen=True)
class Theme:
    slug: str
    title: str


def themes(settings: Settings, language: str | None = None) -> list[Theme]:
    """The themes a reader can choose, titled in `language` (else the newsletter's)."""
    cfg = settings.model
    found = [Theme(t.slug, in_language(t.titles, language) or t.title if language else t.title) for t in cfg.themes]
    if cfg.catch_all.enabled:
        catch_all = cfg.catch_all
        title = (in_language(catch_all.titles, language) if language else None) or catch_all.title
        found.append(Theme(catch_all.slug, title))
    return found


def known_slugs(settings: Settings) -> set[str]:
    return {theme.slug for theme in themes(settings)}


def check_themes(settings: Settings, chosen: list[str]) -> tuple[str, ...]:
    """The chosen slugs in config order, each once; ValueError names one that is not a theme."""
    known = [theme.slug for theme in themes(settings)]
    unknown = [slug for slug in chosen if slug not in known]
    if unknown:
        raise Refused(
            N_("%(theme)s is not a theme of this newsletter (its themes: %(themes)s)"),
            theme=repr(unknown[0][:60]),
            themes=", ".join(known),
        )
    return tuple(slug for slug in known if slug in chosen)


def languages() -> dict[str, str]:
    """The languages a reader's pages can be in, each named in itself: {"en": "English", "es": "español", …}."""
    return {tag: locale_of(tag).get_display_name(tag) or tag for tag in catalog_languages()}


def check_language(text: str) -> str:
    """One of `languages()`; ValueError otherwise."""
    if text not in languages():
        raise Refused(
            N_("%(language)s is not a language of these pages (one of %(languages)s)"),
            language=repr(text[:20]),
            languages=", ".join(languages()),
        )
    return text


def page_language(subscriber: Subscriber | None, settings: Settings) -> str:
    """The language a reader's pages are in: theirs when the pages speak it, else the newsletter's."""
    if subscriber is not None and subscriber.language:
        return catalog_language(subscriber.language)
    return catalog_language(settings.model.newsletter.language)


KEEP_PAUSE = "keep"


def check_pause(text: str) -> int | None:
    """Weeks of pause from a form: 0 (none) to MAX_PAUSE_WEEKS, or None for "keep the pause there is";
    ValueError otherwise."""
    if text == KEEP_PAUSE:
        return None
    if not ascii_digits(text) or int(text) > MAX_PAUSE_WEEKS:
        raise Refused(
            N_("a pause is a number of weeks from 0 to %(most)d, not %(pause)s"),
            most=MAX_PAUSE_WEEKS,
            pause=repr(text[:20]),
        )
    return int(text)


def pause_choices(language: str) -> list[tuple[int, str]]:
    """The pauses the preferences page offers, named in the page's language ("2 weeks", "2 semanas")."""
    return [
        (weeks, format_unit(weeks, "duration-week", length="long", locale=locale_of(language)))
        for weeks in PAUSE_CHOICES
    ]


def paused_until(subscriber: Subscriber, now: datetime | None = None) -> datetime | None:
    """When the reader's pause ends, if they are paused now."""
    if not subscriber.paused_until:
        return None
    until = datetime.fromisoformat(subscriber.paused_until)
    return until if until > (now or datetime.now(UTC)) else None


@dataclass(frozen=True)
class Saved:
    themes: tuple[str, ...]
    language: str
    paused_until: datetime | None


def save(
    state: State, subscriber: Subscriber, chosen: tuple[str, ...], language: str, pause_weeks: int | None,
    now: datetime | None = None,
) -> Saved:  # fmt: skip
    """Keep what the reader chose on their page (`pause_weeks` None: the pause there is stays), and say so in
    their history."""
    now = now or datetime.now(UTC)
    if pause_weeks is None:
        until = paused_until(subscriber, now)
    else:
        until = now + timedelta(weeks=pause_weeks) if pause_weeks else None
    detail = f"themes: {', '.join(chosen) or 'everything'}; language: {language}"
    detail += f"; paused until {iso(until)}" if until else ""
    with state.transaction():
        signups.set_choices(state, subscriber.id, ",".join(chosen), language, iso(until) if until else None)
        consents.add_event(state, subscriber.id, iso(now), "chose", detail)
    return Saved(chosen, language, until)
