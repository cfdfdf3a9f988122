"""Reads for the flash-sale pages: which flash sales a storefront shows, with the slot, prices and places left."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Q, Sum
from django.utils import timezone

from channels.models import Storefront, StorefrontItem
from marketing.models import Campaign, FlashReservation, FlashSlot
from marketing.services.flash import LIVE_HOLDINGS, flash_places_left


@dataclass(frozen=True)
class FlashCard:
    campaign: Campaign
    slot: FlashSlot  # the running slot, else the next one
    list_price: Decimal  # the storefront's retail price of the SKU
    price: Decimal
    places_left: int
    live: bool  # the slot runs now (else it has not started)

    @property
    def saving(self) -> Decimal:
        return max(self.list_price - self.price, Decimal("0.00"))

    @property
    def stock_percent(self) -> int:
        """How much of the slot is sold, for the progress bar (0-100)."""
        return 100 if not self.slot.stock else round(100 * (self.slot.stock - self.places_left) / self.slot.stock)


def _campaigns_for(storefront: Storefront, now: datetime):
    """Flash sales running or coming on this storefront: its own, and the platform's for every storefront,
    whose SKU the storefront lists."""
    listed = StorefrontItem.objects.filter(storefront=storefront, listed=True).values("sku_id")
    return (
        Campaign.objects.filter(kind=Campaign.Kind.FLASH_SALE, status=Campaign.Status.ACTIVE, ends_at__gt=now, sku_id__in=listed)
        .filter(Q(storefront=storefront) | Q(storefront__isnull=True, distributor__isnull=True))
        .select_related("sku")
    )


def _card(campaign: Campaign, storefront: Storefront, now: datetime, prices: dict[int, Decimal]) -> FlashCard | None:
    slot = FlashSlot.objects.filter(campaign=campaign, ends_at__gt=now).order_by("starts_at").first()
    if slot is None or campaign.sku_id not in prices or campaign.price is None:
        return None
    return FlashCard(
        campaign=campaign,
        slot=slot,
        list_price=prices[campaign.sku_id],
        price=campaign.price,
        places_left=flash_places_left(slot),
        live=slot.starts_at <= now and campaign.starts_at <= now,
    )


def _prices(storefront: Storefront) -> dict[int, Decimal]:
    return dict(StorefrontItem.objects.filter(storefront=storefront, listed=True).values_list("sku_id", "retail_price"))


def flash_cards(*, storefront: Storefront, now: datetime | None = None) -> list[FlashCard]:
    """The storefront's flash sales, running ones first, then by start."""
    now = now or timezone.now()
    prices = _prices(storefront)
    cards = [card for campaign in _campaigns_for(storefront, now) if (card := _card(campaign, storefront, now, prices))]
    return sorted(cards, key=lambda card: (not card.live, card.slot.starts_at, card.campaign.pk))


def flash_card(*, storefront: Storefront, campaign_id: int, now: datetime | None = None) -> FlashCard | None:
    """One flash sale as this storefront shows it, or None (not on this storefront, over, or not a flash sale)."""
    now = now or timezone.now()
    campaign = _campaigns_for(storefront, now).filter(pk=campaign_id).first()
    return _card(campaign, storefront, now, _prices(storefront)) if campaign else None


def flash_held_by(*, campaign: Campaign, consumer_id: int | None) -> int:
    """Places a consumer holds or paid in a campaign (0 for nobody signed in)."""
    if consumer_id is None:
        return 0
    held = FlashReservation.objects.filter(slot__campaign=campaign, consumer_id=consumer_id, status__in=LIVE_HOLDINGS)
    return held.aggregate(n=Sum("quantity"))["n"] or 0
