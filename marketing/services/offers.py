"""What settlement asks marketing when it prices and places an order, and tells it as the order moves.

CONTRACT (issue 16; wt-offers implements the functions, the dataclasses are shared by every branch).

Settlement (above marketing) calls, inside its order transaction:

* `offer_take(...) -> Offer`: check the campaign(s) the buyer chose, take their places (flash-sale stock,
  a group seat, a coupon, budget) by writing marketing's rows, and price the order. Raises a marketing
  error naming the field ("campaign", "coupon", "group", "quantity", "consumer").
* `offer_undo(offer)`: the order's transaction rolled back after offer_take: give back what lives outside
  the database (the flash-sale gate's places in Redis). Safe to call twice.
* `offer_paid(order_ref=...) -> bool`: the order is paid. Returns True when its delivery must wait (a
  group buy whose group is not full yet); the group's completion is sent as `signals.group_completed`.
* `offer_still_held(order_ref=...) -> bool`: a payment arrived after the order expired: True only when
  the campaign's place can still be had; False means settlement refunds the payment (never oversold).
* `offer_released(order_ref=...)`: the order ended unpaid (expired, cancelled): give its places back.
* `offer_refunded(order_ref=..., amount=...)`: the order was refunded (all of it, or `amount` of it).
"""

from dataclasses import dataclass, field
from decimal import Decimal


@dataclass(frozen=True)
class OfferRequest:
    """What the buyer chose at checkout."""

    campaign_id: int | None = None  # a flash sale, new-user price, group buy or bundle campaign
    coupon_codes: tuple[str, ...] = ()  # coupons entered or picked (one, unless the coupons stack)
    group_token: str = ""  # join this group; empty with a group-buy campaign: open a new group
    referral_token: str = ""  # the share link the buyer came through (referral campaigns)

    def __bool__(self) -> bool:
        return bool(self.campaign_id or self.coupon_codes or self.group_token or self.referral_token)


@dataclass(frozen=True)
class BundlePart:
    """One component of a bundle order: `quantity` units of SKU `sku_id` per bundle, carrying
    `revenue_share` of the bundle price per unit."""

    sku_id: int
    quantity: int
    revenue_share: Decimal


@dataclass(frozen=True)
class Offer:
    """An order as the campaigns priced it. Money is Decimal with two places.

    total = unit_price * quantity - coupon discount, never below zero and never below the distributor's
    floor on a distributor-funded campaign; discount = list total - total = expense_platform +
    expense_distributor (who funds the discount: the platform's marketing expense account, or the
    storefront distributor's margin)."""

    order_ref: str
    campaign_ids: tuple[int, ...]  # every campaign that priced the order, the main one first
    list_unit_price: Decimal
    unit_price: Decimal
    total: Decimal
    discount: Decimal
    expense_platform: Decimal
    expense_distributor: Decimal
    hold_delivery: bool = False  # a group buy: delivered only when the group completes
    pay_minutes: int | None = None  # the campaign's own payment timeout (flash sale); None: the order's usual
    components: tuple[BundlePart, ...] = ()  # a bundle's parts; empty otherwise
    gate_places: tuple[str, ...] = field(default=(), repr=False)  # what offer_undo gives back to the Redis gate

    @property
    def campaign_id(self) -> int | None:
        return self.campaign_ids[0] if self.campaign_ids else None
