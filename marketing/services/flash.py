"""Flash sales (秒杀): a SKU at a campaign price in time slots, each slot with a stock cap, a per-consumer limit.

The rules, in the order a buyer meets them (`flash_take`, inside settlement's order transaction):

1. The campaign is a live flash sale and one of its slots is running now (else CampaignNotLive).
2. The Redis gate (marketing.gate) admits the buyer: in one atomic step it takes `quantity` of the slot's
   places left and checks the consumer's places in the campaign against `per_consumer_limit` (SoldOut /
   LimitReached). Most of a burst is refused here without touching PostgreSQL.
3. The database reservation, the truth: the consumer's row is locked (one consumer's parallel attempts
   queue here), their places held or paid in the campaign are counted again against the limit, the slot
   gets `taken = taken + q` only WHERE `taken + q <= stock` (a CheckConstraint backs it), and a
   FlashReservation HELD is written with `expires_at = now + campaign.payment_minutes`.
   When this fails, the gate's places are given back at once; when the caller's transaction rolls back
   later, the caller gives them back (`flash_give_back`, through offers.offer_undo).

Afterwards: `flash_paid` (HELD -> PAID), `flash_released` (an unpaid order ended: HELD -> RELEASED, the slot's
place and the gate's place back), `flash_still_held` (a payment arrived after the order expired: False once the
reservation is released or past its time; settlement then refunds that payment, nothing is oversold), and the
job `flash_reservations_expire` for a reservation whose order never came back to say so.

The per-consumer limit counts every place HELD or PAID in the campaign, across its slots.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from catalog.selectors import available_count
from channels.models import Quota
from marketing.errors import CampaignError, CampaignNotLive, LimitReached, SoldOut
from marketing.gate import Gate, gate_give_back, gate_left, gate_refused, gate_take, place_text
from marketing.models import Campaign, Consumer, FlashReservation, FlashSlot

# A reservation whose order never said it was paid or released is let go this long after its own time, so
# settlement's order expiry (which calls offers.offer_released) always comes first.
EXPIRE_GRACE = timedelta(minutes=5)
LIVE_HOLDINGS = (FlashReservation.Status.HELD, FlashReservation.Status.PAID)


@dataclass(frozen=True)
class FlashTake:
    reservation: FlashReservation
    gate_places: tuple[str, ...]  # what flash_give_back returns to the gate when the order fails later
    pay_minutes: int  # the order's payment timeout: the campaign's own


def flash_slot_current(campaign: Campaign, now: datetime | None = None) -> FlashSlot | None:
    """The slot running at `now` (starts_at <= now < ends_at), or None."""
    now = now or timezone.now()
    return FlashSlot.objects.filter(campaign=campaign, starts_at__lte=now, ends_at__gt=now).order_by("starts_at").first()


def flash_slot_showing(campaign: Campaign, now: datetime | None = None) -> FlashSlot | None:
    """The slot a page shows: the running one, else the next to start, else None (the sale is over)."""
    now = now or timezone.now()
    return FlashSlot.objects.filter(campaign=campaign, ends_at__gt=now).order_by("starts_at").first()


def flash_places_left(slot: FlashSlot) -> int:
    """Places left in a slot: the gate's count when it is loaded (no database read), else stock - taken."""
    left = gate_left(slot=slot)
    return left if left is not None else max(slot.stock - slot.taken, 0)


def flash_take(*, campaign: Campaign, consumer: Consumer, quantity: int, order_ref: str, now: datetime | None = None) -> FlashTake:
    """Take `quantity` places of the running slot for `consumer`'s order `order_ref` (see the module's rules).

    Runs inside the caller's transaction; raises CampaignNotLive / SoldOut / LimitReached / CampaignError."""
    now = now or timezone.now()
    if campaign.kind != Campaign.Kind.FLASH_SALE:
        raise CampaignError(_("This campaign is not a flash sale."), field="campaign")
    if not isinstance(quantity, int) or quantity < 1:
        raise CampaignError(_("Choose at least one."), field="quantity")
    slot = flash_slot_current(campaign, now) if campaign.is_live(now) else None
    if slot is None:
        raise CampaignNotLive(field="campaign")
    limit = campaign.per_consumer_limit
    if quantity > limit:
        raise LimitReached(_("At most %(limit)s per person in this flash sale.") % {"limit": limit}, field="quantity")
    answer = gate_take(slot=slot, consumer_id=consumer.pk, quantity=quantity, limit=limit)
    if answer == Gate.SOLD_OUT:
        raise SoldOut(field="campaign")
    if answer == Gate.LIMIT:
        raise LimitReached(_("You already have this flash sale's limit of %(limit)s.") % {"limit": limit}, field="quantity")
    places = (place_text(slot=slot, consumer_id=consumer.pk, quantity=quantity),) if answer == Gate.ADMITTED else ()
    try:
        with transaction.atomic():  # a savepoint: a refusal here leaves the caller's transaction usable
            reservation = _reserve(campaign=campaign, slot=slot, consumer=consumer, quantity=quantity, order_ref=order_ref, now=now)
    except SoldOut:
        for place in places:
            gate_refused(place, Gate.SOLD_OUT)
        raise
    except LimitReached:
        for place in places:
            gate_refused(place, Gate.LIMIT)
        raise
    except BaseException:
        gate_give_back(places)
        raise
    return FlashTake(reservation=reservation, gate_places=places, pay_minutes=campaign.payment_minutes)


def _reserve(*, campaign, slot, consumer, quantity, order_ref, now) -> FlashReservation:
    """The database's check and take (expects to run in a transaction): the consumer row lock serialises one
    consumer's attempts, so the count of their places cannot change between the check and the insert."""
    Consumer.objects.select_for_update().filter(pk=consumer.pk).values_list("pk").get()
    held = (
        FlashReservation.objects.filter(slot__campaign=campaign, consumer=consumer, status__in=LIVE_HOLDINGS).aggregate(n=Sum("quantity"))[
            "n"
        ]
        or 0
    )
    if held + quantity > campaign.per_consumer_limit:
        limit = campaign.per_consumer_limit
        raise LimitReached(_("You already have this flash sale's limit of %(limit)s.") % {"limit": limit}, field="quantity")
    # One statement: the row lock it takes makes parallel takes of the slot queue, each re-reading `taken`.
    if not FlashSlot.objects.filter(pk=slot.pk, taken__lte=F("stock") - quantity).update(taken=F("taken") + quantity):
        raise SoldOut(field="campaign")
    return FlashReservation.objects.create(
        slot=slot,
        consumer=consumer,
        order_ref=order_ref,
        quantity=quantity,
        status=FlashReservation.Status.HELD,
        expires_at=now + timedelta(minutes=campaign.payment_minutes),
    )


def flash_give_back(gate_places) -> None:
    """The order's transaction rolled back after flash_take: give the gate its places back (the database
    rows went with the rollback). Call it once per failed order."""
    gate_give_back(gate_places)


def _locked(order_ref: str) -> FlashReservation | None:
    return FlashReservation.objects.select_for_update(of=("self",)).select_related("slot").filter(order_ref=order_ref).first()


@transaction.atomic
def flash_paid(*, order_ref: str) -> None:
    """The order was paid in time: HELD -> PAID (twice is fine). A released reservation cannot be paid:
    raises CampaignNotLive (settlement asks flash_still_held first and refunds instead)."""
    reservation = _locked(order_ref)
    if reservation is None or reservation.status == FlashReservation.Status.PAID:
        return
    if reservation.status == FlashReservation.Status.RELEASED:
        raise CampaignNotLive(_("The flash-sale place of this order was released: the payment is refunded."), field="campaign")
    reservation.status = FlashReservation.Status.PAID
    reservation.save(update_fields=["status"])


def flash_still_held(*, order_ref: str, now: datetime | None = None) -> bool:
    """Whether a payment for this order may still take its place: True when the reservation is paid, or held
    and not past its time. False once it is released or its time ran out (settlement refunds the payment)."""
    now = now or timezone.now()
    reservation = FlashReservation.objects.filter(order_ref=order_ref).only("status", "expires_at").first()
    if reservation is None:
        return False
    if reservation.status == FlashReservation.Status.PAID:
        return True
    return reservation.status == FlashReservation.Status.HELD and now < reservation.expires_at


@transaction.atomic
def flash_released(*, order_ref: str) -> None:
    """The order ended unpaid (expired, cancelled): HELD -> RELEASED, the slot's place back to the database,
    and, once this commits, the gate's. A paid, released or unknown reservation is left as it is."""
    reservation = _locked(order_ref)
    if reservation is None or reservation.status != FlashReservation.Status.HELD:
        return
    _release(reservation)


def _release(reservation: FlashReservation) -> None:
    reservation.status = FlashReservation.Status.RELEASED
    reservation.save(update_fields=["status"])
    FlashSlot.objects.filter(pk=reservation.slot_id).update(taken=F("taken") - reservation.quantity)
    place = place_text(slot=reservation.slot, consumer_id=reservation.consumer_id, quantity=reservation.quantity)
    transaction.on_commit(lambda: gate_give_back((place,)))


def flash_reservations_expire(*, now: datetime | None = None) -> int:
    """Job: release every reservation still HELD `EXPIRE_GRACE` past its time (its order never said paid or
    released: settlement expires its orders itself and calls offers.offer_released, which comes first).
    Safe to run twice and beside itself (SKIP LOCKED). Returns how many were released."""
    cutoff = (now or timezone.now()) - EXPIRE_GRACE
    released = 0
    while True:
        with transaction.atomic():
            batch = list(
                FlashReservation.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("slot")
                .filter(status=FlashReservation.Status.HELD, expires_at__lt=cutoff)
                .order_by("pk")[:200]
            )
            for reservation in batch:
                _release(reservation)
        released += len(batch)
        if len(batch) < 200:
            return released


def flash_slot_check(*, campaign: Campaign, starts_at: datetime, ends_at: datetime, stock: int, slot: FlashSlot | None = None) -> None:
    """Validate a slot before ops (or a distributor) saves it; raises CampaignError naming the field.

    The slot lies inside the campaign's time and overlaps none of its other slots; its stock is at least what
    is already taken and its places still to sell (stock - taken) are no more than the SKU's available codes,
    nor, when the campaign's distributor sells the SKU from a quota, than that quota's balance."""
    if campaign.kind != Campaign.Kind.FLASH_SALE or campaign.sku_id is None:
        raise CampaignError(_("Choose the SKU of the flash sale first."), field="sku")
    if ends_at <= starts_at:
        raise CampaignError(_("A slot must end after it starts."), field="ends_at")
    if starts_at < campaign.starts_at or ends_at > campaign.ends_at:
        raise CampaignError(_("A slot must lie within the campaign's start and end."), field="starts_at")
    others = FlashSlot.objects.filter(campaign=campaign, starts_at__lt=ends_at, ends_at__gt=starts_at)
    if slot is not None and slot.pk:
        others = others.exclude(pk=slot.pk)
    if others.exists():
        raise CampaignError(_("This slot overlaps another slot of the campaign."), field="starts_at")
    taken = slot.taken if slot is not None else 0
    if stock < max(taken, 1):
        raise CampaignError(_("The stock must be at least %(n)s (places already taken).") % {"n": max(taken, 1)}, field="stock")
    available = available_count(sku=campaign.sku)
    if stock - taken > available:
        raise CampaignError(_("Only %(n)s codes of this SKU are available.") % {"n": available}, field="stock")
    quota = _quota_balance(campaign)
    if quota is not None and stock - taken > quota:
        raise CampaignError(_("The distributor's quota of this SKU has only %(n)s left.") % {"n": quota}, field="stock")


def _quota_balance(campaign: Campaign) -> int | None:
    distributor_id = campaign.distributor_id or (campaign.storefront.distributor_id if campaign.storefront_id else None)
    if distributor_id is None:
        return None
    return Quota.objects.filter(Q(distributor_id=distributor_id) & Q(sku_id=campaign.sku_id)).values_list("balance", flat=True).first()
