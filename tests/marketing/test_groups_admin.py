"""Ops' admin of group buys: the list with refund attempts and errors, and the decisions through the services."""

import pytest
from django.urls import reverse
from django.utils import translation

from marketing.models import GroupBuy
from marketing.services.groups import group_paid, group_take
from tests import factories
from tests.marketing.groups_support import consumer_make, group_campaign_make, settlement_unheard
from voucherhub.core import roles
from voucherhub.core.models import AuditLog

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _marketing_alone():
    with settlement_unheard():
        yield


@pytest.fixture
def paid_group():
    campaign = group_campaign_make(group_ops_complete=True)
    leader = group_take(campaign=campaign, consumer=consumer_make(), group_token="", order_ref="A-LEAD")
    group_paid(order_ref=leader.order_ref)
    return GroupBuy.objects.get(pk=leader.group_id)


def test_the_list_shows_each_group_with_its_refund_state_and_masked_numbers(ops_client, paid_group):
    GroupBuy.objects.filter(pk=paid_group.pk).update(status=GroupBuy.Status.FAILED, refund_attempts=3, refund_error="gateway down")
    page = ops_client.get(reverse("admin:marketing_groupbuy_changelist"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "gateway down" in page and "1 / 3" in page and paid_group.leader.phone_masked in page
    assert paid_group.leader.phone not in page
    detail = ops_client.get(reverse("admin:marketing_groupbuy_change", args=[paid_group.pk]), HTTP_ACCEPT_LANGUAGE="en")
    assert detail.status_code == 200 and paid_group.leader.phone not in detail.content.decode()


def test_ops_complete_a_group_from_its_page_with_a_reason(ops_client, ops_user, paid_group):
    url = reverse("admin:marketing_groupbuy_complete", args=[paid_group.pk])
    with translation.override("en"):
        refused = ops_client.post(url, {"reason": ""}, HTTP_ACCEPT_LANGUAGE="en")
    assert refused.status_code == 200 and GroupBuy.objects.get(pk=paid_group.pk).status == GroupBuy.Status.OPEN
    done = ops_client.post(url, {"reason": "客服确认"}, HTTP_ACCEPT_LANGUAGE="en")
    assert done.status_code == 302
    group = GroupBuy.objects.get(pk=paid_group.pk)
    assert group.status == GroupBuy.Status.COMPLETE and group.completed_by == ops_user
    assert AuditLog.objects.get(action="marketing.group.complete").reason == "客服确认"


def test_a_refusal_of_the_service_is_shown_on_the_form(ops_client, paid_group):
    GroupBuy.objects.filter(pk=paid_group.pk).update(status=GroupBuy.Status.COMPLETE)
    page = ops_client.post(reverse("admin:marketing_groupbuy_fail", args=[paid_group.pk]), {"reason": "x"}, HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200 and "Only an open group" in page.content.decode()


def test_finance_sees_groups_but_cannot_decide(client, paid_group):
    finance = factories.UserFactory(username="fin-groups", role=roles.FINANCE, is_staff=True)
    client.force_login(finance)
    assert client.get(reverse("admin:marketing_groupbuy_changelist")).status_code == 200
    response = client.post(reverse("admin:marketing_groupbuy_complete", args=[paid_group.pk]), {"reason": "x"})
    assert response.status_code in (302, 403)
    assert GroupBuy.objects.get(pk=paid_group.pk).status == GroupBuy.Status.OPEN
