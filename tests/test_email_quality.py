"""What subscribers get, measured: spam score, rendering in Chromium, size at scale, dark palette, DKIM."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from collections.abc import Callable
from datetime import datetime, timedelta
from email.utils import format_datetime
from html import escape
from pathlib import Path
from typing import Any

import pytest
from conftest import REAL_WEEK_NOW, REPO, load_manifest

from digest.issue.check import Look, check_html, contrast_ratio, failed, is_large, parse_color, parse_html, report

SPAMASSASSIN = Path("/usr/bin/spamassassin")
ARTIFACTS = REPO / "test-artifacts"
DEMO_FEED = REPO / "digest" / "demo" / "leftvoice-sample.xml"
DEMO_NOW = "2024-03-01T12:00:00Z"


# --- building issues -------------------------------------------------------------------------------


@pytest.fixture
def demo_out(cli: Any, tmp_path: Path) -> Path:
    out = tmp_path / "demo"
    result = cli("build", "--demo", "--out", out)
    assert result.exit_code == 0, result.stderr
    return out


@pytest.fixture
def real_week_out(cli: Any, real_week_config: Path, tmp_path: Path) -> Path:
    out = tmp_path / "real-week"
    result = cli("build", "--config", real_week_config, "--now", REAL_WEEK_NOW, "--out", out)
    assert result.exit_code == 0, result.stderr
    return out


ACTORS = ["Teachers", "Nurses", "Dockworkers", "Transit workers", "Students", "Farmworkers", "Miners",
          "Graduate workers", "Warehouse workers", "Doctors"]  # fmt: skip
PLACES = ["Buenos Aires", "Lima", "São Paulo", "Detroit", "Oakland", "Gaza City", "Ramallah", "Santiago", "La Paz",
          "Chicago", "Mexico City", "Jenin", "Philadelphia", "Montevideo", "Bogotá"]  # fmt: skip
ACTIONS = ["walk out over", "vote to strike against", "rally against", "win concessions on", "occupy offices over",
           "march against", "defy a court order on"]  # fmt: skip
ISSUES = ["pension cuts", "unsafe staffing", "privatization plans", "a wage freeze", "mass layoffs",
          "police repression", "rising rents", "the siege"]  # fmt: skip
CATEGORIES = ["Labor Movement", "Latin America", "Palestine", "Strikes", "Argentina", "Culture", "Politics"]
AUTHORS = ["Olivia Wood", "Samuel Karlin", "Enzo Tresso", "James Dennis Hoff", "Tristan Taylor", "Seb Zürcher"]


def synthetic_feed(path: Path, count: int, now: str) -> list[str]:
    """An RSS 2.0 file of `count` distinct articles dated inside the week before `now`; returns their titles."""
    end = datetime.fromisoformat(now.replace("Z", "+00:00"))
    items, titles = [], []
    for i in range(count):
        actor, place = ACTORS[i % len(ACTORS)], PLACES[(i // len(ACTORS)) % len(PLACES)]
        action, issue = ACTIONS[i % len(ACTIONS)], ISSUES[(i * 3) % len(ISSUES)]
        title = f"{actor} in {place} {action} {issue}"
        title = title[0].upper() + title[1:]
        teaser = (
            f"{actor} in {place} {action} {issue} this week, in a fight that has drawn support from neighborhood "
            "assemblies and student groups. Organizers say the dispute is about more than one contract: it is "
            f"about who pays for the crisis, and whether working people in {place} can decide for themselves."
        )
        slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
        items.append(
            "<item>"
            f"<title>{escape(title)}</title>"
            f"<link>https://www.leftvoice.org/2026/02/{slug}/</link>"
            f'<guid isPermaLink="false">synthetic-{i}</guid>'
            f"<pubDate>{format_datetime(end - timedelta(hours=1 + i))}</pubDate>"
            f"<dc:creator>{escape(AUTHORS[i % len(AUTHORS)])}</dc:creator>"
            f"<category>{CATEGORIES[i % len(CATEGORIES)]}</category>"
            f"<description>{escape(teaser)}</description>"
            "</item>"
        )
        titles.append(title)
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
        "<title>Synthetic Weekly</title><link>https://www.leftvoice.org/</link>"
        "<description>A week of synthetic articles</description>" + "".join(items) + "</channel></rss>\n",
        encoding="utf-8",
    )
    return titles


def build_synthetic(cli: Any, write_config: Callable[..., Path], tmp_path: Path, count: int, **issue: Any) -> Any:
    feed = tmp_path / "synthetic.xml"
    synthetic_feed(feed, count, REAL_WEEK_NOW)
    config = write_config([{"name": "Synthetic", "url": str(feed)}], issue=issue)
    return cli("build", "--config", config, "--now", REAL_WEEK_NOW, "--out", tmp_path / "out")


def all_articles(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    return [a for s in manifest["sections"] for a in s["articles"]]


def links(html: str) -> list[tuple[str, str]]:
    """Every <a href> of an HTML document as (text, href), entities decoded."""
    root, _ = parse_html(html)
    return [(" ".join(n.text().split()), n.attrs["href"]) for n in root.iter() if n.tag == "a" and "href" in n.attrs]


# --- size at scale ---------------------------------------------------------------------------------


def test_forty_articles_stay_under_60_kb(cli: Any, write_config: Callable[..., Path], tmp_path: Path) -> None:
    result = build_synthetic(cli, write_config, tmp_path, 40, max_per_section=40)
    assert result.exit_code == 0, result.stderr
    manifest = load_manifest(tmp_path / "out")
    assert manifest["articles"] == 40
    assert manifest["size"]["degraded"] is False
    html = next((tmp_path / "out").glob("*.html")).read_bytes()
    assert len(html) < 60_000, f"{len(html):,} bytes for 40 articles"
    assert manifest["size"]["html_bytes"] < 60_000


def test_oversized_issue_degrades_to_headlines_and_keeps_every_article(
    cli: Any, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    result = build_synthetic(cli, write_config, tmp_path, 150, max_per_section=200)
    assert result.exit_code == 0, result.stderr
    assert re.search(r"warning: the email would be [\d,]+ bytes, over the 90,000-byte budget", result.stderr)
    out = tmp_path / "out"
    manifest = load_manifest(out)
    assert manifest["size"]["degraded"] is True
    html = next(out.glob("*.html")).read_text(encoding="utf-8")
    assert len(html.encode()) < 102_000
    articles = all_articles(manifest)
    assert len(articles) == 150
    assert any(a.get("headline_only") for a in articles)
    anchors = links(html)
    for article in articles:
        assert any(text == article["title"] and href.startswith(article["url"]) for text, href in anchors), article[
            "title"
        ]
    findings = check_html(html)
    assert not failed(findings), report(findings)


# --- dark palette ----------------------------------------------------------------------------------


def _dark_block(template: str) -> str:
    start = re.search(r"@media\s*\(prefers-color-scheme:\s*dark\)\s*\{", template)
    assert start, "the template has no @media (prefers-color-scheme: dark) block"
    depth, i = 1, start.end()
    while depth:
        depth += {"{": 1, "}": -1}.get(template[i], 0)
        i += 1
    return template[start.end() : i - 1]


def test_dark_palette_of_the_template_has_4_5_to_1_contrast() -> None:
    block = _dark_block((REPO / "digest" / "templates" / "email.mjml.j2").read_text(encoding="utf-8"))
    inks = set(re.findall(r"(?<![\w-])color:\s*(#[0-9a-fA-F]{3,6})", block))
    papers = set(re.findall(r"(?<![\w-])background(?:-color)?:\s*(#[0-9a-fA-F]{3,6})", block))
    assert len(inks) >= 3 and papers, (inks, papers)  # body text, links and secondary text at least
    low = [f"{i} on {p}: {contrast_ratio(i, p):.2f}" for i in inks for p in papers if contrast_ratio(i, p) < 4.5]
    assert not low


# --- SpamAssassin ----------------------------------------------------------------------------------


def spam_score(eml: Path, home: Path) -> tuple[float, str]:
    result = subprocess.run(
        [str(SPAMASSASSIN), "-L", "-t"],
        input=eml.read_bytes(),
        capture_output=True,
        timeout=120,
        env={"HOME": str(home), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    output = result.stdout.decode("utf-8", "replace")
    match = re.search(r"^X-Spam-Status: (?:Yes|No), score=(-?[\d.]+)[^\n]*(?:\n\s+[^\n]*)*", output, re.M)
    assert match, output[:2000] + result.stderr.decode()
    return float(match.group(1)), " ".join(match.group(0).split())


@pytest.mark.slow
@pytest.mark.skipif(not SPAMASSASSIN.exists(), reason="SpamAssassin is not installed (apt-get install spamassassin)")
@pytest.mark.parametrize("issue", ["demo_out", "real_week_out"])
def test_spamassassin_scores_the_message_under_1(issue: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    out: Path = request.getfixturevalue(issue)
    score, status = spam_score(next(out.glob("*.eml")), tmp_path)
    assert score < 1.0, status


# --- Chromium --------------------------------------------------------------------------------------

VISIBLE_TEXT_JS = """() => {
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const text = node.textContent.replace(/[\\s\\u034f\\u200c\\u00a0]+/g, '');
    const el = node.parentElement;
    if (!text || !el || !el.getClientRects().length) continue;
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden' || style.display === 'none' || parseFloat(style.opacity) === 0) continue;
    let bg = 'rgba(0, 0, 0, 0)';
    for (let up = el; up; up = up.parentElement) {
      const b = getComputedStyle(up).backgroundColor;
      if (b !== 'rgba(0, 0, 0, 0)' && b !== 'transparent') { bg = b; break; }
    }
    out.push({text: node.textContent.trim().slice(0, 40), tag: el.tagName, color: style.color,
              background: bg, size: parseFloat(style.fontSize), weight: parseInt(style.fontWeight, 10)});
  }
  return out;
}"""


@pytest.mark.slow
@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [600, 375])
def test_demo_renders_in_chromium(browser: Any, demo_out: Path, width: int, scheme: str) -> None:
    context = browser.new_context(viewport={"width": width, "height": 900}, color_scheme=scheme)
    try:
        page = context.new_page()
        page.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:") else route.abort())
        page.goto(next(demo_out.glob("*.html")).as_uri())
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"demo-{width}-{scheme}.png"), full_page=True)

        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        assert scroll_width <= width, f"{scroll_width}px of content in a {width}px viewport: it scrolls sideways"
        headings = page.locator("h2")
        assert headings.count() >= 3
        for i in range(headings.count()):
            heading = headings.nth(i)
            assert heading.is_visible(), heading.inner_text()
            box = heading.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, (heading.inner_text(), box)

        body_background = parse_color(page.evaluate("getComputedStyle(document.body).backgroundColor"))
        assert body_background is not None
        assert (sum(body_background[:3]) < 3 * 64) == (scheme == "dark"), body_background

        # Contrast as Chromium actually paints it, with the dark rules applied or not.
        low = []
        for run in page.evaluate(VISIBLE_TEXT_JS):
            ink, paper = parse_color(run["color"]), parse_color(run["background"])
            assert ink is not None and paper is not None, run
            look = Look(font_px=run["size"], bold=run["weight"] >= 600)
            ratio = contrast_ratio(ink, paper)
            if ratio < (3.0 if is_large(look) else 4.5) or run["size"] < 14:
                low.append(f"{run['tag']} {run['text']!r}: {run['color']} on {run['background']} {ratio:.2f}:1")
        assert not low, low
    finally:
        context.close()


# --- DKIM --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dkim_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    """A fresh 2048-bit RSA key and its DNS TXT record."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("dkim")
    key = folder / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    public = subprocess.run(
        ["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"], check=True, capture_output=True
    ).stdout
    return key, b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)


def test_dkim_signature_verifies_and_covers_the_unsubscribe_headers(
    cli: Any, write_config: Callable[..., Path], tmp_path: Path, dkim_key: tuple[Path, bytes]
) -> None:
    import dkim

    key, txt = dkim_key
    config = write_config(
        [{"name": "Left Voice", "url": str(DEMO_FEED)}], dkim={"selector": "s1", "key_file": str(key)}
    )
    result = cli("build", "--config", config, "--now", DEMO_NOW, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.stderr
    eml = next((tmp_path / "out").glob("*.eml"))
    raw = eml.read_bytes()
    asked: list[bytes] = []

    def dns(name: bytes, timeout: int = 5) -> bytes | None:
        asked.append(name)
        return txt if name == b"s1._domainkey.leftvoice.org." else None

    assert raw.startswith(b"DKIM-Signature:")
    assert dkim.verify(raw, dnsfunc=dns) is True
    assert asked == [b"s1._domainkey.leftvoice.org."]
    signature = raw.split(b"\r\n\r\n", 1)[0].decode()
    signed = re.search(r"\bh=([^;]+);", re.sub(r"\s+", "", signature.split("DKIM-Signature:", 1)[1]))
    assert signed, signature
    assert {"list-unsubscribe", "list-unsubscribe-post"} <= set(signed.group(1).lower().split(":"))
    check = cli("check", eml)
    assert check.exit_code == 0, check.output
    assert "PASS  DKIM h=" in check.output

    # The signature really covers them: change either header and it no longer verifies.
    tampered = raw.replace(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click", b"List-Unsubscribe-Post: no", 1)
    assert tampered != raw and dkim.verify(tampered, dnsfunc=dns) is False
    tampered = re.sub(rb"(List-Unsubscribe: <https://[^>]*?)(.)>", rb"\1X>", raw, count=1)
    assert tampered != raw and dkim.verify(tampered, dnsfunc=dns) is False
