"""voucherhub.core.redirects.safe_next: every `next` of the site stays on the site."""

import pytest
from django.test import RequestFactory

from voucherhub.core.redirects import safe_next

OFF_SITE = [
    "//evil.example/phish",
    "/\\evil.example/phish",
    "\\\\evil.example/phish",
    "https://other.example/",
    "http://other.example/",
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    " //evil.example/",
    "///evil.example/",
    "https:evil.example",
    "/merchant/\nSet-Cookie: x=1",
]


@pytest.fixture(autouse=True)
def _site_host(settings):
    settings.ALLOWED_HOSTS = ["voucherhub.example.com", "testserver"]


@pytest.mark.parametrize("target", OFF_SITE)
def test_a_target_off_the_site_gives_the_default(target):
    request = RequestFactory().get("/", HTTP_HOST="voucherhub.example.com")
    assert safe_next(request, target, default="/home/") == "/home/"


@pytest.mark.parametrize("target", ["/merchant/redemptions/?page=2&store=3", "/", "https://voucherhub.example.com/dashboards/"])
def test_a_target_on_the_site_is_kept(target):
    request = RequestFactory().get("/", HTTP_HOST="voucherhub.example.com", secure=True)
    assert safe_next(request, target, default="/home/") == target


@pytest.mark.parametrize("target", [None, "", "   "])
def test_no_target_gives_the_default(target):
    assert safe_next(RequestFactory().get("/"), target, default="/home/") == "/home/"


def test_behind_a_tls_proxy_an_http_url_of_the_site_is_refused(settings):
    # given: production behind a proxy that terminates TLS and says so in X-Forwarded-Proto
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    request = RequestFactory().get("/", HTTP_HOST="voucherhub.example.com", HTTP_X_FORWARDED_PROTO="https")
    # then: a downgrade to plain http of our own host is not followed, a path is
    assert safe_next(request, "http://voucherhub.example.com/dashboards/", default="/home/") == "/home/"
    assert safe_next(request, "/dashboards/", default="/home/") == "/dashboards/"
