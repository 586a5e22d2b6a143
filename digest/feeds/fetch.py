"""Getting feed bytes: local files, or HTTP done politely (conditional GET, redirects, caps, timeouts)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urljoin

from digest import __version__
from digest.models import FeedState, FeedStatus

if TYPE_CHECKING:  # httpx and asyncio load only when a feed is fetched over HTTP
    import httpx

MAX_REDIRECTS = 5
FEED_ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5"


@dataclass
class Fetched:
    """The outcome of asking for one feed."""

    url: str  # what was asked for (config URL or its remembered new home)
    status: FeedStatus
    body: bytes = b""
    final_url: str = ""
    error: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    moved_to: str | None = None  # a permanent redirect to remember
    notes: list[str] = field(default_factory=list)
    code: int | None = None  # the last HTTP status, when there was an answer
    too_large: bool = False  # over the size cap: cut off and not used
    content_type: str = ""


def user_agent(contact: str | None) -> str:
    return f"digest/{__version__} (+{contact})" if contact else f"digest/{__version__}"


def is_http(url: str) -> bool:
    return url.startswith(("http://", "https://"))


def read_file(path: Path, max_bytes: int) -> Fetched:
    url = str(path)
    try:
        with path.open("rb") as handle:
            body = handle.read(max_bytes + 1)
    except FileNotFoundError:
        return Fetched(url, FeedStatus.FAILED, error=f"no such file {path}; fix the feed's url in config.yaml")
    except OSError as error:
        return Fetched(url, FeedStatus.FAILED, error=f"cannot read {path} ({error.strerror or error})")
    if len(body) > max_bytes:
        return Fetched(
            url, FeedStatus.FAILED, error=f"the file is larger than the {max_bytes:,}-byte cap (gather.max_bytes)"
        )
    return Fetched(url, FeedStatus.OK, body=body, final_url=path.resolve().as_uri())


async def _download(
    client: httpx.AsyncClient,
    url: str,
    headers: dict[str, str],
    max_bytes: int,
) -> tuple[httpx.Response, bytes, bool]:
    async with client.stream("GET", url, headers=headers) as response:
        chunks: list[bytes] = []
        size = 0
        truncated = False
        if response.status_code == 200:
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    truncated = True
                    break
                chunks.append(chunk)
        return response, b"".join(chunks), truncated


def _retry_after(response: httpx.Response) -> str:
    value = response.headers.get("retry-after")
    return f" (the server asks to wait {value}{'s' if value and value.isdigit() else ''})" if value else ""


def _not_ok(start: str, url: str, response: httpx.Response, state: FeedState, moved_to: str | None) -> Fetched:
    """What an answer other than 200 (and other than a redirect) means for the feed."""
    code = response.status_code
    if code == 304:
        return Fetched(
            start,
            FeedStatus.NOT_MODIFIED,
            final_url=url,
            etag=state.etag,
            last_modified=state.last_modified,
            moved_to=moved_to,
        )
    if code == 410:
        return Fetched(
            start,
            FeedStatus.GONE,
            code=code,
            error="HTTP 410 Gone: the feed was removed for good; it will not be "
            "asked for again. Remove it from config.yaml",
        )
    if code in (429, 503):
        return Fetched(
            start,
            FeedStatus.SKIPPED,
            code=code,
            error=f"HTTP {code}: the server asked us to come back later{_retry_after(response)}; skipped this run",
        )
    reason = response.reason_phrase or ""
    return Fetched(
        start,
        FeedStatus.FAILED,
        code=code,
        error=f"HTTP {code} {reason}".strip() + f" from {url}; check the feed's url in config.yaml or try again later",
    )


async def fetch_http(client: httpx.AsyncClient, state: FeedState, max_bytes: int, accept: str = FEED_ACCEPT) -> Fetched:
    """One conditional GET, following redirects by hand to tell permanent moves from temporary ones."""
    start = state.moved_to or state.url
    headers: dict[str, str] = {"Accept": accept}
    if state.etag:
        headers["If-None-Match"] = state.etag
    if state.last_modified:
        headers["If-Modified-Since"] = state.last_modified
    url = start
    moved_to: str | None = None
    permanent_so_far = True
    notes: list[str] = []
    for _hop in range(MAX_REDIRECTS + 1):
        response, body, truncated = await _download(client, url, headers, max_bytes)
        code = response.status_code
        if code in (301, 302, 303, 307, 308):
            location = response.headers.get("location")
            if not location:
                return Fetched(start, FeedStatus.FAILED, error=f"HTTP {code} without a Location header")
            url = urljoin(url, location)
            if not is_http(url):  # file:, javascript:, data: … are never fetched, whoever points at them
                return Fetched(
                    start,
                    FeedStatus.FAILED,
                    code=code,
                    error=f"HTTP {code} redirects to {url[:80]!r}, not an http(s) address",
                )
            permanent_so_far = permanent_so_far and code in (301, 308)
            if permanent_so_far:
                moved_to = url
            continue
        if code != 200:
            return _not_ok(start, url, response, state, moved_to)
        if truncated:
            return Fetched(
                start,
                FeedStatus.FAILED,
                code=code,
                too_large=True,
                error=f"the response is larger than the {max_bytes:,}-byte cap "
                "(gather.max_bytes); it was cut off and not used",
            )
        return Fetched(
            start,
            FeedStatus.OK,
            body=body,
            final_url=url,
            etag=response.headers.get("etag"),
            last_modified=response.headers.get("last-modified"),
            moved_to=moved_to,
            notes=notes,
            code=code,
            content_type=response.headers.get("content-type", ""),
        )
    return Fetched(start, FeedStatus.FAILED, error=f"more than {MAX_REDIRECTS} redirects starting at {start}")


async def fetch_all(
    states: list[FeedState],
    contact: str | None,
    timeout: float,
    connect_timeout: float,
    concurrency: int,
    max_bytes: int,
    accept: str = FEED_ACCEPT,
) -> list[Fetched]:
    """Fetch every HTTP feed at once (bounded), each within `timeout` seconds in all."""
    import asyncio

    import httpx

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    timeouts = httpx.Timeout(timeout, connect=connect_timeout)
    gate = asyncio.Semaphore(concurrency)
    headers = {"User-Agent": user_agent(contact), "Accept-Encoding": "gzip, deflate"}

    async def one(client: httpx.AsyncClient, state: FeedState) -> Fetched:
        async with gate:
            try:
                return await asyncio.wait_for(fetch_http(client, state, max_bytes, accept), timeout)
            except (TimeoutError, httpx.TimeoutException):
                return Fetched(
                    state.url,
                    FeedStatus.FAILED,
                    error=f"no answer within {timeout:g}s (gather.timeout); the server may be down",
                )
            except httpx.HTTPError as error:
                return Fetched(
                    state.url,
                    FeedStatus.FAILED,
                    error=f"cannot connect ({type(error).__name__}: {str(error)[:120] or 'no detail'}); check the "
                    "feed's url, or try again later if the server is down",
                )
            except (OSError, ValueError) as error:
                return Fetched(state.url, FeedStatus.FAILED, error=f"cannot fetch ({error})")

    async with httpx.AsyncClient(
        timeout=timeouts, limits=limits, headers=headers, follow_redirects=False, trust_env=False
    ) as client:
        return list(await asyncio.gather(*(one(client, s) for s in states)))
