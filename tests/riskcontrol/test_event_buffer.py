"""Recording evaluations: refusals and holds written at once, allowed ones through the buffered writer."""

import logging
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import OperationalError
from django.utils import timezone

from riskcontrol import eventlog
from riskcontrol.models import Outcome, RiskEvent, RiskRule
from riskcontrol.services import review_decide, risk_evaluate, risk_events_flush, risk_release
from tests.riskcontrol.conftest import make_rule, purchase

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def test_allowed_events_appear_after_a_flush_with_their_context():
    decision = risk_evaluate(ctx=purchase(reference="ORD-B1", device="fp-9", amount=Decimal("19.90"), extra={"channel": "h5"}))
    assert decision.allowed and decision.event_id is not None
    assert not RiskEvent.objects.filter(pk=decision.event_id).exists()  # queued, not written yet
    assert eventlog.events_pending() == 1

    assert risk_events_flush() == 1

    event = RiskEvent.objects.get(pk=decision.event_id)
    assert (event.outcome, event.reference, event.device, event.amount, event.extra) == (
        "allow",
        "ORD-B1",
        "fp-9",
        Decimal("19.90"),
        {"channel": "h5"},
    )
    assert eventlog.events_pending() == 0


def test_a_buffered_row_lands_exactly_as_an_insert_would_write_it(settings):
    # given a context full of what COPY's text format must escape: tabs, newlines, backslashes, "\\N", quotes, Chinese
    tricky = purchase(
        reference="ORD\tB9",
        device="fp\n9\r\\x",
        account_id="\\N",
        email="Ünïcødé@Example.com",
        phone="+86 138 0013 8000",
        ip="not an ip",
        amount=Decimal("12345.67"),
        sku_id=None,
        distributor_id=7,
        account_created_at=timezone.now() - timedelta(days=3),
        challenge_passed=True,
        extra={"note": 'quote " back \\ tab \t', "list": [1, 2.5, None, True], "中文": "值"},
    )
    fields = [f.attname for f in RiskEvent._meta.concrete_fields if f.attname not in ("id", "created_at")]
    # when it is written once through the buffer (COPY) and once at once (INSERT)
    buffered = risk_evaluate(ctx=tricky)
    assert risk_events_flush() == 1
    settings.RISK_EVENT_BUFFER = False
    inserted = risk_evaluate(ctx=tricky)
    # then both rows read back the same
    copied, direct = (RiskEvent.objects.filter(pk=pk).values(*fields).get() for pk in (buffered.event_id, inserted.event_id))
    assert copied == direct
    assert (copied["reference"], copied["device"], copied["account_id"]) == ("ORD\tB9", "fp\n9\r\\x", "\\N")
    assert copied["extra"]["ip_raw"] == "not an ip" and copied["extra"]["中文"] == "值"


def test_a_nul_character_is_dropped_not_the_event():
    # given a storefront that sends NUL characters (PostgreSQL text and JSON cannot hold them)
    make_rule(kind=RiskRule.Kind.AMOUNT, amount_threshold=Decimal("100"), action=RiskRule.RuleAction.REVIEW)
    dirty = {"device": "fp\x00x", "reference": "R\x009", "extra": {"k\x00": ["v\x00", 1]}}
    # when one request is buffered and one is held for review (written at once)
    allowed = risk_evaluate(ctx=purchase(**dirty))
    held = risk_evaluate(ctx=purchase(amount=Decimal("500.00"), **dirty))
    assert held.outcome == Outcome.REVIEW
    # then both are stored, without the NULs
    assert risk_events_flush() == 1
    for decision in (allowed, held):
        event = RiskEvent.objects.get(pk=decision.event_id)
        assert (event.device, event.reference, event.extra) == ("fpx", "R9", {"k": ["v", 1]})


def test_a_row_the_database_refuses_does_not_hold_back_the_others(caplog):
    # given a queued event the database will refuse (a quantity beyond its integer column) between two good ones
    risk_evaluate(ctx=purchase(reference="ORD-G1"))
    bad = risk_evaluate(ctx=purchase(reference="ORD-BAD", quantity=2**40))
    risk_evaluate(ctx=purchase(reference="ORD-G2"))
    # when the queue is written
    with caplog.at_level(logging.ERROR, logger="riskcontrol.eventlog"):
        assert risk_events_flush() == 2
    # then the good ones land, the bad one is dropped and said so, and nothing stays queued
    assert set(RiskEvent.objects.values_list("reference", flat=True)) == {"ORD-G1", "ORD-G2"}
    assert f"event {bad.event_id} (ORD-BAD) refused by the database" in caplog.text
    assert eventlog.events_pending() == 0


def test_holds_for_review_are_written_at_once():
    make_rule(kind=RiskRule.Kind.AMOUNT, amount_threshold=Decimal("100"), action=RiskRule.RuleAction.REVIEW)
    decision = risk_evaluate(ctx=purchase(amount=Decimal("500.00"), reference="ORD-B2"))
    assert decision.outcome == Outcome.REVIEW
    # no flush: the row is there before ops (or the caller) acts on the hold
    event = RiskEvent.objects.get(pk=decision.event_id)
    assert (event.outcome, event.reference) == (Outcome.REVIEW, "ORD-B2")
    assert eventlog.events_pending() == 0


@pytest.mark.parametrize(
    ("action", "outcome"),
    [(RiskRule.RuleAction.BLOCK, Outcome.BLOCK), (RiskRule.RuleAction.CHALLENGE, Outcome.CHALLENGE)],
)
def test_refusals_and_challenges_are_buffered_with_their_id_known(action, outcome):
    make_rule(kind=RiskRule.Kind.AMOUNT, amount_threshold=Decimal("100"), action=action)
    decision = risk_evaluate(ctx=purchase(amount=Decimal("500.00"), reference="ORD-B3"))
    assert decision.outcome == outcome
    assert eventlog.events_pending() == 1
    risk_events_flush()
    event = RiskEvent.objects.get(pk=decision.event_id)
    assert (event.outcome, event.reference) == (outcome, "ORD-B3")


def test_a_held_event_can_be_reviewed_at_once(ops_user):
    make_rule(kind=RiskRule.Kind.AMOUNT, amount_threshold=Decimal("100"), action=RiskRule.RuleAction.REVIEW)
    held = risk_evaluate(ctx=purchase(amount=Decimal("500.00")))
    assert review_decide(event_id=held.event_id, approve=True, actor=ops_user).review_status == "approved"


def test_a_failed_flush_is_logged_and_retried_once(monkeypatch, caplog):
    decision = risk_evaluate(ctx=purchase(reference="ORD-B3"))
    real_write = eventlog.rows_write
    calls = []

    def flaky(batch):  # the database refuses once (a dropped connection, a failover)
        calls.append(len(batch))
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        real_write(batch)

    monkeypatch.setattr(eventlog, "rows_write", flaky)
    with caplog.at_level(logging.WARNING, logger="riskcontrol.eventlog"):
        assert risk_events_flush() == 1
    assert calls == [1, 1]
    assert "retrying once" in caplog.text
    assert RiskEvent.objects.filter(pk=decision.event_id, reference="ORD-B3").exists()


def test_rows_that_fail_twice_wait_for_the_next_round(monkeypatch, caplog):
    decision = risk_evaluate(ctx=purchase(reference="ORD-B4"))
    real_write = eventlog.rows_write

    def down(batch):
        raise OperationalError("the database is down")

    monkeypatch.setattr(eventlog, "rows_write", down)
    with caplog.at_level(logging.WARNING, logger="riskcontrol.eventlog"):
        started = time.monotonic()
        assert risk_events_flush() == 0
    assert time.monotonic() - started < 1  # never waits around
    assert "failed twice" in caplog.text
    assert eventlog.events_pending() == 1  # kept, not lost
    # the caller is not affected: evaluations go on and queue up
    assert risk_evaluate(ctx=purchase(reference="ORD-B5")).allowed
    monkeypatch.setattr(eventlog, "rows_write", real_write)
    assert risk_events_flush() == 2
    assert set(RiskEvent.objects.filter(reference__in=["ORD-B4", "ORD-B5"]).values_list("reference", flat=True)) == {"ORD-B4", "ORD-B5"}
    assert RiskEvent.objects.filter(pk=decision.event_id).exists()


def test_the_buffer_has_a_limit(monkeypatch, settings, caplog):
    settings.RISK_EVENT_BUFFER_MAX = 2

    def down(batch):
        raise OperationalError("the database is down")

    monkeypatch.setattr(eventlog, "rows_write", down)
    for n in range(3):
        risk_evaluate(ctx=purchase(reference=f"ORD-L{n}"))
    with caplog.at_level(logging.ERROR, logger="riskcontrol.eventlog"):
        risk_events_flush()
    assert eventlog.events_pending() == 2
    assert "1 allowed events dropped" in caplog.text


def test_releasing_a_queued_event_counts_once_and_lands_on_the_row(clock):
    make_rule(kind=RiskRule.Kind.PURCHASE_LIMIT, dimension="ip", window_seconds=3600, limit=1)
    first = risk_evaluate(ctx=purchase())
    assert first.allowed
    # by id alone, before the row is written: the counters come from the queued row
    assert risk_release(event_id=first.event_id) is True
    assert risk_release(event_id=first.event_id) is False
    assert risk_release(decision=first) is False
    risk_events_flush()
    assert RiskEvent.objects.get(pk=first.event_id).released_at is not None
    assert risk_release(event_id=first.event_id) is False
    assert risk_evaluate(ctx=purchase()).allowed  # the allowance came back exactly once
    assert risk_evaluate(ctx=purchase()).blocked


def test_the_last_flush_is_registered_at_exit(monkeypatch):
    registered = []
    monkeypatch.setattr(eventlog.atexit, "register", registered.append)
    monkeypatch.setattr(eventlog._writer, "atexit_registered", False)
    risk_evaluate(ctx=purchase())
    assert registered == [eventlog.events_shutdown]
    risk_evaluate(ctx=purchase())
    assert registered == [eventlog.events_shutdown]  # once per process


def test_ids_are_unique_and_come_from_the_table_sequence():
    ids = [risk_evaluate(ctx=purchase(reference=f"ORD-I{n}")).event_id for n in range(450)]  # more than two id blocks
    assert len(set(ids)) == 450
    make_rule(kind=RiskRule.Kind.AMOUNT, amount_threshold=Decimal("100"))
    blocked = risk_evaluate(ctx=purchase(amount=Decimal("500.00")))  # a synchronous insert takes the next value
    assert blocked.event_id not in ids
    risk_events_flush()
    assert RiskEvent.objects.count() == 451


@pytest.mark.django_db(transaction=True)
def test_the_background_thread_writes_allowed_events(settings):
    settings.RISK_EVENT_FLUSH_THREAD = True
    settings.RISK_EVENT_FLUSH_SECONDS = 0.05
    try:
        decision = risk_evaluate(ctx=purchase(reference="ORD-T1"))
        deadline = time.monotonic() + 10
        while not RiskEvent.objects.filter(pk=decision.event_id).exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert RiskEvent.objects.filter(pk=decision.event_id, reference="ORD-T1").exists()
        # more rows than the thread writes between two of its pauses: all of them land
        ids = [risk_evaluate(ctx=purchase(reference=f"ORD-T2-{n}")).event_id for n in range(27)]
        while RiskEvent.objects.filter(pk__in=ids).count() < len(ids) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert RiskEvent.objects.filter(pk__in=ids).count() == 27
    finally:
        eventlog.events_shutdown()
    assert eventlog._writer.thread is None
