"""Threaded races on PostgreSQL: a group never over-fills, and one consumer never holds two seats of it."""

import threading

import pytest
from django.db import connection

from marketing.errors import GroupFull, LimitReached
from marketing.models import GroupBuy, GroupMember
from marketing.services.groups import group_take
from tests.marketing.groups_support import consumer_make, group_campaign_make

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def race(works):
    """Run each callable in its own thread (own connection), all released at once; (kind, value) per work."""
    barrier = threading.Barrier(len(works))
    results = []
    lock = threading.Lock()

    def run(work):
        try:
            barrier.wait()
            outcome = ("ok", work())
        except Exception as exc:  # noqa: BLE001 - the outcome is what we count
            outcome = ("error", exc)
        finally:
            connection.close()
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=run, args=(work,)) for work in works]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _join(campaign, consumer, token, ref):
    return lambda: group_take(campaign=campaign, consumer=consumer, group_token=token, order_ref=ref).pk


def test_a_group_of_three_under_ten_parallel_joins_has_three_members():
    campaign = group_campaign_make(size=3)
    leader = group_take(campaign=campaign, consumer=consumer_make(), group_token="", order_ref="LEAD")
    token = leader.group.token
    friends = [consumer_make() for _ in range(10)]
    results = race([_join(campaign, friend, token, f"JOIN-{n}") for n, friend in enumerate(friends)])
    joined = [value for kind, value in results if kind == "ok"]
    refused = [value for kind, value in results if kind == "error"]
    assert len(joined) == 2
    assert len(refused) == 8 and all(isinstance(e, GroupFull) for e in refused), {type(e) for e in refused}
    group = GroupBuy.objects.get(token=token)
    assert group.members_count == 3 and group.members.count() == 3


def test_one_consumer_joining_a_group_ten_times_at_once_holds_one_seat():
    campaign = group_campaign_make(size=5, per_consumer_limit=3)
    leader = group_take(campaign=campaign, consumer=consumer_make(), group_token="", order_ref="LEAD")
    eager = consumer_make()
    results = race([_join(campaign, eager, leader.group.token, f"SAME-{n}") for n in range(10)])
    assert [kind for kind, _ in results].count("ok") == 1
    assert all(isinstance(value, LimitReached) for kind, value in results if kind == "error")
    assert GroupMember.objects.filter(consumer=eager).count() == 1
    assert GroupBuy.objects.get(pk=leader.group_id).members_count == 2


def test_one_consumer_opening_groups_at_once_stays_within_the_limit():
    campaign = group_campaign_make(size=3, per_consumer_limit=2)
    buyer = consumer_make()
    results = race([_join(campaign, buyer, "", f"OPEN-{n}") for n in range(10)])
    assert [kind for kind, _ in results].count("ok") == 2
    assert all(isinstance(value, LimitReached) for kind, value in results if kind == "error")
    assert GroupBuy.objects.filter(campaign=campaign, leader=buyer).count() == 2


# --- through settlement's orders (offer_take inside order_place), with a campaign budget -------------------------


def test_ten_parallel_orders_joining_a_budgeted_group_of_three_place_two_and_never_deadlock():
    """The campaign's budget row, the consumer, the group: every path takes them in that order, so joins racing
    an unpaid member's release neither over-fill the group nor deadlock."""
    from datetime import timedelta
    from decimal import Decimal

    from django.utils import timezone

    from marketing.models import Campaign
    from marketing.services.offers import OfferRequest
    from settlement.models import Order
    from settlement.services.orders import orders_expire
    from tests.settlement.conftest import tree_make
    from tests.settlement.test_offer_orders import place

    tree = tree_make()
    campaign = group_campaign_make(
        sku=tree.sku, storefront=tree.storefront, size=3, budget_kind=Campaign.BudgetKind.MONEY, budget_amount=Decimal("1000.00")
    )
    lead = place(tree, who=consumer_make(), request=OfferRequest(campaign_id=campaign.pk))
    token = GroupMember.objects.get(order_ref=lead.number).group.token
    unpaid = place(tree, who=consumer_make(), request=OfferRequest(campaign_id=campaign.pk, group_token=token))
    Order.objects.filter(pk=unpaid.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    friends = [consumer_make() for _ in range(10)]
    joins = [
        (lambda who=who: place(tree, who=who, request=OfferRequest(campaign_id=campaign.pk, group_token=token)).number) for who in friends
    ]
    results = race([*joins, lambda: orders_expire()])
    errors = [value for kind, value in results if kind == "error"]
    assert all(isinstance(error, GroupFull) for error in errors), {type(e).__name__: str(e) for e in errors}
    group = GroupBuy.objects.get(token=token)
    seated = group.members.exclude(status=GroupMember.Status.LEFT)
    assert group.members_count == seated.count() <= 3
    joined = [value for kind, value in results if kind == "ok" and isinstance(value, str)]
    assert len(joined) in (1, 2) and len(joined) + 1 + (0 if Order.objects.get(pk=unpaid.pk).status == "expired" else 1) == seated.count()
    campaign.refresh_from_db()
    assert campaign.spent_amount == Decimal("10.00") * seated.count()
