"""Recording evaluations (riskcontrol/eventlog.py): every event written at once, with the caller's connection,
so an order's event commits with the order (issue 12 item 5: events lost when a worker was SIGKILLed)."""

import os
import signal
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from django.db import connection, transaction

from riskcontrol.models import Outcome, RiskEvent, RiskRule
from riskcontrol.services import review_decide, risk_evaluate, risk_release
from settlement.models import Order
from settlement.services.orders import order_place
from tests.riskcontrol.conftest import make_rule, purchase
from tests.settlement.conftest import fund, tree_make

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.postgres]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("action", "outcome"),
    [
        (None, Outcome.ALLOW),
        (RiskRule.RuleAction.REVIEW, Outcome.REVIEW),
        (RiskRule.RuleAction.CHALLENGE, Outcome.CHALLENGE),
        (RiskRule.RuleAction.BLOCK, Outcome.BLOCK),
    ],
)
def test_every_outcome_is_written_before_risk_evaluate_returns(action, outcome):
    if action is not None:
        make_rule(kind=RiskRule.Kind.AMOUNT, amount_threshold=Decimal("100"), action=action)
    decision = risk_evaluate(ctx=purchase(reference="ORD-W1", device="fp-9", amount=Decimal("500.00"), extra={"k": "v"}))
    event = RiskEvent.objects.get(pk=decision.event_id)
    assert (event.outcome, event.reference, event.device, event.amount, event.extra) == (
        outcome,
        "ORD-W1",
        "fp-9",
        Decimal("500.00"),
        {"k": "v"},
    )


@pytest.mark.django_db
def test_a_nul_character_is_dropped_not_the_event():
    # given a storefront that sends NUL characters (PostgreSQL text and JSON cannot hold them)
    dirty = {"device": "fp\x00x", "reference": "R\x009", "extra": {"k\x00": ["v\x00", 1]}}
    decision = risk_evaluate(ctx=purchase(**dirty))
    event = RiskEvent.objects.get(pk=decision.event_id)
    assert (event.device, event.reference, event.extra) == ("fpx", "R9", {"k": ["v", 1]})


@pytest.mark.django_db
def test_a_held_event_can_be_reviewed_at_once(ops_user):
    make_rule(kind=RiskRule.Kind.AMOUNT, amount_threshold=Decimal("100"), action=RiskRule.RuleAction.REVIEW)
    held = risk_evaluate(ctx=purchase(amount=Decimal("500.00")))
    assert review_decide(event_id=held.event_id, approve=True, actor=ops_user).review_status == "approved"


@pytest.mark.django_db
def test_releasing_an_event_counts_once_and_lands_on_the_row(clock):
    make_rule(kind=RiskRule.Kind.PURCHASE_LIMIT, dimension="ip", window_seconds=3600, limit=1)
    first = risk_evaluate(ctx=purchase())
    assert first.allowed
    assert risk_release(event_id=first.event_id) is True
    assert risk_release(event_id=first.event_id) is False
    assert risk_release(decision=first) is False
    assert RiskEvent.objects.get(pk=first.event_id).released_at is not None
    assert risk_evaluate(ctx=purchase()).allowed  # the allowance came back exactly once
    assert risk_evaluate(ctx=purchase()).blocked


# --- an order's event commits with the order ----------------------------------------------------------------


def _second_connection() -> psycopg.Connection:
    """A connection of another client to the test database: it sees only what is committed."""
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    return psycopg.connect(**params, autocommit=True)


def _committed(other: psycopg.Connection, model, pk) -> bool:
    return other.execute(f"SELECT 1 FROM {model._meta.db_table} WHERE id = %s", [pk]).fetchone() is not None


@pytest.fixture
def seller(transactional_db, finance_user):
    tree = tree_make()
    fund(tree.seller, "500.00", actor=finance_user)
    return tree


def test_an_orders_event_is_written_in_the_orders_transaction(seller):
    with _second_connection() as other:
        # when an order is placed inside a transaction (as the API places it)
        with transaction.atomic():
            order = order_place(channel=Order.Channel.PORTAL, distributor=seller.seller, sku=seller.sku, quantity=1)
            event_id = order.risk_event_id
            # then its event is there on the order's connection, and like the order not yet visible to anyone else
            assert RiskEvent.objects.filter(pk=event_id, reference=order.number).exists()
            assert (_committed(other, Order, order.pk), _committed(other, RiskEvent, event_id)) == (False, False)
        # and both are committed by the one commit
        assert (_committed(other, Order, order.pk), _committed(other, RiskEvent, event_id)) == (True, True)


def test_an_order_rolled_back_takes_its_allowed_event_along(seller):
    with pytest.raises(RuntimeError), transaction.atomic():
        order = order_place(channel=Order.Channel.PORTAL, distributor=seller.seller, sku=seller.sku, quantity=1)
        event_id = order.risk_event_id
        raise RuntimeError("the caller's transaction fails after the order")
    assert not RiskEvent.objects.filter(pk=event_id).exists()
    assert not Order.objects.filter(pk=order.pk).exists()


_KILLED_WORKER = textwrap.dedent(
    """
    import os, signal, sys
    import django

    django.setup()
    from django.db import transaction

    from catalog.models import Sku
    from channels.models import Distributor
    from settlement.models import Order
    from settlement.services.orders import order_place

    seller, sku = Distributor.objects.get(pk=int(sys.argv[1])), Sku.objects.get(pk=int(sys.argv[2]))
    with transaction.atomic():
        order = order_place(channel=Order.Channel.PORTAL, distributor=seller, sku=sku, quantity=1)
    print(order.number, order.risk_event_id, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # right after the commit: no exit handler, no thread gets another turn
    """
)


def test_a_worker_killed_right_after_the_commit_leaves_the_orders_event(seller):
    # given a worker process (a real one, with the database as tests see it, its own in-memory cache)
    settings_dict = connection.settings_dict
    url = (
        f"postgres://{settings_dict['USER']}:{settings_dict['PASSWORD'] or ''}@{settings_dict['HOST'] or '127.0.0.1'}:"
        f"{settings_dict['PORT'] or 5432}/{settings_dict['NAME']}"
    )
    env = {**os.environ, "DATABASE_URL": url, "CACHE_URL": "locmemcache://killed-worker", "DJANGO_SETTINGS_MODULE": "voucherhub.settings"}

    # when it places an order and is killed with SIGKILL as soon as the order's transaction committed
    worker = subprocess.run(
        [sys.executable, "-c", _KILLED_WORKER, str(seller.seller.pk), str(seller.sku.pk)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    # then the order and the risk event it points at are both in the database
    assert worker.returncode == -signal.SIGKILL, worker.stderr
    number, event_id = worker.stdout.split()
    order = Order.objects.get(number=number)
    assert order.risk_event_id == int(event_id)
    assert RiskEvent.objects.filter(pk=order.risk_event_id, reference=number, outcome=Outcome.ALLOW).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("action", "status", "code"),
    [(RiskRule.RuleAction.BLOCK, 403, "risk_blocked"), (RiskRule.RuleAction.CHALLENGE, 428, "challenge_required")],
)
def test_a_refused_api_order_keeps_its_event_after_its_transaction_rolled_back(client, finance_user, action, status, code):
    # given a rule that refuses every order of more than ¥10
    from tests.settlement.test_api import Api

    tree = tree_make()
    fund(tree.seller, "500.00", actor=finance_user)
    make_rule(kind=RiskRule.Kind.AMOUNT, amount_threshold=Decimal("10"), action=action)

    # when the API's order (its idempotency record, its order, its event: one transaction) is refused
    response = Api(client, tree.seller).post("/api/v1/orders/", {"sku": tree.sku.code, "quantity": 1}, idempotency_key="refused-1")

    # then nothing of the order is left, but the refusal is on record for review and the spike alert
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)
    assert not Order.objects.filter(distributor=tree.seller).exists()
    event = RiskEvent.objects.get(distributor_id=tree.seller.pk)
    assert (event.outcome, event.action) == (action, "purchase")


@pytest.mark.django_db(transaction=True)
def test_a_blocked_redemptions_event_is_committed_when_the_service_returns():
    # given a rule that blocks every redemption from one address (the redeem screen runs outside any transaction)
    from redemption import services as redemption_services
    from riskcontrol.errors import RiskBlocked
    from riskcontrol.models import Dimension
    from tests import factories
    from tests.redemption.conftest import shop_make
    from tests.riskcontrol.conftest import make_list

    shop = shop_make("风控店")
    sku = factories.SkuFactory(allowed_merchant_ids=[shop.merchant.pk])
    _code, plaintext = factories.card_code(sku=sku)
    risk_list = make_list(dimension=Dimension.IP, values=["203.0.113.9"], name="no ip")
    make_rule(kind=RiskRule.Kind.BLOCKLIST, applies_to="redeem", risk_list=risk_list, score=100, name="no ip")
    caller = redemption_services.Caller.for_terminal(shop.terminal, ip="203.0.113.9")
    entry = redemption_services.CodeEntry(code=plaintext)

    # when the terminal's redeem is refused
    with pytest.raises(RiskBlocked):
        redemption_services.redemption_redeem(caller=caller, entry=entry, idempotency_key="blocked-1")

    # then its event is already committed (seen from another connection): nothing waits for the end of a
    # request, a thread or a buffer, so a worker killed now loses nothing
    event = RiskEvent.objects.get(action="redeem")
    with _second_connection() as other:
        assert event.outcome == Outcome.BLOCK and _committed(other, RiskEvent, event.pk)
