"""Top-ups per local day, upstream and SKU: submitted to the supplier simulator over HTTP, finished by the
supplier's answer (what its callback says), failed over to the end of the chain."""

from decimal import Decimal

import pytest
import time_machine

from analytics.models import SupplierDay
from analytics.rollups.base import rollup_rebuild, rollup_refresh
from analytics.rollups.supplier import ROLLUP
from supply.adapters.base import Answer, Outcome
from supply.models import Topup, TopupEvent
from supply.services.topups import attempt_answer_apply, topup_request, topup_submit
from supply.simulator import Faults
from tests.analytics.rollup_support import days_ago, local
from tests.supply.conftest import simulator, topup_sku, upstream_for  # noqa: F401

pytestmark = pytest.mark.django_db
D = Decimal
KEYS = ["day", "upstream_id", "sku_id", "succeeded", "failed", "partial", "face_value", "cost", "seconds_total"]


@pytest.fixture
def sku(settings, topup_sku, upstream_for):  # noqa: F811
    settings.SUPPLY_FAILOVER_DELAY_SECONDS = 0
    sku = topup_sku()
    upstream_for(sku, faults=Faults(processing_seconds=86400))  # the supplier keeps it processing until it answers
    return sku


def started(sku, reference: str, at) -> Topup:
    with time_machine.travel(at, tick=False):
        topup = topup_request(reference=reference, sku=sku, account="13800138000")
        topup_submit(topup_id=topup.pk)
    return topup


def answered(topup: Topup, at, answer: Answer) -> Topup:
    with time_machine.travel(at, tick=False):
        attempt_answer_apply(attempt_id=topup.attempts.get().pk, answer=answer, source=TopupEvent.Source.CALLBACK)
    topup.refresh_from_db()
    return topup


def test_finished_topups_per_day_upstream_and_sku(sku):
    day1, day2 = days_ago(3), days_ago(2)
    ok = started(sku, "VH-A1", local(day1, 10))
    failed = started(sku, "VH-A2", local(day1, 11))
    late = started(sku, "VH-A3", local(day1, 23))
    assert answered(ok, local(day1, 10, 2), Answer(outcome=Outcome.SUCCESS, cost=D("48.00"))).status == Topup.Status.SUCCESS
    assert answered(failed, local(day1, 11, 1), Answer(outcome=Outcome.FAILED)).status == Topup.Status.FAILED
    with time_machine.travel(local(day2, 8), tick=False):
        assert rollup_refresh(ROLLUP) == 1
    row = SupplierDay.objects.get()
    upstream_id = ok.upstream_id
    assert (row.day, row.upstream_id, row.sku_id) == (day1, upstream_id, sku.pk)
    assert (row.succeeded, row.failed, row.partial) == (1, 1, 0)
    assert (row.face_value, row.cost, row.seconds_total) == (D("50.00"), D("48.00"), 120 + 60)
    # when: the third one ends partly delivered the next day (counted on the day it finished)
    answer = Answer(outcome=Outcome.PARTIAL, delivered_value=D("20.00"), cost=D("19.40"))
    assert answered(late, local(day2, 8, 30), answer).status == Topup.Status.PARTIAL
    with time_machine.travel(local(day2, 9), tick=False):
        assert rollup_refresh(ROLLUP) == 1
    # then
    second = SupplierDay.objects.get(day=day2)
    assert (second.upstream_id, second.partial, second.face_value, second.cost, second.seconds_total) == (
        upstream_id, 1, D("20.00"), D("19.40"), 9.5 * 3600,
    )  # fmt: skip
    assert SupplierDay.objects.get(day=day1).succeeded == 1
    incremental = sorted(SupplierDay.objects.values_list(*KEYS))
    SupplierDay.objects.all().delete()
    rollup_rebuild(ROLLUP, day1, day2)
    assert sorted(SupplierDay.objects.values_list(*KEYS)) == incremental
