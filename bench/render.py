"""Render issues of 10, 40 and 100 synthetic articles: HTML bytes per article, and render time against
the physical floor — mjml-python compiling the very same MJML, with nothing else. Medians of several runs.

    .venv/bin/python bench/render.py [--runs 21] [--sizes 10,40,100]

render.py's one compile is Jinja → mjml2html → Outlook-comment merge → inline_css (premailer); `render()`
adds the plain text and, past issue.size_budget, recompiles while it turns cards into headlines.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mjml import mjml2html

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from digest.cli import demo_config_path  # noqa: E402
from digest.config import Settings, load_config  # noqa: E402
from digest.issue import render as r  # noqa: E402  (the repo, not an installed copy)
from digest.models import Article, Issue, Placed, Section, Window  # noqa: E402

NOW = datetime(2026, 2, 18, 12, tzinfo=UTC)
ACTORS = ["Teachers", "Nurses", "Dockworkers", "Transit workers", "Students", "Farmworkers", "Miners", "Doctors"]
PLACES = ["Buenos Aires", "Lima", "São Paulo", "Detroit", "Oakland", "Gaza City", "Ramallah", "Santiago", "La Paz",
          "Chicago", "Mexico City", "Jenin", "Philadelphia", "Montevideo", "Bogotá"]  # fmt: skip
SECTIONS = [("latin-america", "Latin America"), ("labor", "Labor"), ("palestine", "Palestine"), ("more", "More")]


def synthetic_issue(count: int) -> Issue:
    """An issue of `count` articles, ~40-word teasers, spread over four sections; no lead picture."""
    sections = [Section(slug, title) for slug, title in SECTIONS]
    for i in range(count):
        actor, place = ACTORS[i % len(ACTORS)], PLACES[(i // len(ACTORS)) % len(PLACES)]
        title = f"{actor} in {place} walk out over pension cuts and unsafe staffing"
        article = Article(
            id=f"a{i}",
            title=title,
            url=f"https://www.leftvoice.org/2026/02/{actor.lower().replace(' ', '-')}-{i}/",
            feed="Left Voice",
            published=NOW - timedelta(hours=i + 1),
            teaser=(
                f"{actor} in {place} walked out this week, in a fight that has drawn support from neighborhood "
                "assemblies and student groups. Organizers say the dispute is about more than one contract: it is "
                "about who pays for the crisis, and who decides…"
            ),
            author="Olivia Wood",
            categories=["Labor Movement"],
        )
        sections[i % len(sections)].items.append(Placed(article, "category 'Labor Movement'", 3.0))
    return Issue(
        id="2026-W08",
        title="Left Voice Weekly",
        subject="Left Voice Weekly: the week of February 18, 2026",
        window=Window(NOW - timedelta(days=7), NOW),
        sections=sections,
        feeds=[],
    )


def median_ms(func: Callable[[], object], runs: int) -> float:
    func()  # warm caches (Jinja templates, premailer's CSS parser)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def stages(issue: Issue, settings: Settings) -> tuple[str, str, str]:
    """The MJML source, MRML's HTML, and the inlined HTML — exactly as render._compile makes them."""
    dirs = tuple(r.template_dirs(settings))
    source = r._environment(dirs, True).get_template("email.mjml.j2").render(r._context(issue, settings, True))
    source = "\n".join(line.rstrip() for line in source.replace("\r\n", "\n").split("\n"))
    mrml: str = mjml2html(source, disable_comments=True, fonts={})
    merged = r._MSO_MERGE.sub("", mrml)
    return source, mrml, r.inline_css(merged, r.own_css(settings))


def measure(count: int, settings: Settings, runs: int) -> dict[str, float]:
    """Sizes and median timings of one issue size, at each stage and end to end."""
    issue = synthetic_issue(count)
    source, mrml, html = stages(issue, settings)
    assert html == r._compile(issue, settings), "the bench no longer mirrors render._compile"
    dirs = tuple(r.template_dirs(settings))
    context = r._context(issue, settings, True)
    template = r._environment(dirs, True).get_template("email.mjml.j2")
    css = r.own_css(settings)
    row: dict[str, float] = {
        "n": count,
        "mjml_bytes": len(source.encode()),
        "mrml_bytes": len(mrml.encode()),
        "html_bytes": len(html.encode()),
        "jinja": median_ms(lambda: template.render(context), runs),
        "floor": median_ms(lambda: mjml2html(source, disable_comments=True, fonts={}), runs),
        "inline": median_ms(lambda: r.inline_css(r._MSO_MERGE.sub("", mrml), css), runs),
        "compile": median_ms(lambda: r._compile(issue, settings), runs),
    }
    budget = settings.model.issue.size_budget
    settings.model.issue.size_budget = 10**9
    row["render"] = median_ms(lambda: r.render(synthetic_issue(count), settings), runs)
    settings.model.issue.size_budget = budget
    degraded, rendered = r.render(synthetic_issue(count), settings)
    row["budget_render"] = median_ms(lambda: r.render(synthetic_issue(count), settings), runs)
    row["budget_bytes"] = len(rendered.html.encode())
    row["headlines"] = sum(len(s.more) for s in degraded.sections)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--sizes", default="10,40,100")
    args = parser.parse_args()
    settings = load_config(demo_config_path())
    budget = settings.model.issue.size_budget
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = [measure(count, settings, args.runs) for count in sizes]

    print(f"mjml-python floor vs digest's render; medians of {args.runs} runs (ms); size budget {budget:,} B\n")
    head = (
        f"{'n':>4} {'MJML B':>8} {'MRML B':>8} {'HTML B':>8} {'B/art':>6} {'jinja':>6} {'floor':>6} "
        f"{'inline':>7} {'compile':>8} {'x floor':>8} {'render':>7} | {'w/ budget':>9} {'HTML B':>8} {'heads':>5}"
    )
    print(head)
    print("-" * len(head))
    for row in rows:
        print(
            f"{row['n']:>4} {row['mjml_bytes']:>8,} {row['mrml_bytes']:>8,} {row['html_bytes']:>8,} "
            f"{row['html_bytes'] / row['n']:>6,.0f} {row['jinja']:>6.2f} {row['floor']:>6.2f} {row['inline']:>7.2f} "
            f"{row['compile']:>8.2f} {row['compile'] / row['floor']:>7.1f}x {row['render']:>7.2f} | "
            f"{row['budget_render']:>9.1f} {row['budget_bytes']:>8,} {row['headlines']:>5}"
        )
    if len(rows) >= 2:
        first, last = rows[0], rows[-1]
        marginal = (last["html_bytes"] - first["html_bytes"]) / (last["n"] - first["n"])
        fixed = first["html_bytes"] - marginal * first["n"]
        print(
            f"\nmarginal cost {marginal:,.0f} B/article over a fixed {fixed:,.0f} B; "
            f"inlining adds {100 * (last['html_bytes'] / last['mrml_bytes'] - 1):.1f} % at n={last['n']}; "
            f"the 90,000 B budget holds about {(90_000 - fixed) / marginal:.0f} cards"
        )
    print(
        "\ncolumns: MJML/MRML/HTML B = Jinja output, mjml2html output, final inlined HTML; floor = mjml2html alone;"
        "\ncompile = render._compile (jinja + floor + merge + premailer); render = render() with no budget (adds the"
        "\ntext part); w/ budget = render() at the configured budget, recompiling as cards become headlines."
    )


if __name__ == "__main__":
    main()
