"""Where redemption calls catalog's status service and riskcontrol's brute-force lockout.

* catalog.services.code_status_change(codes=…, to_status=…, …): the one door for a code's status (it locks,
  checks CardCode.TRANSITIONS and writes a CodeEvent). Redeem (sold -> redeemed) and reverse
  (redeemed -> sold) both go through it, in their own transaction.
* riskcontrol.services.lockout_check / failure_record / success_record(terminal=, ip=, store=): sources are
  strings — a terminal's key id (or "clerk:<user id>" at the console), the address, the store's id.
* riskcontrol.services.risk_evaluate(ctx=RiskContext(action="redeem", ...)): the rules ops scope to
  redemptions (a blocklisted address, terminal or clerk; a velocity per store ...), see `redeem_screen`.
"""

from catalog.models import CardCode
from catalog.services import code_status_change
from riskcontrol.services import LockedOut, RiskBlocked, RiskContext, risk_evaluate
from riskcontrol.services import failure_record as _failure_record
from riskcontrol.services import lockout_check as _lockout_check
from riskcontrol.services import success_record as _success_record

__all__ = [
    "LockedOut",
    "RiskBlocked",
    "code_status_set",
    "failure_record",
    "lockout_check",
    "redeem_screen",
    "success_record",
]


def code_status_set(*, code: CardCode, to_status: str, actor=None, reference: str = "", reason: str = "") -> None:
    """Move one code (from the status it has here) to `to_status` through catalog's service, which locks the row,
    writes the CodeEvent and updates `code` in place."""
    code_status_change(codes=[code], to_status=to_status, actor=actor, reference=reference, reason=reason, from_statuses=[code.status])


def _sources(terminal, ip, store) -> dict:
    return {
        "terminal": getattr(terminal, "key_id", terminal) or None,
        "ip": ip or None,
        "store": str(getattr(store, "pk", store)) if store is not None else None,
    }


def lockout_check(*, terminal=None, ip: str | None = None, store=None) -> None:
    """Raise LockedOut (429) when the terminal, the address or the store is locked out after failed attempts."""
    _lockout_check(**_sources(terminal, ip, store))


def failure_record(*, terminal=None, ip: str | None = None, store=None) -> None:
    _failure_record(**_sources(terminal, ip, store))


def success_record(*, terminal=None, ip: str | None = None, store=None) -> None:
    """A verification succeeded: riskcontrol forgets no failure for it (they decay with the window), so this
    costs nothing; kept as the one place the redeem path reports a success."""
    _success_record(**_sources(terminal, ip, store))


def redeem_screen(**ctx) -> None:
    """Ask risk control about a redemption (RiskContext fields as keywords); RiskBlocked (403) when a rule blocks it.

    Only a block refuses: a terminal cannot show a challenge and a redemption cannot wait for a reviewer, so
    a challenge or review outcome is recorded (the RiskEvent) and the redemption goes on. With no rule for
    redemptions this costs one dictionary lookup (risk_evaluate answers at once and records nothing)."""
    decision = risk_evaluate(ctx=RiskContext(action="redeem", **ctx))
    if decision.blocked:
        raise RiskBlocked(decision=decision)
