"""A reader's preferences page, `GET /preferences/<token>` and `POST /preferences/<token>`: the themes they get
(none ticked: everything), a break of some weeks, the language of their pages, or unsubscribing from everything.

The token is the one of the reader's unsubscribe link (every issue's footer carries both links): forged, altered
or outdated tokens open nothing. A POST must come from the page itself, with its signed form token.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from digest.i18n import dates, translations
from digest.models import Subscriber, SubscriberStatus
from digest.subscribers import choices, optin, roster
from digest.subscribers.tokens import token_holder
from digest.web.formguard import form_token
from digest.web.forms import form_of, said, values_of
from digest.web.public import SignupPages, mask

if TYPE_CHECKING:
    from digest.web.serve import PublicSite


class PreferencesPages:
    def __init__(self, site: PublicSite, signup: SignupPages) -> None:
        self.site = site
        self.signup = signup  # its check of a form's origin and token
        self.settings = site.settings

    def routes(self) -> list[Route]:
        return [
            Route("/preferences", self.help, methods=["GET"]),
            Route("/preferences/{token}", self.preferences, methods=["GET", "POST"]),
        ]

    def help(self, request: Request) -> Response:
        # Where the public archive's footer leads: it carries nobody's token.
        language = self.signup.default_language()
        _ = translations(language).gettext
        text = _(
            "Every issue ends with a link to your own preferences: the themes you get, a break, the language of "
            "these pages. Use the link at the bottom of an issue you received."
        )
        return self.site.page(200, _("Your preferences"), language=language, text=text)

    def preferences(self, request: Request) -> Response:
        site = self.site
        posting = request.method == "POST"
        if posting and not self.signup.form_allowed(request):
            return self.signup.stale_form(request)
        with site.state.borrow() as state:
            holder = token_holder(state, site.secret, request.path_params["token"])
        if holder is None:
            language = self.signup.default_language()
            _ = translations(language).gettext
            text = _(
                "This link is not valid: it may have been cut short, altered, or replaced by a newer one. Use the "
                "link at the bottom of the newsletter."
            )
            return site.page(403, _("This link does not work"), language=language, text=text)
        if holder.status != SubscriberStatus.ACTIVE:
            return self.not_active(holder)
        if not posting:
            return self.page(request, holder, 200)
        form = form_of(request)
        if form.get("action") == "unsubscribe":
            with site.state.borrow() as state:
                optin.unsubscribe(state, holder.id, "from the preferences page")
            return self.not_active(holder, just_left=True)
        try:
            chosen = choices.check_themes(self.settings, values_of(request, "themes"))
            language = choices.check_language(form.get("language", ""))
            pause = choices.check_pause(form.get("pause", "0"))
        except ValueError as error:
            _ = translations(choices.page_language(holder, self.settings)).gettext
            return self.page(request, holder, 400, error=said(error, _))
        with site.state.borrow() as state:
            choices.save(state, holder, chosen, language, pause)
            saved = roster.by_id(state, holder.id)
        if saved is None:  # erased between the two steps
            return self.not_active(holder)
        return self.page(request, saved, 200, saved=True)

    def summary(self, holder: Subscriber, language: str) -> tuple[str, str]:
        """What the reader gets, in a sentence, and the end of their break ("" when none)."""
        _ = translations(language).gettext
        titles = {t.slug: t.title for t in choices.themes(self.settings, language)}
        chosen = [titles[slug] for slug in holder.themes if slug in titles]
        text = _("You get: %(themes)s.") % {"themes": ", ".join(chosen)} if chosen else _("You get: everything.")
        until = choices.paused_until(holder)
        if until is None:
            return text, ""
        day = dates.long_day(until, language)
        return text + " " + _("No issue comes before %(date)s.") % {"date": day}, day

    def page(self, request: Request, holder: Subscriber, status: int, saved: bool = False, error: str = "") -> Response:
        language = choices.page_language(holder, self.settings)
        _ = translations(language).gettext
        summary, paused_until = self.summary(holder, language)
        return self.site.page(
            status,
            _("Your preferences for %(title)s") % {"title": self.settings.model.newsletter.title},
            "preferences.html.j2",
            language,
            saved=saved,
            error=error,
            summary=summary,
            who=mask(holder.email),
            name=holder.name,
            action=request.url.path,
            form_token=form_token(self.site.secret, request.url.path),
            themes=choices.themes(self.settings, language),
            chosen=holder.themes,
            paused_until=paused_until,
            pauses=choices.pause_choices(language),
            languages=choices.languages(),
        )

    def not_active(self, holder: Subscriber, just_left: bool = False) -> Response:
        language = choices.page_language(holder, self.settings)
        _ = translations(language).gettext
        title = self.settings.model.newsletter.title
        if holder.status == SubscriberStatus.PENDING:
            text = _("Confirm your subscription first: open the link in the email we sent to %(who)s.")
            return self.site.page(
                200, _("Not confirmed yet"), language=language, text=text % {"who": mask(holder.email)}
            )
        heading = _("You are unsubscribed") if just_left else _("Already unsubscribed")
        text = _("%(who)s gets no issues of %(title)s.") % {"who": mask(holder.email), "title": title}
        return self.site.page(200, heading, language=language, text=text, link="/subscribe",
                              link_text=_("Changed your mind? Sign up again"))  # fmt: skip
