"""Flash sales (秒杀): the slot reservation behind the Redis gate.

PLACEHOLDER written by the offers branch so `offer_take` can dispatch; the flash branch replaces this
module with the real implementation (same signatures, see /work/briefs/contract16.md).
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class FlashTake:
    """A place taken in a flash-sale slot for one order."""

    reservation: object
    gate_places: tuple[str, ...]
    pay_minutes: int


def flash_take(*, campaign, consumer, quantity: int, order_ref: str) -> FlashTake:
    """Admit the consumer through the gate and reserve `quantity` places (SoldOut / LimitReached /
    CampaignNotLive)."""
    raise NotImplementedError("flash sales come with the flash branch")


def flash_give_back(gate_places: tuple[str, ...]) -> None:
    """Give the gate's places back after the order's transaction rolled back."""
    raise NotImplementedError("flash sales come with the flash branch")


def flash_paid(*, order_ref: str) -> None:
    """The order holding the reservation is paid: the place is sold."""
    raise NotImplementedError("flash sales come with the flash branch")


def flash_still_held(*, order_ref: str) -> bool:
    """True while the order's reservation is held (a late payment may still take it)."""
    raise NotImplementedError("flash sales come with the flash branch")


def flash_released(*, order_ref: str) -> None:
    """The order ended unpaid: its place goes back to the slot and the gate."""
    raise NotImplementedError("flash sales come with the flash branch")
