"""Operations staff manage merchants and terminals in the admin; secrets are shown once, codes never."""

import re

import pytest

from redemption import holdings
from redemption.models import Terminal
from tests import factories
from tests.redemption.conftest import TerminalClient

pytestmark = pytest.mark.django_db


def test_add_a_terminal_from_the_store_list_shows_its_secret_once(admin_client, client, shop_a, sku_a):
    response = admin_client.post("/admin/redemption/store/", {"action": "terminal_add", "_selected_action": [shop_a.store.pk]}, follow=True)
    assert response.status_code == 200
    terminal = Terminal.objects.exclude(pk=shop_a.terminal.pk).get(store=shop_a.store)
    secret = re.search(rf"{terminal.key_id}\W.*?([A-Za-z0-9_-]{{43}})", response.content.decode(), re.S).group(1)
    assert secret.encode() not in bytes(terminal.secret_sealed)
    _code, plaintext = factories.card_code(sku=sku_a)
    api = TerminalClient(client=client, terminal=terminal, secret=secret)
    assert api.verify({"code": plaintext}).json()["valid"] is True
    # the terminal's page shows no secret
    page = admin_client.get(f"/admin/redemption/terminal/{terminal.pk}/change/").content.decode()
    assert secret not in page


def test_rotate_and_revoke(admin_client, client, api_a, shop_a, sku_a):
    _code, plaintext = factories.card_code(sku=sku_a)
    terminal = shop_a.terminal
    admin_client.post("/admin/redemption/terminal/", {"action": "secret_rotate", "_selected_action": [terminal.pk]})
    assert api_a.verify({"code": plaintext}).json()["error"]["code"] == "bad_signature"
    admin_client.post("/admin/redemption/terminal/", {"action": "revoke", "_selected_action": [terminal.pk]})
    terminal.refresh_from_db()
    assert not terminal.active and terminal.revoked_at is not None


def test_admin_pages_show_no_codes_or_contacts(admin_client, api_a, sku_a):
    code, plaintext = factories.card_code(sku=sku_a)
    holdings.holding_create(code_ids=[code.pk], contact="13812345678", order_ref="SO-ADMIN")
    redemption_id = api_a.redeem({"code": plaintext}).json()["id"]
    pages = [
        "/admin/redemption/redemption/",
        f"/admin/redemption/redemption/{redemption_id}/change/",
        "/admin/redemption/redemptionattempt/",
        "/admin/redemption/holderlink/",
        "/admin/redemption/merchant/",
        "/admin/redemption/store/",
        "/admin/redemption/terminal/",
        "/admin/redemption/merchantclerk/",
        "/admin/redemption/merchantskuprice/",
        "/admin/redemption/remindersent/",
    ]
    for url in pages:
        response = admin_client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert plaintext not in html and "13812345678" not in html, url
    link_page = admin_client.get("/admin/redemption/holderlink/").content.decode()
    assert "138****5678" in link_page
