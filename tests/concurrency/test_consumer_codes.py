"""Threaded races on PostgreSQL and Redis for the SMS sign-in: a burst of code requests sends one text, a
code is used once under parallel tries, and parallel wrong tries never pass the attempts cap."""

import re
import threading

import pytest
from django.db import connection
from django.utils import translation

from marketing.errors import CodeRejected, TooManyRequests
from marketing.models import Consumer, PhoneCode
from marketing.services.consumers import code_send, code_verify
from redemption.notify import ConsoleSmsBackend

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
PHONE = "13800138000"


def race(n, work):
    barrier = threading.Barrier(n)
    results = []
    lock = threading.Lock()

    def run(i):
        try:
            barrier.wait()
            with translation.override("en"):
                outcome = ("ok", work(i))
        except Exception as exc:  # noqa: BLE001 - the outcome is what we count
            outcome = ("error", exc)
        finally:
            connection.close()
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


@pytest.fixture(autouse=True)
def _empty_outbox():
    ConsoleSmsBackend.outbox.clear()
    yield
    ConsoleSmsBackend.outbox.clear()


def sent_code() -> str:
    return re.search(r"\b(\d{6})\b", ConsoleSmsBackend.outbox[-1].text).group(1)


def test_a_burst_of_thirty_requests_for_one_number_sends_one_text():
    results = race(30, lambda i: code_send(phone=PHONE, ip=f"198.51.100.{i + 1}"))
    assert [kind for kind, _ in results].count("ok") == 1
    refused = [value for kind, value in results if kind == "error"]
    assert len(refused) == 29 and all(isinstance(error, TooManyRequests) for error in refused)
    assert len(ConsoleSmsBackend.outbox) == 1 and PhoneCode.objects.count() == 1


def test_a_burst_from_one_address_over_many_numbers_sends_twenty_texts():
    results = race(40, lambda i: code_send(phone=f"1390000{i:04d}", ip="198.51.100.7"))
    assert [kind for kind, _ in results].count("ok") == 20
    assert len(ConsoleSmsBackend.outbox) == 20 and PhoneCode.objects.count() == 20


def test_the_right_code_tried_twenty_times_at_once_signs_in_once():
    code_send(phone=PHONE, ip="198.51.100.7")
    code = sent_code()
    results = race(20, lambda i: code_verify(phone=PHONE, code=code, ip=f"198.51.100.{i + 1}"))
    assert [kind for kind, _ in results].count("ok") == 1
    assert all(isinstance(value, CodeRejected) for kind, value in results if kind == "error")
    assert Consumer.objects.count() == 1 and PhoneCode.objects.get().used_at is not None


def test_parallel_wrong_tries_stop_at_the_cap():
    code_send(phone=PHONE, ip="198.51.100.7")
    wrong = f"{(int(sent_code()) + 1) % 10**6:06d}"
    results = race(20, lambda i: code_verify(phone=PHONE, code=wrong, ip=f"198.51.100.{i + 1}"))
    assert all(kind == "error" and isinstance(value, CodeRejected) for kind, value in results)
    assert PhoneCode.objects.get().attempts == 5
