"""Helpers of the group-buy tests: a live group-buy campaign, consumers, and a recorder of marketing's signals."""

from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from itertools import count

from django.utils import timezone

from marketing import signals
from marketing.models import Campaign, Consumer
from tests import factories

_phones = count(1)


def consumer_make(phone: str = "") -> Consumer:
    return Consumer.objects.create(phone=phone or f"139{next(_phones) + 10_000_000:08d}")


def group_campaign_make(*, sku=None, storefront=None, size: int = 3, hours: int = 24, **fields) -> Campaign:
    """A live group-buy campaign: groups of `size` within `hours`, at ¥19.90."""
    now = timezone.now()
    values = {
        "name": "三人团",
        "kind": Campaign.Kind.GROUP_BUY,
        "status": Campaign.Status.ACTIVE,
        "starts_at": now - timedelta(hours=1),
        "ends_at": now + timedelta(days=7),
        "sku": sku or factories.SkuFactory(),
        "price": Decimal("19.90"),
        "group_size": size,
        "group_hours": hours,
        "storefront": storefront,
        "distributor": storefront.distributor if storefront is not None else None,
    }
    values.update(fields)
    return Campaign.objects.create(**values)


class SignalRecorder:
    """Every group_completed / group_failed sent while it listens: (signal name, kwargs)."""

    def __init__(self):
        self.sent: list[tuple[str, dict]] = []

    def _completed(self, sender, **kwargs):
        kwargs.pop("signal", None)
        self.sent.append(("completed", kwargs))

    def _failed(self, sender, **kwargs):
        kwargs.pop("signal", None)
        self.sent.append(("failed", kwargs))

    def of(self, name: str) -> list[dict]:
        return [kwargs for sent_name, kwargs in self.sent if sent_name == name]


@contextmanager
def signals_recorded():
    recorder = SignalRecorder()
    signals.group_completed.connect(recorder._completed, weak=False, dispatch_uid="test-group-completed")
    signals.group_failed.connect(recorder._failed, weak=False, dispatch_uid="test-group-failed")
    try:
        yield recorder
    finally:
        signals.group_completed.disconnect(dispatch_uid="test-group-completed")
        signals.group_failed.disconnect(dispatch_uid="test-group-failed")
