"""Group buys (拼团): opening and joining groups under a row lock.

PLACEHOLDER written by the offers branch so `offer_take` can dispatch; the groups branch replaces this
module with the real implementation (same signatures, see /work/briefs/contract16.md).
"""


def group_take(*, campaign, consumer, group_token: str, order_ref: str):
    """Open a group (empty token) or join one under its row lock (GroupFull / LimitReached)."""
    raise NotImplementedError("group buys come with the groups branch")


def group_paid(*, order_ref: str) -> bool:
    """The member's order is paid. True while the group still waits for members."""
    raise NotImplementedError("group buys come with the groups branch")


def group_released(*, order_ref: str) -> None:
    """An unpaid member leaves: the seat goes back."""
    raise NotImplementedError("group buys come with the groups branch")


def groups_expire(*, now=None) -> int:
    """Job: groups past their time unfilled fail (group_failed is sent)."""
    raise NotImplementedError("group buys come with the groups branch")
