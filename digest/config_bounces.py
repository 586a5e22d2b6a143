"""config.yaml's `bounces:` section: the return path, the bounce mailbox, the webhooks and the soft-bounce rule."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from digest import util
from digest.util import shorten

OneLine = Annotated[str, AfterValidator(util.one_line)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=False, allow_inf_nan=False)  # as every section of config.yaml


def _return_address(value: str) -> str:
    """bounces.address: a bare address, or one whose local part ends in `+{token}` (a VERP return path)."""
    util.one_line(value)
    local, at, domain = value.rpartition("@")
    if "{token}" in domain or value.count("{token}") > 1 or ("{token}" in local and not local.endswith("+{token}")):
        raise ValueError(
            f"expected an address such as bounces@example.org or bounces+{{token}}@example.org (the tag last in "
            f"the local part) but received {shorten(value)}"
        )
    # Checked with a token of a usual length in place: a local part may hold at most 64 characters.
    util.bare_address(local.replace("{token}", "2026-W08.100000.aaaaaaaaaaaaaaaa") + at + domain)
    return value


FolderName = Annotated[str, AfterValidator(util.imap_folder)]


class BounceMailbox(_Model):
    host: OneLine
    port: int | None = Field(None, ge=1, le=65535)  # by default 993 with ssl, 143 otherwise
    security: Literal["none", "starttls", "ssl"] = "ssl"
    username: OneLine
    password_env: str = "DIGEST_IMAP_PASSWORD"
    folder: FolderName = "INBOX"
    processed_folder: FolderName = "Processed"  # where handled reports are filed (made when missing)
    timeout: float = Field(30.0, gt=0, le=3600)
    ca_file: str | None = None  # a CA bundle to trust for the server's certificate, relative to config.yaml
    max_messages: int = Field(1000, ge=1)  # read at most this many new messages per fetch
    every_minutes: float = Field(60, gt=0)  # how often `digest serve --schedule` fetches between weekly runs

    @property
    def default_port(self) -> int:
        return self.port or (993 if self.security == "ssl" else 143)


class Webhooks(_Model):
    secret_env: str = "DIGEST_WEBHOOK_SECRET"  # signs POST /webhooks/bounces (HMAC-SHA256)
    mailgun_key_env: str = "DIGEST_MAILGUN_SIGNING_KEY"  # Mailgun's webhook signing key
    sns_topics: list[OneLine] = []  # the SNS topic ARNs whose Amazon SES events are accepted
    max_age: int = Field(900, ge=30, le=86400)  # seconds a signed request stays fresh


class Bounces(_Model):
    address: Annotated[str, AfterValidator(_return_address)] | None = None  # the envelope sender (VERP with +{token})
    soft_limit: int = Field(3, ge=1)  # issues in a row with a temporary failure that make an address bounced
    match_days: int = Field(60, ge=1, le=3660)  # a report naming only an address counts if an issue went there
    imap: BounceMailbox | None = None
    webhooks: Webhooks = Webhooks()

    @property
    def verp(self) -> bool:
        return self.address is not None and "{token}" in self.address
