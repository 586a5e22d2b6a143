"""Dates and numbers as the newsletter's language writes them (CLDR through Babel), in its time zone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from digest.i18n import SOURCE_LANGUAGE, is_english, locale_of

# Babel is imported where a language other than English needs it (see digest/i18n/__init__.py).


@dataclass(frozen=True)
class DateStyle:
    """Which CLDR forms a language uses: `day` for article dates, `long` for the subject, `span` for the range."""

    day: str = "long"
    long: str = "long"
    span: str | None = "yMMMMd"  # a CLDR interval skeleton; None: two `day` dates joined by an en dash


# English keeps the forms its issues have always had ("Feb 20, 2024 – Mar 1, 2024"); every other language
# gets CLDR's long forms, as its papers write dates ("20 de febrero – 1 de marzo de 2024").
STYLES = {"en": DateStyle(day="medium", span=None)}


# CLDR's English months, for its English date forms without Babel: medium "MMM d, y", long "MMMM d, y"
# (tests/test_i18n.py checks them against Babel's for every day of five years).
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")  # fmt: skip
_ENGLISH = {
    "medium": lambda moment: f"{_MONTHS[moment.month - 1][:3]} {moment.day}, {moment.year}",
    "long": lambda moment: f"{_MONTHS[moment.month - 1]} {moment.day}, {moment.year}",
}


def style_of(tag: str) -> DateStyle:
    return STYLES.get(SOURCE_LANGUAGE if is_english(tag) else locale_of(tag).language, DateStyle())


def _format(moment: date, form: str, tag: str) -> str:
    """Babel's format_date in the language's locale; English's own forms without Babel."""
    if is_english(tag) and form in _ENGLISH:
        return _ENGLISH[form](moment)
    from babel.dates import format_date

    return format_date(moment, form, locale=locale_of(tag))


def _local(moment: datetime | date, zone: ZoneInfo | None) -> date:
    if isinstance(moment, datetime):
        return (moment.astimezone(zone) if zone else moment).date()
    return moment


def day(moment: datetime | date, tag: str, zone: ZoneInfo | None = None) -> str:
    """An article's date: 'Feb 29, 2024', '29 de febrero de 2024'."""
    return _format(_local(moment, zone), style_of(tag).day, tag)


def long_day(moment: datetime | date, tag: str, zone: ZoneInfo | None = None) -> str:
    """The subject's date: 'March 1, 2024', '1 de marzo de 2024', '1 de março de 2024'."""
    return _format(_local(moment, zone), style_of(tag).long, tag)


def day_span(start: datetime | date, end: datetime | date, tag: str, zone: ZoneInfo | None = None) -> str:
    """An issue's dates as one range: '20–28 de febrero de 2024', '20 de fevereiro – 1 de março de 2024'."""
    first, last = _local(start, zone), _local(end, zone)
    skeleton = style_of(tag).span
    if skeleton is None:
        return f"{day(first, tag)} – {day(last, tag)}"
    return interval(first, last, skeleton, tag)


# The calendar fields an interval pattern may differ in, largest first.
_FIELDS = ("y", "M", "d")


def interval(first: date, last: date, skeleton: str, tag: str) -> str:
    """CLDR's interval formatting, with the field-width adjustment Babel's `format_interval` leaves out.

    When a locale has no pattern for the exact skeleton (Portuguese has `yMMMd` but not `yMMMMd`), CLDR
    says to take the closest one and widen its fields to the width asked for (MMM → MMMM); Babel takes
    the closest one as it is, which would give Portuguese readers abbreviated months in a range and full
    months everywhere else.
    """
    from babel.dates import format_date, match_skeleton, parse_pattern

    locale = locale_of(tag)
    if first == last:
        return format_date(first, "long", locale=locale)
    formats = locale.interval_formats
    matched = skeleton if skeleton in formats else match_skeleton(skeleton, formats)
    pieces = formats.get(matched) if matched else None
    changed = next((f for f in _FIELDS if pieces and f in pieces and _field(first, f) != _field(last, f)), None)
    if pieces is None or changed is None:
        return f"{format_date(first, 'long', locale=locale)} – {format_date(last, 'long', locale=locale)}"
    widen = "MMMM" in skeleton and "MMMM" not in (matched or "")
    return "".join(
        parse_pattern(_widen_months(pattern) if widen else pattern).apply(instant, locale)
        for pattern, instant in zip(pieces[changed], (first, last), strict=True)
    )


def _field(moment: date, field: str) -> int:
    return {"y": moment.year, "M": moment.month, "d": moment.day}[field]


def _widen_months(pattern: str) -> str:
    """'d 'de 'MMM' → 'd 'de 'MMMM', leaving quoted literals alone."""
    parts = pattern.split("'")
    # Even-numbered parts are outside quotes ('' inside a quote splits into two empty parts, which is harmless).
    return "'".join(re.sub(r"(?<!M)MMM(?!M)", "MMMM", p) if i % 2 == 0 else p for i, p in enumerate(parts))


def number(value: float, tag: str) -> str:
    """A number with the language's separators: 14,504 · 14.504 · 14.504."""
    from babel.numbers import format_decimal

    return format_decimal(value, locale=locale_of(tag))
