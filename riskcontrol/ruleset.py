"""A realistic starting rule set (21 rules, 6 lists) for a voucher shop: the demo installs it, the benchmark measures it.

Ops tune it in the admin afterwards; `ruleset_install()` only creates what is missing (by name).

Channel scopes (docs/riskcontrol.md): the limits per IP, device, account, phone and email, the new-account
rule and the storefront velocity are a consumer's limits and apply to storefront checkouts only. A
distributor's portal staff and its API server buy stock in bulk, bounded by the wallet, the quota and the
distributor rules, which apply to every channel like the lists and the amount thresholds. The portal gets
its own account velocity rule that holds for review (a challenge cannot be solved in the portal).
Migration 0003 gives an existing installation's demo rules the same scopes where ops left them as shipped.
"""

from decimal import Decimal

from django.db import transaction

from riskcontrol import engine
from riskcontrol.models import Channel, Dimension, RiskList, RiskListEntry, RiskRule

B, A = RiskList.ListType.BLOCK, RiskList.ListType.ALLOW
LISTS = [
    ("可疑 IP 段", B, Dimension.IP, ["203.0.113.0/24", "198.18.0.0/15", "192.0.2.66", "192.0.2.67"]),
    ("风险设备", B, Dimension.DEVICE, ["emu-android-generic-x86", "emu-bluestacks-5", "headless-chrome-0001"]),
    (
        "一次性邮箱域名",
        B,
        Dimension.EMAIL_DOMAIN,
        ["mailinator.com", "10minutemail.com", "guerrillamail.com", "yopmail.com", "tempmail.dev"],
    ),
    ("黑名单手机号", B, Dimension.PHONE, ["17000000001", "17100000002", "16500000003"]),
    ("黑名单账号", B, Dimension.ACCOUNT, ["scalper-001", "scalper-002"]),
    ("办公网", A, Dimension.IP, ["10.8.0.0/16"]),
]

K, M, ACT = RiskRule.Kind, RiskRule.Measure, RiskRule.RuleAction
HOUR, DAY = 3600, 86400
STOREFRONT, PORTAL = [Channel.STOREFRONT.value], [Channel.PORTAL.value]
# name, kind, applies_to, fields (channels: empty for every channel), score, action
RULES = [
    ("办公网不限购", K.ALLOWLIST, "any", {"list": "办公网"}, 0, ACT.SCORE),
    ("可疑 IP 段拦截", K.BLOCKLIST, "any", {"list": "可疑 IP 段"}, 100, ACT.BLOCK),
    ("风险设备拦截", K.BLOCKLIST, "any", {"list": "风险设备"}, 100, ACT.BLOCK),
    ("一次性邮箱加分", K.BLOCKLIST, "purchase", {"list": "一次性邮箱域名"}, 40, ACT.SCORE),
    ("黑名单手机号拦截", K.BLOCKLIST, "any", {"list": "黑名单手机号"}, 100, ACT.BLOCK),
    ("黑名单账号拦截", K.BLOCKLIST, "any", {"list": "黑名单账号"}, 100, ACT.BLOCK),
    (
        "同一 IP 每小时限购 20 件",
        K.PURCHASE_LIMIT,
        "purchase",
        {"dimension": Dimension.IP, "window_seconds": HOUR, "limit": 20, "channels": STOREFRONT},
        20,
        ACT.CHALLENGE,
    ),
    (
        "同一 IP 每天限购 100 件",
        K.PURCHASE_LIMIT,
        "purchase",
        {"dimension": Dimension.IP, "window_seconds": DAY, "limit": 100, "channels": STOREFRONT},
        50,
        ACT.BLOCK,
    ),
    (
        "同一设备每小时限购 10 件",
        K.PURCHASE_LIMIT,
        "purchase",
        {"dimension": Dimension.DEVICE, "window_seconds": HOUR, "limit": 10, "channels": STOREFRONT},
        20,
        ACT.CHALLENGE,
    ),
    (
        "同一设备每天限购 30 件",
        K.PURCHASE_LIMIT,
        "purchase",
        {"dimension": Dimension.DEVICE, "window_seconds": DAY, "limit": 30, "channels": STOREFRONT},
        50,
        ACT.BLOCK,
    ),
    (
        "同一账号每天限购 20 件",
        K.PURCHASE_LIMIT,
        "purchase",
        {"dimension": Dimension.ACCOUNT, "window_seconds": DAY, "limit": 20, "channels": STOREFRONT},
        30,
        ACT.REVIEW,
    ),
    (
        "同一手机号每天限购 20 件",
        K.PURCHASE_LIMIT,
        "purchase",
        {"dimension": Dimension.PHONE, "window_seconds": DAY, "limit": 20, "channels": STOREFRONT},
        50,
        ACT.BLOCK,
    ),
    (
        "同一邮箱每天限购 20 件",
        K.PURCHASE_LIMIT,
        "purchase",
        {"dimension": Dimension.EMAIL, "window_seconds": DAY, "limit": 20, "channels": STOREFRONT},
        50,
        ACT.BLOCK,
    ),
    (
        "同一账号每分钟最多下单 5 次",
        K.VELOCITY,
        "purchase",
        {"dimension": Dimension.ACCOUNT, "window_seconds": 60, "limit": 5, "measure": M.ORDERS, "channels": STOREFRONT},
        20,
        ACT.CHALLENGE,
    ),
    (
        "分销商门户同一账号每分钟最多下单 5 次",
        K.VELOCITY,
        "purchase",
        {"dimension": Dimension.ACCOUNT, "window_seconds": 60, "limit": 5, "measure": M.ORDERS, "channels": PORTAL},
        30,
        ACT.REVIEW,
    ),
    (
        "分销商每分钟最多 300 单",
        K.VELOCITY,
        "purchase",
        {"dimension": Dimension.DISTRIBUTOR, "window_seconds": 60, "limit": 300, "measure": M.ORDERS},
        30,
        ACT.REVIEW,
    ),
    (
        "店铺每分钟最多 120 单",
        K.VELOCITY,
        "purchase",
        {"dimension": Dimension.STOREFRONT, "window_seconds": 60, "limit": 120, "measure": M.ORDERS, "channels": STOREFRONT},
        20,
        ACT.CHALLENGE,
    ),
    (
        "分销商每小时最多 ¥200,000",
        K.VELOCITY,
        "purchase",
        {"dimension": Dimension.DISTRIBUTOR, "window_seconds": HOUR, "measure": M.AMOUNT, "amount_threshold": Decimal("200000")},
        30,
        ACT.REVIEW,
    ),
    # A consumer's single order; a distributor's stock purchases are held by the hourly amount above instead.
    ("单笔 ¥5,000 以上转人工", K.AMOUNT, "purchase", {"amount_threshold": Decimal("5000"), "channels": STOREFRONT}, 30, ACT.REVIEW),
    ("单笔 ¥20,000 以上拦截", K.AMOUNT, "purchase", {"amount_threshold": Decimal("20000"), "channels": STOREFRONT}, 100, ACT.BLOCK),
    (
        "新账号 24 小时内单笔 ¥500 以上需验证",
        K.NEW_ACCOUNT,
        "purchase",
        {"account_age_hours": 24, "amount_threshold": Decimal("500"), "channels": STOREFRONT},
        30,
        ACT.CHALLENGE,
    ),
]


@transaction.atomic
def ruleset_install() -> tuple[int, int]:
    """Create the lists and rules that do not exist yet (matched by name). Returns (new lists, new rules)."""
    lists: dict[str, RiskList] = {}
    new_lists = 0
    for name, list_type, dimension, values in LISTS:
        risk_list, created = RiskList.objects.get_or_create(name=name, defaults={"list_type": list_type, "dimension": dimension})
        new_lists += created
        lists[name] = risk_list
        if created:
            RiskListEntry.objects.bulk_create([RiskListEntry(risk_list=risk_list, value=value, note="demo") for value in values])
    new_rules = 0
    for priority, (name, kind, applies_to, fields, score, action) in enumerate(RULES, start=1):
        if RiskRule.objects.filter(name=name).exists():
            continue
        fields = dict(fields)
        list_name = fields.pop("list", None)
        rule = RiskRule(
            name=name,
            kind=kind,
            applies_to=applies_to,
            score=score,
            action=action,
            priority=priority * 10,
            risk_list=lists.get(list_name) if list_name else None,
            **fields,
        )
        rule.full_clean()
        rule.save()
        new_rules += 1
    transaction.on_commit(engine.rules_changed)
    return new_lists, new_rules
