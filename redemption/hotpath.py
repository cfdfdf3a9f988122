"""The two statements a redemption is made of, hand-written because they run on every redeem.

* `code_fetch` reads a card code with its SKU, this merchant's settlement price, the stored-value balance
  and whether an expiry reminder was sent, in one query (`FOR UPDATE OF` the code when asked to lock). The
  column list comes from the models' metadata, so fields added to CardCode or Sku are picked up.
* `redemption_write` makes the redemption happen *if the code is still as it was read*: the code is still
  `sold` and, for stored value, the balance still covers the amount. On PostgreSQL that is one
  data-modifying statement (status change and its CodeEvent, balance, redemption, attempt row, idempotency
  answer) that commits by itself: one round trip. Two terminals on one code both send it; the row lock
  inside the UPDATE lets one through and the other finds nothing to update and gets False (the caller
  reads again and tells it where and when the code went). Elsewhere (SQLite for a laptop demo, or
  REDEMPTION_ONE_STATEMENT_WRITES=False) the same guarded writes run one by one in a transaction.

A status change here follows catalog's rule sold -> redeemed with its CodeEvent row; every other change
of a code's status goes through catalog's service (integrations.code_status_set).
"""

import functools
import json
from decimal import Decimal

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import F

from catalog.models import CardCode, CodeEvent, Sku
from redemption import integrations
from redemption.models import CodeBalance, IdempotencyRecord, MerchantSkuPrice, Redemption, RedemptionAttempt, ReminderSent
from voucherhub.core import prepared

_PLAIN = {str, int, bool, Decimal}


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _table(model) -> str:
    return _q(model._meta.db_table)


def _column(model, attname: str) -> str:
    return _q(next(f.column for f in model._meta.concrete_fields if f.attname == attname))


# --- Reading a code ------------------------------------------------------------------------------------


def _fetch_plan(by: str, lock: bool):
    """SQL, fields and value converters, kept on this thread's connection (converters are bound to it)."""
    return _cached(("fetch", by, lock), lambda: _fetch_plan_build(by, lock))


def _fetch_plan_build(by: str, lock: bool):
    code_fields = list(CardCode._meta.concrete_fields)
    sku_fields = list(Sku._meta.concrete_fields)
    columns = [f"c.{_q(f.column)}" for f in code_fields] + [f"s.{_q(f.column)}" for f in sku_fields]
    where = {"blind_index": f"c.{_q('blind_index')} = %s", "pk": f"c.{_q('id')} = %s"}[by]
    sql = (
        f"SELECT {', '.join(columns)}, "
        f"(SELECT p.{_q('settlement_price')} FROM {_table(MerchantSkuPrice)} p "
        f"WHERE p.{_q('merchant_id')} = %s AND p.{_q('sku_id')} = c.{_q('sku_id')}) AS settlement_price, "
        f"(SELECT b.{_q('remaining')} FROM {_table(CodeBalance)} b WHERE b.{_q('code_id')} = c.{_q('id')}) AS balance_remaining, "
        f"EXISTS (SELECT 1 FROM {_table(ReminderSent)} r WHERE r.{_q('code_id')} = c.{_q('id')} AND r.{_q('outcome')} = %s) AS reminded "
        f"FROM {_table(CardCode)} c JOIN {_table(Sku)} s ON s.{_q('id')} = c.{_q('sku_id')} "
        f"WHERE {where}"
    )
    if lock and connection.features.has_select_for_update_of:
        sql += " FOR UPDATE OF c"
    fields = code_fields + sku_fields
    fields += [MerchantSkuPrice._meta.get_field("settlement_price"), CodeBalance._meta.get_field("remaining")]
    # (column index, column, converters) for the columns that have converters; the others are used as they come.
    converters = [(index, *_converters_for(field)) for index, field in enumerate(fields)]
    converters = [(index, col, functions) for index, col, functions in converters if functions]
    code_names = [f.attname for f in code_fields]
    sku_names = [f.attname for f in sku_fields]
    return sql, code_names, sku_names, converters


def _converters_for(field):
    col = field.get_col(field.model._meta.db_table)
    return col, connection.ops.get_db_converters(col) + col.get_db_converters(connection)


def code_fetch(*, merchant_id: int, blind_index: str | None = None, code_id: int | None = None, lock: bool = False) -> CardCode | None:
    """The code, or None. It comes with `.sku`, `.settlement_price` (this merchant's, or None),
    `.balance_remaining` (None until a stored-value code is first used) and `.reminded`."""
    by, value = ("blind_index", blind_index) if blind_index is not None else ("pk", code_id)
    sql, code_names, sku_names, converters = _fetch_plan(by, lock)
    params = [merchant_id, ReminderSent.Outcome.SENT, value]
    db = connections[DEFAULT_DB_ALIAS]
    if db.vendor == "postgresql":
        row = _execute_prepared(sql, params)
    else:
        with db.cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
    if row is None:
        return None
    values = list(row)
    for index, col, functions in converters:
        for function in functions:
            values[index] = function(values[index], col, db)
    n_code, n_sku = len(code_names), len(sku_names)
    code = CardCode.from_db(db.alias, code_names, values[:n_code])
    code.sku = Sku.from_db(db.alias, sku_names, values[n_code : n_code + n_sku])
    code.settlement_price = values[n_code + n_sku]
    code.balance_remaining = values[n_code + n_sku + 1]
    code.reminded = bool(row[n_code + n_sku + 2])
    return code


# --- Writing a redemption -----------------------------------------------------------------------------


def _columns(model, attnames) -> tuple[list[str], list[str]]:
    """Columns and typed placeholders for `attnames` of `model` (typed, so INSERT … SELECT reads them right)."""
    by_attname = {f.attname: f for f in model._meta.concrete_fields}
    fields = [by_attname[a] for a in attnames]
    return [_q(f.column) for f in fields], [f"CAST(%s AS {f.db_type(connection)})" for f in fields]


def _params(model, values: dict, db) -> list:
    """Values adapted like the ORM would (plain ones go to the driver as they are)."""
    out = []
    fields = None
    for attname, value in values.items():
        if value is None or type(value) in _PLAIN:
            out.append(value)
        else:
            fields = fields or _fields_by_attname(model)
            out.append(fields[attname].get_db_prep_save(value, db))
    return out


@functools.cache
def _fields_by_attname(model) -> dict:
    return {f.attname: f for f in model._meta.concrete_fields}


@functools.cache
def _redemption_attnames() -> tuple[str, ...]:
    return tuple(f.attname for f in Redemption._meta.concrete_fields if not f.primary_key and f.attname != "balance_after")


def _redemption_values(redemption: Redemption) -> dict:
    return {attname: getattr(redemption, attname) for attname in _redemption_attnames()}


def _cached(key, build):
    wrapper = connections[DEFAULT_DB_ALIAS]
    plans = wrapper.__dict__.setdefault("_vh_redemption_plans", {})
    if key not in plans:
        plans[key] = build()
    return plans[key]


def _execute_prepared(sql: str, params: list):
    """The first row of `sql` run on this request's connection, prepared on the server on first use
    (voucherhub.core.prepared; PREPARED_STATEMENTS=False turns preparing off), or None."""
    rows = prepared.run(sql, params)
    return rows[0] if rows else None


def redemption_write(*, code: CardCode, redemption: Redemption, attempt: dict, answer: dict, event: dict, payload: dict) -> bool:
    """Redeem `redemption.amount` of `code` if it is still `sold` (and, for stored value, the balance covers it).

    On success: `redemption` is saved with its true `balance_after`, its attempt row (`attempt`, by attname)
    and the idempotency answer (`answer`: scope, key, request_hash, status_code, created_at; the response is
    `answer_body(payload, redemption)`: the redemption's payload built before the write, with the id and balance
    that only the write learns) are written, the code moves to `redeemed` when used up (with a CodeEvent from
    `event`: actor_id, reference, reason), and True is returned. False when the code changed meanwhile.
    """
    if not integrations.transition_allowed(CardCode.Status.SOLD, CardCode.Status.REDEEMED):  # pragma: no cover
        raise RuntimeError("catalog no longer lets a sold code become redeemed")
    if connection.vendor == "postgresql" and getattr(settings, "REDEMPTION_ONE_STATEMENT_WRITES", True):
        return _write_one_statement(code=code, redemption=redemption, attempt=attempt, answer=answer, event=event, payload=payload)
    return _write_step_by_step(code=code, redemption=redemption, attempt=attempt, answer=answer, event=event, payload=payload)


def answer_body(payload: dict, redemption: Redemption) -> dict:
    """`payload` with the id and balance_after of the written `redemption` (what the one statement's jsonb_set does)."""
    balance_after = redemption.balance_after
    return {**payload, "id": redemption.pk, "balance_after": None if balance_after is None else str(balance_after)}


def _write_sql(stored_value: bool, event_keys: tuple, redemption_keys: tuple, attempt_keys: tuple, answer_keys: tuple) -> str:
    """The one statement (see the module's docstring). Parameters, in order: [stored value: face, face, amount,
    now, code, 'sold', amount, amount], 'redeemed', now, code, 'sold', event values, redemption values,
    attempt values, answer values, response body."""
    parts = []
    money_type = CodeBalance._meta.get_field("remaining").db_type(connection)
    time_type = CardCode._meta.get_field("status_changed_at").db_type(connection)
    code_pk, status = _q("id"), _column(CardCode, "status")
    if stored_value:
        remaining, updated_at, balance_code = (
            _column(CodeBalance, "remaining"),
            _column(CodeBalance, "updated_at"),
            _column(CodeBalance, "code_id"),
        )
        parts.append(
            f"bal AS (INSERT INTO {_table(CodeBalance)} AS b "
            f"({balance_code}, {_column(CodeBalance, 'initial')}, {remaining}, {updated_at}) "
            f"SELECT c.{code_pk}, CAST(%s AS {money_type}), CAST(%s AS {money_type}) - CAST(%s AS {money_type}), CAST(%s AS {time_type}) "
            f"FROM {_table(CardCode)} c WHERE c.{code_pk} = CAST(%s AS bigint) AND c.{status} = CAST(%s AS text) "
            f"ON CONFLICT ({balance_code}) DO UPDATE SET {remaining} = b.{remaining} - CAST(%s AS {money_type}), "
            f"{updated_at} = EXCLUDED.{updated_at} WHERE b.{remaining} >= CAST(%s AS {money_type}) RETURNING {remaining} AS remaining)"
        )
        source, used_up = "bal", "EXISTS (SELECT 1 FROM bal WHERE remaining = 0)"
    else:
        source, used_up = "upd", "TRUE"
    parts.append(
        f"upd AS (UPDATE {_table(CardCode)} SET {status} = CAST(%s AS text), "
        f"{_column(CardCode, 'status_changed_at')} = CAST(%s AS {time_type}) "
        f"WHERE {code_pk} = CAST(%s AS bigint) AND {status} = CAST(%s AS text) AND {used_up} RETURNING {code_pk})"
    )
    columns, placeholders = _columns(CodeEvent, event_keys)
    parts.append(
        f"ev AS (INSERT INTO {_table(CodeEvent)} ({_column(CodeEvent, 'code_id')}, {', '.join(columns)}) "
        f"SELECT upd.{code_pk}, {', '.join(placeholders)} FROM upd)"
    )
    columns, placeholders = _columns(Redemption, redemption_keys)
    parts.append(
        f"red AS (INSERT INTO {_table(Redemption)} ({', '.join(columns)}, {_column(Redemption, 'balance_after')}) "
        f"SELECT {', '.join(placeholders)}, {'bal.remaining' if stored_value else 'NULL'} FROM {source} "
        f"RETURNING {code_pk}, {_column(Redemption, 'balance_after')} AS balance_after)"
    )
    columns, placeholders = _columns(RedemptionAttempt, attempt_keys)
    parts.append(
        f"att AS (INSERT INTO {_table(RedemptionAttempt)} ({', '.join(columns)}, {_column(RedemptionAttempt, 'redemption_id')}) "
        f"SELECT {', '.join(placeholders)}, red.{code_pk} FROM red)"
    )
    # The stored answer holds the id and the balance, known only inside the statement: patched in with jsonb_set.
    columns, placeholders = _columns(IdempotencyRecord, answer_keys)
    parts.append(
        f"idem AS (INSERT INTO {_table(IdempotencyRecord)} ({', '.join(columns)}, {_column(IdempotencyRecord, 'response')}, "
        f"{_column(IdempotencyRecord, 'redemption_id')}) "
        f"SELECT {', '.join(placeholders)}, jsonb_set(jsonb_set(CAST(%s AS jsonb), '{{id}}', to_jsonb(red.{code_pk})), "
        f"'{{balance_after}}', COALESCE(to_jsonb(CAST(red.balance_after AS text)), 'null'::jsonb)), red.{code_pk} FROM red)"
    )
    return "WITH " + ", ".join(parts) + f" SELECT red.{code_pk}, red.balance_after, EXISTS (SELECT 1 FROM upd) FROM red"


def _write_one_statement(*, code, redemption, attempt, answer, event, payload) -> bool:
    now = redemption.created_at
    stored_value = code.sku.is_stored_value
    sold, redeemed = CardCode.Status.SOLD, CardCode.Status.REDEEMED
    event = {"from_status": sold, "to_status": redeemed, **event, "created_at": now}
    values = _redemption_values(redemption)
    key = ("write", stored_value, tuple(event), tuple(values), tuple(attempt), tuple(answer))
    sql = _cached(key, lambda: _write_sql(*key[1:]))
    params = []
    if stored_value:
        face, amount = code.sku.face_value, redemption.amount
        params += [face, face, amount, now, code.pk, sold, amount, amount]
    params += [redeemed, now, code.pk, sold]
    db = connections[DEFAULT_DB_ALIAS]
    params += _params(CodeEvent, event, db)
    params += _params(Redemption, values, db)
    params += _params(RedemptionAttempt, attempt, db)
    params += _params(IdempotencyRecord, answer, db)
    params.append(json.dumps(payload, cls=DjangoJSONEncoder))
    row = _execute_prepared(sql, params)
    if row is None:
        return False
    redemption.pk, redemption.balance_after, used_up_now = row[0], row[1], row[2]
    redemption._state.adding = False
    redemption._state.db = db.alias
    if used_up_now:
        code.status = redeemed
    return True


class _Lost(Exception):
    """The code changed between the read and the write: roll back and let the caller read again."""


def _write_step_by_step(*, code, redemption, attempt, answer, event, payload) -> bool:
    sold, redeemed = CardCode.Status.SOLD, CardCode.Status.REDEEMED
    now = redemption.created_at
    try:
        with transaction.atomic():
            used_up = True
            if code.sku.is_stored_value:
                if not CardCode.objects.select_for_update().filter(pk=code.pk, status=sold).exists():
                    raise _Lost
                amount = redemption.amount
                updated = CodeBalance.objects.filter(code_id=code.pk, remaining__gte=amount).update(
                    remaining=F("remaining") - amount, updated_at=now
                )
                if not updated:
                    if CodeBalance.objects.filter(code_id=code.pk).exists():
                        raise _Lost
                    CodeBalance.objects.create(code_id=code.pk, initial=code.sku.face_value, remaining=code.sku.face_value - amount)
                remaining = CodeBalance.objects.get(code_id=code.pk).remaining
                redemption.balance_after = remaining
                used_up = remaining == 0
            if used_up:
                if not CardCode.objects.filter(pk=code.pk, status=sold).update(status=redeemed, status_changed_at=now):
                    raise _Lost
                CodeEvent.objects.create(code_id=code.pk, from_status=sold, to_status=redeemed, created_at=now, **event)
                code.status = redeemed
            redemption.save(force_insert=True)
            RedemptionAttempt.objects.create(redemption=redemption, **attempt)
            IdempotencyRecord.objects.create(response=answer_body(payload, redemption), redemption=redemption, **answer)
    except _Lost:
        return False
    return True
