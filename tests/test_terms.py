"""Terms that ask for a common word or for the form as written: what a capital or a plural says of a match."""

from __future__ import annotations

import pytest

from digest.issue.terms import Term, Text


def counts(term: Term, title: str, body: str = "") -> list[bool]:
    """Whether each place the term's first word is found in the title and body lets it count."""
    text = Text.of(title, body)
    return [term.check(text, at)[0] for at, stem in enumerate(text.stems) if stem == term.stems[0]]


@pytest.mark.parametrize(
    ("title", "body", "expected"),
    [
        ("Voters back Labour for a third term", "", [False]),  # inside a sentence, a capital makes it a name
        ("Labour shortages close farms", "", [True]),  # it opens the title
        ("Farms close", "Growers say so. Labour is short and pay is low.", [True]),  # it opens a sentence of the body
        ("Farms close", "Growers blame Labour for it.", [False]),
        ("Labour Unions Vote To Strike At Dawn", "", [True]),  # a title that capitalises every word says nothing
        ("Growers say labour is short", "", [True]),
    ],
)
def test_a_common_word_does_not_count_where_it_is_capitalised_as_a_name(
    title: str, body: str, expected: list[bool]
) -> None:
    term = Term.of("labour", case="common")
    assert counts(term, title, body) == expected
    assert all(counts(Term.of("labour"), title, body))  # without the rule, every match counts


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Strikers picket the gates", [True]),
        ("The striker scores twice", [False]),
        ("Three strikers and a striker", [True, False]),
    ],
)
def test_a_term_as_written_counts_only_in_its_own_form(title: str, expected: list[bool]) -> None:
    assert counts(Term.of("strikers", as_written=True), title) == expected
    assert all(counts(Term.of("strikers"), title))


def test_the_rules_say_why_a_match_was_set_aside() -> None:
    text = Text.of("Voters back Labour and the striker", "")
    assert Term.of("labour", case="common").check(text, 2) == (False, "as a name")
    assert Term.of("strikers", as_written=True).check(text, 5) == (False, "not as 'strikers'")
