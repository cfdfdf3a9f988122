"""Targeted issuance under concurrency, on PostgreSQL with real threads (each its own connection): a task
delivered to several workers at once issues once; two issuances of one campaign stop exactly at its budget."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone

from marketing.models import Campaign, Coupon, Issuance
from marketing.services import issuance as service
from tests import factories

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def together(works):
    """Run each callable on its own thread, all released at once; returns their exceptions."""
    barrier = threading.Barrier(len(works))
    errors = []

    def run(work):
        try:
            barrier.wait()
            work()
        except Exception as exc:  # noqa: BLE001 - counted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(work,)) for work in works]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def campaign_new(**fields) -> Campaign:
    now = timezone.now()
    return Campaign.objects.create(
        name="定向券", kind=Campaign.Kind.TARGETED, status=Campaign.Status.ACTIVE, starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(days=3), discount_kind=Campaign.DiscountKind.FIXED, discount_amount=Decimal("10.00"), **fields,
    )  # fmt: skip


def confirmed(campaign, phones, actor) -> Issuance:
    file = SimpleUploadedFile("p.csv", ("phone\n" + "\n".join(phones)).encode())
    issuance = service.issuance_prepare(campaign=campaign, source=Issuance.Source.FILE, gift=Issuance.Gift.COUPON, file=file, actor=actor)
    return service.issuance_confirm(issuance=issuance, actor=actor)


def phones(start: int, n: int) -> list[str]:
    return [f"138{start + i:08d}" for i in range(n)]


def test_a_task_delivered_to_four_workers_at_once_issues_each_coupon_once(settings):
    settings.MARKETING_ISSUANCE_BATCH = 5
    actor = factories.UserFactory(username="ops-race")
    issuance = confirmed(campaign_new(), phones(0, 40), actor)
    errors = together([lambda: service.issuance_run(issuance_id=issuance.pk)] * 4)
    assert errors == []
    issuance.refresh_from_db()
    assert (issuance.status, issuance.done, issuance.failed, issuance.attempts) == (Issuance.Status.DONE, 40, 0, 1)
    coupons = Coupon.objects.filter(issuance=issuance)
    assert coupons.count() == 40 and coupons.values("consumer").distinct().count() == 40


def test_two_issuances_of_one_campaign_stop_exactly_at_its_budget(settings):
    settings.MARKETING_ISSUANCE_BATCH = 3
    actor = factories.UserFactory(username="ops-race-2")
    campaign = campaign_new(budget_kind=Campaign.BudgetKind.MONEY, budget_amount=Decimal("100.00"))  # ten ¥10 coupons
    first, second = confirmed(campaign, phones(0, 8), actor), confirmed(campaign, phones(100, 8), actor)
    errors = together([lambda: service.issuance_run(issuance_id=first.pk), lambda: service.issuance_run(issuance_id=second.pk)])
    assert errors == []
    campaign.refresh_from_db()
    assert campaign.coupons_issued == 10
    assert Coupon.objects.filter(campaign=campaign).count() == 10
    done = sum(Issuance.objects.filter(pk__in=[first.pk, second.pk]).values_list("done", flat=True))
    failed = sum(Issuance.objects.filter(pk__in=[first.pk, second.pk]).values_list("failed", flat=True))
    assert (done, failed) == (10, 6)
