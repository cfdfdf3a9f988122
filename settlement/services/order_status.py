"""An order's status moves: checked against Order.TRANSITIONS, each with its event row. Shared by the
order services (orders.py) and the top-up orders (topups.py)."""

from django.utils import timezone
from django.utils.translation import gettext as _

from settlement.errors import InvalidOrderTransition
from settlement.models import Order, OrderEvent

S = Order.Status


class OrderChanges:
    """An order's status moves within one service, written together at the end (`flush`): the event
    rows in one INSERT, the order row in one UPDATE, or in its INSERT for a new order (orders._order_new), which
    is written once, already in its final status. Each move is checked against TRANSITIONS."""

    def __init__(self, order: Order):
        self.order = order
        self.events: list[OrderEvent] = []
        self.fields: set[str] = set()

    def opened(self, *, actor=None, note: str = "") -> None:
        """A new order (pending, not written yet): its first event."""
        self.events.append(OrderEvent(order=self.order, from_status="", to_status=self.order.status, actor=user_of(actor), note=note[:300]))

    def move(self, to: str, *, actor=None, note: str = "") -> None:
        order = self.order
        if to not in Order.TRANSITIONS[order.status]:
            raise InvalidOrderTransition(
                _("Order %(number)s cannot go from %(from)s to %(to)s.") % {"number": order.number, "from": order.status, "to": to}
            )
        now = timezone.now()
        self.events.append(OrderEvent(order=order, from_status=order.status, to_status=to, actor=user_of(actor), note=note[:300]))
        order.status = to
        order.status_changed_at = now
        self.fields |= {"status", "status_changed_at"}
        if to == S.PAID:
            order.paid_at = now
            self.fields.add("paid_at")
        elif to == S.DELIVERED:
            order.delivered_at = now
            self.fields.add("delivered_at")

    def hold_set(self, hold: str) -> None:
        """The order's hold changes with this move (written by flush)."""
        self.order.hold = hold
        self.fields.add("hold")

    def flush(self) -> None:
        if self.order._state.adding:  # new: inserted with its status of now, its events after it
            self.order.save(force_insert=True)
            self.fields = set()
        if self.events:
            OrderEvent.objects.bulk_create(self.events)
            self.events = []
        if self.fields:
            self.order.save(update_fields=sorted(self.fields))
            self.fields = set()


def status_set(order: Order, to: str, *, actor=None, note: str = "") -> None:
    """Move a locked order along TRANSITIONS and write its event row."""
    changes = OrderChanges(order)
    changes.move(to, actor=actor, note=note)
    changes.flush()


def user_of(actor):
    return actor if getattr(actor, "is_authenticated", False) and getattr(actor, "pk", None) and not hasattr(actor, "key") else None
