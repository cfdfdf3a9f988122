"""Card replenishment: a SKU of imported codes bought again from a supplier when its stock runs low.

    replenishments_check(*, now=None) -> int          the job (every few minutes): starts what is due
    replenishment_start(*, product, actor=None, quantity=None) -> Replenishment
    replenishment_run(*, replenishment_id) -> Replenishment

A CARD `UpstreamProduct` with `replenish_below` set is due when the SKU's available codes fall under it, its
supplier is active and no replenishment of it is running (a partial unique constraint keeps it to one).
A run goes PENDING -> BUYING (the supplier's card purchase, `adapter.buy_cards`, outside any transaction,
under the replenishment's own number, so a supplier that sees the number twice can refuse the second)
-> STORING (the codes, in clear only in this process's memory, go through catalog's import service:
checked, sealed with the vault key and stored as one batch, all or nothing; duplicates already in the
vault are reported, not stored) -> DONE, or FAILED with the reason. An audit row records each outcome.
"""

import csv
import io
import logging
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from catalog.importing.errors import CodeImportError
from catalog.importing.jobs import codes_import
from catalog.models import ImportJob, Sku
from catalog.selectors import available_count
from supply.adapters.base import adapter_for
from supply.models import Replenishment, Upstream, UpstreamProduct
from voucherhub.core.audit import audit_record
from voucherhub.core.errors import Conflict, DomainError

logger = logging.getLogger(__name__)
Status = Replenishment.Status
RUN_TASK = "supply.replenish.replenishment_run_task"


class ReplenishmentRunning(Conflict):
    code = "replenishment_running"
    default_message = gettext_lazy("A replenishment of this product is already running.")


class NotReplenishable(DomainError):
    code = "not_replenishable"
    default_message = gettext_lazy("Only card products of a SKU of imported codes, at an active supplier, can be replenished.")


def _replenishable(product: UpstreamProduct) -> bool:
    return (
        product.kind == UpstreamProduct.Kind.CARD
        and product.active
        and product.sku.fulfilment == Sku.Fulfilment.IMPORTED
        and product.upstream.status == Upstream.Status.ACTIVE
    )


def replenish_due() -> list[tuple[UpstreamProduct, int]]:
    """The card products whose SKU's stock is under their threshold and that have nothing running, with the
    SKU's available count."""
    candidates = (
        UpstreamProduct.objects.filter(kind=UpstreamProduct.Kind.CARD, active=True, replenish_below__isnull=False)
        .filter(sku__fulfilment=Sku.Fulfilment.IMPORTED, upstream__status=Upstream.Status.ACTIVE)
        .exclude(replenishments__status__in=Replenishment.RUNNING)
        .select_related("sku", "upstream")
        .order_by("sku_id", "position", "pk")
    )
    due, seen_skus = [], set()
    for product in candidates:
        if product.sku_id in seen_skus:  # one supplier per SKU at a time: the first in position order
            continue
        available = available_count(sku=product.sku)
        if available < product.replenish_below:
            due.append((product, available))
            seen_skus.add(product.sku_id)
    return due


def _number(product: UpstreamProduct) -> str:
    return f"RP{product.pk}-{timezone.now():%Y%m%d%H%M%S%f}"[:40]


def replenishment_start(
    *, product: UpstreamProduct, actor=None, quantity: int | None = None, available: int | None = None
) -> Replenishment:
    """Record a replenishment of `product` and queue its run (after the commit). Raises NotReplenishable,
    ReplenishmentRunning."""
    if not _replenishable(product):
        raise NotReplenishable(field="product")
    quantity = quantity or product.replenish_batch or product.replenish_below or 0
    if quantity < 1:
        raise NotReplenishable(_("Set the product's replenish batch first."), field="replenish_batch")
    try:
        with transaction.atomic():
            replenishment = Replenishment.objects.create(
                number=_number(product),
                product=product,
                sku=product.sku,
                quantity=quantity,
                unit_cost=product.cost,
                available_before=available if available is not None else available_count(sku=product.sku),
                requested_by=actor if getattr(actor, "is_authenticated", False) else None,
            )
            transaction.on_commit(lambda: _run_schedule(replenishment.pk))
    except IntegrityError:
        raise ReplenishmentRunning(field="product") from None
    return replenishment


def _run_schedule(replenishment_id: int) -> None:
    from django_q.tasks import async_task

    async_task(RUN_TASK, replenishment_id, task_name=f"replenish {replenishment_id}")


STALE_PENDING = timedelta(minutes=10)
STALE_WORKING = timedelta(minutes=30)


def replenishments_unstick(*, now=None) -> int:
    """A replenishment whose task never ran is queued again; one whose worker stopped while buying or storing is
    failed (the purchase may have happened: the message names its number to check at the supplier), so that
    the product can be replenished again. Returns how many were touched."""
    now = now or timezone.now()
    touched = 0
    for replenishment in Replenishment.objects.filter(status=Status.PENDING, created_at__lt=now - STALE_PENDING):
        _run_schedule(replenishment.pk)
        touched += 1
    stuck = Replenishment.objects.filter(status__in=[Status.BUYING, Status.STORING], created_at__lt=now - STALE_WORKING)
    for replenishment in stuck.select_related("product", "sku", "requested_by"):
        message = _("The worker stopped; check purchase %(number)s at the supplier.") % {"number": replenishment.number}
        if Replenishment.objects.filter(pk=replenishment.pk, status=replenishment.status).update(status=Status.FAILED) == 1:
            _finish(replenishment, Status.FAILED, message)
            touched += 1
    return touched


def replenishments_check(*, now=None) -> int:
    """The job: unstick what stalled, then start a replenishment for every product that is due. Safe to run twice
    (one running per product)."""
    replenishments_unstick(now=now)
    started = 0
    for product, available in replenish_due():
        try:
            replenishment_start(product=product, available=available)
            started += 1
        except DomainError as exc:
            logger.info("replenishment of %s not started: %s", product.pk, exc.message)
    return started


def _claim(replenishment_id: int, frm, to, **fields) -> bool:
    return Replenishment.objects.filter(pk=replenishment_id, status=frm).update(status=to, **fields) == 1


def _finish(replenishment: Replenishment, status: str, message: str = "", **fields) -> Replenishment:
    Replenishment.objects.filter(pk=replenishment.pk).update(status=status, message=message[:300], finished_at=timezone.now(), **fields)
    replenishment.refresh_from_db()
    audit_record(
        actor=replenishment.requested_by,
        action="supply.replenish.done" if status == Status.DONE else "supply.replenish.failed",
        obj=replenishment,
        reason=message[:300],
        data={
            "sku": replenishment.sku.code,
            "upstream": replenishment.product.upstream_id,
            "ordered": replenishment.quantity,
            "received": replenishment.received,
            "stored": replenishment.stored,
            "import_job": replenishment.import_job_id,
        },
    )
    return replenishment


def _codes_file(codes: list[str], number: str) -> io.BytesIO:
    """The codes as the one-column CSV catalog's import reads (memory only, never written to disk)."""
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["code"])
    writer.writerows([code] for code in codes)
    upload = io.BytesIO(text.getvalue().encode())
    upload.name = f"{number}.csv"
    return upload


def replenishment_run(*, replenishment_id: int) -> Replenishment:
    """Buy and store (see the module's docstring). Runs once: a second call finds it claimed and returns it."""
    if not _claim(replenishment_id, Status.PENDING, Status.BUYING):
        return Replenishment.objects.get(pk=replenishment_id)
    replenishment = Replenishment.objects.select_related("product__upstream", "sku").get(pk=replenishment_id)
    product, upstream = replenishment.product, replenishment.product.upstream
    try:
        codes = adapter_for(upstream.protocol).buy_cards(
            upstream.connection(), product_id=product.their_product_id, quantity=replenishment.quantity, number=replenishment.number
        )
    except DomainError as exc:
        return _finish(replenishment, Status.FAILED, str(exc.message))
    if not codes:
        return _finish(replenishment, Status.FAILED, _("The supplier sent no codes."))
    _claim(replenishment.pk, Status.BUYING, Status.STORING, received=len(codes))
    return _store(replenishment, codes)


def _store(replenishment: Replenishment, codes: list[str]) -> Replenishment:
    upload = _codes_file(codes, replenishment.number)
    codes.clear()  # the plaintexts live on only in the upload buffer, until the import has read it
    try:
        job = codes_import(sku=replenishment.sku, path_or_file=upload, mode=ImportJob.Mode.VALID, actor=replenishment.requested_by)
    except CodeImportError as exc:
        job = getattr(exc, "job", None)
        return _finish(replenishment, Status.FAILED, str(exc.message), import_job=job)
    finally:
        upload.close()
    message = ""
    if job.invalid_rows:
        message = _("%(n)s code(s) were not stored (already in the vault or malformed); see the import.") % {"n": job.invalid_rows}
    return _finish(replenishment, Status.DONE, message, import_job=job, batch=job.batch, stored=job.stored_rows)


def replenishment_run_task(replenishment_id: int) -> int:
    """django-q2 entry point; returns the codes stored."""
    return replenishment_run(replenishment_id=replenishment_id).stored


def replenishments_check_task() -> int:
    return replenishments_check()
