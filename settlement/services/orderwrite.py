"""What delivering a new wallet order writes, in one statement (PostgreSQL).

A wallet order (portal or API) is placed, paid and, unless risk review holds it, delivered in one
transaction. Once its codes are claimed (`stock.codes_pick`: SELECT … FOR UPDATE SKIP LOCKED, so this
transaction holds them), everything the order writes besides the ledger goes to the database in one
data-modifying statement, instead of nine round trips:

* the codes' status (available → reserved, or → sold when delivered, with the sale's expiry for a
  days-from-sale SKU) and one CodeEvent per transition, as catalog's `code_status_change` writes them
  (the intermediate "reserved" of a code delivered at once is never seen outside the transaction; its
  event row is written all the same);
* the order's items (delivered, or reserved while held) and, when delivered, channels' CodeSale rows;
* the order's event rows (pending, paid, delivered) and its row (status and times);
* when delivered, the signed webhooks for "order.paid" and "order.delivered" if the distributor has an
  active endpoint (queued after commit by the caller).

The ledger is posted after it (ledger.transfers_post), so the hot accounts stay locked only for the last
statements of the transaction. On other databases the same rows are written by the services one by one.
"""

import json

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.utils import timezone

from catalog.models import CardCode, Sku
from settlement import sql
from settlement.models import Order, OrderItem, WebhookDelivery

S = CardCode.Status

_WRITE_SQL = """
WITH c AS (
    UPDATE catalog_cardcode SET status = %s, order_ref = %s, status_changed_at = %s, expires_at = COALESCE(%s::timestamptz, expires_at)
    WHERE id = ANY(%s::bigint[]) AND status = 'available'
    RETURNING id, sku_id
),
code_events AS (
    INSERT INTO catalog_codeevent (code_id, from_status, to_status, actor_id, reference, reason, created_at)
    SELECT c.id, t.from_status, t.to_status, %s::bigint, %s, '', %s
    FROM c, unnest(%s::varchar[], %s::varchar[]) WITH ORDINALITY AS t (from_status, to_status, k)
    ORDER BY c.id, t.k
),
items AS (
    INSERT INTO settlement_orderitem (order_id, code_id, state, replaces_id, from_quota, created_at, changed_at)
    SELECT %s::bigint, c.id, %s, NULL, %s, %s, %s FROM c ORDER BY c.id
),
sales AS (
    INSERT INTO channels_codesale (code_id, sku_id, distributor_id, order_ref, unit_price, sold_at)
    SELECT c.id, c.sku_id, %s::bigint, %s, %s::numeric, %s FROM c WHERE %s ORDER BY c.id
),
order_events AS (
    INSERT INTO settlement_orderevent (order_id, from_status, to_status, actor_id, note, created_at)
    SELECT %s::bigint, e.from_status, e.to_status, %s::bigint, e.note, %s
    FROM unnest(%s::varchar[], %s::varchar[], %s::varchar[]) WITH ORDINALITY AS e (from_status, to_status, note, k)
    ORDER BY e.k
),
order_row AS (
    UPDATE settlement_order SET status = %s, status_changed_at = %s, paid_at = %s, delivered_at = %s WHERE id = %s
),
hooks AS (
    INSERT INTO settlement_webhookdelivery (endpoint_id, event, event_id, order_id, payload, status, attempts, next_attempt_at,
                                            last_status_code, last_error, delivered_at, created_at)
    SELECT ep.id, w.event, w.event_id, %s::bigint, w.payload, %s, 0, %s, NULL, '', NULL, %s
    FROM settlement_webhookendpoint ep, unnest(%s::varchar[], %s::varchar[], %s::jsonb[]) WITH ORDINALITY AS w (event, event_id, payload, k)
    WHERE ep.distributor_id = %s AND ep.active
    ORDER BY w.k
    RETURNING id
)
SELECT (SELECT count(*) FROM c), ARRAY(SELECT id FROM hooks ORDER BY id)
"""


def enabled() -> bool:
    """The one-statement write is for PostgreSQL, and only while catalog still allows its transitions."""
    return (
        connection.vendor == "postgresql" and S.RESERVED in CardCode.TRANSITIONS[S.AVAILABLE] and S.SOLD in CardCode.TRANSITIONS[S.RESERVED]
    )


def order_write(
    *, order: Order, events: list, codes: list[CardCode], deliver: bool, from_quota: bool, actor_id, webhooks: list[tuple[str, str, dict]]
) -> list[int]:
    """Write a new order's codes, items, sales, events, row and webhooks (see the module docstring).
    `events`: the order's OrderEvent rows (unsaved) in order; `codes`: the rows claimed by this
    transaction, still available; `webhooks`: (event, event id, payload). Returns the webhook delivery ids."""
    now = timezone.now()
    expires_at = None
    if deliver and order.sku.validity_kind == Sku.ValidityKind.DAYS_FROM_SALE:
        expires_at = order.sku.expiry_for_sale(now)
    steps = [(S.AVAILABLE, S.RESERVED)] + ([(S.RESERVED, S.SOLD)] if deliver else [])
    item_state = OrderItem.State.DELIVERED if deliver else OrderItem.State.RESERVED
    params = [
        steps[-1][1], order.number, now, expires_at, [code.pk for code in codes],
        actor_id, order.number[:64], now, [f for f, _t in steps], [t for _f, t in steps],
        order.pk, item_state, from_quota, now, now,
        order.distributor_id, order.number[:64], order.unit_price, now, deliver,
        order.pk, actor_id, now, [e.from_status for e in events], [e.to_status for e in events], [e.note for e in events],
        order.status, order.status_changed_at, order.paid_at, order.delivered_at, order.pk,
        order.pk, WebhookDelivery.Status.PENDING, now, now,
        [event for event, _i, _p in webhooks], [event_id for _e, event_id, _p in webhooks],
        [json.dumps(payload, cls=DjangoJSONEncoder) for _e, _i, payload in webhooks],
        order.distributor_id,
    ]  # fmt: skip
    ((moved, delivery_ids),) = sql.run(_WRITE_SQL, params)
    if moved != len(codes):  # the rows are locked by this transaction: they cannot have changed
        raise RuntimeError(f"order {order.number}: {moved} of {len(codes)} claimed codes could be moved")
    for code in codes:
        code.previous_status = code.status
        code.status = steps[-1][1]
        code.status_changed_at = now
        if expires_at is not None:
            code.expires_at = expires_at
    return list(delivery_ids or [])
