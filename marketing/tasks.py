"""django-q2 entry points of marketing's jobs. Each calls one service and is safe to run twice.

SCHEDULES lists the schedules the offers part wants (the ops branch registers them in apps.py):
(function path, django-q2 schedule type, minutes).
"""

from marketing.services.campaigns import campaigns_end_due
from marketing.services.coupons import coupons_expire
from marketing.services.referral import referrals_reward_due

SCHEDULES = [
    ("marketing.tasks.campaigns_end_due_task", "I", 1),
    ("marketing.tasks.coupons_expire_task", "I", 10),
    ("marketing.tasks.referrals_reward_due_task", "I", 30),
]


def campaigns_end_due_task() -> int:
    """Campaigns past their end become ENDED."""
    return campaigns_end_due()


def coupons_expire_task() -> int:
    """Unused coupons past their validity become EXPIRED."""
    return coupons_expire()


def referrals_reward_due_task() -> int:
    """Referrals past the refund window reward both sides."""
    return referrals_reward_due()


# groups
def groups_expire_task() -> int:
    """Open groups past their time with a free seat fail; their paid members are refunded (group_failed)."""
    from marketing.services.groups import groups_expire

    return groups_expire()


def groups_refund_due_task() -> int:
    """Failed groups whose next refund attempt is due are asked for again (backoff, attempts and the last error
    kept for ops), and completed groups whose delivery was not taken are announced again."""
    from marketing.services.groups import groups_completion_retry, groups_refund_retry

    return groups_refund_retry() + groups_completion_retry()
