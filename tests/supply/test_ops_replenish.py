"""Card replenishment: a SKU of imported codes whose stock falls under its supplier product's threshold is bought
again from the supplier (the simulator, over HTTP, gateway protocol) and the codes go sealed into the vault."""

from decimal import Decimal

import pytest
from django.urls import reverse

from catalog.models import CardCode, CodeBatch, Sku
from catalog.vault import keyring
from supply.models import Replenishment, UpstreamProduct
from supply.replenish import NotReplenishable, ReplenishmentRunning, replenishment_start, replenishments_check
from tests.factories import SkuFactory, card_code
from tests.supply.opsdata import upstream_make
from voucherhub.core.models import AuditLog

pytestmark = pytest.mark.django_db


@pytest.fixture
def card_product(simulator):
    """An imported-codes SKU with 2 codes left and a gateway supplier at the simulator selling its cards."""
    simulator.account(app_key="cards-app", secret="cards-secret", balance=Decimal("1000.00"))
    simulator.product(product_id="CARD-IQIYI-M1", face_value=Decimal("19.80"), cost=Decimal("15.00"))
    sku = SkuFactory(fulfilment=Sku.Fulfilment.IMPORTED)
    for _n in range(2):
        card_code(sku=sku, status=CardCode.Status.AVAILABLE)
    upstream = upstream_make(protocol="gateway", base_url=simulator.base_url("gateway"), app_key="cards-app")
    upstream.secrets_set(api_secret="cards-secret", callback_secret="cards-secret")
    upstream.save()
    return UpstreamProduct.objects.create(
        upstream=upstream,
        sku=sku,
        kind=UpstreamProduct.Kind.CARD,
        their_product_id="CARD-IQIYI-M1",
        face_value=Decimal("19.80"),
        cost=Decimal("15.00"),
        replenish_below=5,
        replenish_batch=10,
    )


def _available(sku) -> int:
    return CardCode.objects.filter(sku=sku, status=CardCode.Status.AVAILABLE).count()


def test_stock_under_the_threshold_is_bought_and_sealed_into_the_vault(card_product, simulator, q_sync, django_capture_on_commit_callbacks):
    sku = card_product.sku

    with django_capture_on_commit_callbacks(execute=True):
        started = replenishments_check()

    replenishment = Replenishment.objects.get()
    assert started == 1
    assert (replenishment.status, replenishment.available_before, replenishment.quantity) == (Replenishment.Status.DONE, 2, 10)
    assert (replenishment.received, replenishment.stored, replenishment.unit_cost) == (10, 10, Decimal("15.00"))
    assert _available(sku) == 12
    # the supplier's codes are in the vault, sealed: found by their blind index, never stored in clear
    order = simulator.order("cards-app", replenishment.number)
    ring = keyring()
    stored = CardCode.objects.filter(blind_index__in=[ring.blind_index(code) for code in order.cards])
    assert stored.count() == 10 and stored.filter(batch=replenishment.batch).count() == 10
    assert all(order.cards[0].encode() not in bytes(c.ciphertext) for c in stored)
    assert replenishment.batch.source == CodeBatch.Source.IMPORT and replenishment.import_job.stored_rows == 10
    entry = AuditLog.objects.get(action="supply.replenish.done")
    assert entry.data["stored"] == 10 and order.cards[0] not in str(entry.data)
    # stock is above the threshold now: the next check buys nothing
    with django_capture_on_commit_callbacks(execute=True):
        assert replenishments_check() == 0
    assert Replenishment.objects.count() == 1


def test_one_replenishment_runs_at_a_time_per_product(card_product):
    replenishment_start(product=card_product)  # not run: no task runner in this test

    with pytest.raises(ReplenishmentRunning):
        replenishment_start(product=card_product)
    assert replenishments_check() == 0


def test_a_supplier_without_card_purchase_fails_the_replenishment_with_the_reason(card_product, q_sync, django_capture_on_commit_callbacks):
    UpstreamProduct.objects.filter(pk=card_product.pk).update(upstream=upstream_make(protocol="v2"))
    card_product.refresh_from_db()

    with django_capture_on_commit_callbacks(execute=True):
        replenishment_start(product=card_product)

    replenishment = Replenishment.objects.get()
    assert replenishment.status == Replenishment.Status.FAILED and replenishment.message
    assert replenishment.stored == 0 and _available(card_product.sku) == 2
    assert AuditLog.objects.filter(action="supply.replenish.failed").exists()


def test_only_an_imported_codes_sku_at_an_active_supplier_is_replenished(card_product):
    Sku.objects.filter(pk=card_product.sku_id).update(fulfilment=Sku.Fulfilment.GENERATED)
    card_product.refresh_from_db()

    with pytest.raises(NotReplenishable):
        replenishment_start(product=card_product)
    assert replenishments_check() == 0


def test_the_replenishment_page_shows_the_progress(ops_client, card_product, q_sync, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        replenishments_check()

    body = ops_client.get(reverse("supply-ops:replenishments"), HTTP_ACCEPT_LANGUAGE="en").content.decode()

    number = Replenishment.objects.get().number
    assert number in body and "Done" in body and 'value="100"' in body


def test_a_replenishment_whose_worker_stopped_is_failed_and_the_product_replenished_again(
    card_product, q_sync, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone

    stuck = replenishment_start(product=card_product)  # its task never ran
    Replenishment.objects.filter(pk=stuck.pk).update(status=Replenishment.Status.BUYING, created_at=timezone.now() - timedelta(hours=1))

    with django_capture_on_commit_callbacks(execute=True):
        started = replenishments_check()

    stuck.refresh_from_db()
    assert stuck.status == Replenishment.Status.FAILED and stuck.number in stuck.message
    assert started == 1 and Replenishment.objects.filter(status=Replenishment.Status.DONE).count() == 1
    assert _available(card_product.sku) == 12


def test_a_replenishment_whose_task_never_ran_is_queued_again(card_product, q_sync, django_capture_on_commit_callbacks):
    from datetime import timedelta

    from django.utils import timezone

    waiting = replenishment_start(product=card_product)
    Replenishment.objects.filter(pk=waiting.pk).update(created_at=timezone.now() - timedelta(hours=1))

    replenishments_check()

    waiting.refresh_from_db()
    assert waiting.status == Replenishment.Status.DONE and waiting.stored == 10
