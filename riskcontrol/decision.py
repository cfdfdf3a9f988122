"""The plain data that goes in and out of risk control: RiskContext in, Decision (with Reasons) out.

Reasons are stored as a code and parameters and rendered in the active language when read, so a
block reason reads in Chinese on a Chinese page and in English on an English one.
"""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from riskcontrol.models import Dimension, Outcome, RiskRule


@dataclass(frozen=True)
class RiskContext:
    """Everything a caller knows about the request it wants evaluated. Unknown values stay empty."""

    action: str  # riskcontrol.models.Action: "purchase", "redeem", "login", "reveal", "withdrawal"
    reference: str = ""  # the caller's own id (order number ...), given back in review_decided
    # riskcontrol.models.Channel for purchases: "storefront", "portal", "api". Empty: not known or not a
    # purchase; then every rule applies, channel-scoped ones included.
    channel: str = ""
    sku_id: int | None = None
    quantity: int = 1
    amount: Decimal = Decimal("0.00")
    ip: str = ""
    device: str = ""  # a device fingerprint from the storefront
    account_id: str | int | None = None
    phone: str = ""
    email: str = ""
    distributor_id: int | None = None
    storefront_id: int | None = None
    account_created_at: datetime | None = None
    challenge_passed: bool = False  # the caller verified a challenge (challenge_verify) for this request
    extra: dict = field(default_factory=dict)  # anything else worth showing a reviewer (JSON-serialisable)

    def __post_init__(self):
        if isinstance(self.amount, float):
            raise TypeError("RiskContext.amount takes Decimal, never float")
        if self.quantity < 0:
            raise ValueError("RiskContext.quantity must not be negative")


def _duration(seconds: int) -> str:
    seconds = int(seconds or 0)
    if seconds and seconds % 86400 == 0:
        days = seconds // 86400
        return ngettext("%(n)d day", "%(n)d days", days) % {"n": days}
    if seconds and seconds % 3600 == 0:
        hours = seconds // 3600
        return ngettext("%(n)d hour", "%(n)d hours", hours) % {"n": hours}
    if seconds and seconds % 60 == 0:
        minutes = seconds // 60
        return ngettext("%(n)d minute", "%(n)d minutes", minutes) % {"n": minutes}
    return ngettext("%(n)d second", "%(n)d seconds", seconds) % {"n": seconds}


_DIMENSION_LABELS = dict(Dimension.choices)
_MEASURE_LABELS = dict(RiskRule.Measure.choices)
_OUTCOME_LABELS = dict(Outcome.choices)

REASON_MESSAGES = {
    "limit": _("The same %(dimension)s exceeded %(limit)s %(measure)s within %(window)s (now %(count)s)."),
    "limit_amount": _("The same %(dimension)s exceeded ¥%(limit)s within %(window)s (now ¥%(count)s)."),
    "amount": _("The amount ¥%(amount)s is at or above the threshold ¥%(threshold)s."),
    "new_account": _("The account was created less than %(age)s ago."),
    "new_account_amount": _("The account was created less than %(age)s ago and the amount ¥%(amount)s reaches ¥%(threshold)s."),
    "new_account_quantity": _("The account was created less than %(age)s ago and buys %(quantity)s items (limit %(limit)s)."),
    "blocklist": _("The %(dimension)s is on the blocklist “%(list)s”."),
    "allowlist": _("The %(dimension)s is on the allowlist “%(list)s”."),
    "score": _("The risk score %(score)s reached the %(outcome)s threshold %(threshold)s."),
    "reveal_limit": _("More than %(limit)s code reveals by this user within one hour."),
}


def reason_message(code: str, params: dict) -> str:
    template = REASON_MESSAGES.get(code)
    if template is None:
        return gettext("Risk rule matched: %(code)s") % {"code": code}
    values = dict(params)
    if "dimension" in values:
        values["dimension"] = str(_DIMENSION_LABELS.get(values["dimension"], values["dimension"]))
    if "measure" in values:
        values["measure"] = str(_MEASURE_LABELS.get(values["measure"], values["measure"]))
    if "window" in values:
        values["window"] = _duration(values["window"])
    if "age" in values:
        values["age"] = _duration(values["age"])
    if "outcome" in values:
        values["outcome"] = str(_OUTCOME_LABELS.get(values["outcome"], values["outcome"]))
    try:
        message = str(template) % values
    except (KeyError, TypeError, ValueError):
        return str(template)
    if values.get("terminals"):
        listed = ", ".join(f"{name} ({count})" for name, count in values["terminals"])
        message += " " + str(_("Failures by terminal: %(terminals)s.")) % {"terminals": listed}
    return message


@dataclass(frozen=True)
class Reason:
    """Why a rule matched. `str(reason)` is the message in the active language."""

    code: str
    params: dict = field(default_factory=dict)
    rule_id: int | None = None
    rule_name: str = ""
    score: int = 0
    action: str = ""

    @property
    def message(self) -> str:
        return reason_message(self.code, self.params)

    def __str__(self) -> str:
        return self.message

    def to_json(self) -> dict:
        return {
            "code": self.code,
            "params": self.params,
            "rule_id": self.rule_id,
            "rule": self.rule_name,
            "score": self.score,
            "action": self.action,
        }

    @classmethod
    def from_json(cls, item: dict) -> "Reason":
        return cls(
            code=item.get("code", ""),
            params=item.get("params") or {},
            rule_id=item.get("rule_id"),
            rule_name=item.get("rule", ""),
            score=item.get("score", 0),
            action=item.get("action", ""),
        )


@dataclass(frozen=True)
class Decision:
    """The answer of risk_evaluate: allow / challenge / review / block, the score, the reasons, the event."""

    outcome: str
    score: int = 0
    reasons: tuple[Reason, ...] = ()
    event_id: int | None = None
    reserved: tuple = field(default=(), repr=False)  # counters this decision holds (for risk_release)

    @property
    def allowed(self) -> bool:
        return self.outcome == Outcome.ALLOW

    @property
    def needs_challenge(self) -> bool:
        return self.outcome == Outcome.CHALLENGE

    @property
    def held_for_review(self) -> bool:
        return self.outcome == Outcome.REVIEW

    @property
    def blocked(self) -> bool:
        return self.outcome == Outcome.BLOCK

    def messages(self) -> list[str]:
        return [str(reason) for reason in self.reasons]

    def raise_if_refused(self) -> None:
        """Raise RiskBlocked on block and ChallengeRequired on challenge; allow and review return."""
        from riskcontrol.errors import ChallengeRequired, RiskBlocked

        if self.blocked:
            raise RiskBlocked(decision=self)
        if self.needs_challenge:
            raise ChallengeRequired(decision=self)


ALERT_MESSAGES = {
    "block_spike": _("%(count)s requests were blocked in the last %(window)s (alert threshold %(threshold)s)."),
    "failure_spike": _("%(count)s code verifications failed in the last %(window)s (alert threshold %(threshold)s)."),
    "login_failure_spike": _("%(count)s logins failed in the last %(window)s (alert threshold %(threshold)s)."),
    "lockout": _("%(source)s was locked out for %(period)s after %(failures)s failed code verifications."),
    "reveal_limit": _("User %(user)s tried to reveal more than %(limit)s codes within one hour."),
}

_SOURCE_LABELS = {"terminal": _("Terminal %(value)s"), "ip": _("IP address %(value)s"), "store": _("Store %(value)s")}


def alert_message(kind: str, params: dict) -> str:
    template = ALERT_MESSAGES.get(kind)
    if template is None:
        return kind
    values = dict(params)
    if "window" in values:
        values["window"] = _duration(values["window"])
    if "period" in values:
        values["period"] = _duration(values["period"])
    if "source_kind" in values:
        label = _SOURCE_LABELS.get(values["source_kind"])
        values["source"] = str(label) % {"value": values.get("source_value", "")} if label else values.get("source_value", "")
    try:
        message = str(template) % values
    except (KeyError, TypeError, ValueError):
        return str(template)
    if values.get("terminals"):
        listed = ", ".join(f"{name} ({count})" for name, count in values["terminals"])
        message += " " + str(_("Failures by terminal: %(terminals)s.")) % {"terminals": listed}
    return message
