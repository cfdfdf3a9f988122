"""The supply admin: secrets typed once and never shown back, the chains edited, read-only top-ups whose held
ones are decided through an action with a reason, alerts acknowledged, every list opens for ops."""

from decimal import Decimal

import pytest
from django.contrib.admin import helpers
from django.urls import reverse

from supply.models import SupplyAlert, Topup, TopupAttempt, Upstream, UpstreamProduct
from tests.factories import SupplierFactory
from tests.supply.opsdata import attempt_make, product_make, topup_sku_make, upstream_make
from voucherhub.core.models import AuditLog

pytestmark = pytest.mark.django_db

SECRET = "very-secret-api-key-1234"


def _upstream_form(supplier, **extra) -> dict:
    data = {
        "supplier": supplier.pk,
        "protocol": "v2",
        "base_url": "https://supplier.example/v2",
        "app_key": "merchant-42",
        "api_secret": "",
        "callback_secret": "",
        "low_balance_threshold": "500.00",
        "timeout_seconds": "8",
        "success_rate_floor": "0.8000",
        "rate_window_minutes": "60",
        "rate_min_attempts": "20",
        "products-TOTAL_FORMS": "0",
        "products-INITIAL_FORMS": "0",
        "products-MIN_NUM_FORMS": "0",
        "products-MAX_NUM_FORMS": "1000",
    }
    data.update(extra)
    return data


def test_a_new_supplier_needs_its_secret_which_is_sealed_and_never_shown_back(ops_client, ops_user):
    supplier = SupplierFactory()
    add = reverse("admin:supply_upstream_add")

    refused = ops_client.post(add, _upstream_form(supplier))
    assert refused.status_code == 200 and not Upstream.objects.exists()

    ops_client.post(add, _upstream_form(supplier, api_secret=SECRET))
    upstream = Upstream.objects.get()

    assert upstream.secrets() == (SECRET, SECRET)  # no callback secret of its own: the API secret signs callbacks
    assert SECRET.encode() not in bytes(upstream.api_secret_sealed)
    page = ops_client.get(reverse("admin:supply_upstream_change", args=[upstream.pk])).content.decode()
    assert SECRET not in page
    entry = AuditLog.objects.get(action="supply.upstream.secrets")
    assert entry.data == {"changed": ["api_secret"]} and SECRET not in str(entry.data) + entry.reason


def test_saving_a_supplier_with_the_secret_fields_empty_keeps_its_secrets(ops_client):
    upstream = upstream_make()
    before = upstream.secrets()

    response = ops_client.post(
        reverse("admin:supply_upstream_change", args=[upstream.pk]),
        _upstream_form(upstream.supplier, app_key="merchant-43", callback_secret="new-callback-secret"),
    )

    assert response.status_code == 302
    upstream.refresh_from_db()
    assert upstream.app_key == "merchant-43"
    assert upstream.secrets() == (before[0], "new-callback-secret")


def test_ops_edit_a_chains_order_and_retries_in_the_list(ops_client):
    sku = topup_sku_make()
    first, second = product_make(upstream_make(), sku, position=1), product_make(upstream_make(), sku, position=2)
    data = {
        "form-TOTAL_FORMS": "2",
        "form-INITIAL_FORMS": "2",
        "form-0-id": first.pk,
        "form-0-position": "2",
        "form-0-retries": "1",
        "form-0-active": "on",
        "form-1-id": second.pk,
        "form-1-position": "1",
        "form-1-retries": "3",
        "form-1-active": "on",
        "_save": "Save",
    }

    ops_client.post(reverse("admin:supply_upstreamproduct_changelist"), data)

    assert list(UpstreamProduct.objects.filter(sku=sku).order_by("position").values_list("pk", "retries")) == [
        (second.pk, 3),
        (first.pk, 1),
    ]


def test_held_top_ups_are_refunded_from_the_admin_with_a_reason(ops_client, ops_user):
    product = product_make(upstream_make(), topup_sku_make())
    held = attempt_make(product, status=TopupAttempt.Status.FAILED, topup_status=Topup.Status.ON_HOLD).topup
    done = attempt_make(product).topup
    url = reverse("admin:supply_topup_changelist")
    chosen = {"action": "hold_decide", helpers.ACTION_CHECKBOX_NAME: [held.pk, done.pk]}

    page = ops_client.post(url, chosen)
    assert page.status_code == 200 and held.reference in page.content.decode() and done.reference not in page.content.decode()

    ops_client.post(url, {**chosen, "apply": "1", "decision": "refund", "reason": "customer cancelled"})

    held.refresh_from_db()
    assert held.status == Topup.Status.FAILED
    assert AuditLog.objects.get(action="supply.topup.refund").actor == ops_user


def test_alerts_are_acknowledged_from_the_admin(ops_client, ops_user):
    upstream = upstream_make()
    alerts = [SupplyAlert.objects.create(upstream=upstream, kind=SupplyAlert.Kind.LOW_BALANCE, message=f"low {n}") for n in range(2)]

    ops_client.post(
        reverse("admin:supply_supplyalert_changelist"),
        {"action": "acknowledge", helpers.ACTION_CHECKBOX_NAME: [a.pk for a in alerts]},
    )

    assert SupplyAlert.objects.filter(acknowledged_by=ops_user).count() == 2


def test_top_ups_cannot_be_edited_or_deleted_in_the_admin(ops_client):
    topup = attempt_make(product_make(upstream_make(), topup_sku_make())).topup
    change = reverse("admin:supply_topup_change", args=[topup.pk])

    response = ops_client.post(change, {"status": "failed", "face_value": "1.00"})

    topup.refresh_from_db()
    assert response.status_code == 403 and topup.status == Topup.Status.SUCCESS
    assert ops_client.post(reverse("admin:supply_topup_delete", args=[topup.pk]), {"post": "yes"}).status_code == 403


@pytest.mark.parametrize(
    "model",
    [
        "upstream",
        "upstreamproduct",
        "topupprofile",
        "topup",
        "supplyalert",
        "supplycallback",
        "statementimport",
        "statementdifference",
        "replenishment",
    ],
)
def test_every_supply_list_opens_for_ops_in_the_sidebar(ops_client, model):
    attempt_make(product_make(upstream_make(), topup_sku_make()), cost=Decimal("48.50"))

    response = ops_client.get(reverse(f"admin:supply_{model}_changelist"))

    assert response.status_code == 200
    assert reverse(f"admin:supply_{model}_changelist") in ops_client.get(reverse("admin:index")).content.decode()


def test_a_topups_page_shows_its_attempts_and_events(ops_client):
    attempt = attempt_make(product_make(upstream_make(), topup_sku_make()), cost=Decimal("48.50"))

    body = ops_client.get(reverse("admin:supply_topup_change", args=[attempt.topup_id])).content.decode()

    assert attempt.number in body and attempt.their_number in body
