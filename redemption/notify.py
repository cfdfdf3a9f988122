"""Messages to holders: email through Django's mail backend, SMS through a pluggable adapter.

An SMS adapter is a class with `send(*, to: str, text: str) -> None` that raises on failure; name it in
REDEMPTION_SMS_BACKEND. The console adapter prints the message (and keeps it in `outbox` for tests).
"""

import logging
import sys
from dataclasses import dataclass

from django.core.mail import EmailMessage
from django.utils.module_loading import import_string

from redemption import conf

logger = logging.getLogger(__name__)


class SmsBackend:
    def send(self, *, to: str, text: str) -> None:  # pragma: no cover - interface
        raise NotImplementedError


@dataclass(frozen=True)
class SmsMessage:
    to: str
    text: str


class ConsoleSmsBackend(SmsBackend):
    """Writes each SMS to stdout. `outbox` collects them (like Django's locmem mail outbox) for tests."""

    outbox: list[SmsMessage] = []

    def send(self, *, to: str, text: str) -> None:
        ConsoleSmsBackend.outbox.append(SmsMessage(to=to, text=text))
        sys.stdout.write(f"[sms to {to}] {text}\n")


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
