"""Upstream suppliers and direct top-ups (issue 15): who we buy from, over which protocol, and every top-up's
attempts, callbacks and state. Sits between riskcontrol and redemption in the import order."""
