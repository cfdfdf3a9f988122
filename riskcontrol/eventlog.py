"""Writing RiskEvents: every one with the caller's connection, at once, so it commits with the caller's work.

`event_write` inserts the row before `risk_evaluate` returns:

* inside the caller's transaction (an order's) it joins it: an event of a committed order is committed
  with that order, in the same commit. A worker killed (SIGKILL, out of memory) right after the commit
  loses nothing; one killed before it loses both the order and its event.
* outside a transaction, on PostgreSQL, it is one statement that commits without waiting for the disk
  (riskcontrol.db.insert_quickly, PostgreSQL's asynchronous commit): a database crash may lose the last
  few milliseconds of such events; a worker crash loses none (the row is in the server once the
  statement returns). The next ordinary commit on the server flushes them to disk too.

A refusal (challenge, block) raised inside a caller's transaction usually ends in its rollback, and its
row would go with it. So during a request such a row is also remembered on this thread, and when the
request finishes (Django's request_finished) it is inserted again with its own id unless it is there
already (INSERT ... ON CONFLICT DO NOTHING): the refusal stays on record, for the review screens and the
block-spike alert. (The one gap: a worker killed between the rollback and the end of that request.)
"""

import logging
import threading

from django.core.signals import request_finished, request_started
from django.db import DatabaseError, connection, transaction
from django.dispatch import receiver

from riskcontrol.db import insert_quickly
from riskcontrol.models import RiskEvent

logger = logging.getLogger(__name__)

REFUSED_OUTCOMES = frozenset({"challenge", "block"})

_request = threading.local()  # .refused: the refused events of this thread's request, or None outside one


def event_write(values: dict) -> int:
    """Record one evaluation now, with the caller's connection, and return its id. `values`: RiskEvent
    attnames -> values."""
    event = RiskEvent(**values)
    insert_quickly(event)
    if values["outcome"] in REFUSED_OUTCOMES and connection.in_atomic_block:
        refused = getattr(_request, "refused", None)
        if refused is not None:
            refused.append(event)
    return event.pk


@receiver(request_started, dispatch_uid="riskcontrol.eventlog.request_started")
def _request_started(**kwargs) -> None:
    _request.refused = []


@receiver(request_finished, dispatch_uid="riskcontrol.eventlog.request_finished")
def _request_finished(**kwargs) -> None:
    refused, _request.refused = getattr(_request, "refused", None), None
    if refused:
        refused_events_keep(refused)


def refused_events_keep(events: list[RiskEvent]) -> None:
    """Insert the refused events a rolled-back transaction took with it, with their ids (those that
    committed are left alone). Never raises: it runs after the answer was sent."""
    try:
        with transaction.atomic():
            RiskEvent.objects.bulk_create(events, ignore_conflicts=True)
    except DatabaseError:
        logger.exception("risk events: refused events %s could not be written again", [event.pk for event in events])
