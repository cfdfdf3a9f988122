"""The one place settlement calls into risk control and redemption.

Risk control (on main): `risk_evaluate` / `risk_release` for every order, `withdrawal_screen` for every
withdrawal request (RiskBlocked, 403, on block), the `review_decided` signal
(settlement/apps.py), `second_factor_verify` before code downloads, `challenge_verify` at checkout.
Redemption: `holding_create` (the consumer's private code page /my/<token>/ and the e-mailed link);
redemption sends no signal: each redeemed sale line's commission share is released by the
`commissions_release_due` job (every 5 minutes), which checks the codes' status (see docs/settlement.md).
Merchant statements read redemption's selectors directly (services/merchant_statements.py).
Supply: `topup_account_check` before a top-up order is placed, `topup_request` once it is paid (inside the
order's transaction; supply submits after commit); supply reports the outcome with its `topup_finished`
signal (settlement/apps.py -> services/topups.py).
"""

from redemption.holdings import holding_create
from redemption.notify import message_send
from riskcontrol.decision import Decision, RiskContext
from riskcontrol.services import challenge_verify, risk_evaluate, risk_release, second_factor_verify, withdrawal_screen
from supply import services as supply_services
from supply.models import Topup


def risk_check(**ctx) -> Decision:
    """Ask risk control about a purchase (RiskContext fields as keywords)."""
    return risk_evaluate(ctx=RiskContext(action="purchase", **ctx))


def risk_undo(decision: Decision) -> None:
    """The purchase did not go through: give back the counters the decision reserved."""
    risk_release(decision=decision)


def withdrawal_risk_screen(*, actor, distributor_id: int, amount, ip: str | None, reference: str) -> None:
    """Ask risk control about a withdrawal request; raises RiskBlocked (403) when a rule blocks it."""
    withdrawal_screen(actor=actor, distributor_id=distributor_id, amount=amount, ip=ip, reference=reference)


def second_factor_ok(*, user, password: str | None = None, otp_token: str | None = None) -> bool:
    """Second verification before codes are downloaded (raises riskcontrol's LockedOut after repeated failures)."""
    return second_factor_verify(user=user, password=password, otp_token=otp_token)


def challenge_ok(*, key: str, answer: str) -> bool:
    return challenge_verify(key=key, answer=answer)


def holding_link(*, code_ids, contact: str, order_ref: str) -> str:
    """The consumer's private code page (/my/<token>/) for these codes; the same link again for the same order."""
    return holding_create(code_ids=code_ids, contact=contact, order_ref=order_ref)


def sms_send(*, to: str, subject: str, text: str) -> None:
    """A text message to a consumer's mobile number, through redemption's SMS adapter (REDEMPTION_SMS_BACKEND)."""
    message_send(kind="phone", to=to, subject=subject, text=text)


def topup_account_check(*, sku, account: str, region: str = "") -> tuple[str, str]:
    """The account (and region) normalised for the SKU's top-up profile, or supply's InvalidAccount naming the field."""
    return supply_services.topup_account_check(sku=sku, account=account, region=region)


def topup_start(*, reference: str, sku, account: str, region: str = ""):
    """Ask supply to top the account up for the order `reference` (inside the caller's transaction)."""
    return supply_services.topup_request(reference=reference, sku=sku, account=account, region=region)


def topup_of(reference: str):
    """Supply's top-up of the order `reference`, or None."""
    return Topup.objects.filter(reference=reference).first()


def topups_of(references) -> dict:
    """Supply's top-ups of these orders, by order number (one query)."""
    return {t.reference: t for t in Topup.objects.filter(reference__in=list(references))}
