"""The confirmation email of a sign-up: text and HTML from templates, made into a message by the same code as the
issue (List-Unsubscribe and its one-click header, DKIM when configured), sent through the same relay.

It is written in the language the reader signed up in, and holds the confirmation link, the reader's own
preferences and unsubscribe links, and what they chose.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from digest.config import Settings
from digest.i18n import catalog_language, dates, translations
from digest.issue.render import template_dirs, template_environment
from digest.mail.message import prepare
from digest.mail.smtp import connect
from digest.models import Rendered, Subscriber
from digest.subscribers import choices
from digest.subscribers.tokens import make_confirm_token, unsubscribe_url
from digest.util import PREFERENCES_PLACEHOLDER, UNSUBSCRIBE_PLACEHOLDER, close_smtp

HTML = "confirm.html.j2"
TEXT = "confirm.txt.j2"


def confirm_url(settings: Settings, secret: bytes, subscriber_id: int) -> str:
    base = settings.model.web.base_url or "https://newsletter.invalid"
    return f"{base}/confirm/{make_confirm_token(secret, subscriber_id)}"


def render(settings: Settings, subscriber: Subscriber, link: str, now: datetime) -> Rendered:
    """The confirmation email of one subscriber, in the language they signed up in (personal links as
    placeholders, which `for_recipient` fills)."""
    cfg = settings.model
    language = choices.page_language(subscriber, settings)
    until = now + timedelta(days=cfg.subscribe.pending_days)
    chosen = {t.slug: t.title for t in choices.themes(settings, language)}
    subject = translations(language).gettext("Confirm your subscription to %(title)s") % {"title": cfg.newsletter.title}
    context = {
        "lang": language,
        "title": cfg.newsletter.title,
        "subject": subject,
        "preheader": subject,
        "name": subscriber.name,
        "address": subscriber.email,
        "confirm_url": link,
        "until": dates.long_day(until, catalog_language(language), ZoneInfo(cfg.newsletter.timezone)),
        "themes": ", ".join(chosen[slug] for slug in subscriber.themes if slug in chosen),
        "unsubscribe_url": UNSUBSCRIBE_PLACEHOLDER,
        "preferences_url": PREFERENCES_PLACEHOLDER,
        "postal_address": cfg.newsletter.postal_address,
    }
    dirs = tuple(template_dirs(settings))
    html = template_environment(dirs, True, language).get_template(HTML).render(context)
    text = template_environment(dirs, False, language).get_template(TEXT).render(context)
    text = re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
    return Rendered(html=html, text=text, preheader=subject, subject=subject)


def message(settings: Settings, secret: bytes, subscriber: Subscriber, now: datetime | None = None) -> bytes:
    """The whole message, as the relay gets it."""
    now = now or datetime.now(UTC)
    rendered = render(settings, subscriber, confirm_url(settings, secret, subscriber.id), now)
    unsubscribe = unsubscribe_url(settings, subscriber.id, subscriber.email, secret)
    return prepare(settings, rendered).for_recipient(subscriber.email, unsubscribe, now, subscriber.name)


def send_confirmation(settings: Settings, secret: bytes, subscriber: Subscriber) -> None:
    """Mail the confirmation; SmtpConfigError, OSError or smtplib's errors when the relay does not take it."""
    raw = message(settings, secret, subscriber)
    conn = connect(settings)
    try:
        conn.sendmail(settings.model.newsletter.sender_address, [subscriber.email], raw)
    finally:
        close_smtp(conn)
