"""Every read of the channels app that a page, the API, an export or another app needs."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.db.models import Count, Max, Min, Q, Sum
from django.utils import timezone

from catalog import vault
from catalog.models import CardCode, Product, Sku
from catalog.selectors import available_by_sku
from channels.errors import NoPrice, NotInDownline
from channels.models import (
    ApiKey,
    CodeSale,
    Distributor,
    DistributorStaff,
    Invitation,
    PriceEntry,
    PriceViolation,
    Quota,
    QuotaMovement,
    Storefront,
    StorefrontItem,
)
from channels.pricing import PriceQuote, price_tiers, resolve, upline_chain, visible_sku_ids  # noqa: F401 - re-exported


def distributor_for_user(user) -> Distributor | None:
    """The distributor a user acts for, or None."""
    if not getattr(user, "is_authenticated", False):
        return None
    staff = DistributorStaff.objects.select_related("distributor__level", "distributor__parent").filter(user=user).first()
    return staff.distributor if staff else None


def downline(distributor: Distributor, *, include_self: bool = False):
    """The distributor's whole downline (every depth), in tree order."""
    return Distributor.objects.subtree_of(distributor, include_self=include_self).select_related("level", "parent").order_by("path")


def downline_get(distributor: Distributor, pk) -> Distributor:
    """A distributor in `distributor`'s downline by id; NotInDownline (404) for anyone else's."""
    try:
        return downline(distributor).get(pk=int(pk))
    except (Distributor.DoesNotExist, ValueError, TypeError):
        raise NotInDownline()


def downline_summary(distributor: Distributor) -> dict:
    rows = downline(distributor).order_by().values("status").annotate(n=Count("pk"))
    counts = {row["status"]: row["n"] for row in rows}
    return {
        "total": sum(counts.values()),
        "active": counts.get(Distributor.Status.ACTIVE, 0),
        "pending": counts.get(Distributor.Status.PENDING, 0),
        "suspended": counts.get(Distributor.Status.SUSPENDED, 0),
        "direct": distributor.children.count(),
    }


# --- Catalog and prices ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogRow:
    sku: Sku
    quote: PriceQuote
    tiers: list[PriceQuote] = field(default_factory=list)


def catalog_for(distributor: Distributor, *, skus=None) -> list[CatalogRow]:
    """Every SKU the distributor may sell, with its prices (quantity 1) and quantity tiers, in 3 queries."""
    if distributor.status != Distributor.Status.ACTIVE:
        return []
    queryset = (skus if skus is not None else Sku.objects.active()).select_related("product").order_by("code")
    entries = PriceEntry.objects.filter(Q(distributor=distributor) | Q(level_id=distributor.level_id)).filter(sku__in=queryset)
    by_sku: dict[int, tuple[list, list]] = defaultdict(lambda: ([], []))
    for entry in entries:
        by_sku[entry.sku_id][0 if entry.distributor_id else 1].append(entry)
    candidates = [sku for sku in queryset if sku.pk in by_sku]
    visible = visible_sku_ids(distributor=distributor, sku_ids=[s.pk for s in candidates])
    rows = []
    for sku in candidates:
        if sku.pk not in visible:
            continue
        overrides, level_entries = by_sku[sku.pk]
        try:
            quote = resolve(sku=sku, quantity=1, overrides=overrides, level_entries=level_entries, level_name=distributor.level.name)
        except NoPrice:
            continue
        tiers = price_tiers(distributor=distributor, sku=sku, overrides=overrides, level_entries=level_entries)
        rows.append(CatalogRow(sku=sku, quote=quote, tiers=tiers))
    return rows


def catalog_row(distributor: Distributor, sku_code: str) -> CatalogRow:
    rows = catalog_for(distributor, skus=Sku.objects.active().filter(code=sku_code))
    if not rows:
        from channels.errors import SkuNotAvailable

        raise SkuNotAvailable()
    return rows[0]


# --- Quotas ---------------------------------------------------------------------------------------


def quotas_for(distributor: Distributor):
    return Quota.objects.filter(distributor=distributor).select_related("sku").order_by("sku__code")


def quota_get(distributor: Distributor, pk) -> Quota:
    try:
        return quotas_for(distributor).get(pk=int(pk))
    except (Quota.DoesNotExist, ValueError, TypeError):
        raise NotInDownline()


def quota_movements_for(distributor: Distributor, *, sku=None):
    qs = QuotaMovement.objects.filter(Q(from_distributor=distributor) | Q(to_distributor=distributor))
    if sku is not None:
        qs = qs.filter(sku=sku)
    return qs.select_related("sku", "from_distributor", "to_distributor", "actor").order_by("-id")


def quota_summary(distributor: Distributor) -> dict:
    totals = quotas_for(distributor).aggregate(units=Sum("balance"), skus=Count("pk", filter=Q(balance__gt=0)))
    return {"units": totals["units"] or 0, "skus": totals["skus"] or 0}


def quota_downline_balances(distributor: Distributor) -> dict[int, dict[int, int]]:
    """{downline distributor id: {sku id: balance}} for the portal's sub-allocation table."""
    out: dict[int, dict[int, int]] = defaultdict(dict)
    for quota in Quota.objects.filter(distributor__in=downline(distributor)).values("distributor_id", "sku_id", "balance"):
        out[quota["distributor_id"]][quota["sku_id"]] = quota["balance"]
    return out


@dataclass(frozen=True)
class QuotaMismatch:
    quota: Quota
    movements_sum: int


def quota_check(*, distributor: Distributor | None = None) -> list[QuotaMismatch]:
    """Every Quota whose balance differs from (movements in − movements out). Empty means consistent."""
    quotas = Quota.objects.select_related("distributor", "sku")
    if distributor is not None:
        quotas = quotas.filter(distributor=distributor)
    incoming = defaultdict(int)
    outgoing = defaultdict(int)
    for row in QuotaMovement.objects.filter(to_distributor__isnull=False).values("to_distributor_id", "sku_id").annotate(n=Sum("quantity")):
        incoming[(row["to_distributor_id"], row["sku_id"])] = row["n"]
    for row in (
        QuotaMovement.objects.filter(from_distributor__isnull=False).values("from_distributor_id", "sku_id").annotate(n=Sum("quantity"))
    ):
        outgoing[(row["from_distributor_id"], row["sku_id"])] = row["n"]
    mismatches = []
    for quota in quotas:
        key = (quota.distributor_id, quota.sku_id)
        expected = incoming[key] - outgoing[key]
        if expected != quota.balance:
            mismatches.append(QuotaMismatch(quota=quota, movements_sum=expected))
    return mismatches


# --- Invitations, keys --------------------------------------------------------------------------------


def invitations_for(distributor: Distributor):
    return Invitation.objects.filter(distributor=distributor).select_related("target_level").annotate(n_signups=Count("signups"))


def invitation_get(distributor: Distributor, pk) -> Invitation:
    try:
        return Invitation.objects.get(pk=int(pk), distributor=distributor)
    except (Invitation.DoesNotExist, ValueError, TypeError):
        raise NotInDownline()


def invitation_by_token(token: str) -> Invitation | None:
    return Invitation.objects.select_related("distributor", "target_level").filter(token=token).first()


def api_keys_for(distributor: Distributor):
    return ApiKey.objects.filter(distributor=distributor).order_by("-id")


def api_key_get(distributor: Distributor, pk) -> ApiKey:
    try:
        return ApiKey.objects.get(pk=int(pk), distributor=distributor)
    except (ApiKey.DoesNotExist, ValueError, TypeError):
        raise NotInDownline()


# --- Storefronts ----------------------------------------------------------------------------------------


def storefront_of(distributor: Distributor) -> Storefront | None:
    return Storefront.objects.filter(distributor=distributor).first()


def storefront_public(slug: str) -> Storefront | None:
    """An open storefront of an active distributor, or None."""
    return (
        Storefront.objects.select_related("distributor__level")
        .filter(slug=slug, is_open=True, distributor__status=Distributor.Status.ACTIVE)
        .first()
    )


# A shopper sees "few left" at or below this many codes; never the count itself.
STOREFRONT_FEW_LEFT = 10
# More products than this: the shop gets a search box and category filters.
STOREFRONT_SEARCH_FROM = 8


@dataclass(frozen=True)
class StorefrontRow:
    item: StorefrontItem
    quote: PriceQuote | None
    available: int | None = None  # codes left; None: not counted (a direct top-up does not run out)

    @property
    def sellable(self) -> bool:
        """Still priced for the distributor, visible, and not below the (possibly raised) floor."""
        return self.quote is not None and self.item.retail_price >= self.quote.price_floor

    @property
    def stock_state(self) -> str:
        """ "in_stock", "few_left" or "sold_out", as the storefront shows it."""
        if self.available is None or self.available > STOREFRONT_FEW_LEFT:
            return "in_stock"
        return "few_left" if self.available > 0 else "sold_out"


@dataclass(frozen=True)
class StorefrontShelf:
    rows: list[StorefrontRow]  # after the search and the category filter
    total: int  # the shop's products before them
    categories: list[tuple[str, str]]  # (value, label) of the shop's product kinds
    query: str
    category: str

    @property
    def searchable(self) -> bool:
        return self.total > STOREFRONT_SEARCH_FROM


def storefront_rows(storefront: Storefront, *, listed_only: bool = False) -> list[StorefrontRow]:
    """The storefront's items with the distributor's current quote (None when no longer sellable)."""
    items = list(storefront.items.select_related("sku__product").order_by("position", "sku__code"))
    if listed_only:
        items = [i for i in items if i.listed]
    catalog = {
        row.sku.pk: row.quote for row in catalog_for(storefront.distributor, skus=Sku.objects.filter(pk__in=[i.sku_id for i in items]))
    }
    return [StorefrontRow(item=item, quote=catalog.get(item.sku_id)) for item in items]


def storefront_skus(storefront: Storefront) -> list[StorefrontRow]:
    """What shoppers see (and what settlement may sell): listed, sellable items with their retail prices and
    the codes left of each (one count query)."""
    rows = [row for row in storefront_rows(storefront, listed_only=True) if row.sellable]
    counted = [row.item.sku_id for row in rows if row.item.sku.fulfilment != Sku.Fulfilment.TOPUP]
    left = available_by_sku(sku_ids=counted) if counted else {}
    return [
        StorefrontRow(item=row.item, quote=row.quote, available=left.get(row.item.sku_id, 0) if row.item.sku_id in counted else None)
        for row in rows
    ]


def storefront_shelf(storefront: Storefront, *, query: str = "", category: str = "") -> StorefrontShelf:
    """The shop's home page: its products, narrowed by a search (SKU or product name) and a product kind."""
    rows = storefront_skus(storefront)
    labels = dict(Product.Category.choices)
    present = {row.item.sku.product.category for row in rows}
    categories = [(value, label) for value, label in Product.Category.choices if value in present]
    query = (query or "").strip()[:80]
    category = category if category in labels else ""
    shown = rows
    if category:
        shown = [row for row in shown if row.item.sku.product.category == category]
    if query:
        needle = query.casefold()
        shown = [row for row in shown if needle in row.item.sku.name.casefold() or needle in row.item.sku.product.name.casefold()]
    return StorefrontShelf(rows=shown, total=len(rows), categories=categories, query=query, category=category)


def storefront_item_public(storefront: Storefront, sku_code: str) -> StorefrontRow | None:
    for row in storefront_skus(storefront):
        if row.item.sku.code == sku_code:
            return row
    return None


# --- Traceability and the violations report -----------------------------------------------------------


@dataclass(frozen=True)
class TraceResult:
    code: CardCode
    sales: list[tuple[CodeSale, list[Distributor]]]  # each sale with the seller's upline, nearest first


def trace_code(query: str) -> list[TraceResult]:
    """Find codes by plaintext (through the blind index, never decrypting) or by serial, with who sold them."""
    query = (query or "").strip()
    if not query:
        return []
    codes = list(
        CardCode.objects.select_related("sku").filter(Q(blind_index=vault.blind_index_of(query)) | Q(serial=query)).order_by("pk")[:20]
    )
    results = []
    for code in codes:
        sales = CodeSale.objects.filter(code=code).select_related("distributor__level").order_by("-sold_at")
        results.append(TraceResult(code=code, sales=[(sale, upline_chain(sale.distributor)) for sale in sales]))
    return results


def violations_report(*, days: int = 30):
    """Refused below-floor prices per distributor and SKU in the last `days` days, worst first."""
    since = timezone.now() - timedelta(days=days)
    return (
        PriceViolation.objects.filter(created_at__gte=since)
        .values("distributor_id", "distributor__name", "distributor__region", "sku__code", "sku__name")
        .annotate(attempts=Count("pk"), lowest=Min("attempted_price"), floor=Max("price_floor"), last=Max("created_at"))
        .order_by("-attempts", "-last")
    )


def sales_total(distributor: Distributor, *, days: int) -> Decimal:
    since = timezone.now() - timedelta(days=days)
    return CodeSale.objects.filter(distributor=distributor, sold_at__gte=since).aggregate(t=Sum("unit_price"))["t"] or Decimal("0.00")
