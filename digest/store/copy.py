"""`digest state migrate --to URL`: the SQLite state copied whole into an empty PostgreSQL database.

Every table the migrations made is copied, read from the schema itself (so a table added by a later migration
is copied with no change here), in one transaction on the target: a copy that fails leaves the database empty.
Each table's rows are counted on both sides afterwards.
"""

from __future__ import annotations

from collections.abc import Callable

from digest.errors import StateError
from digest.store.db import State

BOOKKEEPING = "migrations"  # the target's own migrations made its schema; their record is its own


def _count(state: State, table: str) -> int:
    row = state.one(f'SELECT COUNT(*) FROM "{table}"')
    return int(row[0]) if row else 0


def _refuse_filled(target: State) -> None:
    for table in target.tables():
        if table != BOOKKEEPING and target.one(f'SELECT 1 FROM "{table}" LIMIT 1') is not None:
            raise StateError(
                f"the database {target.target} is not empty (its table {table} holds rows), so nothing was copied; "
                "digest state migrate copies into an empty database only"
            )


def copy_state(source: State, target_url: str, told: Callable[[str, int], None]) -> list[tuple[str, int]]:
    """Copy every table of `source` into the empty database at `target_url`; (table, rows) for each, as
    counted on both sides. `told` hears each table as it is copied."""
    tables = [t for t in source.tables() if t != BOOKKEEPING]
    with State(target_url, migrate=False) as target:
        _refuse_filled(target)
        target.migrate()
        known = set(target.tables())
        missing = [t for t in tables if t not in known]
        if missing:
            raise StateError(
                f"the state file has a table {missing[0]} that the database's schema lacks (made by another version "
                "of digest?), so nothing was copied"
            )
        with target.transaction():
            for table in tables:
                columns = source.columns(table)
                absent = [c for c in columns if c not in target.columns(table)]
                if absent:
                    raise StateError(
                        f"the table {table} of the state file has a column {absent[0]} the database lacks, so "
                        "nothing was copied"
                    )
                names = ", ".join(f'"{c}"' for c in columns)
                target.copy_in(table, columns, source.rows(f'SELECT {names} FROM "{table}"'))
                told(table, _count(target, table))
            target.reset_identities()
        counted = [(table, _count(source, table), _count(target, table)) for table in tables]
    for table, ours, theirs in counted:
        if ours != theirs:
            raise StateError(f"the table {table} holds {ours} rows in the state file but {theirs} in the database")
    return [(table, ours) for table, ours, _ in counted]
