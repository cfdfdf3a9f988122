"""Supply tests: top-up SKUs, upstreams pointing at the supplier simulator (a real HTTP server in a thread),
and the site itself on a live server so the simulator's callbacks arrive over real HTTP."""

import time
from decimal import Decimal

import pytest

from catalog.models import Sku
from supply.models import Topup, TopupProfile, Upstream, UpstreamProduct
from tests.factories import SkuFactory, SupplierFactory


@pytest.fixture
def simulator():
    from supply.simulator import SupplierSimulator

    sim = SupplierSimulator(port=0, seed=7)
    sim.start()
    _running.append(sim)
    yield sim
    _running.remove(sim)
    sim.stop()


@pytest.fixture
def supply_site(settings, live_server, transactional_db):
    """The site on a live server, submissions at once (no queue), no failover pause, short backoffs."""
    settings.SUPPLY_SYNC = True
    settings.SUPPLY_CALLBACK_BASE_URL = live_server.url
    settings.SUPPLY_FAILOVER_DELAY_SECONDS = 0
    settings.SUPPLY_QUERY_BACKOFF_SECONDS = [1, 2, 4]
    settings.SUPPLY_PROCESSING_CHECK_SECONDS = 30
    settings.SUPPLY_SUBMIT_WINDOW_SECONDS = 60
    return live_server


@pytest.fixture
def topup_sku(db):
    """A phone top-up SKU (face value 50) with its profile; `on_exhausted` as the test wants."""

    def make(*, on_exhausted=TopupProfile.OnExhausted.REFUND, face_value=Decimal("50.00")) -> Sku:
        sku = SkuFactory(fulfilment=Sku.Fulfilment.TOPUP, face_value=face_value, cost_price=face_value - 2, valid_days=1)
        TopupProfile.objects.create(sku=sku, account_kind=TopupProfile.AccountKind.PHONE, on_exhausted=on_exhausted)
        return sku

    return make


@pytest.fixture
def upstream_for(simulator):
    """An upstream at the simulator serving `sku` at `position` of its chain, with its own account and product
    (and so its own faults and balance)."""
    serial = iter(range(1, 1000))

    def make(sku, *, protocol="v2", position=1, retries=1, faults=None, balance=Decimal("10000.00"), cost=Decimal("48.50"), **fields):
        from supply.simulator import Faults

        n = next(serial)
        app_key, product_id = f"app{n}", f"P{n}-{sku.code}"
        simulator.account(app_key, secret=f"secret-{n}", callback_secret=f"callback-{n}", balance=balance)
        simulator.product(product_id, face_value=sku.face_value, cost=cost, faults=faults or Faults())
        upstream = Upstream(
            supplier=SupplierFactory(),
            protocol=protocol,
            base_url=simulator.base_url(protocol),
            app_key=app_key,
            timeout_seconds=1,
            **fields,
        )
        upstream.secrets_set(api_secret=f"secret-{n}", callback_secret=f"callback-{n}")
        upstream.save()
        UpstreamProduct.objects.create(
            upstream=upstream,
            sku=sku,
            their_product_id=product_id,
            face_value=sku.face_value,
            cost=cost,
            position=position,
            retries=retries,
        )
        return upstream

    return make


_running = []  # the simulator of the test running now, for topup_wait


def topup_wait(topup: Topup, *, statuses=Topup.FINAL | {Topup.Status.ON_HOLD}, seconds: float = 10) -> Topup:
    """The top-up once it reached one of `statuses` (callbacks arrive from the simulator's thread)."""
    deadline = time.monotonic() + seconds
    while True:
        topup.refresh_from_db()
        if topup.status in statuses or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    # the callback that finished it has been answered: its record and the on-commit signal are written too
    for sim in _running:
        sim.wait_idle(max(deadline - time.monotonic(), 0.5))
    topup.refresh_from_db()
    return topup


@pytest.fixture
def finished_signals():
    """What supply announced to settlement (topup_finished), in order."""
    from supply.signals import topup_finished

    received = []

    def receiver(sender, **kwargs):
        received.append(kwargs)

    topup_finished.connect(receiver, dispatch_uid="tests.supply.finished")
    yield received
    topup_finished.disconnect(dispatch_uid="tests.supply.finished")


def topups_of(simulator, account: str) -> int:
    """How often the simulator (every supplier account in it) topped up `account`: the "never twice" check."""
    return sum(order.topups for order in simulator.orders_for() if order.target == account)
