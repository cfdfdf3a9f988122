"""Branded 404/403/500 pages in both languages (never Django's plain or yellow pages), the logout message,
and the language switch naming each language in its own words."""

import pytest
from django.test import Client
from django.urls import path, reverse

from tests import factories
from voucherhub import urls as project_urls
from voucherhub.core import roles

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("language, title", [("en", "Page not found"), ("zh-hans", "页面不存在")])
def test_a_mistyped_storefront_address_gets_the_branded_404_in_the_readers_language(client, language, title):
    response = client.get("/s/no-such-shop/", HTTP_ACCEPT_LANGUAGE=language)
    html = response.content.decode()
    assert response.status_code == 404
    assert 'data-testid="error-page"' in html and title in html and "VoucherHub" in html
    assert 'data-testid="language-switcher"' in html


@pytest.mark.parametrize("language, title", [("en", "Not allowed"), ("zh-hans", "无权访问")])
def test_a_page_of_another_role_gets_the_branded_403(client, language, title):
    user = factories.UserFactory(username="clerk", role=roles.DISTRIBUTOR)
    client.force_login(user)
    response = client.get(reverse("settlement:finance-withdrawals"), HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 403
    assert 'data-testid="error-page"' in response.content.decode() and title in response.content.decode()


def boom(request):
    raise RuntimeError("boom")


# This module doubles as a URL conf: the project's pages plus one view that fails (ROOT_URLCONF below).
urlpatterns = [path("boom/", boom), *project_urls.urlpatterns]
handler500 = project_urls.handler500


@pytest.mark.parametrize("language, title", [("en", "Something went wrong"), ("zh-hans", "出错了")])
def test_an_unexpected_error_gets_the_branded_500(settings, language, title):
    settings.ROOT_URLCONF = __name__
    client = Client(raise_request_exception=False)
    response = client.get("/boom/", HTTP_ACCEPT_LANGUAGE=language)
    html = response.content.decode()
    assert response.status_code == 500 and 'data-testid="error-page"' in html and title in html
    assert "boom" not in html and "Traceback" not in html


def test_logging_out_says_so(client):
    factories.UserFactory(username="someone", role=roles.OPS)
    client.post(reverse("login"), {"username": "someone", "password": factories.PASSWORD})
    page = client.post(reverse("logout"), follow=True, HTTP_ACCEPT_LANGUAGE="en")
    assert page.redirect_chain[-1][0] == reverse("login")
    assert "You are logged out." in page.content.decode()
    chinese = Client()
    chinese.post(reverse("login"), {"username": "someone", "password": factories.PASSWORD})
    assert "您已退出登录。" in chinese.post(reverse("logout"), follow=True, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()


def test_the_language_switch_reads_english_in_chinese_mode(client):
    html = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert ">English</option>" in html and "英语" not in html
