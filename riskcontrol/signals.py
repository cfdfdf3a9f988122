"""Signals risk control sends to the apps above it (they connect; riskcontrol never imports them).

review_decided(sender=RiskEvent, event, decision, reference, note, actor)
    An event held for review was approved ("approved") or rejected ("rejected") by ops.
    `reference` is the RiskContext.reference the caller gave risk_evaluate (its order number).
    Receivers run inside the decision's transaction: raise to refuse the decision, and defer
    side effects (mail, webhooks) with transaction.on_commit.
"""

from django.dispatch import Signal

review_decided = Signal()
