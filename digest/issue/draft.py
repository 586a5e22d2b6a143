"""A working copy of an issue for the corrections to change (`corrections.Corrections.apply` drives it).

Each method does one kind of correction on the copy and says whether its article was found; the issue it was
made from stays as it was, so the preview can apply the corrections again at every change.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from digest.feeds import clean
from digest.issue import stories
from digest.models import Article, Issue, LeftOut, Placed, Section, Stage

if TYPE_CHECKING:
    from digest.issue.corrections import Added, Rewrite


class Draft:
    """An issue's sections, lead and left-out articles, copied for the corrections to change."""

    def __init__(self, issue: Issue) -> None:
        self.original = issue
        # Cards are copied with their "also in" lists, which a split changes.
        self.sections = [replace(s, items=[_own(p) for p in s.items], more=list(s.more)) for s in issue.sections]
        self.by_slug = {s.slug: s for s in self.sections}
        self.lead, self.lead_section = (_own(issue.lead) if issue.lead else None), issue.lead_section
        self.left_out = list(issue.left_out)
        self.intro = issue.intro
        self.applied: list[str] = []
        self.missing: list[str] = []
        self.unsplit: list[str] = []

    def split(self, refs: tuple[str, ...]) -> None:
        if refs:
            working = replace(self.original, sections=self.sections, lead=self.lead)
            self.unsplit = stories.split(working, refs)

    def note(self, done: bool, applied: str, missing: str) -> None:
        if done:
            self.applied.append(applied)
        else:
            self.missing.append(missing)

    def find(self, ref: str) -> tuple[Section | None, Placed] | None:
        wanted = _wanted(ref)
        if self.lead is not None and _keys(self.lead.article) & wanted:
            return None, self.lead
        for section in self.sections:
            for placed in section.items:
                if _keys(placed.article) & wanted:
                    return section, placed
        return None

    def take(self, ref: str) -> Placed | None:
        found = self.find(ref)
        if found is None:
            return None
        section, placed = found
        if section is None:
            self.lead, self.lead_section = None, None
        else:
            section.items.remove(placed)
        return placed

    def rewrite(self, ref: str, change: Rewrite) -> bool:
        found = self.find(ref)
        if found is None:
            return False
        section, placed = found
        article = placed.article
        if change.title:
            article = replace(article, title=clean.plain_text(change.title))
        if change.teaser is not None:
            article = replace(article, teaser=clean.plain_text(change.teaser))
        reworded = replace(placed, article=article)
        if section is None:
            self.lead = reworded
        else:
            section.items[section.items.index(placed)] = reworded
        return True

    def move(self, ref: str, slug: str) -> bool:
        target = self.by_slug[slug]  # check_sections made sure it exists
        placed = self.take(ref)
        if placed is None:
            return False
        target.items.insert(0, replace(placed, reason=f"moved here by an editor (was: {placed.reason})"))
        return True

    def promote(self, ref: str, slug: str) -> bool:
        """Bring a left-out article into a section; one the grouping now files somewhere is moved there."""
        wanted = _wanted(ref)
        found = next((item for item in self.left_out if _keys(item.article) & wanted), None)
        if found is None:
            return self.move(ref, slug)
        self.left_out.remove(found)
        reason = f"promoted here by an editor (left out: {found.why})"
        self.by_slug[slug].items.insert(0, Placed(found.article, reason, found.best_score))
        return True

    def add(self, url: str, added: Added) -> str:
        """Put an article an editor added by its URL into its section: what was done, in a few words."""
        slug = added.section
        if self.find(url) is not None:  # a feed carries it now: the editor's section still holds
            self.move(url, slug)
            return f"added {url} is in a feed now; kept in {slug}"
        if any(_keys(item.article) & _wanted(url) for item in self.left_out):
            self.promote(url, slug)
            return f"added {url} is in a feed now; promoted to {slug}"
        article = Article(
            id=url,
            title=added.title,
            url=url,
            feed=added.site,
            published=added.published,
            teaser=added.teaser,
            image=added.image,
            rtl=clean.is_rtl(f"{added.title} {added.teaser}"),
            summary=added.teaser,
        )
        self.by_slug[slug].items.insert(0, Placed(article, "added here by an editor from the article's page"))
        return f"added {url} to {slug}"

    def pin(self, ref: str) -> bool | None:
        """Pin as the lead: True, None when it already leads, False when it is not in the issue."""
        found = self.find(ref)
        if found is None:
            return False
        section, placed = found
        if section is None:
            return None
        home = self.by_slug.get(self.lead_section or "")
        if self.lead is not None and home is not None:
            home.items.insert(0, self.lead)
        section.items.remove(placed)
        self.lead, self.lead_section = placed, section.slug
        return True

    def reorder(self, slug: str, refs: tuple[str, ...]) -> bool:
        section = self.by_slug.get(slug)
        if section is None:
            return False
        front = []
        for ref in refs:
            found = self.find(ref)
            if found and found[0] is section:
                section.items.remove(found[1])
                front.append(found[1])
        section.items[:0] = front
        return True

    def issue(self) -> Issue:
        gone = [f"correction 'split {r}' no longer applies: no story in this issue folds it" for r in self.unsplit]
        gone += [f"correction '{m}' no longer applies: the article is not in this issue any more" for m in self.missing]
        return replace(
            self.original,
            sections=self.sections,
            lead=self.lead,
            lead_section=self.lead_section,
            intro=self.intro,
            left_out=self.left_out,
            corrections_applied=[*self.original.corrections_applied, *self.applied],
        ).warned(Stage.CORRECT, *gone)


def _own(placed: Placed) -> Placed:
    return replace(placed, also=list(placed.also)) if placed.also else placed


def _wanted(ref: str) -> set[str]:
    return {ref, clean.url_key(ref) or ""}


def _keys(article: Article) -> set[str]:
    keys = {article.id}
    if article.url:
        keys.add(article.url)
        key = clean.url_key(article.url)
        if key:
            keys.add(key)
    return keys


def left_out_keys(items: list[LeftOut]) -> set[str]:
    """Every id and link by which a left-out article can be named."""
    return set().union(*(_keys(item.article) for item in items)) if items else set()
