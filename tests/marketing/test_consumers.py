"""Consumers' SMS sign-in: the number, the code (hash only, expiry, attempts, one use), the limits per number
and per address, the sign-in page in two steps, `next` safety and sign-out."""

import logging
import re
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone, translation

from marketing.consumer_session import SESSION_KEY
from marketing.errors import CampaignError, CodeRejected, TooManyRequests
from marketing.models import Consumer, PhoneCode
from marketing.services.consumers import code_send, code_verify, phone_normalized
from redemption.notify import ConsoleSmsBackend, SmsFailed
from riskcontrol.models import Dimension, RiskRule
from tests.riskcontrol.conftest import make_list, make_rule

pytestmark = pytest.mark.django_db
PHONE = "13800138000"
IP = "198.51.100.7"


@pytest.fixture(autouse=True)
def _empty_outbox_in_english():
    """Messages read in English here (the site's default language is Chinese)."""
    ConsoleSmsBackend.outbox.clear()
    with translation.override("en"):
        yield
    ConsoleSmsBackend.outbox.clear()


def last_code(phone: str = PHONE) -> str:
    message = [m for m in ConsoleSmsBackend.outbox if m.to == phone][-1]
    return re.search(r"\b(\d{6})\b", message.text).group(1)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def next_minute(phone: str = PHONE) -> None:
    """As if the number's one-a-minute gap had passed."""
    cache.delete(f"mk:otp:gap:{phone}")


# --- The number ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["13800138000", "138 0013 8000", "+86 138-0013-8000", "8613800138000", "(138) 0013-8000"])
def test_a_mainland_mobile_number_is_taken_in_any_usual_spelling(raw):
    assert phone_normalized(raw) == PHONE


@pytest.mark.parametrize("raw", ["", "1380013800", "138001380001", "12800138000", "+1 415 555 0100", "buyer@example.test", "1380013800x"])
def test_anything_else_is_refused_on_the_phone_field_and_nothing_is_sent(raw):
    with pytest.raises(CampaignError) as refused:
        code_send(phone=raw, ip=IP)
    assert refused.value.field == "phone" and "mainland China mobile number" in str(refused.value.message)
    assert not PhoneCode.objects.exists() and not ConsoleSmsBackend.outbox


# --- Send and verify ------------------------------------------------------------------------------------------


def test_a_code_is_six_digits_sent_by_sms_and_stored_only_as_a_keyed_hash(settings):
    code_send(phone="+86 138 0013 8000", ip=IP)
    (message,) = ConsoleSmsBackend.outbox
    code = last_code()
    assert message.to == PHONE and "5 minutes" in message.text
    row = PhoneCode.objects.get()
    assert row.phone == PHONE and row.ip == IP and row.attempts == 0 and row.used_at is None
    assert code not in row.code_hash and len(row.code_hash) == 64
    assert abs((row.expires_at - row.created_at) - timedelta(seconds=settings.MARKETING_OTP_TTL_SECONDS)) < timedelta(seconds=2)


def test_the_right_code_creates_the_consumer_once_and_sets_the_last_sign_in():
    code_send(phone=PHONE, ip=IP)
    consumer = code_verify(phone="138-0013-8000", code=last_code(), ip=IP)
    assert consumer.phone == PHONE and consumer.last_login_at is not None
    first_login = consumer.last_login_at
    next_minute()
    code_send(phone=PHONE, ip=IP)
    again = code_verify(phone=PHONE, code=f" {last_code()} ", ip=IP)
    assert again.pk == consumer.pk and Consumer.objects.count() == 1 and again.last_login_at > first_login


def test_a_code_is_used_once():
    code_send(phone=PHONE, ip=IP)
    code = last_code()
    code_verify(phone=PHONE, code=code, ip=IP)
    with pytest.raises(CodeRejected) as refused:
        code_verify(phone=PHONE, code=code, ip=IP)
    assert refused.value.field == "code" and "Ask for a new code" in str(refused.value.message)


def test_a_wrong_code_is_refused_and_counted():
    code_send(phone=PHONE, ip=IP)
    with pytest.raises(CodeRejected) as refused:
        code_verify(phone=PHONE, code=wrong(last_code()), ip=IP)
    assert refused.value.field == "code" and "4 more tries" in str(refused.value.message)
    assert PhoneCode.objects.get().attempts == 1  # kept although the call raised
    assert not Consumer.objects.exists()


def test_a_code_dies_after_five_wrong_tries_even_for_the_right_code_then():
    code_send(phone=PHONE, ip=IP)
    code = last_code()
    for _ in range(5):
        with pytest.raises(CodeRejected):
            code_verify(phone=PHONE, code=wrong(code), ip=IP)
    with pytest.raises(CodeRejected) as refused:
        code_verify(phone=PHONE, code=code, ip=IP)
    assert "Too many wrong tries" in str(refused.value.message)
    assert PhoneCode.objects.get().attempts == 5 and not Consumer.objects.exists()


def test_something_that_is_not_six_digits_is_refused_without_spending_a_try():
    code_send(phone=PHONE, ip=IP)
    for bad in ("12345", "1234567", "abcdef", ""):
        with pytest.raises(CodeRejected) as refused:
            code_verify(phone=PHONE, code=bad, ip=IP)
        assert refused.value.field == "code"
    assert PhoneCode.objects.get().attempts == 0


def test_an_expired_code_is_refused():
    code_send(phone=PHONE, ip=IP)
    PhoneCode.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(CodeRejected) as refused:
        code_verify(phone=PHONE, code=last_code(), ip=IP)
    assert "expired" in str(refused.value.message)


def test_only_the_newest_code_of_a_number_counts():
    code_send(phone=PHONE, ip=IP)
    old = last_code()
    next_minute()
    code_send(phone=PHONE, ip=IP)
    new = last_code()
    if old != new:
        with pytest.raises(CodeRejected):
            code_verify(phone=PHONE, code=old, ip=IP)
    assert code_verify(phone=PHONE, code=new, ip=IP).phone == PHONE


def test_a_code_of_another_number_does_not_open_this_one():
    code_send(phone=PHONE, ip=IP)
    code_send(phone="13900139000", ip=IP)
    mine, theirs = last_code(PHONE), last_code("13900139000")
    if mine == theirs:
        pytest.skip("the two random codes came out equal (one in a million)")
    with pytest.raises(CodeRejected):
        code_verify(phone="13900139000", code=mine, ip=IP)


def test_logs_mask_the_number_and_never_hold_the_code(caplog):
    caplog.set_level(logging.DEBUG)
    code_send(phone=PHONE, ip=IP)
    code = last_code()
    with pytest.raises(CodeRejected):
        code_verify(phone=PHONE, code=wrong(code), ip=IP)
    code_verify(phone=PHONE, code=code, ip=IP)
    logged = "\n".join(record.getMessage() for record in caplog.records if record.name.startswith("marketing"))
    assert "138****8000" in logged
    assert PHONE not in logged and code not in logged


class FailingSms:
    def send(self, *, to, text):
        raise SmsFailed("SMS gateway answered 503")


def test_an_sms_gateway_failure_says_so_and_leaves_no_live_code(settings):
    settings.REDEMPTION_SMS_BACKEND = f"{__name__}.FailingSms"
    with pytest.raises(CampaignError) as refused:
        code_send(phone=PHONE, ip=IP)
    assert refused.value.field == "phone" and "could not send" in str(refused.value.message)
    assert PhoneCode.objects.get().attempts == 5  # dead
    settings.REDEMPTION_SMS_BACKEND = "redemption.notify.ConsoleSmsBackend"
    code_send(phone=PHONE, ip=IP)  # the person may try again at once
    assert len(ConsoleSmsBackend.outbox) == 1


# --- Limits ---------------------------------------------------------------------------------------------------


def test_one_code_per_number_per_minute_with_the_wait_in_the_message():
    code_send(phone=PHONE, ip=IP)
    with pytest.raises(TooManyRequests) as refused:
        code_send(phone=PHONE, ip="198.51.100.8")
    error = refused.value
    assert error.field == "phone" and error.status == 429 and 50 <= error.details["retry_after"] <= 60
    assert re.search(r"in \d+ seconds", str(error.message))
    assert len(ConsoleSmsBackend.outbox) == 1 and PhoneCode.objects.count() == 1


def test_five_codes_per_number_per_hour_from_any_address():
    for n in range(5):
        next_minute()
        code_send(phone=PHONE, ip=f"198.51.100.{n + 1}")
    next_minute()
    with pytest.raises(TooManyRequests) as refused:
        code_send(phone=PHONE, ip="198.51.100.99")
    assert refused.value.field == "phone" and "Too many codes for this number" in str(refused.value.message)
    assert re.search(r"in \d+ minutes", str(refused.value.message))
    assert len(ConsoleSmsBackend.outbox) == 5
    code_send(phone="13900139000", ip="198.51.100.99")  # another number is not held back


def test_twenty_codes_per_address_per_hour():
    for n in range(20):
        code_send(phone=f"1390000{n:04d}", ip=IP)
    with pytest.raises(TooManyRequests) as refused:
        code_send(phone="13700137000", ip=IP)
    assert refused.value.field == "phone" and "from your network" in str(refused.value.message)
    assert len(ConsoleSmsBackend.outbox) == 20
    code_send(phone="13700137000", ip="198.51.100.200")  # another address is not held back


def test_wrong_codes_from_one_address_are_capped_across_numbers():
    for n in range(6):
        phone = f"1390000{n:04d}"
        code_send(phone=phone, ip=IP)
        for _ in range(5):
            with pytest.raises(CodeRejected):
                code_verify(phone=phone, code=wrong(last_code(phone)), ip=IP)
    code_send(phone="13700137000", ip="198.51.100.200")
    with pytest.raises(TooManyRequests) as refused:
        code_verify(phone="13700137000", code=last_code("13700137000"), ip=IP)
    assert refused.value.field == "code"
    assert code_verify(phone="13700137000", code=last_code("13700137000"), ip="198.51.100.200").phone == "13700137000"


# --- The page -----------------------------------------------------------------------------------------------


def login_url(next_path: str | None = None) -> str:
    url = reverse("marketing:consumer-login")
    return f"{url}?next={next_path}" if next_path else url


def send(client, phone=PHONE, *, next_path="", ip=IP, **extra):
    body = {"action": "send", "phone": phone, "next": next_path, **extra}
    return client.post(login_url(), body, REMOTE_ADDR=ip, HTTP_ACCEPT_LANGUAGE="en")


def verify(client, code, phone=PHONE, *, next_path="", ip=IP):
    body = {"action": "verify", "phone": phone, "code": code, "next": next_path}
    return client.post(login_url(), body, REMOTE_ADDR=ip, HTTP_ACCEPT_LANGUAGE="en")


def test_the_page_signs_in_in_two_steps_and_goes_to_me(client):
    page = client.get(login_url(), HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200 and 'data-step="phone"' in page.content.decode() and "What we keep" in page.content.decode()
    step2 = send(client)
    body = step2.content.decode()
    assert step2.status_code == 200 and 'data-step="code"' in body and "138****8000" in body
    assert 'data-resend-wait="' in body and last_code() not in body
    old_key = client.session.session_key
    done = verify(client, last_code())
    assert done.status_code == 302 and done["Location"] == reverse("settlement:consumer-home")
    assert client.session[SESSION_KEY] == Consumer.objects.get(phone=PHONE).pk
    assert client.session.session_key != old_key  # cycled at sign-in


def test_a_bad_number_or_a_wrong_code_is_a_field_error_on_the_page(client):
    refused = send(client, "12345")
    assert refused.status_code == 400 and "mainland China mobile number" in refused.content.decode()
    send(client)
    wrong_page = verify(client, wrong(last_code()))
    assert wrong_page.status_code == 400 and "Wrong code" in wrong_page.content.decode()
    assert 'data-step="code"' in wrong_page.content.decode()
    assert SESSION_KEY not in client.session


def test_send_again_too_soon_stays_on_the_code_step_with_the_wait(client):
    send(client)
    again = send(client, step="code")
    body = again.content.decode()
    assert again.status_code == 429 and 'data-step="code"' in body and "A code was just sent" in body
    assert len(ConsoleSmsBackend.outbox) == 1


@pytest.mark.parametrize("target", ["/me/?tab=coupons", "/s/shop/"])
def test_next_leads_back_to_a_page_of_this_site(client, target):
    send(client, next_path=target)
    assert verify(client, last_code(), next_path=target)["Location"] == target


EVIL = ["https://evil.example/", "//evil.example/me/", "http://testserver.evil.example/", "javascript:alert(1)"]


@pytest.mark.parametrize("target", EVIL)
def test_next_never_leads_off_the_site(client, target):
    send(client, next_path=target)
    assert verify(client, last_code(), next_path=target)["Location"] == reverse("settlement:consumer-home")


def test_me_sends_a_stranger_to_the_sign_in_with_next(client):
    response = client.get(reverse("settlement:consumer-home"))
    assert response.status_code == 302 and response["Location"] == reverse("marketing:consumer-login") + "?next=%2Fme%2F"


def test_a_signed_in_consumer_skips_the_form(client):
    send(client)
    verify(client, last_code())
    assert client.get(login_url("/me/?page=2"))["Location"] == "/me/?page=2"


def test_sign_out_is_a_post_and_forgets_the_session(client):
    send(client)
    verify(client, last_code())
    assert client.get(reverse("marketing:consumer-logout")).status_code == 405
    response = client.post(reverse("marketing:consumer-logout"))
    assert response.status_code == 302 and SESSION_KEY not in client.session
    assert client.get(reverse("settlement:consumer-home")).status_code == 302


def test_a_blocklisted_address_gets_no_code(client):
    risk_list = make_list(dimension=Dimension.IP, values=["203.0.113.66"])
    make_rule(kind=RiskRule.Kind.BLOCKLIST, applies_to="login", risk_list=risk_list, score=100, name="block ip")
    refused = send(client, ip="203.0.113.66")
    assert refused.status_code == 403 and not ConsoleSmsBackend.outbox and not PhoneCode.objects.exists()
    assert send(client, ip=IP).status_code == 200


def test_the_page_reads_in_chinese(client):
    page = client.get(login_url(), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "手机号" in page and "Sign in" not in page and "What we keep" not in page
