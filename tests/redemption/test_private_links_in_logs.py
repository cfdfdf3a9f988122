"""Holders' private links in the server's log: the console mail and SMS backends print them in development
only; in production (allowed by CONSOLE_MESSAGES_ALLOWED, see tests/core/test_deploy_checks.py) every link
and code they print is masked."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.core.mail import EmailMessage

from redemption import holdings
from redemption.models import CodeHolding, HolderLink
from redemption.notify import ConsoleSmsBackend, HttpSmsBackend, SmsFailed
from tests import factories
from voucherhub.core.mail import ConsoleEmailBackend

pytestmark = pytest.mark.django_db


@pytest.fixture
def production(settings):
    settings.DJANGO_ENV = "production"
    settings.PRODUCTION = True
    settings.DEBUG = False
    settings.CONSOLE_MESSAGES_ALLOWED = True
    settings.EMAIL_BACKEND = "voucherhub.core.mail.ConsoleEmailBackend"
    settings.REDEMPTION_SMS_BACKEND = "redemption.notify.ConsoleSmsBackend"
    return settings


@pytest.fixture
def held(sku_a):
    code, plaintext = factories.card_code(sku=sku_a)
    url = holdings.holding_create(code_ids=[code.pk], contact="13800138000", order_ref="SO-1")
    return code, plaintext, url


def token_of(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[1]


def gift(held, to: str, capture) -> str:
    code, _plaintext, _url = held
    link = HolderLink.objects.get(contact="13800138000")
    with capture(execute=True):
        holdings.holding_gift(link=link, holding_id=CodeHolding.objects.get(code=code, active=True).pk, to_contact=to)
    new_link = HolderLink.objects.get(contact=to)
    return token_of(holdings.link_url(new_link))


def test_the_console_mail_backend_masks_links_in_production(production, held, capsys, django_capture_on_commit_callbacks):
    # when a gift is e-mailed through the console backend in production
    token = gift(held, "friend@example.com", django_capture_on_commit_callbacks)
    printed = capsys.readouterr().out
    # then the log shows that a message went out, not the friend's private link
    assert "friend@example.com" in printed and "/my/***" in printed
    assert token not in printed and token.split(".")[0] not in printed


def test_the_console_sms_backend_masks_links_in_production_and_keeps_no_outbox(
    production, held, capsys, django_capture_on_commit_callbacks
):
    ConsoleSmsBackend.outbox.clear()
    token = gift(held, "13900001111", django_capture_on_commit_callbacks)
    printed = capsys.readouterr().out
    assert "[sms to ***]" in printed and "/my/***" in printed
    assert token not in printed and token.split(".")[0] not in printed and "13900001111" not in printed
    assert ConsoleSmsBackend.outbox == []


def test_codes_and_attachments_never_reach_the_console_in_production(production, capsys):
    message = EmailMessage(
        subject="Your code ABCD-1234-EFGH",
        body="Code: ABCD-1234-EFGH\nPage: https://vouchers.example.com/my/abcdefghijklmnopqrstuvwx.SigNature_1234/\n",
        to=["buyer@example.com"],
    )
    message.attach("codes.csv", "code\nZXCV-9876-QWER\n", "text/csv")
    ConsoleEmailBackend().send_messages([message])
    printed = capsys.readouterr().out
    assert "ABCD-1234-EFGH" not in printed and "ZXCV-9876-QWER" not in printed and "abcdefghijklmnop" not in printed
    assert "https://vouchers.example.com/my/***" in printed and "1 attachment(s) not shown" in printed


def test_development_prints_messages_in_full(settings, held, capsys, django_capture_on_commit_callbacks):
    # make run: the developer opens the demo's links from the console
    settings.EMAIL_BACKEND = "voucherhub.core.mail.ConsoleEmailBackend"
    token = gift(held, "friend@example.com", django_capture_on_commit_callbacks)
    assert token in capsys.readouterr().out


class Gateway(BaseHTTPRequestHandler):
    received: list = []
    status = 200

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Gateway.received.append((self.headers.get("Authorization"), json.loads(body)))
        self.send_response(Gateway.status)
        self.end_headers()

    def log_message(self, *args):  # quiet
        pass


@pytest.fixture
def gateway(settings):
    server = HTTPServer(("127.0.0.1", 0), Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Gateway.received, Gateway.status = [], 200
    settings.REDEMPTION_SMS_URL = f"http://127.0.0.1:{server.server_port}/send"
    settings.REDEMPTION_SMS_TOKEN = "gateway-token"
    yield Gateway
    server.shutdown()
    server.server_close()


def test_the_http_sms_backend_posts_to_the_gateway_and_raises_on_refusal(gateway, capsys):
    HttpSmsBackend().send(to="13900001111", text="Your link: https://vouchers.example.com/my/tok/")
    assert gateway.received == [("Bearer gateway-token", {"to": "13900001111", "text": "Your link: https://vouchers.example.com/my/tok/"})]
    gateway.status = 503
    with pytest.raises(SmsFailed):
        HttpSmsBackend().send(to="13900001111", text="x")
    assert "/my/tok/" not in capsys.readouterr().out
