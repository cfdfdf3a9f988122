"""The commission depth cap. Many jurisdictions treat commission chains deeper than three levels as
pyramid selling, so three is the hard ceiling: settings may lower it, never raise it."""

from django.conf import settings
from django.core import checks

HARD_CAP = 3


def commission_max_depth() -> int:
    configured = getattr(settings, "CHANNELS_COMMISSION_MAX_DEPTH", HARD_CAP)
    return max(0, min(int(configured), HARD_CAP))


@checks.register(checks.Tags.compatibility)
def check_commission_depth(app_configs=None, **kwargs):
    configured = getattr(settings, "CHANNELS_COMMISSION_MAX_DEPTH", HARD_CAP)
    if not isinstance(configured, int) or not 0 <= configured <= HARD_CAP:
        return [
            checks.Error(
                f"CHANNELS_COMMISSION_MAX_DEPTH must be between 0 and {HARD_CAP} (it can only be lowered).",
                id="channels.E001",
            )
        ]
    return []
