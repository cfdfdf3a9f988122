"""Give an existing installation's demo rules (riskcontrol/ruleset.py) their channel scope, where safe.

Before 0002 a rule applied to every channel, so the demo's consumer limits also capped a distributor's
portal staff and its API server. A demo rule is scoped here only while it is exactly as the demo shipped
it (same kind, action, score, counter, window, limit, thresholds, no SKU, no channel chosen yet): a rule
that ops changed in any of these is theirs and stays as it is. The definitions are frozen here rather
than read from ruleset.py, which may change later. Processes pick the change up within
RISK_RULES_MAX_AGE_SECONDS (60 s) of the migration.
"""

from decimal import Decimal

from django.db import migrations

# name: (kind, applies_to, dimension, window_seconds, limit, measure, amount_threshold, account_age_hours, score, action)
SHIPPED = {
    "同一 IP 每小时限购 20 件": ("purchase_limit", "purchase", "ip", 3600, 20, "units", None, None, 20, "challenge"),
    "同一 IP 每天限购 100 件": ("purchase_limit", "purchase", "ip", 86400, 100, "units", None, None, 50, "block"),
    "同一设备每小时限购 10 件": ("purchase_limit", "purchase", "device", 3600, 10, "units", None, None, 20, "challenge"),
    "同一设备每天限购 30 件": ("purchase_limit", "purchase", "device", 86400, 30, "units", None, None, 50, "block"),
    "同一账号每天限购 20 件": ("purchase_limit", "purchase", "account", 86400, 20, "units", None, None, 30, "review"),
    "同一手机号每天限购 20 件": ("purchase_limit", "purchase", "phone", 86400, 20, "units", None, None, 50, "block"),
    "同一邮箱每天限购 20 件": ("purchase_limit", "purchase", "email", 86400, 20, "units", None, None, 50, "block"),
    "同一账号每分钟最多下单 5 次": ("velocity", "purchase", "account", 60, 5, "orders", None, None, 20, "challenge"),
    "店铺每分钟最多 120 单": ("velocity", "purchase", "storefront", 60, 120, "orders", None, None, 20, "challenge"),
    "新账号 24 小时内单笔 ¥500 以上需验证": ("new_account", "purchase", "", None, None, "units", Decimal("500"), 24, 30, "challenge"),
    "单笔 ¥5,000 以上转人工": ("amount", "purchase", "", None, None, "units", Decimal("5000"), None, 30, "review"),
    "单笔 ¥20,000 以上拦截": ("amount", "purchase", "", None, None, "units", Decimal("20000"), None, 100, "block"),
}
SCOPE = ["storefront"]


def _as_shipped(rule) -> tuple:
    return (
        rule.kind,
        rule.applies_to,
        rule.dimension,
        rule.window_seconds,
        rule.limit,
        rule.measure,
        rule.amount_threshold,
        rule.account_age_hours,
        rule.score,
        rule.action,
    )


def demo_rules_scope(apps, schema_editor):
    RiskRule = apps.get_model("riskcontrol", "RiskRule")
    for rule in RiskRule.objects.filter(name__in=SHIPPED, sku__isnull=True):
        if not rule.channels and _as_shipped(rule) == SHIPPED[rule.name]:
            rule.channels = SCOPE
            rule.save(update_fields=["channels"])


class Migration(migrations.Migration):
    dependencies = [("riskcontrol", "0002_riskrule_channels")]

    operations = [migrations.RunPython(demo_rules_scope, migrations.RunPython.noop)]
