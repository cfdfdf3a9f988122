"""Supply's writes. Import from here: `from supply.services import topup_request`."""

from supply.services.accounts import topup_account_check
from supply.services.callbacks import callback_handle
from supply.services.topups import (
    attempt_answer_apply,
    attempt_query,
    topup_announce,
    topup_chain,
    topup_hold_refund,
    topup_hold_resubmit,
    topup_request,
    topup_submit,
    topups_poll,
)
from supply.services.upstreams import (
    alert_raise,
    upstream_balance_refresh,
    upstream_balances_refresh,
    upstream_demote,
    upstream_pause,
    upstream_rate_check,
    upstream_restore,
)

__all__ = [
    "alert_raise",
    "attempt_answer_apply",
    "attempt_query",
    "callback_handle",
    "topup_account_check",
    "topup_announce",
    "topup_chain",
    "topup_hold_refund",
    "topup_hold_resubmit",
    "topup_request",
    "topup_submit",
    "topups_poll",
    "upstream_balance_refresh",
    "upstream_balances_refresh",
    "upstream_demote",
    "upstream_pause",
    "upstream_rate_check",
    "upstream_restore",
]
