"""Reads of the catalog for views, exports and other apps."""

from dataclasses import dataclass
from functools import cache

from django.db.models import Count, Q

from catalog.models import CardCode, CodeBatch, ImportJob, Product, Sku
from voucherhub.core import prepared

_STATUSES = [s for s, _label in CardCode.Status.choices]


def sku_by_code(code: str) -> Sku | None:
    """The SKU (with its product) a request names, or None. PostgreSQL: one prepared statement (every signed
    API order reads it; the ORM's select_related compiles the query anew each time)."""
    if not prepared.available():
        return Sku.objects.select_related("product").filter(code=code).first()
    rows = prepared.run(_sku_sql(), [code])
    if not rows:
        return None
    (load_sku, n_sku), (load_product, _n) = prepared.loader(Sku), prepared.loader(Product)
    sku = load_sku(rows[0][:n_sku])
    sku.product = load_product(rows[0][n_sku:])
    return sku


@cache
def _sku_sql() -> str:
    return (
        f"SELECT {prepared.select_list(Sku, 's')}, {prepared.select_list(Product, 'p')} "
        f"FROM {Sku._meta.db_table} s JOIN {Product._meta.db_table} p ON p.id = s.product_id WHERE s.code = %s"
    )


@dataclass(frozen=True)
class StockRow:
    sku: Sku
    counts: dict[str, int]

    @property
    def available(self) -> int:
        return self.counts.get(CardCode.Status.AVAILABLE, 0)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def low(self) -> bool:
        return self.sku.active and self.sku.fulfilment != Sku.Fulfilment.TOPUP and self.available < self.sku.low_stock_threshold


def stock_annotations(relation: str = "codes") -> dict:
    """`n_<status>` counts of the related card codes, for annotate() (SKU or batch querysets)."""
    return {f"n_{status}": Count(relation, filter=Q(**{f"{relation}__status": status})) for status in _STATUSES}


def batches_with_stock(queryset=None):
    """Code batches annotated with `n_<status>` counts (the batch admin's stock columns)."""
    return (queryset if queryset is not None else CodeBatch.objects.all()).annotate(**stock_annotations())


def skus_with_stock(queryset=None):
    return (queryset if queryset is not None else Sku.objects.all()).annotate(**stock_annotations())


def stock_by_sku(*, skus=None) -> list[StockRow]:
    """Code counts by status for each SKU, in one query."""
    queryset = (skus if skus is not None else Sku.objects.all()).select_related("product")
    rows = queryset.annotate(**stock_annotations())
    return [StockRow(sku=sku, counts={status: getattr(sku, f"n_{status}") for status in _STATUSES}) for sku in rows]


def stock_by_batch(*, sku: Sku) -> list[tuple[CodeBatch, dict[str, int]]]:
    batches = batches_with_stock(CodeBatch.objects.filter(sku=sku).select_related("created_by"))
    return [(batch, {status: getattr(batch, f"n_{status}") for status in _STATUSES}) for batch in batches]


def low_stock_skus() -> list[StockRow]:
    return [row for row in stock_by_sku(skus=Sku.objects.active()) if row.low]


def recent_imports(*, limit: int = 10):
    # Never the sealed upload nor the error list: a list of jobs needs neither, and both can be large.
    return ImportJob.objects.select_related("sku", "created_by").defer("payload", "errors").order_by("-id")[:limit]


def available_by_sku(*, sku_ids) -> dict[int, int]:
    """Available codes of each of these SKUs in one query (a SKU with none is missing from the answer)."""
    rows = CardCode.objects.filter(sku_id__in=list(sku_ids), status=CardCode.Status.AVAILABLE).values_list("sku_id").annotate(n=Count("pk"))
    return dict(rows.order_by())


def available_count(*, sku: Sku) -> int:
    return CardCode.objects.filter(sku=sku, status=CardCode.Status.AVAILABLE).count()


def codes_for_export(queryset=None):
    """Card codes as exports see them: masked hint, serial, status and dates; never the ciphertext."""
    queryset = queryset if queryset is not None else CardCode.objects.all()
    return queryset.select_related("sku", "batch").defer("ciphertext", "blind_index").order_by("pk")


def key_usage() -> dict[str, int]:
    """How many card codes are sealed under each vault key id (rotation progress)."""
    return dict(CardCode.objects.values_list("key_id").annotate(n=Count("id")).order_by())
