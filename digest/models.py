"""The typed records that pass between stages: gather → group → render → send."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


@dataclass
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


@dataclass
class FeedResult:
    """What happened to one feed during gathering."""

    name: str
    url: str
    status: FeedStatus
    items: int = 0
    error: str | None = None


@dataclass
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


@dataclass
class Window:
    start: datetime
    end: datetime


@dataclass
class LeftOut:
    """An article the machine passed over: why, and its best score."""

    article: Article
    why: str
    best_theme: str | None = None
    best_score: float = 0.0


@dataclass
class Issue:
    """One issue of the newsletter, ready to render: everything build, preview and send need."""

    id: str
    title: str
    subject: str
    window: Window
    sections: list[Section]
    feeds: list[FeedResult]
    warnings: list[str] = field(default_factory=list)
    lead: Placed | None = None
    lead_section: str | None = None
    intro: str = ""
    left_out: list[LeftOut] = field(default_factory=list)
    corrections_applied: list[str] = field(default_factory=list)

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


@dataclass
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


class DeliveryStatus(StrEnum):
    """One subscriber's copy of one issue: see digest/mail/delivery/__init__.py for how it moves."""

    SENDING = "sending"  # claimed: its transaction is under way
    COMMITTING = "committing"  # its final line is going out: the relay may hold it
    SENT = "sent"  # the relay accepted it
    DEFERRED = "deferred"  # refused for now (4xx, or put back when the relay refused nearly everything)
    FAILED = "failed"  # refused for good


class BounceKind(StrEnum):
    """How a refusal or a bounce report counts against an address."""

    HARD = "hard"  # the mailbox does not exist or refuses mail: counts towards smtp.bounce_after
    SOFT = "soft"  # a temporary failure that outlasted every retry: recorded, never unsubscribes
    COMPLAINT = "complaint"  # the reader marked the mail as spam: unsubscribed at once


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

    def joined(self) -> datetime:
        """Since when this subscription holds: unsubscribe tokens made before it are void."""
        return datetime.fromisoformat(self.rejoined_at or self.created_at)


@dataclass
class Recipient:
    """A subscriber an issue is still to reach, with the tries already spent on it."""

    id: int
    email: str
    name: str
    attempts: int = 0
