"""Reads of orders, scoped to who is asking: a distributor sees only its own orders."""

from django.db.models import QuerySet

from catalog import vault
from catalog.models import CardCode
from settlement.errors import OrderNotFound
from settlement.models import Order, OrderItem
from voucherhub.core.audit import audit_record_many
from voucherhub.core.money import ZERO


def orders_for(distributor, *, status: str | None = None) -> QuerySet:
    qs = Order.objects.filter(distributor=distributor).select_related("sku")
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-id")


def order_by_key(distributor, key: str | None) -> Order | None:
    """The distributor's order placed under the idempotency key `key`, if any."""
    if not key:
        return None
    return Order.objects.filter(distributor=distributor, idempotency_key=key).first()


def order_get(distributor, number: str) -> Order:
    """The distributor's own order, or OrderNotFound (also for a neighbour's number: no hint it exists)."""
    order = Order.objects.select_related("sku", "distributor").filter(distributor=distributor, number=number).first()
    if order is None:
        raise OrderNotFound()
    return order


def order_delivered_items(order: Order) -> list[OrderItem]:
    return list(order.items.filter(state=OrderItem.State.DELIVERED).select_related("code").order_by("pk"))


def order_codes_reveal(
    *, order: Order, actor=None, actor_label: str = "", ip: str | None = None, reason: str, codes: list[CardCode] | None = None
) -> list[dict]:
    """Open the delivered codes of an order for its buyer; one audit entry per code. Never logged.
    `codes`: the codes the caller delivered in this transaction (order_place's `order.delivered_codes`),
    so they are not read back; else the order's delivered codes are read."""
    if codes is None:
        codes = [item.code for item in order_delivered_items(order)]
    ring = vault.keyring()
    out = [
        {
            "hint": code.hint,
            "code": ring.open(ciphertext=code.ciphertext, key_id=code.key_id, blind_index=code.blind_index),
            "serial": code.serial,
            "status": code.status,
            "expires_at": code.expires_at.isoformat() if code.expires_at else None,
        }
        for code in codes
    ]
    audit_record_many(
        actor=actor,
        action="code.reveal",
        objects=codes,
        ip=ip,
        reason=reason,
        data_for=lambda code: {"order": order.number, "by": actor_label, "hint": code.hint},
        actor_label=actor_label,
    )
    return out


def codes_reopen(*, entries: list[dict], order_number: str, actor_label: str, ip: str | None, reason: str) -> list[dict]:
    """Codes of a stored answer (each its id, hint, serial, status and expiry as first answered) with
    their plaintext opened again from the vault; one audit entry per code, as for any reveal."""
    codes = CardCode.objects.in_bulk([entry["id"] for entry in entries])
    ring = vault.keyring()
    out = []
    for entry in entries:
        code = codes[entry["id"]]
        out.append(
            {
                "hint": entry["hint"],
                "code": ring.open(ciphertext=code.ciphertext, key_id=code.key_id, blind_index=code.blind_index),
                "serial": entry["serial"],
                "status": entry["status"],
                "expires_at": entry["expires_at"],
            }
        )
    audit_record_many(
        action="code.reveal",
        objects=[codes[entry["id"]] for entry in entries],
        ip=ip,
        reason=reason,
        data_for=lambda code: {"order": order_number, "by": actor_label, "hint": code.hint},
    )
    return out


def order_private_link(order: Order) -> str | None:
    """The consumer's private code page of a delivered order (the one e-mailed at delivery), or None."""
    from settlement import integrations
    from voucherhub.core.errors import DomainError

    items = OrderItem.objects.filter(order__basket=order.basket) if order.basket else order.items  # a bundle: one link for all
    ids = [item.code_id for item in items.filter(state=OrderItem.State.DELIVERED, replaces__isnull=True)]
    if not ids:
        return None
    try:
        return integrations.holding_link(code_ids=ids, contact=order.contact, order_ref=order.basket or order.number)
    except DomainError:  # some codes were gifted or refunded since: the lookup still shows the rest
        return None


def order_receipt_lines(order: Order) -> dict:
    """What a receipt lists: {"lines": the order itself, or every order of its bundle's basket (the lead first),
    and the list total, discount and total over those lines}. One payment bought a whole basket, so its receipt
    shows every component and the amount paid, not the lead component's share."""
    lines = list(Order.objects.filter(basket=order.basket).select_related("sku").order_by("pk")) if order.basket else [order]
    sums = {name: sum((getattr(line, name) for line in lines), ZERO) for name in ("list_total", "discount", "total")}
    return {"lines": lines, **sums}
