"""The merchant console: redeem by code or scan, today's list, reversal, summary, export; only one's own rows."""

import io
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from openpyxl import load_workbook

from catalog.models import CardCode
from redemption.models import Redemption
from tests import factories
from tests.redemption.conftest import clerk_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def clerk_a(client, shop_a):
    user = clerk_make(shop_a, "clerk-a")
    client.force_login(user)
    return user


def test_merchant_lands_on_the_console(client, shop_a, clerk_a):
    response = client.get("/", follow=True)
    assert response.redirect_chain[-1][0] == "/merchant/"
    html = response.content.decode()
    assert 'name="code"' in html and "autofocus" in html
    assert shop_a.merchant.name in html


def test_the_period_form_speaks_of_dates_not_of_a_source_and_destination(client, clerk_a):
    """A bare "From"/"To" is translated as a quota movement's 来源/去向: the period's ends have their context."""
    for path in ("/merchant/summary/", "/merchant/redemptions/"):
        form = client.get(path, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode().split('data-testid="period-form"')[1].split("</form>")[0]
        assert ">起始<" in form and ">截至<" in form and "来源" not in form and "去向" not in form


def test_console_needs_a_clerk(client, ops_user):
    client.force_login(ops_user)
    assert client.get("/merchant/").status_code == 403
    client.logout()
    assert client.get("/merchant/").status_code == 302


def test_check_then_redeem_with_htmx(client, clerk_a, sku_a, shop_a):
    code, plaintext = factories.card_code(sku=sku_a)
    checked = client.post("/merchant/verify/", {"code": plaintext, "store": shop_a.store.pk}, headers={"HX-Request": "true"})
    html = checked.content.decode()
    assert checked.status_code == 200 and "<html" not in html
    assert 'data-testid="redeem-button"' in html and code.hint in html
    key = uuid.uuid4().hex
    redeem = {"code": plaintext, "serial": "", "idempotency_key": key, "store": shop_a.store.pk}
    done = client.post("/merchant/redeem/", redeem, headers={"HX-Request": "true"})
    assert 'data-testid="result-success"' in done.content.decode()
    assert 'hx-swap-oob="true"' in done.content.decode()
    redemption = Redemption.objects.get()
    assert redemption.channel == "console" and redemption.clerk == clerk_a and redemption.terminal is None
    # a double tap is a replay, not a second redemption nor an error
    again = client.post("/merchant/redeem/", redeem, headers={"HX-Request": "true"})
    assert 'data-testid="result-success"' in again.content.decode()
    assert Redemption.objects.count() == 1
    code.refresh_from_db()
    assert code.status == CardCode.Status.REDEEMED


def test_refusal_is_shown_in_words(client, clerk_a, sku_a, shop_a):
    _code, plaintext = factories.card_code(sku=sku_a, status=CardCode.Status.VOID)
    response = client.post("/merchant/verify/", {"code": plaintext, "store": shop_a.store.pk})
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" in html and 'data-testid="refusal"' in html
    assert 'data-testid="redeem-button"' not in html


def test_clerk_of_merchant_a_cannot_see_or_reverse_merchant_b_redemptions(client, clerk_a, api_b, sku_b, shop_b):
    code, plaintext = factories.card_code(sku=sku_b)
    theirs = api_b.redeem({"code": plaintext}).json()["id"]
    listing = client.get("/merchant/redemptions/").content.decode()
    assert f'data-testid="redemption-{theirs}"' not in listing and code.hint not in listing
    # naming B's store in the filter does not help
    assert code.hint not in client.get(f"/merchant/redemptions/?store={shop_b.store.pk}").content.decode()
    response = client.post(f"/merchant/redemptions/{theirs}/reverse/", {"idempotency_key": "k"})
    assert response.status_code == 404
    assert Redemption.objects.get(pk=theirs).status == "completed"
    export = client.get(f"/merchant/export.csv/?store={shop_b.store.pk}")
    assert code.hint not in b"".join(export.streaming_content).decode()
    summary = client.get("/merchant/summary/").content.decode()
    assert shop_b.store.name not in summary
    # nor can they redeem at B's store by naming it
    _c, mine = factories.card_code(sku=sku_b)
    client.post("/merchant/verify/", {"code": mine, "store": shop_b.store.pk})
    assert not Redemption.objects.filter(store=shop_b.store, channel="console").exists()


def test_clerk_limited_to_one_store_sees_only_it(client, shop_a, sku_a, api_a):
    other = factories.StoreFactory(merchant=shop_a.merchant, name="星巴克 北京国贸店")
    user = clerk_make(shop_a, "clerk-other", stores=[other])
    client.force_login(user)
    _code, plaintext = factories.card_code(sku=sku_a)
    at_first_store = api_a.redeem({"code": plaintext}).json()["id"]
    assert f'data-testid="redemption-{at_first_store}"' not in client.get("/merchant/redemptions/").content.decode()
    assert client.post(f"/merchant/redemptions/{at_first_store}/reverse/", {"idempotency_key": "k"}).status_code == 404


def test_reverse_from_the_list(client, clerk_a, api_a, sku_a):
    code, plaintext = factories.card_code(sku=sku_a)
    redemption_id = api_a.redeem({"code": plaintext}).json()["id"]
    listing = client.get("/merchant/redemptions/").content.decode()
    assert f'data-testid="reverse-{redemption_id}"' in listing
    response = client.post(
        f"/merchant/redemptions/{redemption_id}/reverse/", {"idempotency_key": "rev-1", "reason": "顾客退单"}, follow=True
    )
    assert response.status_code == 200
    redemption = Redemption.objects.get(pk=redemption_id)
    assert redemption.status == "reversed" and redemption.reversed_by == clerk_a and redemption.reverse_reason == "顾客退单"
    code.refresh_from_db()
    assert code.status == CardCode.Status.SOLD
    # an old redemption shows no reverse button
    Redemption.objects.filter(pk=redemption_id).update(status="completed", created_at=timezone.now() - timedelta(days=2))
    assert f'data-testid="reverse-{redemption_id}"' not in client.get("/merchant/redemptions/?start=2000-01-01").content.decode()


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_reversal_without_a_reason_is_refused_with_a_field_message_and_changes_nothing(client, clerk_a, api_a, sku_a, reason):
    # given: a redemption the clerk may still reverse
    code, plaintext = factories.card_code(sku=sku_a)
    redemption_id = api_a.redeem({"code": plaintext}).json()["id"]
    assert 'required data-testid="reason-' in client.get("/merchant/redemptions/").content.decode()
    # when: the reversal is sent without a reason
    response = client.post(
        f"/merchant/redemptions/{redemption_id}/reverse/",
        {"idempotency_key": "rev-1", "reason": reason, "next": "/merchant/redemptions/"},
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )
    # then: 400, the reason field says what is missing, and the redemption and its code are untouched
    assert response.status_code == 400
    html = response.content.decode()
    assert 'data-testid="reason-error"' in html and "请填写撤销原因" in html
    assert Redemption.objects.get(pk=redemption_id).status == "completed"
    code.refresh_from_db()
    assert code.status == CardCode.Status.REDEEMED
    # and: the same form with a reason reverses it
    again = client.post(
        f"/merchant/redemptions/{redemption_id}/reverse/",
        {"idempotency_key": "rev-1", "reason": "顾客取消", "next": "/merchant/redemptions/"},
    )
    assert again.status_code == 302
    assert Redemption.objects.get(pk=redemption_id).reverse_reason == "顾客取消"


def test_the_today_badge_counts_the_rows_the_card_lists(client, clerk_a, api_a, sku_a, shop_a):
    # given: three redemptions today at the store, one of them reversed
    ids = [api_a.redeem({"code": factories.card_code(sku=sku_a)[1]}).json()["id"] for _ in range(3)]
    api_a.reverse(ids[0])
    # when
    html = client.get(f"/merchant/?store={shop_a.store.pk}").content.decode()
    # then: the badge says 3, as many as the card's rows (the reversed one is listed, so it is counted)
    card = html.split('id="today"')[1].split('class="card-footer"')[0]
    badge = card.split('data-testid="today-count"')[1].split(">")[1].split("<")[0]
    rows = card.split("<tbody>")[1].split("</tbody>")[0].count("<tr>")
    assert badge == "3" == str(rows)


def test_summary_and_exports(client, clerk_a, api_a, sku_a, shop_a):
    codes = [factories.card_code(sku=sku_a) for _ in range(3)]
    ids = [api_a.redeem({"code": p}).json()["id"] for _c, p in codes]
    api_a.reverse(ids[0])
    summary = client.get("/merchant/summary/").content.decode()
    assert 'data-testid="total-count">2<' in summary
    assert shop_a.store.name in summary

    xlsx = client.get("/merchant/export.xlsx/")
    assert xlsx["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == 4
    flat = " ".join(str(v) for row in rows for v in row)
    for code, plaintext in codes:
        assert code.hint in flat and plaintext not in flat

    csv_text = b"".join(client.get("/merchant/export.csv/").streaming_content).decode("utf-8-sig")
    assert len(csv_text.strip().splitlines()) == 4
    assert all(plaintext not in csv_text for _c, plaintext in codes)


def test_export_neutralises_formulas(client, clerk_a, api_a, sku_a):
    _code, plaintext = factories.card_code(sku=sku_a)
    api_a.redeem({"code": plaintext, "reference": "=HYPERLINK(1)"})
    csv_text = b"".join(client.get("/merchant/export.csv/").streaming_content).decode("utf-8-sig")
    assert "'=HYPERLINK(1)" in csv_text


def test_tablet_page_has_the_scanner_friendly_field(client, clerk_a):
    html = client.get("/merchant/").content.decode()
    assert 'autocomplete="off"' in html and 'enterkeyhint="go"' in html and "console.js" in html


def test_scanner_input_of_a_qr_token_redeems_at_the_console(client, clerk_a, sku_a, shop_a):
    from redemption import holdings, tokens
    from redemption.models import CodeHolding

    code, _plaintext = factories.card_code(sku=sku_a)
    holdings.holding_create(code_ids=[code.pk], contact="a@example.com")
    token = tokens.qr_token(holding_id=CodeHolding.objects.get(code=code).pk, code_id=code.pk)
    checked = client.post("/merchant/verify/", {"code": token, "store": shop_a.store.pk}).content.decode()
    assert 'data-testid="redeem-button"' in checked
    done = client.post("/merchant/redeem/", {"code": token, "serial": "", "idempotency_key": "qr-1", "store": shop_a.store.pk})
    assert 'data-testid="result-success"' in done.content.decode()
    assert Redemption.objects.get().attempts.get().via_qr is True


@pytest.mark.parametrize("target", ["//evil.example/phish", "/\\evil.example/phish", "https://other.example/", "javascript:alert(1)"])
def test_reversal_never_redirects_off_the_site(client, clerk_a, api_a, sku_a, target):
    _code, plaintext = factories.card_code(sku=sku_a)
    redemption_id = api_a.redeem({"code": plaintext}).json()["id"]
    response = client.post(
        f"/merchant/redemptions/{redemption_id}/reverse/", {"idempotency_key": "rev-1", "reason": "顾客取消", "next": target}
    )
    assert response.status_code == 302
    assert response["Location"] == "/merchant/redemptions/"
    # a page of the console is still where the clerk goes back to
    _code, plaintext = factories.card_code(sku=sku_a)
    other_id = api_a.redeem({"code": plaintext}).json()["id"]
    back = "/merchant/redemptions/?page=2"
    response = client.post(f"/merchant/redemptions/{other_id}/reverse/", {"idempotency_key": "rev-2", "reason": "顾客取消", "next": back})
    assert response["Location"] == back


@pytest.mark.parametrize("htmx", [True, False])
def test_answers_to_a_posted_code_are_never_stored_by_a_cache(client, clerk_a, sku_a, shop_a, htmx):
    # given: the verify answer carries the code in the redeem form's hidden field
    _code, plaintext = factories.card_code(sku=sku_a)
    headers = {"HX-Request": "true"} if htmx else {}
    checked = client.post("/merchant/verify/", {"code": plaintext, "store": shop_a.store.pk}, headers=headers)
    assert plaintext in checked.content.decode()
    # then: neither it nor the redeem answer may be kept by a browser or a proxy
    assert "no-store" in checked["Cache-Control"] and "private" in checked["Cache-Control"]
    redeem = {"code": plaintext, "serial": "", "idempotency_key": uuid.uuid4().hex, "store": shop_a.store.pk}
    done = client.post("/merchant/redeem/", redeem, headers=headers)
    assert "no-store" in done["Cache-Control"]


def test_the_merchant_console_xlsx_export_does_not_fail_on_data(client, sku_a, api_a, clerk_a):
    _code, plaintext = factories.card_code(sku=sku_a)
    api_a.redeem({"code": plaintext, "reference": "till-1"})
    Redemption.objects.update(reference="till\x1b-1\ufffe")
    response = client.get("/merchant/export.xlsx/")
    assert response.status_code == 200
    rows = list(load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))
    assert "till-1" in rows[1]
    assert not any("\x1b" in str(value) or "\ufffe" in str(value) for value in rows[1])
