"""Messages to holders: email through Django's mail backend, SMS through a pluggable adapter.

An SMS adapter is a class with `send(*, to: str, text: str) -> None` that raises on failure; name it in
REDEMPTION_SMS_BACKEND. The console adapter prints the message (and keeps it in `outbox` for tests).
"""

import json
import logging
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass

from django.core.mail import EmailMessage
from django.utils.module_loading import import_string

from redemption import conf
from voucherhub.core.logmask import message_masked
from voucherhub.core.mail import console_messages_masked

logger = logging.getLogger(__name__)


class SmsBackend:
    def send(self, *, to: str, text: str) -> None:  # pragma: no cover - interface
        raise NotImplementedError


@dataclass(frozen=True)
class SmsMessage:
    to: str
    text: str


class ConsoleSmsBackend(SmsBackend):
    """Writes each SMS to stdout. `outbox` collects them (like Django's locmem mail outbox) for tests.

    In production (allowed only with CONSOLE_MESSAGES_ALLOWED=true, see redemption/checks.py) the text is
    printed with every link and code masked, and nothing is kept in `outbox`."""

    outbox: list[SmsMessage] = []

    def send(self, *, to: str, text: str) -> None:
        if console_messages_masked():
            sys.stdout.write(f"[sms to {message_masked(to)}] {message_masked(text)}\n")
            return
        ConsoleSmsBackend.outbox.append(SmsMessage(to=to, text=text))
        sys.stdout.write(f"[sms to {to}] {text}\n")


class HttpSmsBackend(SmsBackend):
    """Posts each SMS as JSON `{"to": ..., "text": ...}` to REDEMPTION_SMS_URL (your SMS gateway, or a small
    bridge to a provider's API), with `Authorization: Bearer REDEMPTION_SMS_TOKEN` when a token is set.
    Raises SmsFailed on a network error or an answer other than 2xx; never logs the text."""

    def send(self, *, to: str, text: str) -> None:
        url, token = conf.sms_url(), conf.sms_token()
        if not url:
            raise SmsFailed("REDEMPTION_SMS_URL is not set")
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(url, data=json.dumps({"to": to, "text": text}).encode(), headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=conf.sms_timeout()) as response:
                status = response.status
        except urllib.error.HTTPError as error:
            status = error.code
        except OSError as error:
            raise SmsFailed(f"SMS gateway unreachable: {error.__class__.__name__}") from None
        if not 200 <= status < 300:
            raise SmsFailed(f"SMS gateway answered {status}")


class SmsFailed(Exception):
    """The SMS gateway did not take the message."""


def sms_backend() -> SmsBackend:
    return import_string(conf.sms_backend())()


def message_send(*, kind: str, to: str, subject: str, text: str, headers: dict | None = None) -> None:
    """Send one message to a holder contact of `kind` ("email" or "phone")."""
    if kind == "email":
        EmailMessage(subject=subject, body=text, to=[to], headers=headers or {}).send()
    elif kind == "phone":
        sms_backend().send(to=to, text=f"{subject} {text}".strip())
    else:
        raise ValueError(f"no channel for contact kind {kind!r}")
