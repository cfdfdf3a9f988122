"""django-q2 entry points of marketing's jobs. Each calls one service and is safe to run twice.

SCHEDULES lists the schedules marketing wants, as (function path, django-q2 schedule type, minutes): "I" every so
many minutes, "D" daily (its minutes unused); the ops part registers them (marketing/ops_setup.py reads this list).
"""

from marketing.services.campaigns import campaigns_end_due
from marketing.services.consumers import phone_codes_purge
from marketing.services.coupons import coupons_expire
from marketing.services.flash import flash_reservations_expire
from marketing.services.groups import groups_completion_retry, groups_expire, groups_refund_retry
from marketing.services.referral import referrals_reward_due

SCHEDULES = [
    ("marketing.tasks.campaigns_end_due_task", "I", 1),
    ("marketing.tasks.coupons_expire_task", "I", 10),
    ("marketing.tasks.referrals_reward_due_task", "I", 30),
    ("marketing.tasks.flash_reservations_expire_task", "I", 1),
    ("marketing.tasks.groups_expire_task", "I", 1),
    ("marketing.tasks.groups_refund_due_task", "I", 5),
    ("marketing.tasks.groups_completion_retry_task", "I", 5),
    ("marketing.tasks.phone_codes_purge_task", "D", 1440),
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


def flash_reservations_expire_task() -> int:
    """Flash-sale places held past their payment time go back to the slot and the gate."""
    return flash_reservations_expire()


def groups_expire_task() -> int:
    """Groups past their time unfilled fail (their paid members are refunded)."""
    return groups_expire()


def groups_refund_due_task() -> int:
    """Failed groups whose refunds are not all confirmed are announced again (with backoff)."""
    return groups_refund_retry()


def groups_completion_retry_task() -> int:
    """Completed groups whose delivery was not confirmed are announced again."""
    return groups_completion_retry()


def phone_codes_purge_task() -> int:
    """Daily: sign-in codes sent more than a day ago are deleted (long dead; the rate limits live in the cache)."""
    return phone_codes_purge()
