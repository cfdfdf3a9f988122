"""Rows for ops' supply tests: an upstream (no simulator needed), a top-up SKU and attempts in the states a test
wants, as the engine leaves them after its work (the engine's own tests drive the real flows)."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from catalog.models import Sku
from supply.models import Topup, TopupAttempt, TopupProfile, Upstream, UpstreamProduct
from tests.factories import SkuFactory, SupplierFactory


def upstream_make(*, name: str = "", protocol: str = "v2", base_url: str = "http://127.0.0.1:9/v2", app_key: str = "app", **fields):
    upstream = Upstream(
        supplier=SupplierFactory(**({"name": name} if name else {})), protocol=protocol, base_url=base_url, app_key=app_key, **fields
    )
    upstream.secrets_set(api_secret="s3cret-api", callback_secret="s3cret-callback")
    upstream.save()
    return upstream


def topup_sku_make(*, face_value=Decimal("50.00"), on_exhausted=TopupProfile.OnExhausted.REFUND) -> Sku:
    sku = SkuFactory(fulfilment=Sku.Fulfilment.TOPUP, face_value=face_value, cost_price=face_value - 2, valid_days=1)
    TopupProfile.objects.create(sku=sku, account_kind=TopupProfile.AccountKind.PHONE, on_exhausted=on_exhausted)
    return sku


def product_make(upstream: Upstream, sku: Sku, *, cost=Decimal("48.50"), position: int = 1) -> UpstreamProduct:
    return UpstreamProduct.objects.create(
        upstream=upstream, sku=sku, their_product_id=f"P-{upstream.pk}-{sku.pk}", face_value=sku.face_value, cost=cost, position=position
    )


_serial = iter(range(1, 1_000_000))


def attempt_make(
    product: UpstreamProduct,
    *,
    status: str = TopupAttempt.Status.SUCCESS,
    topup_status: str | None = None,
    cost: Decimal | None = None,
    submitted_ago: timedelta = timedelta(hours=2),
    took: timedelta = timedelta(seconds=30),
    their_number: str = "",
) -> TopupAttempt:
    """A top-up with one attempt at `product`'s upstream, submitted `submitted_ago` and finished `took` later
    (unless still open)."""
    n = next(_serial)
    submitted = timezone.now() - submitted_ago
    final = status in TopupAttempt.FINAL
    topup = Topup.objects.create(
        reference=f"T{n:08d}",
        sku=product.sku,
        account="13800138000",
        face_value=product.face_value,
        status=topup_status or status,
        upstream=product.upstream,
        attempts_count=1,
        cost=cost if status == TopupAttempt.Status.SUCCESS else None,
        finished_at=submitted + took if final else None,
    )
    return TopupAttempt.objects.create(
        topup=topup,
        number=f"{topup.reference}-A1",
        n=1,
        upstream=product.upstream,
        product=product,
        status=status,
        their_number=their_number or f"S{n:09d}",
        cost=cost if status in (TopupAttempt.Status.SUCCESS, TopupAttempt.Status.PARTIAL) else None,
        submitted_at=submitted,
        finished_at=submitted + took if final else None,
    )


def statement_csv(rows: list[list], *, header=("上游订单号", "商户订单号", "金额", "状态", "完成时间"), encoding: str = "utf-8") -> bytes:
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(header)
    writer.writerows(rows)
    return text.getvalue().encode(encoding)


def local_time(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S")
