"""The holder's side: private link, masked codes, audited reveal, QR token, gifting."""

import re
from datetime import timedelta

import pytest
from django.core import mail, signing

from catalog.models import CardCode
from redemption import holdings, tokens
from redemption.models import CodeHolding, HolderLink
from redemption.notify import ConsoleSmsBackend
from tests import factories
from voucherhub.core.errors import Conflict, NotFound
from voucherhub.core.models import AuditLog

pytestmark = pytest.mark.django_db


def path_of(url: str) -> str:
    return "/" + url.split("/", 3)[3]


@pytest.fixture
def held(sku_a):
    code, plaintext = factories.card_code(sku=sku_a)
    url = holdings.holding_create(code_ids=[code.pk], contact="13800138000", order_ref="SO-1")
    return code, plaintext, url


def qr_tokens_on(html: str) -> list[str]:
    return re.findall(r"data-qr-token=\"([^\"]+)\"", html)


def test_holding_create_returns_a_signed_unguessable_link(held):
    code, _plaintext, url = held
    assert url.startswith("http://127.0.0.1:8000/my/")
    token = url.rstrip("/").rsplit("/", 1)[1]
    link = HolderLink.objects.get()
    assert link.public_id in token and token != link.public_id
    assert holdings.link_for_token(token) == link
    forged = link.public_id + ".AAAA"
    with pytest.raises(NotFound):
        holdings.link_for_token(forged)
    assert link.contact == "13800138000" and link.contact_kind == "phone"


def test_holding_create_is_idempotent_per_order(held):
    code, _plaintext, url = held
    assert holdings.holding_create(code_ids=[code.pk], contact="13800138000", order_ref="SO-1") == url
    with pytest.raises(Conflict):
        holdings.holding_create(code_ids=[code.pk], contact="13900000000", order_ref="SO-2")
    assert HolderLink.objects.count() == 1


def test_invalid_contact_is_refused(sku_a):
    code, _ = factories.card_code(sku=sku_a)
    with pytest.raises(holdings.InvalidContact):
        holdings.holding_create(code_ids=[code.pk], contact="not a contact")


def test_code_page_masks_codes_and_shows_a_qr_without_the_code(client, held):
    code, plaintext, url = held
    response = client.get(path_of(url))
    assert response.status_code == 200
    html = response.content.decode()
    assert code.hint in html
    assert plaintext not in html
    assert "<svg" in html
    assert response["Cache-Control"].startswith("no-store")
    assert response["Referrer-Policy"] == "same-origin"
    assert "35.00" in html
    assert client.get("/my/not-a-token/").status_code == 404


def test_reveal_is_audited_and_rate_limited(client, held, settings):
    code, plaintext, url = held
    holding = CodeHolding.objects.get(code=code)
    reveal = f"{path_of(url)}reveal/{holding.pk}/"
    assert client.get(reveal).status_code == 405
    response = client.post(reveal)
    assert response.status_code == 200
    assert plaintext[:4] in response.content.decode().replace("-", "")
    entry = AuditLog.objects.get(action="code.reveal")
    assert entry.object_id == str(code.pk) and plaintext not in str(entry.data)
    settings.REDEMPTION_REVEAL_LIMIT = 2
    assert client.post(reveal).status_code == 200
    assert client.post(reveal).status_code == 429
    assert AuditLog.objects.filter(action="code.reveal_refused").count() == 1


def test_qr_token_round_trip_redeems_the_code(client, api_a, held):
    code, plaintext, url = held
    token = tokens.qr_token(holding_id=CodeHolding.objects.get(code=code).pk, code_id=code.pk)
    assert plaintext not in token and code.blind_index not in token
    verify = api_a.verify({"qr_token": token}).json()
    assert verify["valid"] is True and verify["code"]["hint"] == code.hint
    # a scanner types the token into the code field: also accepted
    response = api_a.redeem({"code": token})
    assert response.status_code == 201, response.json()
    code.refresh_from_db()
    assert code.status == CardCode.Status.REDEEMED


def test_page_qr_carries_a_token_the_api_accepts(client, api_a, held, monkeypatch):
    code, _plaintext, url = held
    drawn = []
    real = tokens.qr_token

    def spy(**kwargs):
        drawn.append(real(**kwargs))
        return drawn[-1]

    monkeypatch.setattr(tokens, "qr_token", spy)
    client.get(path_of(url))
    assert len(drawn) == 1
    assert api_a.redeem({"qr_token": drawn[0]}).status_code == 201


def test_expired_and_forged_qr_tokens(api_a, held, settings):
    code, _plaintext, _url = held
    holding = CodeHolding.objects.get(code=code)
    old = tokens.QR_PREFIX + signing.TimestampSigner(salt=tokens.QR_SALT, sep=".").sign_object([holding.pk, code.pk])
    settings.REDEMPTION_QR_MAX_AGE = -1
    assert api_a.verify({"qr_token": old}).json()["reason"]["code"] == "token_expired"
    settings.REDEMPTION_QR_MAX_AGE = 600
    forged = tokens.QR_PREFIX + signing.TimestampSigner(salt="other", sep=".").sign_object([holding.pk, code.pk])
    assert api_a.verify({"qr_token": forged}).json()["reason"]["code"] == "not_valid_here"


def test_qr_token_of_another_merchants_code_does_not_leak(api_b, held):
    code, _plaintext, _url = held
    token = tokens.qr_token(holding_id=CodeHolding.objects.get(code=code).pk, code_id=code.pk)
    assert api_b.verify({"qr_token": token}).json() == {
        "valid": False,
        "reason": {"code": "not_valid_here", "message": api_b.verify({"qr_token": "VHQ.x"}).json()["reason"]["message"]},
        "code": None,
    }


def test_gifting_moves_the_code_to_a_new_link_and_the_old_link_stops_showing_it(client, api_a, held, django_capture_on_commit_callbacks):
    code, plaintext, url = held
    holding = CodeHolding.objects.get(code=code)
    old_qr = tokens.qr_token(holding_id=holding.pk, code_id=code.pk)
    ConsoleSmsBackend.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{path_of(url)}gift/{holding.pk}/", {f"h{holding.pk}-contact": "friend@example.com"}, follow=True)

    assert response.status_code == 200
    html = response.content.decode()
    assert code.hint not in html
    assert "f***@example.com" in html
    new_holding = CodeHolding.objects.get(code=code, active=True)
    assert new_holding.gifted_from == holding and new_holding.link.contact == "friend@example.com"
    assert len(mail.outbox) == 1
    new_url = re.search(r"http://\S+/my/\S+/", mail.outbox[0].body).group(0)
    assert code.hint in client.get(path_of(new_url)).content.decode()
    # the old QR no longer works, a new one from the friend's page does
    assert api_a.verify({"qr_token": old_qr}).json()["reason"]["code"] == "not_valid_here"
    new_qr = tokens.qr_token(holding_id=new_holding.pk, code_id=code.pk)
    assert api_a.verify({"qr_token": new_qr}).json()["valid"] is True
    # and the old link cannot reveal or gift it again
    assert client.post(f"{path_of(url)}reveal/{holding.pk}/").status_code == 404
    assert AuditLog.objects.filter(action="holding.gift", object_id=str(code.pk)).exists()


def test_gift_sms_is_sent_after_commit(django_capture_on_commit_callbacks, held):
    code, _plaintext, _url = held
    ConsoleSmsBackend.outbox.clear()
    link = HolderLink.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        holdings.holding_gift(link=link, holding_id=CodeHolding.objects.get(code=code).pk, to_contact="13900001111")
    assert len(ConsoleSmsBackend.outbox) == 1
    assert ConsoleSmsBackend.outbox[0].to == "13900001111"
    assert HolderLink.objects.get(contact="13900001111").contact_kind == "phone"
    assert "/my/" in ConsoleSmsBackend.outbox[0].text


def test_used_or_expired_codes_cannot_be_gifted(api_a, sku_a):
    used, plaintext = factories.card_code(sku=sku_a)
    holdings.holding_create(code_ids=[used.pk], contact="a@example.com")
    api_a.redeem({"code": plaintext})
    link = HolderLink.objects.get()
    with pytest.raises(holdings.GiftNotAllowed):
        holdings.holding_gift(link=link, holding_id=CodeHolding.objects.get(code=used).pk, to_contact="b@example.com")
    expired, _ = factories.card_code(sku=sku_a, expires_in=timedelta(seconds=-5))
    holdings.holding_create(code_ids=[expired.pk], contact="c@example.com", order_ref="SO-9")
    link = HolderLink.objects.get(order_ref="SO-9")
    with pytest.raises(holdings.GiftNotAllowed):
        holdings.holding_gift(link=link, holding_id=CodeHolding.objects.get(code=expired).pk, to_contact="b@example.com")


def test_a_partially_used_gift_card_is_not_gifted(api_a, gift_card_a):
    code, plaintext = factories.card_code(sku=gift_card_a)
    holdings.holding_create(code_ids=[code.pk], contact="a@example.com")
    api_a.redeem({"code": plaintext, "amount": "10"})
    with pytest.raises(holdings.GiftNotAllowed):
        holdings.holding_gift(link=HolderLink.objects.get(), holding_id=CodeHolding.objects.get(code=code).pk, to_contact="b@example.com")


def test_page_shows_balance_and_where_to_use(client, api_a, gift_card_a, shop_a):
    code, plaintext = factories.card_code(sku=gift_card_a)
    url = holdings.holding_create(code_ids=[code.pk], contact="a@example.com")
    api_a.redeem({"code": plaintext, "amount": "25.00"})
    html = client.get(path_of(url)).content.decode()
    assert "75.00" in html
    assert shop_a.merchant.name in html


def test_unsubscribe_and_resubscribe(client, held):
    _code, _plaintext, url = held
    page = path_of(url)
    assert client.get(f"{page}unsubscribe/").status_code == 200
    assert holdings.is_unsubscribed(HolderLink.objects.get()) is False
    # one-click unsubscribe from a mail client: POST without a CSRF token
    from django.test import Client

    response = Client(enforce_csrf_checks=True).post(f"{page}unsubscribe/")
    assert response.status_code == 200
    assert holdings.is_unsubscribed(HolderLink.objects.get())
    client.post(f"{page}resubscribe/")
    assert not holdings.is_unsubscribed(HolderLink.objects.get())


def test_contact_masking():
    assert holdings.contact_masked("13800138000") == "138****8000"
    assert holdings.contact_masked("alice@example.com") == "a***@example.com"
    assert holdings.contact_normalized("+86 139-0000-1111") == ("+8613900001111", "phone")
    assert holdings.contact_normalized(" Bob@Example.COM ") == ("bob@example.com", "email")
