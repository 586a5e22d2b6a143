"""Every error a user can see, in one place: each says what is wrong, where, and what to do."""

from __future__ import annotations

from collections.abc import Callable


class DigestError(Exception):
    """A failure the user can act on; the CLI prints its message as one sentence, no traceback."""

    exit_code = 1


class ConfigError(DigestError):
    """config.yaml cannot be used; carries every problem found, not just the first."""

    exit_code = 2

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        lines = "; ".join(problems)
        super().__init__(f"{path}: {lines}")


class AllFeedsFailed(DigestError):
    """No feed could be read, so there is nothing to build an issue from."""

    def __init__(self, failures: list[str]) -> None:
        super().__init__(
            "every feed failed, so no issue was built: "
            + "; ".join(failures)
            + ". Check the feed URLs in config.yaml and your network."
        )


class CorrectionsError(DigestError):
    """An issue's corrections file cannot be used: the sentence names the file, the key and the fix."""


class TemplateError(DigestError):
    """An email template cannot be rendered: the sentence names the template, the line and the problem."""


class NotFound(DigestError):
    """Something the user named (an article, an issue, a subscriber) does not exist."""


class SendRefused(DigestError):
    """A send was refused before any message left: no approval, empty issue, or a send already running."""


class SmtpConfigError(DigestError):
    """The SMTP relay cannot be reached or refuses our login."""


class SubscriberError(DigestError):
    """An address or a subscriber CSV cannot be used: the sentence names the address or the line."""


class SecretMissing(DigestError):
    """Unsubscribe tokens need the secret from the environment, and it is not set."""

    def __init__(self, variable: str, doing: str, purpose: str = "sign unsubscribe links") -> None:
        super().__init__(
            f"the environment variable {variable} (config key secret_env) is not set, and {doing} needs it to "
            f"{purpose}; set it to a long random string and keep it the same from run to run"
        )


class SendIncomplete(DigestError):
    """A send stopped before the end (the hourly cap, an interrupt); the same command resumes it."""

    exit_code = 75  # EX_TEMPFAIL: try again later


class SendFailed(DigestError):
    """A send gave up part-way (the relay refuses our sender or cannot be reached); the ledger keeps its place."""


class IssueLocked(DigestError):
    """The issue is being sent, or went out: nothing in it can change any more."""

    def __init__(self, issue_id: str, status: str) -> None:
        doing = "is being sent" if status == "sending" else "was already sent"
        super().__init__(f"issue {issue_id} {doing}, so a change would reach no reader; nothing was changed")


class StateError(DigestError):
    """The state file cannot be opened, read or written: the sentence names it and says what to check."""


class SendBusy(SendRefused):
    """Another send holds the lock: this one did nothing, and nothing failed."""


class PageError(DigestError):
    """An article's page cannot be read to add the article by its URL: the sentence names the URL and why."""


class BounceMailboxError(DigestError):
    """The bounce mailbox cannot be reached, logged into or read: the sentence names it and what to check."""


class WebhookRefused(DigestError):
    """A webhook request whose signature, age or shape is not what its provider sends: answered 401 or 400."""

    def __init__(self, reason: str, status: int = 401) -> None:
        super().__init__(reason)
        self.status = status


class Refused(ValueError):
    """A value a person typed is refused, in one sentence a page can say in the reader's own language.

    `template` is the English sentence with %(name)s places, marked for translation where it is raised;
    `values` fills them. `str()` is the English sentence, for the command line and the logs.
    """

    def __init__(self, template: str, **values: object) -> None:
        self.template = template
        self.values = values
        super().__init__(template % values)

    def said(self, gettext: Callable[[str], str]) -> str:
        """The sentence in the language of `gettext`, English where its catalog lacks it."""
        return gettext(self.template) % self.values
