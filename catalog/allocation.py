"""Allocation: which available codes of a SKU a claim gets. `catalog` alone allocates codes.

Codes are allocated in id order (ids grow as codes are imported or generated). The obvious claim,
`WHERE sku_id = ? AND status = 'available' ORDER BY id LIMIT n FOR UPDATE SKIP LOCKED`, gets slower with
every code sold: its index scan steps over the entry of every code already claimed until vacuum removes it
(pgbench, 8 clients: 1,064 -> 230 claims/s while 29,000 codes sold). So `codes_claim` looks in three places:

1. The pool of returned codes (`ReturnedCode`): codes released back to stock (an unpaid order expired, a
   refund before delivery) join it through `codes_returned`, and are claimed first (SKIP LOCKED).
2. The SKU's cursor (`AllocationCursor.position`) on: the same SKIP LOCKED query, starting where the last
   claims stopped, so the index entries of the codes sold before are never visited. The claimer then moves
   the cursor past what it took, unless another claimer holds the cursor row (SKIP LOCKED there too: claims
   never queue behind each other on it; the holder moves it when it commits).
3. Only when 1 and 2 come up short, the whole SKU (the obvious query), before saying OutOfStock. It finds
   what the cursor cannot see: a claim that rolled back after another moved the cursor past it, a code
   made available again without `codes_returned`, a batch whose import ran beside another of the same SKU
   (ids are handed out when rows are inserted, not when they commit). A sold-out SKU costs what it did.

The cursor only says where to start looking. That a code is sold at most once rests on the row locks taken
here (held until the caller's transaction ends) and on `code_status_change`, which moves only codes whose
status allows it. bench/allocation_flat.py measures the flatness (docs/performance.md, "Allocation").

PostgreSQL first: step 2 is one hand-written statement there (see `_from_cursor` for why); the ORM does the
same elsewhere. On SQLite, SKIP LOCKED and FOR UPDATE are not used (a writer holds the whole database), so the
three steps run the same queries without row locks.
"""

from collections.abc import Iterable
from functools import lru_cache

from django.db import connection
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from catalog.models import AllocationCursor, CardCode, ReturnedCode, Sku
from voucherhub.core.errors import Conflict

S = CardCode.Status

# What a buyer is shown of a code (opened from the vault for the API response and the portal).
CODE_FIELDS = ("id", "sku_id", "batch_id", "ciphertext", "key_id", "blind_index", "hint", "serial", "expires_at", "status")


class OutOfStock(Conflict):
    code = "out_of_stock"
    default_message = _("Not enough codes are left for this SKU.")


def codes_claim(*, sku: Sku, quantity: int, exclude_ids: Iterable[int] = ()) -> list[CardCode]:
    """Lock `quantity` available, unexpired codes of `sku` in the caller's transaction, or raise OutOfStock.

    Their status is not changed: the caller moves them through `code_status_change(locked=True)`.
    Returns the rows in id order, with CODE_FIELDS loaded. `exclude_ids` are never taken.
    """
    if quantity < 0:
        raise ValueError("quantity must not be negative")
    now = timezone.now()
    excluded = set(exclude_ids)
    codes = _from_pool(sku, quantity, now, excluded)
    if len(codes) < quantity:
        taken = excluded | {code.pk for code in codes}
        # An excluded code stays available: the cursor must not move past it.
        codes += _from_cursor(sku, quantity - len(codes), now, taken, move=not excluded)
    if len(codes) < quantity:
        codes += _from_anywhere(sku, quantity - len(codes), now, excluded | {code.pk for code in codes})
    if len(codes) < quantity:
        raise OutOfStock(sku=sku.code, wanted=quantity, found=len(codes))
    return sorted(codes, key=lambda code: code.pk)


def codes_returned(*, ids: Iterable[int]) -> int:
    """Codes that are available again (released by an order) join their SKU's pool, to be claimed first.
    Call it in the transaction that released them. Returns how many joined."""
    rows = CardCode.objects.filter(pk__in=list(ids), status=S.AVAILABLE).values_list("pk", "sku_id")
    returned = [ReturnedCode(code_id=pk, sku_id=sku_id) for pk, sku_id in rows]
    ReturnedCode.objects.bulk_create(returned, ignore_conflicts=True)
    return len(returned)


def _claimable(codes: QuerySet, now) -> QuerySet:
    """Available, unexpired codes, locked for the caller; a code another transaction holds is skipped."""
    codes = codes.select_for_update(skip_locked=True, of=("self",)).filter(status=S.AVAILABLE)
    return codes.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now)).order_by("pk").only(*CODE_FIELDS)


def _from_pool(sku: Sku, quantity: int, now, excluded: set[int]) -> list[CardCode]:
    """Claim from the returned codes; drop the pool rows of codes taken or no longer claimable (sold by
    another path, voided, expired). A code another transaction holds keeps its row."""
    codes: list[CardCode] = []
    seen = set(excluded)
    pool = ReturnedCode.objects.select_for_update(skip_locked=True).filter(sku=sku).order_by("code_id")
    while len(codes) < quantity:
        ids = list(pool.exclude(code_id__in=seen).values_list("code_id", flat=True)[: quantity - len(codes)])
        if not ids:
            break
        seen.update(ids)
        got = list(_claimable(CardCode.objects.filter(pk__in=ids), now))
        codes += got
        done = Q(code_id__in=[code.pk for code in got]) | ~Q(code__status=S.AVAILABLE) | Q(code__expires_at__lte=now)
        ReturnedCode.objects.filter(code_id__in=ids).filter(done).delete()
    return codes


def _from_cursor(sku: Sku, quantity: int, now, excluded: set[int], *, move: bool) -> list[CardCode]:
    """Claim the next codes in id order from the SKU's cursor on, then move the cursor past them.

    On PostgreSQL one statement reads the cursor, locks the codes and moves the cursor (`_cursor_sql`): the
    three ORM queries below cost the claimer more Python time than the database spends on them, which
    bench/allocation_flat.py showed as a claim 3-4 times slower than the old one-query scheme at the
    start of a sale (82 against 305 claims/s, 8 threads on the busy 2-CPU machine; about level with it
    with the one statement, see docs/performance.md "Allocation"). Elsewhere the ORM does the same."""
    if connection.vendor == "postgresql":
        params = {"sku": sku.pk, "quantity": quantity, "now": now, "excluded": sorted(excluded), "move": move}
        with connection.cursor() as cursor:
            cursor.execute(_cursor_sql(), params)
            rows = cursor.fetchall()
        codes = [CardCode.from_db(connection.alias, CODE_FIELDS, row[:-1]) for row in rows]
        if codes and rows[0][-1]:  # the SKU's first claim: its cursor starts past it
            start = AllocationCursor(sku=sku, position=codes[-1].pk + 1 if move else 0)
            AllocationCursor.objects.bulk_create([start], ignore_conflicts=True)
        return codes
    position = AllocationCursor.objects.filter(sku=sku).values_list("position", flat=True).first()
    if position is None:
        AllocationCursor.objects.bulk_create([AllocationCursor(sku=sku, position=0)], ignore_conflicts=True)
        position = 0
    codes = _claimable(CardCode.objects.filter(sku=sku, pk__gte=position), now)
    if excluded:
        codes = codes.exclude(pk__in=excluded)
    codes = list(codes[:quantity])
    if codes and move:
        # Another claimer holding the row is moving it as well: skip rather than wait for its commit.
        free = AllocationCursor.objects.select_for_update(skip_locked=True).filter(sku=sku, position__lte=codes[-1].pk)
        AllocationCursor.objects.filter(pk__in=free.values("pk")).update(position=codes[-1].pk + 1)
    return codes


@lru_cache(maxsize=1)
def _cursor_sql() -> str:
    """_from_cursor's PostgreSQL statement: the ORM branch's three queries in one. Its last column says
    that the SKU has no cursor row yet."""
    quote = connection.ops.quote_name
    codes, cursors = quote(CardCode._meta.db_table), quote(AllocationCursor._meta.db_table)
    fields = ", ".join(quote(CardCode._meta.get_field(name).column) for name in CODE_FIELDS)
    return f"""
WITH start AS (
    SELECT (SELECT position FROM {cursors} WHERE sku_id = %(sku)s) AS position
), picked AS (
    SELECT {fields} FROM {codes}
    WHERE sku_id = %(sku)s AND status = '{S.AVAILABLE.value}' AND id >= COALESCE((SELECT position FROM start), 0)
      AND (expires_at IS NULL OR expires_at > %(now)s) AND NOT (id = ANY(%(excluded)s::bigint[]))
    ORDER BY id LIMIT %(quantity)s
    FOR UPDATE SKIP LOCKED
), moved AS (
    UPDATE {cursors} SET position = (SELECT max(id) + 1 FROM picked)
    WHERE %(move)s AND sku_id = (
        SELECT sku_id FROM {cursors} WHERE sku_id = %(sku)s AND position <= (SELECT max(id) FROM picked) FOR UPDATE SKIP LOCKED
    )
)
SELECT picked.*, (SELECT position FROM start) IS NULL FROM picked ORDER BY id
"""


def _from_anywhere(sku: Sku, quantity: int, now, excluded: set[int]) -> list[CardCode]:
    """The whole SKU, behind the cursor too: only before a claim is refused (see the module docstring)."""
    codes = _claimable(CardCode.objects.filter(sku=sku), now)
    if excluded:
        codes = codes.exclude(pk__in=excluded)
    return list(codes[:quantity])
