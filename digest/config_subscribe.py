"""config.yaml's `subscribe:` section: the limits of the public sign-up, and the consent text its form shows."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from digest import util


class Subscribe(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)  # as every section of config.yaml

    pending_days: float = Field(7, gt=0, le=365)  # an unconfirmed sign-up is erased after this, its link void
    resend_hours: float = Field(24, ge=0, le=8760)  # at most one confirmation email per address in this time
    rate_per_hour: int = Field(10, ge=1, le=100_000)  # sign-ups one client address may post in an hour
    # the consent sentence under the form (text shown in the email's pages); by default digest's own, translated
    consent: Annotated[str, AfterValidator(util.email_text)] | None = None
    return_to: list[Annotated[str, AfterValidator(util.origin)]] = []  # sites whose forms may be sent back
