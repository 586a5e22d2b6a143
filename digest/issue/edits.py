"""The editors' page actions on an issue's corrections: one small function per action, found in one table.

    corrections, notice = apply_action(corrections, form, grouped, shown)

`form` is what the page posted (`action`, the article's `id`, and the action's own fields); `grouped` is the
issue before any correction and `shown` the issue as the page shows it. The result is new corrections to save
and a sentence for the page; a request that cannot be done is a DigestError. `add` takes the facts the desk
read from the article's page (`added`), since reading a page is no business of this table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from digest.errors import DigestError
from digest.issue.corrections import Added, Corrections, Rewrite
from digest.models import Issue
from digest.util import email_text, shorten


@dataclass(frozen=True)
class Edit:
    """One action from the page, with the issue before corrections (`grouped`) and as shown (`shown`)."""

    form: Mapping[str, str]
    grouped: Issue
    shown: Issue
    added: Added | None = None

    @property
    def ref(self) -> str:
        return self.form.get("id", "")


Action = Callable[[Corrections, Edit], tuple[Corrections, str]]


def _intro(corrections: Corrections, edit: Edit) -> tuple[Corrections, str]:
    try:
        text = email_text(edit.form.get("intro", "").strip())
    except ValueError as error:
        raise DigestError(f"the intro note was not saved: {error}") from None
    return corrections.model_copy(update={"intro": text}), "intro note saved" if text else "intro note removed"


def _unpin(corrections: Corrections, edit: Edit) -> tuple[Corrections, str]:
    return corrections.model_copy(update={"lead": None}), "lead story unpinned"


def _drop(corrections: Corrections, edit: Edit) -> tuple[Corrections, str]:
    everything = ("lead", "move", "order", "drop", "rewrite", "promote", "add")
    if edit.ref in corrections.add:  # it came from no feed: dropping it is forgetting it
        return corrections.forget(edit.ref, *everything), "added article removed"
    if edit.ref in corrections.promote:
        return corrections.forget(edit.ref, *everything), "article left out again"
    kept = corrections.forget(edit.ref, "lead", "move", "order", "drop")
    return kept.model_copy(update={"drop": (*kept.drop, edit.ref)}), "article dropped"


def _restore(corrections: Corrections, edit: Edit) -> tuple[Corrections, str]:
    return corrections.forget(edit.ref, "drop"), "article restored"


def _lead(corrections: Corrections, edit: Edit) -> tuple[Corrections, str]:
    kept = corrections.forget(edit.ref, "drop")
    return kept.model_copy(update={"lead": edit.ref}), "article pinned as the lead story"


def _section(edit: Edit) -> tuple[str, str]:
    """The section the form names: (slug, title); DigestError when the issue has none such."""
    slug = edit.form.get("section", "")
    titles = {s.slug: s.title for s in edit.grouped.sections}
    if slug not in titles:
        raise DigestError(f"no section {shorten(slug)} in this issue")
    return slug, titles[slug]


def _move(corrections: Corrections, edit: Edit) -> tuple[Corrections, str]:
    slug, title = _section(edit)
    if edit.ref in corrections.add:
        moved = corrections.add[edit.ref].model_copy(update={"section": slug})
        kept = corrections.forget(edit.ref, "order", "lead")
        return kept.model_copy(update={"add": {**kept.add, edit.ref: moved}}), f"article moved to {title}"
    if edit.ref in corrections.promote:
        kept = corrections.forget(edit.ref, "order", "lead")
        return kept.model_copy(update={"promote": {**kept.promote, edit.ref: slug}}), f"article moved to {title}"
    kept = corrections.forget(edit.ref, "drop", "lead", "move", "order")
    grouped = edit.grouped
    if section_of(grouped, edit.ref) != slug or (grouped.lead is not None and grouped.lead.article.id == edit.ref):
        kept = kept.model_copy(update={"move": {**kept.move, edit.ref: slug}})
    return kept, f"article moved to {title}"


def _promote(corrections: Corrections, edit: Edit) -> tuple[Corrections, str]:
    slug, title = _section(edit)
    kept = corrections.forget(edit.ref, "drop", "lead", "move", "order", "promote")
    return kept.model_copy(update={"promote": {**kept.promote, edit.ref: slug}}), f"article promoted to {title}"


def _add(corrections: Corrections, edit: Edit) -> tuple[Corrections, str]:
    slug, title = _section(edit)
    url, added = edit.form.get("url", ""), edit.added
    if added is None:
        raise DigestError("the article's page was not read, so nothing was added; try again")
    kept = corrections.forget(url, "add", "drop")
    placed = added.model_copy(update={"section": slug})
    return kept.model_copy(update={"add": {**kept.add, url: placed}}), f"added “{added.title}” to {title}"


def _wording(corrections: Corrections, edit: Edit) -> tuple[str, str]:
    """The article's own title and teaser, before any rewrite: from its feed, or from its page when added."""
    if edit.ref in corrections.add:
        added = corrections.add[edit.ref]
        return added.title, added.teaser
    found = [p.article for p in edit.grouped.articles()] + [item.article for item in edit.grouped.left_out]
    original = next(a for a in found if a.id == edit.ref)
    return original.title, original.teaser


def _rewrite(corrections: Corrections, edit: Edit) -> tuple[Corrections, str]:
    kept = corrections.forget(edit.ref, "rewrite")
    own_title, own_teaser = _wording(corrections, edit)
    change: dict[str, str] = {}
    title, teaser = edit.form.get("title", "").strip(), edit.form.get("teaser", "").strip()
    if title and title != own_title:
        change["title"] = title
    if teaser != own_teaser:
        change["teaser"] = teaser
    if not change:
        return kept, "article's own wording restored"
    return kept.model_copy(update={"rewrite": {**kept.rewrite, edit.ref: Rewrite(**change)}}), "article re-worded"


def _unrewrite(corrections: Corrections, edit: Edit) -> tuple[Corrections, str]:
    return corrections.forget(edit.ref, "rewrite"), "article's own wording restored"


def _shift(step: int) -> Action:
    def shift(corrections: Corrections, edit: Edit) -> tuple[Corrections, str]:
        shown = edit.shown.sections
        section = next((s for s in shown if any(p.article.id == edit.ref for p in s.items + s.more)), None)
        if section is None:
            raise DigestError("only an article inside a section can be moved up or down")
        order = [p.article.id for p in section.items + section.more]
        at = order.index(edit.ref)
        if 0 <= at + step < len(order):
            order[at], order[at + step] = order[at + step], order[at]
        return corrections.model_copy(update={"order": {**corrections.order, section.slug: tuple(order)}}), (
            f"{section.title} reordered"
        )

    return shift


# action → (which article it names: one of the issue, one the machine left out, or none; what it does)
ACTIONS: dict[str, tuple[str, Action]] = {
    "intro": ("", _intro),
    "unpin": ("", _unpin),
    "add": ("", _add),
    "drop": ("issue", _drop),
    "restore": ("issue", _restore),
    "lead": ("issue", _lead),
    "move": ("issue", _move),
    "rewrite": ("issue", _rewrite),
    "unrewrite": ("issue", _unrewrite),
    "up": ("issue", _shift(-1)),
    "down": ("issue", _shift(+1)),
    "promote": ("left", _promote),
}


def apply_action(
    corrections: Corrections, form: Mapping[str, str], grouped: Issue, shown: Issue, added: Added | None = None
) -> tuple[Corrections, str]:
    """Do one page action on the corrections: the new corrections, and what was done in a few words."""
    action = form.get("action", "")
    if action not in ACTIONS:
        raise DigestError(f"unknown action {shorten(action)}")
    names, act = ACTIONS[action]
    edit = Edit(form=form, grouped=grouped, shown=shown, added=added)
    left = {item.article.id for item in grouped.left_out}
    known = {p.article.id for p in [*grouped.articles(), *shown.articles()]} | left | set(corrections.promote)
    if (names == "issue" and edit.ref not in known) or (names == "left" and edit.ref not in left):
        where = "left out of" if names == "left" else "in"
        raise DigestError(f"no article with the id {shorten(edit.ref)} {where} issue {grouped.id}; reload the page")
    return act(corrections, edit)


def section_of(issue: Issue, ref: str) -> str | None:
    """The slug of the section an article sits in (the lead's own section for the lead)."""
    if issue.lead is not None and issue.lead.article.id == ref:
        return issue.lead_section
    for section in issue.sections:
        if any(p.article.id == ref for p in section.items + section.more):
            return section.slug
    return None
