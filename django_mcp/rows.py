"""Many rows in one statement: the writes the per-worker batches make.

The tool-call log inserts a row per call, and the session sync updates the
counters of every active session. The ORM's ``bulk_create`` and
``bulk_update`` spend tens of microseconds of Python per row building their
SQL, time a busy worker's event loop then waits for (the writes run in a
thread, but hold the GIL). These helpers run one parametrised statement with
``executemany``. Values go through their fields' ``get_db_prep_save`` only
where the database needs it (JSON, dates, UUIDs...), never for plain text and
numbers. Model field defaults are not applied: give every column that has no
database default.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, cast

from django.db import connections, models, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

#: Rows per ``executemany`` call.
CHUNK = 500

_PLAIN = (
    models.CharField,
    models.TextField,
    models.IntegerField,
    models.FloatField,
    models.BooleanField,
)


def _needs_prep(field: models.Field[Any, Any]) -> bool:
    if isinstance(field, models.ForeignKey):
        return _needs_prep(field.target_field)
    # JSONField and the date fields are not subclasses of these.
    return not isinstance(field, _PLAIN)


class _Statement:
    def __init__(self, model: type[models.Model], names: Sequence[str]) -> None:
        self.connection: BaseDatabaseWrapper = connections[router.db_for_write(model)]
        self.table = self.connection.ops.quote_name(model._meta.db_table)
        self.fields = [cast("models.Field[Any, Any]", model._meta.get_field(n)) for n in names]
        self.columns = [self.connection.ops.quote_name(str(f.column)) for f in self.fields]
        self._prep = [_needs_prep(field) for field in self.fields]

    def prepare(self, values: Sequence[Any]) -> list[Any]:
        return [
            field.get_db_prep_save(value, self.connection) if prep else value
            for field, prep, value in zip(self.fields, self._prep, values, strict=True)
        ]

    def run(self, sql: str, rows: list[list[Any]]) -> None:
        with transaction.atomic(using=self.connection.alias), self.connection.cursor() as cursor:
            for chunk in _chunks(rows):
                cursor.executemany(sql, chunk)


def _chunks(rows: list[list[Any]]) -> Iterator[list[list[Any]]]:
    for start in range(0, len(rows), CHUNK):
        yield rows[start : start + CHUNK]


def insert(model: type[models.Model], names: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """``INSERT`` one row per item of ``rows`` (values in the order of ``names``)."""
    if not rows:
        return
    statement = _Statement(model, names)
    placeholders = ", ".join(["%s"] * len(names))
    sql = f"INSERT INTO {statement.table} ({', '.join(statement.columns)}) VALUES ({placeholders})"
    statement.run(sql, [statement.prepare(row) for row in rows])


def update(
    model: type[models.Model], names: Sequence[str], rows: Sequence[tuple[Any, Sequence[Any]]]
) -> None:
    """``UPDATE`` the fields ``names`` of each ``(pk, values)`` in ``rows``."""
    if not rows:
        return
    statement = _Statement(model, [*names, model._meta.pk.name])
    assignments = ", ".join(f"{column} = %s" for column in statement.columns[:-1])
    sql = f"UPDATE {statement.table} SET {assignments} WHERE {statement.columns[-1]} = %s"
    statement.run(sql, [statement.prepare([*values, pk]) for pk, values in rows])
