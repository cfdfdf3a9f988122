"""The incremental job equals a rebuild (issue 17): GENERIC over every registered rollup and every rollup table in
analytics.models, so a rollup added later is held to it without touching this file.

A realistic few days go through the real services with the clock moved (orders paid in several hours and days,
a refund in full and one in part, storefront and campaign sales, commission released and clawed back, storefront
visits), with the job run between them; then every rollup table is snapshotted, emptied and rebuilt since the
first day, and must come back equal."""

from datetime import date, timedelta

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import translation

from analytics.models import RollupState, SalesDay, StorefrontVisit
from analytics.rollups import all_rollups, rollups_rebuild, rollups_refresh
from marketing.models import Campaign
from settlement.models import CommissionAccrual, Order
from settlement.services.commission import commission_release
from settlement.services.giveaways import giveaway_place
from settlement.services.orders import order_pay, order_place, order_refund
from settlement.services.payments import payment_for_order
from settlement.services.wallets import wallet_for
from tests.analytics.rollup_support import at, local, portal_buy
from tests.settlement.conftest import fund

pytestmark = pytest.mark.django_db
FIRST_DAY = date(2026, 11, 2)
LAST_MOMENT = local(2026, 11, 6, 9)
# Models of analytics.models that are not rollups: the visits the middleware counts (a source) and the job's state.
NOT_ROLLUPS = {StorefrontVisit, RollupState}


def rollup_models() -> list:
    return [model for model in apps.get_app_config("analytics").get_models() if model not in NOT_ROLLUPS]


def snapshot() -> dict:
    """Every rollup table's rows, without their ids, sorted."""
    tables = {}
    for model in rollup_models():
        names = [field.attname for field in model._meta.concrete_fields if not field.primary_key]
        tables[model.__name__] = sorted(model.objects.values_list(*names), key=repr)
    return tables


def refresh(moment) -> dict[str, int]:
    with at(moment):
        return rollups_refresh()


def shop_order(tree, quantity: int, moment) -> Order:
    """A consumer buys in the seller's storefront and pays by the sandbox adapter at `moment`."""
    with at(moment):
        order = order_place(
            channel=Order.Channel.STOREFRONT, distributor=tree.seller, storefront=tree.storefront, sku=tree.sku, quantity=quantity,
            contact="buyer@example.test", lookup_password="secret-123", pay_method="sandbox",
        )  # fmt: skip
        return order_pay(order=order, payment=payment_for_order(order=order))


def shop_visit(client, tree, moment, address: str) -> None:
    with at(moment):
        client.get(
            reverse("channels:shop", kwargs={"slug": tree.storefront.slug}), HTTP_USER_AGENT="Mozilla/5.0 Mobile", REMOTE_ADDR=address
        )


def giveaway(tree, moment) -> None:
    campaign = Campaign.objects.create(
        name="老客赠卡", kind=Campaign.Kind.TARGETED, status=Campaign.Status.ACTIVE, starts_at=moment - timedelta(hours=1),
        ends_at=moment + timedelta(days=3), sku=tree.sku, storefront=tree.storefront,
    )  # fmt: skip
    with at(moment):
        giveaway_place(campaign_id=campaign.pk, issuance_recipient_id=1, sku_id=tree.sku.pk, quantity=1, phone="13800138000")


def history(client, tree, finance_user) -> None:
    """Five local days of facts with the job running between them (and once with nothing new)."""
    fund(tree.seller, "2000.00", actor=finance_user)
    first = portal_buy(tree, 3, local(2026, 11, 2, 10, 15))
    shop_order(tree, 2, local(2026, 11, 2, 14, 40))
    shop_visit(client, tree, local(2026, 11, 2, 14, 30), "203.0.113.7")
    refresh(local(2026, 11, 2, 15))
    second = portal_buy(tree, 1, local(2026, 11, 3, 9, 30))
    with at(local(2026, 11, 3, 12)):
        order_refund(order=first, actor=finance_user, reason="one code too many", quantity=1)  # in part, clawed from frozen
    shop_visit(client, tree, local(2026, 11, 3, 12, 5), "203.0.113.7")
    shop_visit(client, tree, local(2026, 11, 3, 12, 6), "198.51.100.9")
    refresh(local(2026, 11, 3, 13))
    portal_buy(tree, 1, local(2026, 11, 3, 23, 50))  # the local day's last minutes (15:50 UTC)
    refresh(local(2026, 11, 4, 0, 2))
    with at(local(2026, 11, 4, 10)):
        for accrual in CommissionAccrual.objects.filter(wallet=wallet_for(tree.mid), status=CommissionAccrual.Status.FROZEN):
            commission_release(accrual=accrual)
    refresh(local(2026, 11, 4, 11))
    with at(local(2026, 11, 5, 16)):
        order_refund(order=second, actor=finance_user, reason="not wanted")  # in full, clawed from available and frozen
    giveaway(tree, local(2026, 11, 5, 17))
    refresh(local(2026, 11, 5, 18))
    refresh(LAST_MOMENT)


def test_the_rebuild_equals_the_incremental_job_for_every_rollup(client, tree, finance_user):
    history(client, tree, finance_user)
    incremental = snapshot()
    for name in ("SalesHour", "SalesDay", "SkuSalesDay", "DistributorSalesDay", "CommissionDay", "VisitDay"):
        assert incremental[name], f"{name} got no rows: the history does not exercise it"
    assert set(SalesDay.objects.values_list("channel", flat=True)) == {"portal", "storefront", "campaign"}

    for model in rollup_models():
        model.objects.all().delete()
    with at(LAST_MOMENT):
        done = rollups_rebuild(FIRST_DAY)
    assert set(done) == {rollup.name for rollup in all_rollups()} and set(done.values()) == {5}
    assert snapshot() == incremental


def test_a_refresh_with_nothing_changed_recomputes_no_day(client, tree, finance_user):
    history(client, tree, finance_user)
    before = snapshot()
    assert set(refresh(LAST_MOMENT + timedelta(minutes=10)).values()) == {0}
    assert snapshot() == before


def test_an_order_committed_after_the_watermark_moved_is_still_counted(tree, finance_user):
    fund(tree.seller, "1000.00", actor=finance_user)
    refresh(local(2026, 11, 6, 9))  # the watermark is 09:00
    # paid at 08:58 by a transaction that committed only after the 09:00 run had read the orders
    portal_buy(tree, 2, local(2026, 11, 6, 8, 58))
    assert refresh(local(2026, 11, 6, 9, 1))["sales"] == 1
    assert SalesDay.objects.get().quantity == 2


def test_the_rebuild_command_prints_the_days_and_refuses_bad_dates_and_names(tree, capsys):
    with at(local(2026, 11, 6, 9)), translation.override("en"):
        call_command("rebuild_rollups", "--since", "2026-11-04", "--only", "sales", "visits")
        out = capsys.readouterr().out
        assert "sales: 3" in out and "visits: 3" in out and "commission" not in out
        call_command("rebuild_rollups", "--since", "2026-11-01", "--until", "2026-11-02")
        out = capsys.readouterr().out
        assert all(f"{rollup.name}: 2 days recomputed" in out for rollup in all_rollups())
        for args, message in (
            (["--since", "2026-13-01"], "--since"),
            (["--since", "2026-11-05", "--until", "yesterday"], "--until"),
            (["--since", "2026-11-05", "--until", "2026-11-04"], "before"),
            (["--since", "2026-11-05", "--only", "sales", "nonsense"], "nonsense"),
        ):
            with pytest.raises(CommandError, match=message):
                call_command("rebuild_rollups", *args)


def test_the_job_is_scheduled_every_minute_once_and_reports_its_days(tree):
    from django_q.models import Schedule

    from analytics.tasks import rollups_refresh_task, schedules_ensure

    schedules_ensure()
    schedules_ensure()
    schedule = Schedule.objects.get(name="analytics: refresh rollups")
    assert (schedule.func, schedule.schedule_type, schedule.minutes, schedule.repeats) == (
        "analytics.tasks.rollups_refresh_task",
        Schedule.MINUTES,
        1,
        -1,
    )
    with at(local(2026, 11, 6, 9)):
        assert rollups_refresh_task() == " ".join(f"{rollup.name}=0" for rollup in all_rollups())
