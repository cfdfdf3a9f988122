import io
import re

import pytest
from django.contrib.auth import authenticate

from catalog import demo as catalog_demo
from redemption import demo
from redemption.models import HolderLink, Merchant, Redemption, RedemptionAttempt, ReminderSent, Terminal
from voucherhub.core import demo as core_demo
from voucherhub.core.demo import DEMO_PASSWORD

pytestmark = pytest.mark.django_db


def test_demo_seed_is_idempotent_and_prints_a_working_holder_link(client):
    out = io.StringIO()
    core_demo.seed(out)
    catalog_demo.seed(out)
    demo.seed(out)

    def counts():
        return (
            Merchant.objects.count(),
            Terminal.objects.count(),
            Redemption.objects.count(),
            HolderLink.objects.count(),
            Redemption.objects.filter(status=Redemption.Status.REVERSED).count(),
            RedemptionAttempt.objects.filter(outcome=RedemptionAttempt.Outcome.REFUSED).count(),
            ReminderSent.objects.filter(outcome=ReminderSent.Outcome.SENT).count(),
        )

    first = counts()
    demo.seed(out)
    assert "secret" not in out.getvalue()
    assert counts() == first
    assert first[0] == 3 and first[2] >= 5
    assert first[4:] == (1, 3, 1)  # one reversal, three refused entries, the coffee voucher's expiry reminder
    user = authenticate(username="merchant", password=DEMO_PASSWORD)
    assert user is not None and user.merchant_clerk.merchant.code == "starbucks"
    path = re.findall(r"https?://[^/\s]+(/my/[\w.-]+/)", out.getvalue())[-1]
    page = client.get(path)
    assert page.status_code == 200 and page.content.decode().count('data-testid="held-code"') == 4
    client.force_login(user)
    assert client.get("/merchant/redemptions/?start=2000-01-01").status_code == 200


def test_issue_terminal_key_command_prints_a_working_key(client):
    from django.core.management import call_command

    from tests import factories
    from tests.redemption.conftest import TerminalClient

    store = factories.StoreFactory(code="sh-1", merchant=factories.MerchantFactory(code="brand"))
    sku = factories.SkuFactory(allowed_merchant_ids=[store.merchant_id])
    _code, plaintext = factories.card_code(sku=sku)
    out = io.StringIO()
    call_command("issue_terminal_key", "--merchant", "brand", "--store", "sh-1", stdout=out)
    key_id, secret = re.match(r"key=(\S+) secret=(\S+)", out.getvalue()).groups()
    api = TerminalClient(client=client, terminal=Terminal.objects.get(key_id=key_id), secret=secret)
    assert api.verify({"code": plaintext}).json()["valid"] is True
