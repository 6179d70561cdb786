"""Writing many rows cheaply: the email path's inserts and updates.

Django's ``bulk_create`` compiles every value of every row through the ORM (``pre_save``,
``get_db_prep_save``, a placeholder per value: about 15 µs per value, ~70 values per inbound
email), and ``bulk_update`` builds one ``CASE WHEN id = … THEN …`` expression per field and row.
Here the statement is built once per model and field list, each field gets one precomputed
converter (plain strings, integers, booleans and foreign keys go to the driver as they are;
dates, JSON and binary go through the field's own ``get_db_prep_save``), and rows are written
with ``executemany`` — or, when the primary keys are needed, multi-row ``INSERT … RETURNING``.
The SQL is the same on SQLite and PostgreSQL.

What ``bulk_create`` does that these do not: no signals (neither does ``bulk_create``), no
expressions as values, no multi-table inheritance. ``auto_now``/``auto_now_add`` dates, file
fields and related objects saved after assignment are handled like ``bulk_create`` does.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from typing import Any

from django.db import connection, models
from django.utils import timezone

# Field classes whose db value is the Python value itself when it has the expected type (the
# exact class only: a subclass may convert differently). Other types take the field's own path.
_AS_IS: dict[type, type] = {
    models.CharField: str,
    models.TextField: str,
    models.EmailField: str,
    models.SlugField: str,
    models.URLField: str,
    models.IntegerField: int,
    models.SmallIntegerField: int,
    models.BigIntegerField: int,
    models.PositiveIntegerField: int,
    models.PositiveSmallIntegerField: int,
    models.PositiveBigIntegerField: int,
    models.AutoField: int,
    models.BigAutoField: int,
    models.SmallAutoField: int,
    models.BooleanField: bool,
}


def _as_is_type(field: models.Field) -> type | None:
    if isinstance(field, models.ForeignKey) and type(field) in (models.ForeignKey, models.OneToOneField):
        return _as_is_type(field.target_field)
    return _AS_IS.get(type(field))


@dataclass(frozen=True)
class _Plan:
    fields: tuple[models.Field, ...]
    columns: str  # quoted, comma separated
    getter: Callable[[Any], tuple]
    # (index, expected type, field): values of another type are converted by the field
    plain: tuple[tuple[int, type, models.Field], ...]
    # (index, field, converter): values always converted (dates, JSON, binary, ...)
    converted: tuple[tuple[int, models.Field, Callable], ...]
    # fields whose value pre_save computes (auto_now, auto_now_add, files)
    pre_save: tuple[models.Field, ...]
    # foreign keys (related objects may have been saved after they were assigned)
    relations: tuple[models.Field, ...]


def _prep_save(field: models.Field, value, db):
    return field.get_db_prep_save(value, db)


def _adapt_datetime(field: models.Field, value, db):
    # DateTimeField.get_db_prep_value for an aware datetime, without its checks and warnings.
    if type(value) is datetime and value.tzinfo is not None:
        return db.ops.adapt_datetimefield_value(value)
    return field.get_db_prep_save(value, db)


def _adapt_json(field: models.Field, value, db):
    # JSONField.get_db_prep_save for plain data (no expressions).
    if type(value) in (list, dict):
        return db.ops.adapt_json_value(value, field.encoder)
    return field.get_db_prep_save(value, db)


_plans: dict[tuple, _Plan] = {}


def _plan(model: type[models.Model], field_names: Sequence[str] | None, *, insert: bool) -> _Plan:
    key = (model, tuple(field_names) if field_names is not None else None, insert, connection.vendor)
    plan = _plans.get(key)
    if plan is not None:
        return plan
    opts = model._meta
    if field_names is None:
        fields = tuple(f for f in opts.concrete_fields if not (insert and f is opts.pk and f.db_returning))
    else:
        fields = tuple(opts.get_field(name) for name in field_names)
    qn = connection.ops.quote_name
    plain, converted = [], []
    for index, field in enumerate(fields):
        expected = _as_is_type(field)
        if expected is not None:
            plain.append((index, expected, field))
        elif type(field) is models.DateTimeField:
            converted.append((index, field, _adapt_datetime))
        elif type(field) is models.JSONField:
            converted.append((index, field, _adapt_json))
        else:
            converted.append((index, field, _prep_save))
    pre_save = tuple(
        f
        for f in fields
        if insert
        and (
            getattr(f, "auto_now", False)
            or getattr(f, "auto_now_add", False)
            or isinstance(f, models.FileField)
        )
    )
    getter = attrgetter(*(f.attname for f in fields))
    if len(fields) == 1:
        single = getter
        getter = lambda obj: (single(obj),)  # noqa: E731
    plan = _Plan(
        fields=fields,
        columns=", ".join(qn(f.column) for f in fields),
        getter=getter,
        plain=tuple(plain),
        converted=tuple(converted),
        pre_save=pre_save,
        relations=tuple(f for f in fields if f.is_relation and f.many_to_one),
    )
    _plans[key] = plan
    return plan


def _values(plan: _Plan, rows: Sequence[models.Model], clean: Callable | None, *, insert: bool) -> list[list]:
    if insert and plan.pre_save:
        now = timezone.now()
        for field in plan.pre_save:
            if isinstance(field, models.FileField):
                for row in rows:
                    field.pre_save(row, add=True)
            else:  # auto_now / auto_now_add, as pre_save(add=True) sets them
                for row in rows:
                    setattr(row, field.attname, now)
    for field in plan.relations:
        for row in rows:
            if getattr(row, field.attname) is None and field.is_cached(row):
                related = field.get_cached_value(row)
                if related is None:
                    continue
                if related.pk is None:
                    raise ValueError(f"unsaved related object '{field.name}' on {type(row).__name__}")
                setattr(row, field.attname, related.pk)
    out = []
    db = connection
    for row in rows:
        values = list(plan.getter(row))
        if clean is not None:
            values = [clean(v) for v in values]
        for index, expected, field in plan.plain:
            value = values[index]
            if value is not None and type(value) is not expected:
                values[index] = field.get_db_prep_save(value, db)
        for index, field, convert in plan.converted:
            value = values[index]
            if value is not None:  # NULL is NULL for every field type
                values[index] = convert(field, value, db)
        out.append(values)
    return out


def _max_params() -> int:
    if connection.vendor == "sqlite":
        raw = getattr(connection, "connection", None)
        if raw is not None and hasattr(raw, "getlimit"):
            return raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        return 999
    return 65_535


def insert_rows(
    model: type[models.Model],
    rows: Sequence[models.Model],
    *,
    fields: Sequence[str] | None = None,
    set_pk: bool = False,
    ignore_conflicts: bool = False,
    returning: Sequence[str] = (),
    clean: Callable | None = None,
) -> list[tuple] | None:
    """Insert model instances (built but unsaved) with one prepared statement.

    ``fields``: attribute names to write (default: every concrete field but an auto primary key).
    ``set_pk``: read the new primary keys back (``RETURNING``) and set them on the rows, which
    then count as saved. ``ignore_conflicts``: ``ON CONFLICT DO NOTHING``; with ``returning``
    (column names) the inserted rows' values are returned, so callers learn which rows were new
    (``None`` where the database cannot return rows: look them up instead). ``clean`` maps every
    value before it is prepared (e.g. to strip NUL characters)."""
    if not rows:
        return [] if returning else None
    if set_pk and ignore_conflicts:
        raise ValueError("set_pk needs every row inserted; use returning= with ignore_conflicts")
    plan = _plan(model, fields, insert=True)
    params = _values(plan, rows, clean, insert=True)
    qn = connection.ops.quote_name
    table = qn(model._meta.db_table)
    head = f"INSERT INTO {table} ({plan.columns}) "  # noqa: S608  # nosec B608 - quoted model names, values are parameters
    tail = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    back = [qn(model._meta.pk.column)] if set_pk else [qn(model._meta.get_field(n).column) for n in returning]
    back_sql = " RETURNING " + ", ".join(back) if back else ""
    one = "VALUES (" + ", ".join(["%s"] * len(plan.fields)) + ")"
    found: list[tuple] = []
    unnest = _unnest_types(plan) if connection.vendor == "postgresql" and len(params) > 1 else None
    if unnest is not None:
        # PostgreSQL: one array per column (``UNNEST``, as Django's bulk_create does): a short
        # statement psycopg can cache, adapted in C, however many rows.
        arrays = ", ".join(f"(%s)::{t}[]" for t in unnest)  # db types of our own fields
        sql = f"{head}SELECT * FROM UNNEST({arrays}){tail}{back_sql}"  # noqa: S608  # nosec B608 - quoted names and types, values are parameters
        with connection.cursor() as cursor:
            cursor.execute(sql, [list(column) for column in zip(*params, strict=True)])
            if back:
                found = [tuple(r) for r in cursor.fetchall()]
    elif not back:
        with connection.cursor() as cursor:
            cursor.executemany(head + one + tail, params)
        return None
    elif not connection.features.can_return_rows_from_bulk_insert:
        if set_pk:  # the ORM knows how to get the keys back on this database
            model.objects.bulk_create(rows)
            return None
        with connection.cursor() as cursor:
            cursor.executemany(head + one + tail, params)
        return None
    else:
        per_statement = max(1, min(500, _max_params() // max(1, len(plan.fields))))
        row_sql = one[len("VALUES ") :]
        with connection.cursor() as cursor:
            for start in range(0, len(params), per_statement):
                chunk = params[start : start + per_statement]
                sql = head + "VALUES " + ", ".join([row_sql] * len(chunk)) + tail + back_sql
                cursor.execute(sql, [v for values in chunk for v in values])
                found.extend(tuple(r) for r in cursor.fetchall())
    if not back:
        return None
    if set_pk:
        if len(found) != len(rows):
            raise RuntimeError(f"{model.__name__}: {len(rows)} rows inserted, {len(found)} keys returned")
        alias = connection.alias
        attname = model._meta.pk.attname
        for row, (pk,) in zip(rows, found, strict=True):
            setattr(row, attname, pk)
            row._state.adding = False
            row._state.db = alias
        return None
    return found


def _unnest_types(plan: _Plan) -> list[str] | None:
    """The array element types for an ``UNNEST`` insert, or None when a field cannot take one
    (custom placeholders, types the backend does not know)."""
    types = []
    for field in plan.fields:
        base = field.target_field if field.is_relation else field
        if hasattr(field, "get_placeholder") or base.get_internal_type() not in connection.data_types:
            return None
        # Without the length: varchar[], not varchar(50)[] (no truncation on the cast).
        types.append(field.db_type(connection).split("(")[0])
    return types


def update_rows(
    model: type[models.Model],
    rows: Sequence[models.Model],
    field_names: Sequence[str],
    *,
    clean: Callable | None = None,
) -> None:
    """``UPDATE <table> SET <fields> WHERE id = %s`` for every row, in one executemany (on
    PostgreSQL one ``UPDATE … FROM UNNEST(…)`` statement).

    ``clean`` maps each value before it is prepared (e.g. to strip NUL characters)."""
    if not rows:
        return
    plan = _plan(model, field_names, insert=False)
    qn = connection.ops.quote_name
    table, pk = qn(model._meta.db_table), qn(model._meta.pk.column)
    params = _values(plan, rows, clean, insert=False)
    unnest = None
    if connection.vendor == "postgresql" and len(rows) > 1 and len({row.pk for row in rows}) == len(rows):
        unnest = _unnest_types(plan)
    if unnest is not None:
        # PostgreSQL: one statement joining the table to the new values (one array per column).
        pk_type = model._meta.pk.db_type(connection).split("(")[0]
        arrays = ", ".join(f"(%s)::{t}[]" for t in [pk_type, *unnest])  # db types of our own fields
        names = ", ".join(f"c{i}" for i in range(len(plan.fields)))
        sets = ", ".join(f"{qn(f.column)} = v.c{i}" for i, f in enumerate(plan.fields))
        sql = f"UPDATE {table} SET {sets} FROM UNNEST({arrays}) AS v(k, {names}) WHERE {table}.{pk} = v.k"  # noqa: S608, E501  # nosec B608 - quoted names and types, values are parameters
        columns = [
            [row.pk for row in rows],
            *([list(c) for c in zip(*params, strict=True)] if params else []),
        ]
        with connection.cursor() as cursor:
            cursor.execute(sql, columns)
        return
    sets = ", ".join(f"{qn(f.column)} = %s" for f in plan.fields)
    sql = f"UPDATE {table} SET {sets} WHERE {pk} = %s"  # noqa: S608  # nosec B608 - quoted model names, values are parameters
    for values, row in zip(params, rows, strict=True):
        values.append(row.pk)
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)
