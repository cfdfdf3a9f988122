"""Many top-ups at once through a first supplier with every fault mixed in (timeouts, lost, duplicated and
out-of-order callbacks, failures) and a sound second one: every top-up reaches a final state, each is
announced once, and the simulator topped up nobody twice. A small version of bench/topup_faults.py."""

import threading
import time
from collections import Counter

import pytest
from django.db import connection

from supply.models import Topup
from supply.services import topup_request, topups_poll
from supply.simulator import Faults

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
ORDERS, THREADS = 80, 8


def test_every_topup_ends_final_once_and_nobody_is_topped_up_twice(
    supply_site, settings, simulator, topup_sku, upstream_for, finished_signals
):
    # given: short real-time backoffs (the poller runs with the real clock, as in production)
    settings.SUPPLY_QUERY_BACKOFF_SECONDS = [0.3, 0.6, 1]
    settings.SUPPLY_PROCESSING_CHECK_SECONDS = 1
    settings.SUPPLY_SUBMIT_WINDOW_SECONDS = 5
    sku = topup_sku()
    faults = Faults(
        processing_seconds=0.2,
        timeout_rate=0.1,
        timeout_sleep=1.5,
        failure_rate=0.05,
        callback_lost_rate=0.05,
        callback_duplicate_rate=0.05,
        callback_out_of_order_rate=0.05,
    )
    upstream_for(sku, faults=faults)
    upstream_for(sku, position=2, faults=Faults(processing_seconds=0.2))
    phones = [f"139{n:08d}" for n in range(ORDERS)]

    # when: 8 threads place the orders while the poller runs until every one is final
    def place(chunk):
        try:
            for n in chunk:
                topup_request(reference=f"VH-MIX-{n}", sku=sku, account=phones[n])
        finally:
            connection.close()

    threads = [threading.Thread(target=place, args=(range(start, ORDERS, THREADS),)) for start in range(THREADS)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        topups_poll()
        if not any(thread.is_alive() for thread in threads) and not Topup.objects.exclude(status__in=Topup.FINAL).exists():
            break
        time.sleep(0.2)
    for thread in threads:
        thread.join(5)
    assert simulator.wait_idle(10)

    # then
    assert Counter(Topup.objects.values_list("status", flat=True)) == {Topup.Status.SUCCESS: ORDERS}
    assert sorted(Counter(signal["reference"] for signal in finished_signals).values()) == [1] * ORDERS
    summary = simulator.summary()
    assert summary["double_topups"] == 0
    topped = Counter(order.target for order in simulator.orders_for() if order.topups)
    assert topped == dict.fromkeys(phones, 1)
