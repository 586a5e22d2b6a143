"""config.yaml as typed models: every problem reported at once, unknown keys warned by name."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from email.utils import parseaddr
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from digest import util
from digest.config_bounces import Bounces
from digest.config_problems import problems, unknown_keys
from digest.config_subscribe import Subscribe
from digest.errors import ConfigError
from digest.i18n import N_, in_language, known_language, normalize, translations
from digest.util import WARN_BYTES, YamlRefused, load_yaml, plural, shorten

# What a value may hold when it goes into mail headers or the email (digest/util.py says why).
BareAddress = Annotated[str, AfterValidator(util.one_line), AfterValidator(util.bare_address)]
OneLine = Annotated[str, AfterValidator(util.one_line)]
EmailText = Annotated[str, AfterValidator(util.email_text)]
HeaderAddress = Annotated[str, AfterValidator(util.one_line), AfterValidator(util.header_address)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=False, allow_inf_nan=False)  # no .inf or .nan in a config


class Newsletter(_Model):
    title: OneLine
    from_: HeaderAddress = Field(alias="from")
    timezone: str = "UTC"
    language: str = "en"
    subject: Annotated[str, AfterValidator(util.subject_template)] = "{title}: {date}"
    reply_to: HeaderAddress | None = None
    intro: EmailText = ""
    postal_address: EmailText = ""
    contact_url: OneLine | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"expected an IANA time zone such as America/New_York but received {shorten(value)}"
            ) from None
        return value

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        return known_language(value)  # raises ValueError naming what was expected

    @property
    def sender_address(self) -> str:
        return parseaddr(self.from_)[1]

    @property
    def sender_domain(self) -> str:
        return self.sender_address.rpartition("@")[2]


_LANGUAGE = r"^[a-z]{2,3}$"


class FeedConfig(_Model):
    name: str
    url: str
    categories: list[str] = []  # categories given to every article of this feed
    language: str | None = Field(None, pattern=_LANGUAGE)  # its articles' language; else guessed from their words
    theme: str | None = None  # a default theme: an outlet whose stories belong there without naming the place
    trust_categories: bool = True  # false: the feed's own categories are site navigation, not evidence


class TermRule(_Model):
    """A keyword with the context that decides whether it counts (a plain string is a term with no rules)."""

    term: str = Field(min_length=1)
    requires: list[str] | str = []  # one of these words within `window` words; a string names a context list
    forbids: list[str] | str = []  # none of these words within `window` words
    window: int = Field(12, ge=1, le=500)
    # proper: only where written as a name, capitals as in `term`; common: not where capitalised inside a sentence
    case: Literal["any", "proper", "common"] = "any"
    form: Literal["any", "written"] = "any"  # written: only the form written in `term`, no plural or other inflection
    languages: list[str] = []  # only in articles in these languages

    @field_validator("languages")
    @classmethod
    def _codes(cls, values: list[str]) -> list[str]:
        for value in values:
            if not re.match(_LANGUAGE, value):
                raise ValueError(f"expected language codes such as 'en', 'es' or 'pt' but received {value!r}")
        return values


def _as_rules(value: Any) -> Any:
    return [{"term": v} if isinstance(v, str) else v for v in value] if isinstance(value, list) else value


def _language(info: ValidationInfo) -> str:
    """The newsletter's language, which `parse_config` passes down so titles can be chosen while validating."""
    context = info.context if isinstance(info.context, dict) else {}
    language = context.get("language")
    return language if isinstance(language, str) else "en"


class _Titled(_Model):
    """A model whose `title` config.yaml may give per language: {en: Labor, es: Trabajo, pt: Trabalho}."""

    titles: dict[str, str] = {}  # every language's title, when config.yaml gave several

    @model_validator(mode="before")
    @classmethod
    def _keep_titles(cls, value: Any) -> Any:
        """Every language's title is kept for the pages a reader sees in their own language."""
        if isinstance(value, dict) and isinstance(value.get("title"), dict) and "titles" not in value:
            return {**value, "titles": value["title"]}
        return value

    @field_validator("title", mode="before", check_fields=False)
    @classmethod
    def _one_title(cls, value: Any, info: ValidationInfo) -> Any:
        """The newsletter's language's title, its base language's, else the English one."""
        if not isinstance(value, dict):
            return value
        if not value or not all(isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in value.items()):
            raise ValueError(
                f"expected a title, or titles by language like {{en: Labor, es: Trabajo}}, not {shorten(value)}"
            )
        language = _language(info)
        chosen = in_language(value, language)
        if chosen is None:
            raise ValueError(f"expected a title in {normalize(language)!r} or 'en' but found only {', '.join(value)}")
        return chosen


class Theme(_Titled):
    slug: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    title: str  # in config.yaml a string, or one per language
    categories: list[str] = []
    keywords: list[TermRule] = []
    title_keywords: list[TermRule] = []  # terms that count only in a title
    exclude: list[TermRule] = []
    context: dict[str, list[str]] = {}  # named word lists that a term's `requires` or `forbids` may name
    min_score: float | None = None

    _terms = field_validator("keywords", "title_keywords", "exclude", mode="before")(_as_rules)

    @model_validator(mode="after")
    def _context_lists_exist(self) -> Theme:
        for key in ("keywords", "title_keywords", "exclude"):
            for index, rule in enumerate(getattr(self, key)):
                for side in ("requires", "forbids"):
                    name = getattr(rule, side)
                    if isinstance(name, str) and name not in self.context:
                        known = ", ".join(self.context) or "none"
                        raise ValueError(
                            f"{key}[{index}].{side}: expected the name of a list in the theme's context "
                            f"({known}) but received {name!r}"
                        )
        return self


CATCH_ALL_TITLE = N_("More this week")


class CatchAll(_Titled):
    enabled: bool = True
    slug: str = "more"
    title: str = CATCH_ALL_TITLE  # by default in the newsletter's language (Config._catch_all_title)


class Weights(_Model):
    category: float = 3.0
    title: float = 2.0
    teaser: float = 1.0
    repeat: float = 0.25  # each further occurrence of a term already counted
    min_score: float = 2.0
    category_term: float = 1.0  # a theme's term inside a category that is not one of the theme's categories
    feed: float = 2.0  # a feed's default theme: alone it reaches min_score, and any stronger theme beats it


class IssueSettings(_Model):
    window_days: float = Field(7, gt=0, le=366)
    max_per_section: int = Field(10, ge=1)
    max_lookback_days: float = Field(28, gt=0, le=3660)
    min_articles: int = Field(1, ge=0)
    require_approval: bool = False
    size_budget: int = Field(WARN_BYTES, ge=10_000)
    teaser_words: int = Field(40, ge=5)
    lead_story: bool = True
    fold_stories: bool = True  # one card, "also in: …", for the same event told by several feeds
    fold_similarity: float = Field(0.28, gt=0, le=1)  # how alike two titles and teasers must be (digest/stories.py)


class GatherSettings(_Model):
    timeout: float = Field(20.0, gt=0, le=3600)
    connect_timeout: float = Field(10.0, gt=0, le=3600)
    concurrency: int = Field(8, ge=1, le=64)
    max_bytes: int = Field(10_000_000, ge=1024)


class Utm(_Model):
    enabled: bool = True
    source: str = "newsletter"
    medium: str = "email"


class Web(_Model):
    base_url: str | None = None
    issues_url: str | None = None  # where archived issues live; defaults to base_url + /archive

    @field_validator("base_url", "issues_url")
    @classmethod
    def _https(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError(f"expected an http(s) URL but received {shorten(value)}")
        return value.rstrip("/") if value else value


class Archive(_Model):
    dir: str = "archive"


class Smtp(_Model):
    host: str = "127.0.0.1"
    port: int = Field(587, ge=1, le=65535)
    security: Literal["none", "starttls", "ssl"] = "starttls"
    username: str | None = None
    password_env: str = "DIGEST_SMTP_PASSWORD"
    connections: int = Field(4, ge=1, le=64)
    rate_per_second: float = Field(50.0, gt=0)
    rate_per_hour: int = Field(0, ge=0)  # 0: no hourly cap
    timeout: float = Field(30.0, gt=0, le=3600)
    retries: int = Field(5, ge=0)
    retry_delay: float = Field(30.0, gt=0, le=86400)  # seconds before the first retry of a 4xx; doubles each time
    bounce_after: int = Field(3, ge=1)
    unsubscribe_mailto: BareAddress | None = None
    # How long a send worker's claim on its recipients lasts unless renewed (every third of it, while it lives):
    # how soon the others take over the copies of a worker that died.
    lease: float = Field(60.0, ge=1, le=3600)
    ca_file: str | None = None  # a CA bundle to trust for the relay's certificate (a private CA), relative to config


class Dkim(_Model):
    selector: str
    key_file: str
    domain: str | None = None


class Schedule(_Model):
    day: Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"] = "friday"
    time: str = Field("08:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")


class Preview(_Model):
    host: str = "127.0.0.1"
    port: int = Field(8025, ge=0, le=65535)
    token_env: str = "DIGEST_PREVIEW_TOKEN"


class Config(_Model):
    newsletter: Newsletter
    feeds: list[FeedConfig] = Field(min_length=1)
    themes: list[Theme] = []
    catch_all: CatchAll = CatchAll()
    weights: Weights = Weights()
    issue: IssueSettings = IssueSettings()
    gather: GatherSettings = GatherSettings()
    utm: Utm = Utm()
    web: Web = Web()
    archive: Archive = Archive()
    smtp: Smtp = Smtp()
    dkim: Dkim | None = None
    schedule: Schedule = Schedule()
    preview: Preview = Preview()
    bounces: Bounces = Bounces()
    subscribe: Subscribe = Subscribe()
    state: str = "digest.db"
    secret_env: str = "DIGEST_SECRET"
    editors: list[BareAddress] = []
    templates: str | None = None  # a folder whose files override the shipped templates
    corrections_dir: str = "corrections"  # the editors' corrections, one YAML file per issue
    now: str | None = None  # pins the clock (the demo uses it)

    @field_validator("state")
    @classmethod
    def _state_target(cls, state: str) -> str:
        return util.check_state_target(state)

    @field_validator("themes")
    @classmethod
    def _unique_slugs(cls, themes: list[Theme]) -> list[Theme]:
        seen: set[str] = set()
        for theme in themes:
            if theme.slug in seen:
                raise ValueError(f"expected unique slugs but {theme.slug!r} appears twice")
            seen.add(theme.slug)
        return themes

    @model_validator(mode="after")
    def _catch_all_title(self) -> Config:
        if self.catch_all.title == CATCH_ALL_TITLE:  # the default speaks the newsletter's language
            title = translations(self.newsletter.language).gettext(CATCH_ALL_TITLE)
            self.catch_all = self.catch_all.model_copy(update={"title": title})
        return self

    @model_validator(mode="after")
    def _feed_themes_exist(self) -> Config:
        slugs = [t.slug for t in self.themes]
        for index, feed in enumerate(self.feeds):
            if feed.theme is not None and feed.theme not in slugs:
                raise ValueError(
                    f"feeds[{index}].theme: expected the slug of a theme ({', '.join(slugs) or 'none configured'}) "
                    f"but received {feed.theme!r}"
                )
        return self


@dataclass
class Settings:
    """A loaded config: the validated model plus where it came from and what was warned."""

    model: Config
    path: Path
    warnings: list[str] = field(default_factory=list)

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def resolve(self, relative: str) -> Path:
        """A path from config.yaml, relative to the file."""
        candidate = Path(relative).expanduser()
        return candidate if candidate.is_absolute() else self.base_dir / candidate

    @property
    def state_path(self) -> Path:
        """The SQLite file (see `state_target` for a state that may be a PostgreSQL database)."""
        return self.resolve(self.model.state)

    @property
    def state_url(self) -> str | None:
        """The PostgreSQL URL of the state, when it is one."""
        state = self.model.state
        return state if state.startswith(util.POSTGRES_SCHEMES) else None

    @property
    def state_target(self) -> Path | str:
        """What `State(...)` opens: the PostgreSQL URL, else the SQLite file."""
        return self.state_url or self.state_path

    @property
    def archive_dir(self) -> Path:
        return self.resolve(self.model.archive.dir)

    @property
    def corrections_dir(self) -> Path:
        return self.resolve(self.model.corrections_dir)

    def secret(self) -> bytes | None:
        value = os.environ.get(self.model.secret_env)
        return value.encode() if value else None


MIN_SECRET = 16  # characters of a secret (DIGEST_SECRET, the preview's token) below which it is too weak


def parse_config(data: Any, path: Path, strict: bool = False) -> Settings:
    """Validate already-loaded YAML data; raise ConfigError listing every problem."""
    if not isinstance(data, dict):
        raise ConfigError(str(path), [f"expected a mapping of settings but the file holds {shorten(data)}"])
    typos = unknown_keys(data, Config)
    unknown = [(key, f" (a typo of '{close}'?)" if close else " (a typo?)") for key, close in typos]
    warnings = [f"{path}: unknown key '{key}' is ignored{hint}" for key, hint in unknown]
    newsletter = data.get("newsletter")
    language = newsletter.get("language") if isinstance(newsletter, dict) else None
    try:
        model = Config.model_validate(data, context={"language": language if isinstance(language, str) else "en"})
    except ValidationError as error:
        raise ConfigError(str(path), problems(error)) from None
    if strict and warnings:
        raise ConfigError(str(path), [f"unknown key '{key}'{hint}: --strict makes it fatal" for key, hint in unknown])
    secret = os.environ.get(model.secret_env)
    if secret and len(secret) < MIN_SECRET:
        warnings.append(
            f"{model.secret_env} has only {plural(len(secret), 'character')}: links signed with it could be forged by "
            f"guessing it; use at least {MIN_SECRET} random ones (python3 -c 'import secrets; "
            "print(secrets.token_urlsafe(32))')"
        )
    settings = Settings(model=model, path=path, warnings=warnings)
    folder = settings.resolve(model.templates) if model.templates else None
    if folder is not None and not folder.is_dir():
        raise ConfigError(
            str(path),
            [f"templates: {folder} is not a folder; create it with the templates to override, or remove the key"],
        )
    return settings


def load_config(path: str | Path, strict: bool = False) -> Settings:
    """Read and validate config.yaml before any work starts."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), ["no such file; pass --config PATH or create config.yaml"]) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(str(path), [f"cannot be read ({error})"]) from None
    try:
        data = load_yaml(text)
    except YamlRefused as error:
        raise ConfigError(str(path), [f"is refused: {error}"]) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        problem = getattr(error, "problem", None) or "invalid YAML"
        raise ConfigError(str(path), [f"is not valid YAML at {where}: {problem}"]) from None
    return parse_config(data, path.resolve(), strict=strict)
