"""Price resolution, the price floor and the commission plan: one place for every page, API and order.

`price_quote` answers, for a distributor, a SKU and a quantity: the purchase price (进货价), the
suggested retail price and the price floor (最低零售价), each with the rule that produced it.

Resolution, field by field, most specific first:

1. visibility: an active SKU of an active product; if the SKU is in any active exclusive pool, the
   distributor (or its level) must be in one of those pools;
2. per-distributor override (PriceEntry with distributor=…): the tier with the largest
   `min_quantity` not above the quantity;
3. the level's price list (PriceEntry with level=…), tier chosen the same way;
4. fallbacks: suggested retail = the SKU's face value; floor = the purchase price.

A purchase price must come from 2 or 3, else the SKU has no price for this distributor (NoPrice).
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache

from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext as _

from catalog.models import Sku
from channels.commission import commission_max_depth
from channels.errors import DistributorNotActive, InvalidQuantity, NoPrice, PriceBelowFloor, SkuNotAvailable
from channels.models import CommissionRule, Distributor, PriceEntry, PriceViolation, ProductPool
from voucherhub.core import prepared
from voucherhub.core.money import ZERO, money

OVERRIDE = "distributor_override"
LEVEL_LIST = "level_price_list"
FACE_VALUE = "face_value"
PURCHASE_PRICE = "purchase_price"


@dataclass(frozen=True)
class PriceSource:
    kind: str
    label: str
    entry_id: int | None = None


@dataclass(frozen=True)
class PriceQuote:
    sku: Sku
    quantity: int
    purchase_price: Decimal
    suggested_retail: Decimal
    price_floor: Decimal
    sources: dict[str, PriceSource] = field(default_factory=dict)

    @property
    def total(self) -> Decimal:
        return money(self.purchase_price * self.quantity)

    @property
    def margin(self) -> Decimal:
        return money(self.suggested_retail - self.purchase_price)


@dataclass(frozen=True)
class CommissionLine:
    beneficiary: Distributor
    depth: int
    amount: Decimal
    rule: CommissionRule


def _check_quantity(quantity) -> int:
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        raise InvalidQuantity(field="quantity")
    return quantity


def _best_tier(entries: Iterable[PriceEntry], quantity: int) -> PriceEntry | None:
    best = None
    for entry in entries:
        if entry.min_quantity <= quantity and (best is None or entry.min_quantity > best.min_quantity):
            best = entry
    return best


def _best_with(entries: list[PriceEntry], quantity: int, attribute: str) -> PriceEntry | None:
    return _best_tier([e for e in entries if getattr(e, attribute) is not None], quantity)


def _describe(entry: PriceEntry, level_name: str) -> PriceSource:
    if entry.distributor_id:
        label = _("Your own price, from %(n)s units") % {"n": entry.min_quantity}
        return PriceSource(OVERRIDE, label, entry.pk)
    label = _("%(level)s price list, from %(n)s units") % {"level": level_name, "n": entry.min_quantity}
    return PriceSource(LEVEL_LIST, label, entry.pk)


def resolve(*, sku: Sku, quantity: int, overrides: list[PriceEntry], level_entries: list[PriceEntry], level_name: str) -> PriceQuote:
    """The pure part of price_quote: entries in, quote out (used for one SKU and for whole catalogs)."""
    sources: dict[str, PriceSource] = {}
    purchase_entry = _best_with(overrides, quantity, "purchase_price") or _best_with(level_entries, quantity, "purchase_price")
    if purchase_entry is None:
        raise NoPrice(sku=sku.code)
    purchase = purchase_entry.purchase_price
    sources["purchase_price"] = _describe(purchase_entry, level_name)

    retail_entry = _best_with(overrides, quantity, "suggested_retail") or _best_with(level_entries, quantity, "suggested_retail")
    if retail_entry is not None:
        retail = retail_entry.suggested_retail
        sources["suggested_retail"] = _describe(retail_entry, level_name)
    else:
        retail = sku.face_value
        sources["suggested_retail"] = PriceSource(FACE_VALUE, _("Face value of the SKU"))

    floor_entry = _best_with(overrides, quantity, "price_floor") or _best_with(level_entries, quantity, "price_floor")
    if floor_entry is not None:
        floor = floor_entry.price_floor
        sources["price_floor"] = _describe(floor_entry, level_name)
    else:
        floor = purchase
        sources["price_floor"] = PriceSource(PURCHASE_PRICE, _("Your purchase price (no floor is set)"))
    return PriceQuote(sku=sku, quantity=quantity, purchase_price=purchase, suggested_retail=retail, price_floor=floor, sources=sources)


def visible_sku_ids(*, distributor: Distributor, sku_ids: Iterable[int]) -> set[int]:
    """Which of these SKUs the distributor may see: not pooled, or pooled with it or its level."""
    sku_ids = set(sku_ids)
    pooled = set(ProductPool.skus.through.objects.filter(productpool__active=True, sku_id__in=sku_ids).values_list("sku_id", flat=True))
    if not pooled:
        return sku_ids
    allowed = set(
        ProductPool.skus.through.objects.filter(productpool__active=True, sku_id__in=pooled)
        .filter(Q(productpool__distributors=distributor) | Q(productpool__levels=distributor.level_id))
        .values_list("sku_id", flat=True)
    )
    return (sku_ids - pooled) | allowed


def _entries_for(distributor: Distributor, sku: Sku) -> tuple[list[PriceEntry], bool]:
    """The distributor's and its level's price entries for the SKU, and whether the SKU is in an active
    exclusive pool. On PostgreSQL one prepared statement (every order asks)."""
    if not prepared.available():
        pooled = ProductPool.skus.through.objects.filter(productpool__active=True, sku_id=OuterRef("sku_id"))
        entries = list(
            PriceEntry.objects.filter(sku=sku)
            .filter(Q(distributor=distributor) | Q(level_id=distributor.level_id))
            .annotate(pooled=Exists(pooled))
        )
        return entries, bool(entries and entries[0].pooled)
    load, _n = prepared.loader(PriceEntry)
    rows = prepared.run(_entries_sql(), [sku.pk, distributor.pk, distributor.level_id])
    return [load(row[:-1]) for row in rows], bool(rows and rows[0][-1])


@cache
def _entries_sql() -> str:
    pools = ProductPool._meta.db_table
    pool_skus = ProductPool.skus.through._meta.db_table
    return (
        f"SELECT {prepared.select_list(PriceEntry, 'e')}, EXISTS (SELECT 1 FROM {pool_skus} ps JOIN {pools} p ON p.id = ps.productpool_id "
        f"WHERE p.active AND ps.sku_id = e.sku_id) FROM {PriceEntry._meta.db_table} e "
        "WHERE e.sku_id = %s AND (e.distributor_id = %s OR e.level_id = %s)"
    )


def price_quote(*, distributor: Distributor, sku: Sku, quantity: int = 1) -> PriceQuote:
    """The distributor's prices for `quantity` units of `sku`, with the rule behind each number.

    Raises InvalidQuantity, DistributorNotActive, SkuNotAvailable (inactive or pooled away) or NoPrice.
    """
    quantity = _check_quantity(quantity)
    if distributor.status != Distributor.Status.ACTIVE:
        raise DistributorNotActive()
    if not (sku.active and sku.product.active):
        raise SkuNotAvailable(sku=sku.code)
    # One read in the common case: the price entries, each telling whether the SKU is in an active
    # exclusive pool at all. Only a pooled SKU (or one without entries) asks visible_sku_ids who may see it.
    entries, pooled = _entries_for(distributor, sku)
    if not entries or pooled:
        if not visible_sku_ids(distributor=distributor, sku_ids=[sku.pk]):
            raise SkuNotAvailable(sku=sku.code)
    return resolve(
        sku=sku,
        quantity=quantity,
        overrides=[e for e in entries if e.distributor_id],
        level_entries=[e for e in entries if e.level_id],
        level_name=distributor.level.name,
    )


def price_tiers(*, distributor: Distributor, sku: Sku, overrides: list[PriceEntry], level_entries: list[PriceEntry]) -> list[PriceQuote]:
    """One quote per quantity threshold that changes something (for price lists and the API)."""
    thresholds = sorted({e.min_quantity for e in overrides + level_entries} | {1})
    quotes = []
    for threshold in thresholds:
        try:
            quotes.append(
                resolve(sku=sku, quantity=threshold, overrides=overrides, level_entries=level_entries, level_name=distributor.level.name)
            )
        except NoPrice:
            continue
    return quotes


def retail_price_check(*, distributor: Distributor, sku: Sku, price, channel: str = PriceViolation.Channel.API) -> PriceQuote:
    """Refuse a retail price below the distributor's floor for `sku` (防窜货).

    A refusal is written to the violations report before PriceBelowFloor is raised, so call this
    before opening the transaction that would use the price (a rollback would drop the record).
    """
    price = money(price)
    quote = price_quote(distributor=distributor, sku=sku, quantity=1)
    if price < quote.price_floor:
        PriceViolation.objects.create(
            distributor=distributor, sku=sku, channel=channel, attempted_price=price, price_floor=quote.price_floor
        )
        raise PriceBelowFloor(
            _("%(price)s is below the price floor of %(floor)s for %(sku)s.")
            % {"price": price, "floor": quote.price_floor, "sku": sku.code},
            field="retail_price",
            floor=str(quote.price_floor),
        )
    return quote


def upline_chain(distributor: Distributor, depth: int | None = None) -> list[Distributor]:
    """The distributor's uplines, nearest first: [parent, grandparent, …], at most `depth` of them."""
    ids = list(reversed(distributor.ancestor_ids))
    if depth is not None:
        ids = ids[: max(depth, 0)]
    if not ids:
        return []
    found = Distributor.objects.select_related("level").in_bulk(ids)
    return [found[pk] for pk in ids if pk in found]


def commission_rules_for(*, sku: Sku, max_depth: int) -> dict[int, CommissionRule]:
    """The rule that applies at each depth: the SKU's, else the product's, else the default."""
    rules = CommissionRule.objects.filter(active=True, depth__lte=max_depth).filter(
        Q(sku=sku) | Q(product_id=sku.product_id) | (Q(sku__isnull=True) & Q(product__isnull=True))
    )
    chosen: dict[int, tuple[int, CommissionRule]] = {}
    for rule in rules:
        rank = 0 if rule.sku_id else 1 if rule.product_id else 2
        if rule.depth not in chosen or rank < chosen[rule.depth][0]:
            chosen[rule.depth] = (rank, rule)
    return {depth: rule for depth, (_rank, rule) in chosen.items()}


def commission_plan(
    *, seller: Distributor, sku: Sku, sale_amount, quantity: int = 1, uplines: list[Distributor] | None = None
) -> list[CommissionLine]:
    """Who above `seller` would earn what on this sale: [(beneficiary, depth, amount, rule)], nearest first.

    Goes up at most `commission_max_depth()` levels (3, or fewer when configured). An upline that is
    not active earns nothing and the share is not passed further up (no compression). `uplines`: the
    seller's `upline_chain` when the caller has just read it (an order records it), not read again.
    """
    quantity = _check_quantity(quantity)
    sale_amount = money(sale_amount)
    max_depth = commission_max_depth()
    uplines = upline_chain(seller, max_depth) if uplines is None else uplines[:max_depth]
    if not uplines:
        return []
    rules = commission_rules_for(sku=sku, max_depth=max_depth)
    lines = []
    for depth, beneficiary in enumerate(uplines, start=1):
        rule = rules.get(depth)
        if rule is None or beneficiary.status != Distributor.Status.ACTIVE:
            continue
        if rule.kind == CommissionRule.Kind.FIXED:
            amount = money(rule.amount * quantity)
        else:
            amount = money(sale_amount * rule.percent / Decimal(100))
        if amount > ZERO:
            lines.append(CommissionLine(beneficiary=beneficiary, depth=depth, amount=amount, rule=rule))
    return lines
