"""A new wallet order's writes in one statement (PostgreSQL).

A wallet order (portal or API) is placed, paid and, unless risk review holds it, delivered in one
transaction. Everything it writes besides the ledger goes to the database in one data-modifying
statement, where the services would make twelve round trips:

* the order's row, inserted as it ends up (paid, or delivered), with its event rows (pending, paid,
  delivered) as `_status_set` writes them; when another order holds its idempotency key, nothing at all;
* whether the distributor has a quota for the SKU (the caller then draws it, in the same transaction);
* the claim: `SELECT … ORDER BY id LIMIT n FOR UPDATE SKIP LOCKED` over the SKU's available, unexpired
  codes, so concurrent buyers take different rows; with fewer than n codes nothing is claimed and the
  caller raises OutOfStock (its transaction, or savepoint, takes the order row back);
* the codes' status (available → reserved → sold, or → reserved while held), the sale's expiry for a
  days-from-sale SKU, and one CodeEvent per transition as catalog's `code_status_change` writes them
  (the intermediate "reserved" of a code delivered at once is never seen outside the transaction; its
  event row is written all the same). catalog's TRANSITIONS are checked before the statement is used;
* the order's items (delivered, or reserved while held) and, when delivered, channels' CodeSale rows;
* when delivered, the signed webhooks for "order.paid" and "order.delivered" if the distributor has an
  active endpoint (the caller queues them after commit);
* for the API, the answer in the request's idempotency record (the codes as their ids, never plaintext).

The ledger is posted after it (ledger.transfers_post), so the hot accounts stay locked only for the last
statements of the transaction. Other databases write the same rows through the services one by one.
"""

import json
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.utils import timezone

from catalog.models import CardCode, Sku
from settlement.models import Order, OrderItem, WebhookDelivery
from settlement.services import ledger
from voucherhub.core import prepared

S = CardCode.Status
# What delivery and the API's answer need of a code, in the model's field order (CardCode.from_db).
CODE_FIELDS = ["id", "sku_id", "batch_id", "ciphertext", "key_id", "blind_index", "hint", "serial", "expires_at", "status"]


def enabled() -> bool:
    """The one-statement write is for PostgreSQL, and only while catalog still allows its transitions."""
    return (
        connection.vendor == "postgresql" and S.RESERVED in CardCode.TRANSITIONS[S.AVAILABLE] and S.SOLD in CardCode.TRANSITIONS[S.RESERVED]
    )


def _order_fields():
    return [f for f in Order._meta.concrete_fields if not f.primary_key]


@lru_cache(maxsize=256)
def _statement(sku_id: int, limit: int) -> str:
    """The statement for an order of `limit` codes of SKU `sku_id`. Prepared statements run on a generic plan
    (voucherhub/core/prepared.py), planned once for any parameter values. For the claim that would go wrong:
    with the SKU bound, the planner guesses how many codes an unknown SKU has from the number of SKUs and, when
    there are few, walks the primary key past every other SKU's codes instead of cardcode_alloc_idx (and for
    a bound LIMIT it assumes a tenth of the rows). So both are written into the text, as integers: each SKU and
    quantity gets its own prepared statement, planned once with that SKU's statistics (psycopg keeps the
    most recently used, voucherhub.core.prepared.PREPARED_MAX per connection)."""
    sku_id, limit = int(sku_id), int(limit)
    fields = _order_fields()
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    values = ", ".join(f"CAST(%s AS {f.db_type(connection)})" for f in fields)
    code_columns = ", ".join(f"cc.{connection.ops.quote_name(CardCode._meta.get_field(name).column)}" for name in CODE_FIELDS)
    # The ledger's accounts read (ledger.ACCOUNTS_SQL), its distributor column named.
    accounts_sql = ledger.ACCOUNTS_SQL.strip().replace("NULL::bigint FROM", "NULL::bigint AS distributor_id FROM", 1)
    return f"""
WITH o AS (
    INSERT INTO settlement_order ({columns}) VALUES ({values}) ON CONFLICT ON CONSTRAINT order_idem_once DO NOTHING RETURNING id
),
q AS (
    SELECT EXISTS (SELECT 1 FROM channels_quota WHERE distributor_id = %s AND sku_id = %s) AS from_quota
),
pick AS (
    SELECT id FROM catalog_cardcode
    WHERE sku_id = {sku_id} AND status = 'available' AND (expires_at IS NULL OR expires_at > %s)
    ORDER BY id LIMIT {limit} FOR UPDATE SKIP LOCKED
),
enough AS (
    SELECT count(*) = %s AND EXISTS (SELECT 1 FROM o) AS ok FROM pick
),
c AS (
    UPDATE catalog_cardcode cc
    SET status = %s, order_ref = %s, status_changed_at = %s, expires_at = COALESCE(%s::timestamptz, cc.expires_at)
    FROM pick, enough WHERE cc.id = pick.id AND enough.ok
    RETURNING {code_columns}
),
code_events AS (
    INSERT INTO catalog_codeevent (code_id, from_status, to_status, actor_id, reference, reason, created_at)
    SELECT c.id, t.from_status, t.to_status, %s::bigint, %s, '', %s
    FROM c, unnest(%s::varchar[], %s::varchar[]) WITH ORDINALITY AS t (from_status, to_status, k)
    ORDER BY c.id, t.k
),
items AS (
    INSERT INTO settlement_orderitem (order_id, code_id, state, replaces_id, from_quota, created_at, changed_at)
    SELECT o.id, c.id, %s, NULL, q.from_quota, %s, %s FROM o, q, c ORDER BY c.id
),
sales AS (
    INSERT INTO channels_codesale (code_id, sku_id, distributor_id, order_ref, unit_price, sold_at)
    SELECT c.id, c.sku_id, %s::bigint, %s, %s::numeric, %s FROM c WHERE %s ORDER BY c.id
),
order_events AS (
    INSERT INTO settlement_orderevent (order_id, from_status, to_status, actor_id, note, created_at)
    SELECT o.id, e.from_status, e.to_status, %s::bigint, e.note, %s
    FROM o, enough, unnest(%s::varchar[], %s::varchar[], %s::varchar[]) WITH ORDINALITY AS e (from_status, to_status, note, k)
    WHERE enough.ok ORDER BY e.k
),
hooks AS (
    INSERT INTO settlement_webhookdelivery (endpoint_id, event, event_id, order_id, payload, status, attempts, next_attempt_at,
                                            last_status_code, last_error, delivered_at, created_at)
    SELECT ep.id, w.event, w.event_id, o.id, w.payload, %s, 0, %s, NULL, '', NULL, %s
    FROM o, enough, settlement_webhookendpoint ep,
         unnest(%s::varchar[], %s::varchar[], %s::jsonb[]) WITH ORDINALITY AS w (event, event_id, payload, k)
    WHERE enough.ok AND ep.distributor_id = %s AND ep.active
    ORDER BY w.k
    RETURNING id
),
answer AS (
    UPDATE settlement_idempotencyrecord r
    SET status_code = %s,
        response = %s::jsonb || CASE WHEN %s THEN jsonb_build_object('codes', COALESCE(
            (SELECT jsonb_agg(jsonb_build_object('id', c.id, 'hint', c.hint, 'serial', c.serial, 'status', c.status,
                                                 'expires_at', {_iso("c.expires_at")}) ORDER BY c.id) FROM c), '[]'::jsonb))
            ELSE '{{}}'::jsonb END
    FROM enough WHERE r.id = %s AND enough.ok
),
accounts AS ({accounts_sql})
SELECT o.id, q.from_quota, ARRAY(SELECT id FROM hooks ORDER BY id), (SELECT count(*) FROM pick),
       (SELECT json_agg(json_build_array(a.id, a.wallet_id, a.kind, a.currency, a.balance::text, a.min_balance::text,
                                         a.max_balance::text, a.distributor_id)) FROM accounts a),
       c.*
FROM o CROSS JOIN q LEFT JOIN c ON TRUE
ORDER BY c.id
"""


def _iso(column: str) -> str:
    """A timestamptz as Python's `datetime.isoformat()` writes it in UTC (what the API's answer shows):
    six-digit microseconds only when there are any, and the offset as +00:00."""
    utc = f"({column} AT TIME ZONE 'UTC')"
    return (
        f"CASE WHEN {column} IS NULL THEN NULL ELSE to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS')"
        f" || CASE WHEN to_char({utc}, 'US') <> '000000' THEN to_char({utc}, '.US') ELSE '' END"
        " || '+00:00' END"
    )


@dataclass
class Answer:
    """An idempotency record's answer, stored by the order's statement: `body` (the order as answered,
    without its codes) and, when `with_codes`, the codes delivered by the statement as their id, hint,
    serial, status and expiry: never the plaintext (a replay opens them again from the vault)."""

    record_id: int
    status_code: int
    body: dict
    with_codes: bool


@dataclass
class Written:
    codes: list[CardCode]  # the claimed codes (empty: fewer were available than wanted, nothing claimed)
    from_quota: bool
    webhook_ids: list[int]
    available: int  # how many codes the claim found
    account_rows: list  # ledger.ACCOUNTS_SQL's rows


def order_create(
    *,
    order: Order,
    events: list,
    deliver: bool,
    actor_id,
    webhooks: list[tuple[str, str, dict]],
    accounts: list,
    now=None,
    answer=None,
) -> Written | None:
    """Insert the unsaved `order` (its status and times already moved to where it ends up; `events` its
    OrderEvent rows, unsaved, in order), claim `order.quantity` codes and write the rest (see the module
    docstring). `webhooks`: (event, event id, payload) to queue when delivered. `accounts`: the
    parameters of ledger.ACCOUNTS_SQL (ledger.accounts_wanted): the ledger accounts the order's booking
    moves are read in the same statement (`Written.account_rows`). `answer(order) -> Answer | None`:
    called once the order's values are final (its creation time set); the statement stores the answer
    in its idempotency record when the order is written. Sets `order.pk`. None (and nothing written)
    when another order holds the order's idempotency key."""
    now = now or timezone.now()
    sku = order.sku
    expires_at = sku.expiry_for_sale(now) if deliver and sku.validity_kind == Sku.ValidityKind.DAYS_FROM_SALE else None
    steps = [(S.AVAILABLE, S.RESERVED)] + ([(S.RESERVED, S.SOLD)] if deliver else [])
    order_values = [f.get_db_prep_save(f.pre_save(order, True), connection) for f in _order_fields()]
    reference = order.number[:64]
    stored = answer(order) if answer is not None else None
    if stored is not None:
        answer_params = [stored.status_code, json.dumps(stored.body, cls=DjangoJSONEncoder), stored.with_codes, stored.record_id]
    else:
        answer_params = [None, None, False, None]
    params = [
        *order_values,
        order.distributor_id, order.sku_id,
        now,
        order.quantity,
        steps[-1][1], order.number, now, expires_at,
        actor_id, reference, now, [f for f, _t in steps], [t for _f, t in steps],
        OrderItem.State.DELIVERED if deliver else OrderItem.State.RESERVED, now, now,
        order.distributor_id, reference, order.unit_price, now, deliver,
        actor_id, now, [e.from_status for e in events], [e.to_status for e in events], [e.note for e in events],
        WebhookDelivery.Status.PENDING, now, now,
        [event for event, _i, _p in webhooks], [event_id for _e, event_id, _p in webhooks],
        [json.dumps(payload, cls=DjangoJSONEncoder) for _e, _i, payload in webhooks],
        order.distributor_id,
        *answer_params,
        *accounts,
    ]  # fmt: skip
    rows = prepared.run(_statement(order.sku_id, order.quantity), params)
    if not rows:  # another order holds the idempotency key: nothing was written
        return None
    order.pk = rows[0][0]
    order.answer_stored = stored is not None
    order._state.adding, order._state.db = False, connection.alias
    codes = []
    for row in rows:
        if row[5] is None:
            continue
        code = CardCode.from_db(connection.alias, CODE_FIELDS, row[5:])
        code.previous_status = S.AVAILABLE
        codes.append(code)
    account_rows = rows[0][4]
    if isinstance(account_rows, str):
        account_rows = json.loads(account_rows)
    account_rows = [
        [pk, wallet_id, kind, currency, Decimal(balance), _decimal(low), _decimal(high), distributor_id]
        for pk, wallet_id, kind, currency, balance, low, high, distributor_id in account_rows or []
    ]
    return Written(codes=codes, from_quota=rows[0][1], webhook_ids=list(rows[0][2] or []), available=rows[0][3], account_rows=account_rows)


def _decimal(value):
    return Decimal(value) if value is not None else None
