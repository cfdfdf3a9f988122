"""The ops home's redemption panel counts what happened in the last 30 days."""

import pytest
from django.test import Client
from django.urls import reverse

from redemption.models import Redemption
from tests import factories
from voucherhub.core import roles

pytestmark = pytest.mark.django_db


def test_ops_home_counts_redemptions_value_and_failures(api_a, sku_a):
    # given one redeemed code and one failed verification
    _code, plaintext = factories.card_code(sku=sku_a)
    assert api_a.redeem({"code": plaintext}).status_code == 201
    api_a.verify({"code": "NOPE-NOT-A-CODE-123"})
    ops = factories.UserFactory(username="ops-panel", role=roles.OPS, is_staff=True)
    browser = Client()
    browser.force_login(ops)
    browser.post(reverse("set_language"), {"language": "en", "next": "/"})
    # when ops opens its home
    context = browser.get(reverse("dashboards:ops-home")).context
    # then the panel shows them
    overview = context["redemption"]
    assert overview.redemptions == 1 == Redemption.objects.count()
    assert str(overview.value_used) == "35.00"
    assert overview.failed_attempts == 1
    assert b'data-testid="redemption-panel"' in browser.get(reverse("dashboards:ops-home")).content
