"""The admin sidebar is organised by ops' tasks: seven sections, every registered model in exactly one,
links only for those who may open them."""

import pytest
from django.contrib import admin
from django.urls import reverse

from voucherhub.core import admin_nav

pytestmark = pytest.mark.django_db

ZH = ["商品与库存", "渠道", "营销", "订单与结算", "核销", "风控", "审计", "系统"]
EN = ["Products &amp; stock", "Channels", "Marketing", "Orders &amp; settlement", "Redemption", "Risk control", "Audit", "System"]


def test_every_registered_model_is_in_exactly_one_section():
    listed = [label for _title, _icon, labels in admin_nav.SECTIONS for label in labels]
    assert len(listed) == len(set(listed))
    registered = {model._meta.label_lower for model in admin.site._registry}
    assert set(listed) == registered


def sidebar_titles(body: str, titles: list[str]) -> list[str]:
    return [title for title in titles if title in body]


@pytest.mark.parametrize(("language", "titles"), [("zh-hans", ZH), ("en", EN)])
def test_admin_sidebar_shows_the_seven_sections_in_order(admin_client, language, titles):
    admin_client.post(reverse("set_language"), {"language": language, "next": "/"})
    body = admin_client.get(reverse("admin:index")).content.decode()
    positions = [body.find(title) for title in titles]
    assert all(p >= 0 for p in positions), dict(zip(titles, positions, strict=True))
    assert positions == sorted(positions)


def test_a_role_sees_only_the_links_and_sections_it_may_open(finance_client, ops_client):
    finance_body = finance_client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    ops_body = ops_client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    riskrules = reverse("admin:riskcontrol_riskrule_changelist")
    assert riskrules in ops_body
    users = reverse("admin:auth_user_changelist")
    assert users not in ops_body and users not in finance_body
    imports = reverse("admin:catalog_importjob_changelist")
    assert imports in ops_body
