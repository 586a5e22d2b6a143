"""The typed records that pass between stages (gather → drop already sent → group → correct → render → send),
and `IssueRecord`, the issue as data: the `.json` of a build, the frozen approved issue, what every reader reads.

The stage records are frozen: a stage returns a new value instead of changing its input, so the preview can
re-render the same grouped issue again and again. (`Section` stays open for the grouping that fills it.)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, SerializerFunctionWrapHandler, model_serializer


@dataclass(frozen=True)
class Article:
    """One feed entry, cleaned: plain-text fields, absolute http(s) links, an aware datetime."""

    id: str
    title: str
    url: str | None
    feed: str
    published: datetime | None
    teaser: str = ""
    author: str = ""
    categories: list[str] = field(default_factory=list)
    image: str | None = None
    image_alt: str = ""
    rtl: bool = False
    dated_by: str = "feed"  # "feed", or "first-seen" when the feed gave no date
    summary: str = ""  # the start of the summary as plain text: evidence for grouping, never shown


@dataclass(frozen=True)
class FeedResult:
    """What happened to one feed during gathering."""

    name: str
    url: str
    status: FeedStatus
    items: int = 0
    error: str | None = None


@dataclass(frozen=True)
class Placed:
    """An article filed in a section, with the evidence that put it there."""

    article: Article
    reason: str
    score: float = 0.0
    also: list[Placed] = field(default_factory=list)  # the same story from other feeds, shown as "also in" links
    home: str = ""  # for a folded article: the section it was filed in, where a split puts it back


@dataclass
class Section:
    slug: str
    title: str
    items: list[Placed] = field(default_factory=list)
    left_out: int = 0  # how many matching articles the max_per_section cap held back
    more: list[Placed] = field(default_factory=list)  # overflow shown as a compact headline list


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime


@dataclass(frozen=True)
class LeftOut:
    """An article the machine passed over: why, and its best score."""

    article: Article
    why: str
    best_theme: str | None = None
    best_score: float = 0.0


class Stage(StrEnum):
    """Where a warning comes from: the config, or the stage of the build that noticed it."""

    CONFIG = "config"
    GATHER = "gather"
    DROP_SENT = "drop already sent"
    GROUP = "group"
    CORRECT = "correct"
    RENDER = "render"


@dataclass(frozen=True)
class IssueWarning:
    stage: Stage
    text: str

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Issue:
    """One issue of the newsletter, ready to render: everything build, preview and send need."""

    id: str
    title: str
    subject: str
    window: Window
    sections: list[Section]
    feeds: list[FeedResult]
    warnings: list[IssueWarning] = field(default_factory=list)
    lead: Placed | None = None
    lead_section: str | None = None
    intro: str = ""
    left_out: list[LeftOut] = field(default_factory=list)
    corrections_applied: list[str] = field(default_factory=list)
    cut_to: tuple[str, ...] = ()  # a variant's section titles: the reader's themes (empty: the whole issue)

    def articles(self) -> list[Placed]:
        """Every article the email carries, lead first, in reading order."""
        out = [self.lead] if self.lead else []
        for section in self.sections:
            out.extend(section.items)
            out.extend(section.more)
        return out

    @property
    def article_count(self) -> int:
        return len(self.articles())

    def warned(self, stage: Stage, *texts: str) -> Issue:
        """The same issue with more warnings."""
        return replace(self, warnings=[*self.warnings, *(IssueWarning(stage, t) for t in texts)])


@dataclass(frozen=True)
class Rendered:
    """The issue as subscribers get it: HTML and plain text, with placeholders for personal parts."""

    html: str
    text: str
    preheader: str
    subject: str
    degraded: bool = False  # overflow items were moved into "more headlines" to stay under the size budget


# Statuses: each is stored as its value in the state file, so a value never changes once released.


class FeedStatus(StrEnum):
    """What happened to a feed in one gathering."""

    OK = "ok"
    NOT_MODIFIED = "not-modified"
    FAILED = "failed"
    GONE = "gone"
    SKIPPED = "skipped"


class IssueStatus(StrEnum):
    """Where an issue stands: built, approved (frozen as the editors saw it), sending, sent, or skipped (empty)."""

    BUILT = "built"
    APPROVED = "approved"
    SENDING = "sending"
    SENT = "sent"
    SKIPPED = "skipped"


class SubscriberStatus(StrEnum):
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"  # marked our mail as spam: never mailed again, whatever a later import says
    PENDING = "pending"  # signed up through the form, not confirmed yet: never sent an issue


class ConsentSource(StrEnum):
    """How a subscriber's consent came: the sign-up form (confirmed by email), an import or `subscribers add`."""

    FORM = "form"
    IMPORT = "import"
    CLI = "cli"
    UNRECORDED = "unrecorded"  # on the list before digest recorded consent


class DeliveryStatus(StrEnum):
    """One subscriber's copy of one issue: see digest/mail/delivery/__init__.py for how it moves."""

    QUEUED = "queued"  # to be sent in this issue's run; a worker claims it (see store/claims.py)
    SENDING = "sending"  # claimed: its transaction is under way
    COMMITTING = "committing"  # its final line is going out: the relay may hold it
    SENT = "sent"  # the relay accepted it
    DEFERRED = "deferred"  # refused for now (4xx, or put back when the relay refused nearly everything)
    FAILED = "failed"  # refused for good
    HELD = "held"  # refused for good during a run, made final (or put back) when that worker's run ends


class BounceKind(StrEnum):
    """How a refusal or a bounce report counts against an address."""

    HARD = "hard"  # the mailbox does not exist or refuses mail: bounced at once (smtp.bounce_after for SMTP)
    SOFT = "soft"  # a temporary failure (4.x.x, a full mailbox): bounced after bounces.soft_limit issues in a row
    COMPLAINT = "complaint"  # the reader marked the mail as spam: never mailed again, at once


# Records the state file keeps


@dataclass
class FeedState:
    """What digest remembers of one feed between runs."""

    url: str
    etag: str | None = None
    last_modified: str | None = None
    moved_to: str | None = None
    gone: bool = False
    failures: int = 0
    last_success: str | None = None
    last_error: str | None = None
    cached: str | None = None  # the articles of the last 200, as JSON: a 304 reuses them without parsing


@dataclass
class Subscriber:
    id: int
    email: str
    name: str
    language: str
    themes: list[str]
    status: SubscriberStatus
    failures: int
    created_at: str
    rejoined_at: str | None = None  # the last re-subscribe; None if the address never came back after leaving
    paused_until: str | None = None  # no issue is sent to the reader before this moment (ISO 8601, UTC)

    def joined(self) -> datetime:
        """Since when this subscription holds: unsubscribe tokens made before it are void."""
        return datetime.fromisoformat(self.rejoined_at or self.created_at)


@dataclass(frozen=True)
class Consent:
    """How a subscriber agreed to get the newsletter: when, through what, from where, to which wording, and
    what they asked for. A form's consent counts once confirmed (`confirmed_at`); until then it is a request."""

    source: ConsentSource
    given_at: str
    ip: str = ""  # the address the form was posted from
    wording: str = ""  # the version of the consent text the form showed
    confirmed_at: str | None = None
    name: str = ""
    language: str = ""
    themes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SubscriberEvent:
    """One line of a subscriber's history: what happened, when, and a detail."""

    at: str
    event: str
    detail: str = ""


@dataclass
class Recipient:
    """A subscriber an issue is still to reach, with the tries already spent on it."""

    id: int
    email: str
    name: str
    attempts: int = 0
    themes: str = ""  # the reader's themes as stored: theme slugs separated by commas, empty for everything
    variant: str | None = None  # the variant this copy is (issue/variants.py); None until one is chosen


# The issue record: its JSON is public (the .json of a build, /manifest.json of the preview, the frozen issue).

SCHEMA_VERSION = 1  # records written before the key existed have the shape of version 1


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


IsoTime = Annotated[datetime, PlainSerializer(_iso, return_type=str)]


class _Record(BaseModel):
    # Unknown keys are ignored so that a record written by a later version of the same schema still reads.
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class AlsoRecord(_Record):
    """The same story from another feed, folded under the card as an "also in" link."""

    id: str
    title: str
    url: str | None
    feed: str


class ArticleRecord(_Record):
    id: str
    title: str
    url: str | None
    teaser: str = ""
    author: str = ""
    published: IsoTime | None = None
    dated_by: str = "feed"
    feed: str = ""
    categories: list[str] = []
    image: str | None = None
    rtl: bool = False
    reason: str = ""
    score: float = 0.0
    also: list[AlsoRecord] = []
    lead: bool = False  # the lead story, shown above the sections (listed first in its section)
    headline_only: bool = False  # moved into its section's "more headlines" list to fit the size budget

    @model_serializer(mode="wrap")
    def _flags_only_when_set(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        for flag in ("lead", "headline_only"):
            if not data.get(flag):
                data.pop(flag, None)
        return data


class SectionRecord(_Record):
    slug: str
    title: str
    articles: list[ArticleRecord] = []
    left_out: int = 0


class WindowRecord(_Record):
    start: IsoTime
    end: IsoTime


class FeedRecord(_Record):
    name: str
    url: str
    status: str
    items: int = 0
    error: str | None = None


class LeftOutRecord(_Record):
    title: str
    url: str | None
    why: str
    best_theme: str | None = None
    best_score: float = 0.0


class SizeRecord(_Record):
    html_bytes: int
    text_bytes: int
    clip_bytes: int
    degraded: bool = False


class IssueRecord(_Record):
    """The issue as data: what is in it and why, what happened to each feed, its warnings and size."""

    schema_version: int = Field(SCHEMA_VERSION, ge=1, le=SCHEMA_VERSION)
    id: str = Field(alias="issue")
    title: str
    subject: str
    preheader: str
    window: WindowRecord
    sections: list[SectionRecord]
    feeds: list[FeedRecord]
    warnings: list[str] = []
    left_out: list[LeftOutRecord] = []
    corrections_applied: list[str] = Field([], alias="corrections")
    size: SizeRecord
    article_count: int = Field(alias="articles")

    def articles(self) -> Iterator[ArticleRecord]:
        """Every article of the email, section by section (the lead first in its section)."""
        for section in self.sections:
            yield from section.articles

    def public(self) -> dict[str, Any]:
        """The record as its JSON shows it."""
        data: dict[str, Any] = self.model_dump(mode="json", by_alias=True)
        return data
