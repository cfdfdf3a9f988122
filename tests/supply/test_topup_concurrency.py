"""A callback and a query answer about the same attempt arriving at the same moment: the Topup row lock lets
exactly one of them finish the top-up."""

import socket
import threading

import pytest
from django.db import connection

from supply.adapters.base import Answer, Outcome
from supply.models import Topup, TopupEvent, Upstream
from supply.services import attempt_answer_apply, topup_request

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _unreachable() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/v2"


def test_simultaneous_final_answers_finish_the_topup_once(settings, simulator, topup_sku, upstream_for, finished_signals):
    settings.SUPPLY_SYNC = True
    sku = topup_sku()
    upstream = upstream_for(sku)
    Upstream.objects.filter(pk=upstream.pk).update(base_url=_unreachable())  # the submit's fate stays unknown
    rounds = range(3)
    for round_ in rounds:
        topup = topup_request(reference=f"VH-RACE-{round_}", sku=sku, account="13800138000")
        attempt = topup.attempts.get()
        barrier = threading.Barrier(4)
        verdicts = []

        def answer(outcome, source, barrier=barrier, verdicts=verdicts, attempt=attempt):
            barrier.wait()
            try:
                verdicts.append(attempt_answer_apply(attempt_id=attempt.pk, answer=Answer(outcome), source=source))
            finally:
                connection.close()

        threads = [
            threading.Thread(target=answer, args=(Outcome.SUCCESS, TopupEvent.Source.CALLBACK)),
            threading.Thread(target=answer, args=(Outcome.SUCCESS, TopupEvent.Source.QUERY)),
            threading.Thread(target=answer, args=(Outcome.SUCCESS, TopupEvent.Source.CALLBACK)),
            threading.Thread(target=answer, args=(Outcome.PROCESSING, TopupEvent.Source.CALLBACK)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        topup.refresh_from_db()
        assert topup.status == Topup.Status.SUCCESS
        assert sum(verdict.final for verdict in verdicts) == 1
        assert topup.events.filter(to_status=Topup.Status.SUCCESS).count() == 1
    assert [signal["reference"] for signal in finished_signals] == [f"VH-RACE-{n}" for n in rounds]
