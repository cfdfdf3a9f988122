"""topup_request and topup_account_check: the account is checked against the SKU's profile before anything
is stored; a valid request is stored PENDING and submitted only once the caller commits."""

from decimal import Decimal

import pytest
from django.db import transaction

from catalog.models import Sku
from supply.errors import InvalidAccount, SupplyError, TopupStateConflict
from supply.models import Topup, TopupAttempt, TopupProfile, Upstream
from supply.services import topup_account_check, topup_request
from tests.factories import SkuFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("given", ["13800138000", "138 0013 8000", "+86 138-0013-8000", "008613800138000"])
def test_a_mainland_phone_number_is_normalised(topup_sku, given):
    assert topup_account_check(sku=topup_sku(), account=given) == ("13800138000", "")


@pytest.mark.parametrize("given", ["", "12800138000", "1380013800", "138001380001", "abc"])
def test_a_bad_phone_number_is_refused_naming_the_account(topup_sku, given):
    with pytest.raises(InvalidAccount) as refused:
        topup_account_check(sku=topup_sku(), account=given)
    assert refused.value.field == "account"


def test_a_game_account_needs_one_of_the_products_regions():
    sku = SkuFactory(fulfilment=Sku.Fulfilment.TOPUP, valid_days=1)
    TopupProfile.objects.create(sku=sku, account_kind=TopupProfile.AccountKind.GAME, regions=["华东一区", "华南二区"])
    assert topup_account_check(sku=sku, account=" hero007 ", region="华南二区") == ("hero007", "华南二区")
    with pytest.raises(InvalidAccount) as refused:
        topup_account_check(sku=sku, account="hero007", region="火星区")
    assert refused.value.field == "region"


def test_a_qq_number_is_checked():
    sku = SkuFactory(fulfilment=Sku.Fulfilment.TOPUP, valid_days=1)
    TopupProfile.objects.create(sku=sku, account_kind=TopupProfile.AccountKind.QQ)
    assert topup_account_check(sku=sku, account="10001") == ("10001", "")
    with pytest.raises(InvalidAccount):
        topup_account_check(sku=sku, account="0123")


def test_a_sku_of_card_codes_is_not_a_topup():
    with pytest.raises(SupplyError) as refused:
        topup_account_check(sku=SkuFactory(), account="13800138000")
    assert refused.value.field == "sku"


def test_a_request_is_stored_pending_with_the_skus_face_value_and_nothing_for_a_bad_account(topup_sku):
    sku = topup_sku(face_value=Decimal("30.00"))
    with pytest.raises(InvalidAccount):
        topup_request(reference="VH-BAD", sku=sku, account="12")
    assert not Topup.objects.filter(reference="VH-BAD").exists()

    topup = topup_request(reference="VH-1", sku=sku, account="138 0013 8000")

    assert (topup.status, topup.account, topup.face_value) == (Topup.Status.PENDING, "13800138000", Decimal("30.00"))
    assert topup.attempts.count() == 0  # submitted on commit, not inside the caller's transaction


def test_the_same_reference_twice_returns_the_first_and_refuses_another_account(topup_sku):
    sku = topup_sku()
    first = topup_request(reference="VH-2", sku=sku, account="13800138000")
    assert topup_request(reference="VH-2", sku=sku, account="13800138000") == first
    with pytest.raises(TopupStateConflict):
        topup_request(reference="VH-2", sku=sku, account="13900139000")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_without_sync_the_submission_is_a_django_q_task_run_after_commit(settings, q_sync, simulator, topup_sku, upstream_for):
    # given: submissions queued (django-q2 in its sync mode runs the queued task at once, in this process)
    settings.SUPPLY_SYNC = False
    sku = topup_sku()
    upstream = upstream_for(sku)
    # when: the caller's transaction is still open, nothing has gone out
    with transaction.atomic():
        topup = topup_request(reference="VH-Q", sku=sku, account="13800138000")
        assert simulator.orders_for(upstream.app_key) == []
    # then: once it committed, the task submitted attempt 1
    (order,) = simulator.orders_for(upstream.app_key)
    assert order.number == "VH-Q-A1"
    assert topup.attempts.get().status in (TopupAttempt.Status.PROCESSING, TopupAttempt.Status.SUCCESS)


def test_the_poller_and_balance_schedules_exist():
    from django_q.models import Schedule

    assert set(Schedule.objects.filter(func__startswith="supply.tasks.").values_list("func", flat=True)) == {
        "supply.tasks.topups_poll_task",
        "supply.tasks.upstream_balances_refresh_task",
    }


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_trouble_submitting_after_commit_does_not_fail_the_callers_order(settings, simulator, topup_sku, upstream_for, caplog):
    # given: submissions at once, to a supplier whose protocol this site no longer knows
    settings.SUPPLY_SYNC = True
    sku = topup_sku()
    upstream = upstream_for(sku)
    Upstream.objects.filter(pk=upstream.pk).update(protocol="retired-protocol")
    # when: the caller commits its order
    with transaction.atomic():
        topup = topup_request(reference="VH-ROBUST", sku=sku, account="13800138000")
    # then: no exception reached the caller; the trouble is logged and the attempt waits for the poller
    assert topup.attempts.get().status == TopupAttempt.Status.SUBMITTED
    assert "Error calling" in caplog.text  # Django logs a robust on-commit hook that raised
