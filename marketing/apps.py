from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MarketingConfig(AppConfig):
    """Campaigns: flash sales, new-user prices, coupons, group buys, referral, targeted issuance, bundles;
    and the consumers they apply to. Above redemption, below settlement (docs/marketing.md)."""

    name = "marketing"
    verbose_name = _("Marketing")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Ops' side: role permissions, audit labels, the jobs' schedules, the portal's menu links.
        from marketing.ops_setup import ops_ready

        ops_ready(self)
        # issue: targeted issuance's job for the sweeper, permissions, audit labels, schedule (marketing/issuance_setup.py)
        from marketing.issuance_setup import issuance_ready

        issuance_ready(self)
