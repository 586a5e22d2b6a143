"""The public sign-up, double opt-in: `GET /subscribe` (the form), `POST /subscribe` (from that form, from a form
another site pastes into its pages, or JSON), `GET /confirm/<token>` (a page with one button, so that a mail
scanner opening the link confirms nothing) and `POST /confirm/<token>` (confirms).

Anything posted is hostile until checked: the address and the name by the rules every address and name follow,
the themes against config.yaml's, a body over the app's limit refused (413), a client posting more than
`subscribe.rate_per_hour` sign-ups an hour refused (429, counted in the state file that every web process
shares), and a hidden field that people leave empty and robots fill. The answer is the same page whatever the
address's standing; the confirmation email goes out after the answer, so its time tells nothing either.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from digest.i18n import catalog_language, translations
from digest.mail.confirmation import send_confirmation
from digest.subscribers import choices, optin, roster
from digest.subscribers.tokens import unsubscribe_url
from digest.util import check_address, check_name, preferences_url_of
from digest.web.formguard import FORM_TOKEN_FIELD, client_key, cross_site, form_token, form_token_ok
from digest.web.forms import body_of, form_of, said, values_of

if TYPE_CHECKING:
    from digest.web.serve import PublicSite

log = logging.getLogger("digest.web")
TRAP = "website"  # the field people never see, and robots fill


def mask(address: str) -> str:
    """Enough of the address to recognise it, not enough to harvest it from a forwarded link."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}{'•' * max(1, len(local) - 1)}@{domain}"


@dataclass(frozen=True)
class Posted:
    """A sign-up as posted, every field checked."""

    email: str
    name: str
    themes: tuple[str, ...]
    language: str
    trapped: bool  # the hidden field was filled: a robot
    return_to: str  # an allowed page of the site the form was on, to send the reader back to


class SignupPages:
    """The endpoints of the sign-up and its confirmation, over the public site's state and secret."""

    def __init__(self, site: PublicSite) -> None:
        self.site = site
        self.settings = site.settings
        self.cfg = site.settings.model

    def routes(self) -> list[Route]:
        return [
            Route("/subscribe", self.form, methods=["GET"]),
            Route("/subscribe", self.subscribe, methods=["POST"]),
            Route("/subscribe", self.preflight, methods=["OPTIONS"]),
            Route("/confirm/{token}", self.confirm, methods=["GET", "POST"]),
        ]

    def default_language(self) -> str:
        return catalog_language(self.cfg.newsletter.language)

    def language_of(self, asked: str | None) -> str:
        return asked if asked in choices.languages() else self.default_language()

    # the form

    def form(self, request: Request) -> Response:
        return self.form_page(200, self.language_of(request.query_params.get("lang")))

    def form_page(self, status: int, language: str, error: str = "", values: dict[str, str] | None = None) -> Response:
        _ = translations(language).gettext
        return self.site.page(
            status,
            _("Subscribe to %(title)s") % {"title": self.cfg.newsletter.title},
            "subscribe.html.j2",
            language,
            action="/subscribe",
            themes=choices.themes(self.settings, language),
            consent=optin.consent_text(self.settings, language),
            error=error,
            values=values or {},
        )

    # the sign-up

    def subscribe(self, request: Request) -> Response:
        as_json = request.headers.get("content-type", "").split(";")[0].strip().lower() == "application/json"
        sent = _sent(request, as_json)
        language = self.language_of(None if isinstance(sent, ValueError) else sent[0].get("language"))
        _ = translations(language).gettext
        site = self.site
        with site.state.borrow() as state:
            allowed = optin.attempt(state, client_key(site.secret, request), self.cfg.subscribe.rate_per_hour)
        if not allowed:
            text = _("Too many sign-ups came from your address in the last hour. Try again later.")
            return self.refusal(request, 429, text, as_json, language, {"Retry-After": "3600"})
        try:
            posted = self.read(sent)
        except ValueError as error:
            return self.refusal(request, 400, said(error, _), as_json, language)
        language, to_confirm = posted.language, None
        if not posted.trapped:
            wording = optin.wording_version(optin.consent_text(self.settings, language))
            ip = request.client.host if request.client else ""
            asked = optin.SignUp(posted.email, posted.name, language, posted.themes, ip, wording)
            with site.state.borrow() as state:
                to_confirm = optin.sign_up(state, asked, self.cfg.subscribe.resend_hours)
        answer = self.done(request, posted, as_json)
        if to_confirm is not None:
            answer.background = BackgroundTask(self.send, to_confirm)
        return answer

    def read(self, sent: tuple[dict[str, str], list[str]] | ValueError) -> Posted:
        """The sign-up's fields, checked; ValueError says what is wrong, in one sentence."""
        if isinstance(sent, ValueError):
            raise sent
        fields, themes = sent
        email = check_address(fields.get("email", ""))
        name = check_name(fields.get("name", ""))
        chosen = choices.check_themes(self.settings, themes)
        asked_language = fields.get("language", "")
        language = choices.check_language(asked_language) if asked_language else self.default_language()
        back = fields.get("return_to", "").strip()
        allowed = any(back == o or back.startswith(o + "/") for o in self.cfg.subscribe.return_to)
        return Posted(email, name, chosen, language, bool(fields.get(TRAP, "")), back if allowed else "")

    def done(self, request: Request, posted: Posted, as_json: bool) -> Response:
        """The one answer to every sign-up, whether the address is new, waiting, subscribed or gone."""
        _ = translations(posted.language).gettext
        text = _(
            "We have sent a link to %(address)s: open it to confirm, and the newsletter starts with the next "
            "issue. If no email arrives, look in the spam folder; none is sent to an address that gets the "
            "newsletter already, or that was sent a link recently."
        ) % {"address": posted.email}
        if as_json:
            return JSONResponse({"status": "ok", "message": text}, headers=self.cors(request))
        if posted.return_to:
            return RedirectResponse(posted.return_to, 303, headers={"Cache-Control": "no-store"})
        return self.site.page(200, _("Check your inbox"), language=posted.language, text=text)

    def refusal(
        self,
        request: Request,
        status: int,
        text: str,
        as_json: bool,
        language: str,
        headers: dict[str, str] | None = None,
    ) -> Response:
        if as_json:
            return JSONResponse(
                {"status": "refused", "error": text}, status, headers={**self.cors(request), **(headers or {})}
            )
        answer = self.form_page(
            status, language, text, {k: v for k, v in form_of(request).items() if k in ("email", "name")}
        )
        answer.headers.update(headers or {})
        return answer

    def cors(self, request: Request) -> dict[str, str]:
        """A site named in subscribe.return_to may post JSON from its pages' scripts."""
        origin = request.headers.get("origin", "").lower()
        if origin not in self.cfg.subscribe.return_to:
            return {}
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}

    def preflight(self, request: Request) -> Response:
        headers = self.cors(request)
        if headers:
            headers.update({
                "Access-Control-Allow-Methods": "POST",
                "Access-Control-Allow-Headers": "Content-Type",
                "Access-Control-Max-Age": "86400",
            })  # fmt: skip
        return Response(status_code=204 if headers else 403, headers=headers)

    def send(self, to_confirm: optin.ToConfirm) -> None:
        """Mail the confirmation, after the answer went out; a failure gives the address its turn back."""
        site = self.site
        with site.state.borrow() as state:
            subscriber = roster.by_id(state, to_confirm.subscriber_id)
        if subscriber is None:
            return
        try:
            send_confirmation(self.settings, site.secret, subscriber)
        except Exception as error:  # whatever stops it, the turn is given back and the server goes on
            log.warning("the confirmation email to %s could not be sent: %s", mask(subscriber.email), error)
            with site.state.borrow() as state:
                optin.confirmation_failed(state, to_confirm, str(error)[:300])
            return
        with site.state.borrow() as state:
            optin.confirmation_sent(state, to_confirm)

    # the confirmation link

    def confirm(self, request: Request) -> Response:
        site, token = self.site, request.path_params["token"]
        posting = request.method == "POST"
        if posting and not self.form_allowed(request):
            return self.stale_form(request)
        pending_days = self.cfg.subscribe.pending_days
        with site.state.borrow() as state:
            act = optin.confirm if posting else optin.check
            checked = act(state, site.secret, token, pending_days)
        holder = checked.subscriber
        language = choices.page_language(holder, self.settings)
        _ = translations(language).gettext
        title = self.cfg.newsletter.title
        if checked.outcome == optin.Confirmation.EXPIRED:
            text = _("This confirmation link has expired. Sign up again to get a new one.")
            return site.page(410, _("This link has expired"), language=language, text=text,
                             link="/subscribe", link_text=_("Sign up again"))  # fmt: skip
        if checked.outcome == optin.Confirmation.INVALID or holder is None:
            text = _(
                "This confirmation link is not valid: it may have been cut short or altered, or the sign-up was "
                "withdrawn. Sign up again to get a new one."
            )
            return site.page(403, _("This link does not work"), language=language, text=text,
                             link="/subscribe", link_text=_("Sign up again"))  # fmt: skip
        if checked.outcome == optin.Confirmation.READY and not posting:
            return site.page(
                200, _("Confirm your subscription"), "confirm.html.j2", language,
                newsletter=title, who=mask(holder.email), action=request.url.path,
                form_token=form_token(site.secret, request.url.path),
            )  # fmt: skip
        preferences = preferences_url_of(unsubscribe_url(self.settings, holder.id, holder.email, site.secret))
        text = _("%(who)s will get %(title)s from the next issue on.") % {"who": mask(holder.email), "title": title}
        return site.page(200, _("You are subscribed"), language=language, text=text,
                         link=_local(preferences), link_text=_("Choose your themes or take a break"))  # fmt: skip

    def form_allowed(self, request: Request) -> bool:
        """A POST that changes something comes from our own page, with that page's form token."""
        if cross_site(request, self.cfg.web.base_url):
            return False
        return form_token_ok(self.site.secret, request.url.path, form_of(request).get(FORM_TOKEN_FIELD, ""))

    def stale_form(self, request: Request) -> Response:
        language = self.default_language()
        _ = translations(language).gettext
        text = _("This form is out of date, or was sent from another site. Open the link again and use its button.")
        return self.site.page(403, _("This form cannot be used"), language=language, text=text)


def _local(url: str) -> str:
    """A link to one of our own pages as a path, so that it works wherever the app is reached from."""
    after_scheme = url.partition("://")[2]
    return "/" + after_scheme.partition("/")[2] if after_scheme else url


def _sent(request: Request, as_json: bool) -> tuple[dict[str, str], list[str]] | ValueError:
    """A sign-up's text fields and themes as sent, read once (its language is wanted before they are checked, to
    refuse them in it), or why a JSON body is not a sign-up."""
    if not as_json:
        return form_of(request), values_of(request, "themes")
    try:
        return _json_fields(body_of(request))
    except ValueError as error:
        return error


def _json_fields(body: bytes) -> tuple[dict[str, str], list[str]]:
    """The text fields and the themes of a JSON sign-up; ValueError when it is not the object expected."""
    try:
        data: Any = json.loads(body)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError; RecursionError: "[[[[…"
        raise ValueError('the body is not JSON; send an object such as {"email": "reader@example.org"}') from None
    if not isinstance(data, dict):
        raise ValueError('the body must be a JSON object, such as {"email": "reader@example.org"}')
    fields: dict[str, str] = {}
    for key in ("email", "name", "language", TRAP):
        value = data.get(key, "")
        if not isinstance(value, str):
            raise ValueError(f"{key}: expected text but received {type(value).__name__}")
        fields[key] = value
    themes = data.get("themes", [])
    if not isinstance(themes, list) or not all(isinstance(t, str) for t in themes):
        raise ValueError('themes: expected a list of theme slugs such as ["labor", "palestine"]')
    return fields, themes
