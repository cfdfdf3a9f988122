"""Channels' row locks, and the order they are taken in (kept in one place, as Saleor keeps its lock_objects).

* A distributor row: FOR UPDATE by the tree's own changes (suspend, reactivate, move, level), each alone in
  its transaction (`distributor_lock`); FOR KEY SHARE by a sale that relies on its status, level and place
  in the tree until it commits (`distributor_hold`). Sales do not wait on each other; a suspension or a move
  waits for the sales in flight, and they for it.
* Quota rows of one SKU: created if missing, then locked in primary-key order (`quotas_lock`), after the
  distributor's row, before any card code (catalog) or ledger account (settlement).
"""

from django.db import connection

from channels.models import Distributor, Quota


def distributor_lock(distributor: Distributor) -> Distributor:
    """The distributor re-read and locked for a change of its own (FOR UPDATE)."""
    return Distributor.objects.select_for_update().select_related("level").get(pk=distributor.pk)


def distributor_hold(distributor: Distributor) -> Distributor:
    """Hold the distributor's row (FOR KEY SHARE) for the caller's transaction and refresh `distributor` from it
    in place: its status, level and parent stay as read until the transaction ends (a level read before and
    unchanged stays cached). One statement; Django's select_for_update has no shared mode, hence the raw SQL
    on channels' own table. (SQLite has no row locks: its writers take turns on the whole file.)"""
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(Distributor._meta.db_table)
        held = Distributor.objects.raw(f"SELECT * FROM {table} WHERE id = %s FOR KEY SHARE", [distributor.pk])[0]
    else:
        held = Distributor.objects.get(pk=distributor.pk)
    for field in Distributor._meta.concrete_fields:
        setattr(distributor, field.attname, getattr(held, field.attname))  # a changed level_id or parent_id drops its cache
    return distributor


def quotas_lock(*, sku, distributors) -> dict[int, Quota]:
    """Make sure each (distributor, sku) quota row exists, then lock them all in primary-key order."""
    ids = []
    for distributor in distributors:
        quota, _created = Quota.objects.get_or_create(distributor=distributor, sku=sku)
        ids.append(quota.pk)
    rows = Quota.objects.select_for_update().filter(pk__in=sorted(ids)).order_by("pk")
    return {q.distributor_id: q for q in rows}
