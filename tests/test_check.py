"""`digest check`: passes what `digest build` writes, and fails — naming the problem — on broken emails."""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import REAL_WEEK_NOW

from digest.cli import main
from digest.issue.check import Finding, check_eml, check_html, contrast_ratio, report


def failures(findings: list[Finding]) -> dict[str, str]:
    return {f.check: f.detail for f in findings if f.level == "FAIL"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The demo issue, built once for this module: its .html text and .eml bytes."""
    out = tmp_path_factory.mktemp("demo")
    result = CliRunner().invoke(main, ["build", "--demo", "--out", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return {"html": next(out.glob("*.html")).read_text(), "eml": next(out.glob("*.eml")).read_bytes()}


def test_contrast_ratio_matches_wcag() -> None:
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast_ratio("#fff", "white") == pytest.approx(1.0)
    assert contrast_ratio("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)  # the lightest grey that passes
    assert contrast_ratio("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)
    assert contrast_ratio("rgb(170, 170, 170)", "#ffffff") == pytest.approx(2.32, abs=0.01)


def test_demo_issue_passes_html_and_eml(cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert cli("build", "--demo", "--out", out).exit_code == 0
    for suffix in ("html", "eml"):
        path = next(out.glob(f"*.{suffix}"))
        result = cli("check", path)
        assert result.exit_code == 0, result.output
        assert re.search(r": 0 FAIL, \d+ WARN, \d+ PASS$", result.output.strip()), result.output
        assert "PASS  html size" in result.output


def test_a_file_neither_html_nor_email_is_one_sentence(cli: Any, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("Things to fix before Friday.\n")
    result = cli("check", notes)
    assert (
        result.exit_code != 0 and "neither HTML nor an email message" in result.stderr and "FAIL" not in result.output
    )


def test_real_week_issue_passes_html_and_eml(cli: Any, real_week_config: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    built = cli("build", "--config", real_week_config, "--now", REAL_WEEK_NOW, "--out", out)
    assert built.exit_code == 0, built.stderr
    for suffix in ("html", "eml"):
        result = cli("check", next(out.glob(f"*.{suffix}")))
        assert result.exit_code == 0, result.output
    # the real week has a lead picture: its alt text is checked like text
    html_findings = check_html(next(out.glob("*.html")).read_text())
    assert next(f for f in html_findings if f.check == "img alt").detail.startswith("1/1")


def _card(html: str, extra: str) -> str:
    """Put `extra` into the first article card, right after its title."""
    return html.replace("</h3>", "</h3>" + extra, 1)


def _grow(html: str, target: int) -> str:
    """Repeat the article cards (real headings, links, teasers) until the HTML is `target` bytes."""
    cards = "".join(re.findall(r'<div class="card".*?</p></div>', html))
    assert cards
    copies = target // len(cards.encode()) + 1
    return html.replace("</h2>", "</h2>" + cards * copies, 1)


# Each crafted defect must fail its own check — and only that one, so the check is what catches it.
HTML_DEFECTS: list[tuple[str, Callable[[str], str], str, str]] = [
    ("no lang", lambda h: re.sub(r'(<html[^>]*?) lang="en"', r"\1", h, count=1), "html lang", "no lang"),
    (
        "image without alt",
        lambda h: _card(h, '<img src="https://www.leftvoice.org/wp-content/uploads/peru-march.jpg" width="544">'),
        "img alt",
        "peru-march.jpg",
    ),
    (
        "grey on white",
        lambda h: _card(h, '<p style="color:#aaaaaa">Photo: Left Voice archive</p>'),
        "contrast",
        "#aaaaaa on #ffffff = 2.32:1",
    ),
    ("150 KB body", lambda h: _grow(h, 150_000), "html size", "Gmail clips"),
    (
        "script",
        lambda h: h.replace("</body>", "<script>document.title='x'</script></body>"),
        "no script/iframe/object",
        "<script>",
    ),
    (
        "read more",
        lambda h: _card(h, '<p><a href="https://www.leftvoice.org/peru/">Read more</a></p>'),
        "descriptive link text",
        "'Read more' → https://www.leftvoice.org/peru/",
    ),
    ("small text", lambda h: _card(h, '<p style="font-size:12px">Photo credit</p>'), "font size", "12px at <p>"),
    (
        "skipped heading",
        lambda h: _card(h, '<h5 style="font-size:16px">Aside</h5>'),
        "heading levels",
        "<h5> 'Aside' follows h3",
    ),
    ("second h1", lambda h: _card(h, "<h1>Another title</h1>"), "one h1", "2 <h1> elements"),
    ("empty link", lambda h: _card(h, '<a href="https://www.leftvoice.org/x/"> </a>'), "link text", "empty"),
    ("event handler", lambda h: h.replace("<h1 ", '<h1 onclick="steal()" ', 1), "no event handlers", "onclick="),
    (
        "javascript link",
        lambda h: _card(h, '<a href="javascript:alert(1)">Peru today</a>'),
        "no javascript:/data: URLs",
        "javascript:alert(1)",
    ),
    (
        "remote css",
        lambda h: h.replace("</head>", '<link rel="stylesheet" href="https://cdn.example/x.css"></head>'),
        "no remote CSS",
        "https://cdn.example/x.css",
    ),
    ("layout table", lambda h: _card(h, "<table><tr><td>Aside</td></tr></table>"), "layout tables", "lack role"),
    ("no unsubscribe", lambda h: re.sub(r"<a [^>]*>Unsubscribe[^<]*</a>", "Write to us", h), "unsubscribe link", ""),
    ("C1 character", lambda h: _card(h, "<p>It\x92s time</p>"), "no C1 control characters", "U+0092"),
    (
        "dark link colour",
        lambda h: h.replace(
            "</head>", "<style>@media (prefers-color-scheme: dark) { a { color: #5a0000 } }</style></head>"
        ),
        "dark palette contrast",
        "#5a0000 on #161616",
    ),
]


@pytest.mark.parametrize(("name", "mutate", "check", "detail"), HTML_DEFECTS, ids=[d[0] for d in HTML_DEFECTS])
def test_html_defect_is_named(
    demo: dict[str, Any], cli: Any, tmp_path: Path, name: str, mutate: Callable[[str], str], check: str, detail: str
) -> None:
    broken = mutate(demo["html"])
    assert broken != demo["html"], "the mutation did not apply"
    failed = failures(check_html(broken))
    assert set(failed) == {check}, failed
    assert detail in failed[check]
    path = tmp_path / "broken.html"
    path.write_text(broken, encoding="utf-8")
    result = cli("check", path)
    assert result.exit_code == 1
    line = next(x for x in result.output.splitlines() if x.startswith(f"FAIL  {check} "))
    assert detail in line


def test_large_text_needs_only_3_to_1(demo: dict[str, Any]) -> None:
    grey = "#949494"  # 3.03:1 on white
    large = _card(demo["html"], f'<p style="font-size:24px;color:{grey}">Pull quote</p>')
    body = _card(demo["html"], f'<p style="font-size:16px;color:{grey}">Pull quote</p>')
    assert "contrast" not in failures(check_html(large))
    assert "3.03:1 (needs 4.5:1)" in failures(check_html(body))["contrast"]


def test_white_preheader_warns(demo: dict[str, Any]) -> None:
    white = re.sub(r'(class="preheader" style="[^"]*)color:#[0-9a-f]+', r"\1color:#ffffff", demo["html"], count=1)
    assert white != demo["html"]
    preheader = next(f for f in check_html(white) if f.check == "preheader")
    assert preheader.level == "WARN" and "#ffffff" in preheader.detail
    # the hidden preheader's 1px text is not held to the 14px minimum
    assert "font size" not in failures(check_html(white))


def _message(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def _rebuild(raw: bytes, html_cte: str = "quoted-printable", html_first: bool = False) -> bytes:
    """The same message rebuilt from its parts, e.g. with a different encoding or part order."""
    old = _message(raw)
    text, html = (str(p.get_content()) for p in old.iter_parts())
    msg = EmailMessage(policy=email.policy.SMTP)
    for name in ("From", "To", "Subject", "Date", "Message-ID", "List-Unsubscribe", "List-Unsubscribe-Post"):
        msg[name] = str(old[name])
    if html_first:
        msg.set_content(html, subtype="html", cte="quoted-printable")
        msg.add_alternative(text, cte="quoted-printable")
    else:
        msg.set_content(text, cte="quoted-printable")
        msg.add_alternative(html, subtype="html", cte=html_cte)
    return msg.as_bytes()


def _without_header(raw: bytes, name: str) -> bytes:
    head, sep, body = raw.partition(b"\r\n\r\n")
    kept = [line for line in head.split(b"\r\n") if not line.lower().startswith(name.lower().encode() + b":")]
    assert len(kept) < len(head.split(b"\r\n")), f"{name} was not in the message"
    return b"\r\n".join(kept) + sep + body


EML_DEFECTS: list[tuple[str, Callable[[bytes], bytes], str, str]] = [
    (
        "no List-Unsubscribe-Post",
        lambda r: _without_header(r, "List-Unsubscribe-Post"),
        "List-Unsubscribe-Post",
        "missing",
    ),
    ("no List-Unsubscribe", lambda r: _without_header(r, "List-Unsubscribe"), "List-Unsubscribe", "missing"),
    (
        "mailto-only List-Unsubscribe",
        lambda r: re.sub(rb"List-Unsubscribe: <[^>]*>", b"List-Unsubscribe: <mailto:leave@leftvoice.org>", r),
        "List-Unsubscribe",
        "no https URI",
    ),
    ("no Date", lambda r: _without_header(r, "Date"), "headers", "Date is missing"),
    (
        "two Subjects",
        lambda r: r.replace(b"Subject:", b"Subject: Win a prize\r\nSubject:", 1),
        "headers",
        "Subject appears 2 times",
    ),
    ("html first", lambda r: _rebuild(r, html_first=True), "MIME structure", "[text/html, text/plain]"),
    ("8bit html, one long line", lambda r: _rebuild(r, html_cte="8bit"), "line length", "octets"),
    (
        "DKIM h= without the unsubscribe headers",
        lambda r: (
            b"DKIM-Signature: v=1; a=rsa-sha256; d=leftvoice.org; s=s1;\r\n h=from:to:subject:date; bh=x; b=y\r\n" + r
        ),
        "DKIM h=",
        "lacks list-unsubscribe, list-unsubscribe-post",
    ),
]


@pytest.mark.parametrize(("name", "mutate", "check", "detail"), EML_DEFECTS, ids=[d[0] for d in EML_DEFECTS])
def test_eml_defect_is_named(
    demo: dict[str, Any], cli: Any, tmp_path: Path, name: str, mutate: Callable[[bytes], bytes], check: str, detail: str
) -> None:
    broken = mutate(demo["eml"])
    failed = failures(check_eml(broken))
    assert set(failed) == {check}, failed
    assert detail in failed[check]
    path = tmp_path / "broken.eml"
    path.write_bytes(broken)
    result = cli("check", path)
    assert result.exit_code == 1
    assert any(x.startswith(f"FAIL  {check} ") and detail in x for x in result.output.splitlines()), result.output


def test_eml_checks_its_html_part_too(demo: dict[str, Any]) -> None:
    """A defect inside the HTML part of a message is found by `check_eml` as well."""
    msg = _message(demo["eml"])
    text, html = (str(p.get_content()) for p in msg.iter_parts())
    broken = EmailMessage(policy=email.policy.SMTP)
    for name in ("From", "To", "Subject", "Date", "Message-ID", "List-Unsubscribe", "List-Unsubscribe-Post"):
        broken[name] = str(msg[name])
    broken.set_content(text, cte="quoted-printable")
    broken.add_alternative(re.sub(r'(<html[^>]*?) lang="en"', r"\1", html, count=1), subtype="html")
    assert set(failures(check_eml(broken.as_bytes()))) == {"html lang"}


def test_report_is_an_aligned_table_with_a_summary() -> None:
    findings = [Finding("PASS", "html size", "1 byte"), Finding("FAIL", "contrast", "#aaaaaa on #ffffff")]
    assert report(findings, "x.html").splitlines() == [
        "PASS  html size  1 byte",
        "FAIL  contrast   #aaaaaa on #ffffff",
        "x.html: 1 FAIL, 0 WARN, 1 PASS",
    ]


def test_check_needs_an_existing_file(cli: Any, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["check", str(tmp_path / "missing.html")])
    assert result.exit_code == 2
    assert "does not exist" in result.output


def _with_header_block(raw: bytes, change: Callable[[bytes], bytes]) -> bytes:
    head, sep, body = raw.partition(b"\r\n\r\n")
    return change(head) + sep + body


@pytest.mark.parametrize(
    ("name", "change", "detail"),
    [
        (
            "non-ASCII subject folded with a bare LF",
            lambda h: re.sub(
                rb"Subject: [^\r]*", b"Subject: =?utf-8?q?Bolet=C3=ADn_semanal?=\n =?utf-8?q?de_la_semana?=", h
            ),
            "1 line folded or ended with a bare LF",
        ),
        ("a bare CR", lambda h: h.replace(b"Subject: ", b"Subject: Weekly\rBcc: x@example.org ", 1), "1 bare CR"),
        (
            "a 1,200-octet header line",
            lambda h: h + b"\r\nX-Long: " + b"x" * 1192,
            "1 header line over 998 octets (the first, X-Long, 1,200)",
        ),
    ],
)
def test_check_fails_header_lines_with_bare_line_ends_or_over_998_octets(
    demo: dict[str, Any], cli: Any, tmp_path: Path, name: str, change: Callable[[bytes], bytes], detail: str
) -> None:
    path = tmp_path / "broken.eml"
    path.write_bytes(_with_header_block(demo["eml"], change))
    result = cli("check", path)
    assert result.exit_code == 1
    assert any(x.startswith("FAIL  header lines ") and detail in x for x in result.output.splitlines()), result.output
