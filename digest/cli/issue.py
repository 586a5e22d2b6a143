"""The commands of the issue itself: build it, explain a placement, check an output, approve it for sending."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from digest.cli import config_option, demo_option, friendly, load, main, open_state, parse_now
from digest.models import Issue, Stage
from digest.util import plural


def echo_warnings(issue: Issue) -> None:
    """The build's own warnings (the config's were printed when it was loaded)."""
    for warning in issue.warnings:
        if warning.stage is not Stage.CONFIG:
            click.echo(f"warning: {warning.text}", err=True)


@main.command()
@config_option
@demo_option("Build")
@click.option("--now", help="The clock the issue is built for (ISO 8601); defaults to now.")
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default="out",
    show_default=True,
    help="Folder for <issue>.html, .txt, .json and .eml.",
)
@click.option("--strict", is_flag=True, help="Treat config warnings (unknown keys) as errors.")
@friendly
def build(config_path: str, demo: str | None, now: str | None, out: str, strict: bool) -> None:
    """Gather the feeds, drop what was already sent, group, correct and render the issue into --out."""
    from digest.issue.pipeline import build_issue
    from digest.jobs.outputs import write_outputs

    settings = load(config_path, demo, strict)
    clock = parse_now(now, settings)
    with open_state(settings, demo) as state:
        built = build_issue(settings, clock, state)
    issue = built.issue
    echo_warnings(issue)
    paths = write_outputs(built, settings, Path(out), clock)
    failed = [f for f in issue.feeds if f.status not in ("ok", "not-modified")]
    sections = ", ".join(f"{s.title} {len(s.items) + len(s.more)}" for s in issue.sections if s.items or s.more)
    lead = f"lead + {sections}" if issue.lead else sections
    click.echo(
        f"built {issue.id}: {issue.article_count} articles ({lead}); "
        f"{len(issue.feeds) - len(failed)}/{len(issue.feeds)} feeds ok; "
        f"{len(built.rendered.html.encode()):,} bytes of HTML"
    )
    for kind in ("html", "txt", "json", "eml"):
        click.echo(f"  {paths[kind]}")


@main.command()
@config_option
@click.argument("query")
@click.option("--now", help="The clock of the issue to look in (ISO 8601).")
@friendly
def explain(config_path: str, query: str, now: str | None) -> None:
    """Explain why an article (by URL or part of its title) sits in its section."""
    from digest.errors import NotFound
    from digest.feeds.gather import gather
    from digest.issue.group import explain as explain_article
    from digest.issue.pipeline import default_window

    settings = load(config_path)
    clock = parse_now(now, settings)
    with open_state(settings) as state:
        gathered = gather(settings, default_window(settings, clock), state, clock)
    needle = query.strip().lower()
    matches = [a for a in gathered.articles if needle == (a.url or "").lower() or needle in a.title.lower()]
    if not matches:
        raise NotFound(f"no article of this issue's window has the URL or a title containing {query!r}")
    for article in matches[:5]:
        click.echo(explain_article(article, settings.model))
    if len(matches) > 5:
        click.echo(f"… and {len(matches) - 5} more articles match {query!r}: give more of the title, or the URL")


@main.command()
@config_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--language", help="The language the issue must declare in lang; defaults to the config's, if any.")
@friendly
def check(config_path: str, file: str, language: str | None) -> None:
    """Lint a built .html or .eml: size, accessibility, safety and headers; exit 1 on any FAIL."""
    from digest.issue.check import check_file, failed, report

    if language is None and Path(config_path).is_file():
        language = load(config_path).model.newsletter.language
    findings = check_file(Path(file), language)
    click.echo(report(findings, file))
    if failed(findings):
        sys.exit(1)


@main.command()
@config_option
@click.option("--now", help="The clock the issue is built for (ISO 8601); defaults to now.")
@friendly
def approve(config_path: str, now: str | None) -> None:
    """Freeze the coming issue, corrections applied, as `digest send` will send it."""
    from digest.issue.approve import approve_coming

    settings = load(config_path)
    clock = parse_now(now, settings)
    with open_state(settings) as state:
        done, built = approve_coming(settings, clock, state)
    echo_warnings(built.issue)
    for warning in done.warnings:
        click.echo(f"warning: {warning}", err=True)
    again = " (replacing the earlier approval)" if done.replaced else ""
    click.echo(
        f"approved {done.id}{again}: {done.articles} articles, {done.html_bytes:,} bytes of HTML; "
        "`digest send` will send exactly this"
    )
    for name, readers, size in done.variants:
        click.echo(f"  and the copy for readers of {name} only ({plural(readers, 'reader')}): {size:,} bytes of HTML")
