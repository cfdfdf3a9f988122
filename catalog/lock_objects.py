"""Catalog's row locks, and the order they are taken in (one place, as channels/lock_objects.py and
settlement/lock_objects.py keep theirs; Saleor's habit).

Catalog's rows come after the distributor's and the quota's (channels) and before the ledger's (settlement)
in every transaction that sells, redeems or refunds (settlement/lock_objects.py, redemption/lock_objects.py).
Within catalog:

1. a code batch (`batch_lock`), when a whole batch changes (batch_void), before any of its codes;
2. the returned-codes pool and the SKU's allocation cursor (catalog.allocation.codes_claim): taken with
   SKIP LOCKED, so a claim never waits for another one; the codes it claims are locked the same way
   (a code another transaction holds is skipped, never waited for);
3. card codes in primary-key order (`codes_lock`, and the `ORDER BY id FOR UPDATE` inside
   code_status_change's PostgreSQL statement): two transactions that change overlapping sets of codes never
   wait on each other crosswise. A code the caller already holds (claimed, or locked by redemption's
   `code_locked`) is locked again at no cost.
"""

from django.db.models import QuerySet

from catalog.models import CodeBatch


def batch_lock(batch: CodeBatch) -> CodeBatch:
    """The batch re-read and locked (FOR UPDATE) for a change of the whole batch."""
    return CodeBatch.objects.select_for_update().get(pk=batch.pk)


def codes_lock(codes: QuerySet) -> list[int]:
    """Lock the codes of `codes` in primary-key order for the caller's transaction; their ids, in that order.
    The queryset's filter is re-checked on each row as it is locked (a row that changed meanwhile drops out)."""
    return list(codes.select_for_update().order_by("pk").values_list("pk", flat=True))
