"""The caller's address behind a proxy is the one the proxy wrote, never what the client sent before it."""

import pytest
from django.test import RequestFactory

from voucherhub.core.net import client_ip


@pytest.fixture
def behind_proxy(settings):
    settings.CLIENT_IP_HEADER = "HTTP_X_FORWARDED_FOR"
    settings.CLIENT_IP_PROXY_COUNT = 1
    return settings


def _request(**meta):
    return RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", **meta)


def test_without_a_header_setting_the_socket_address_counts(settings):
    settings.CLIENT_IP_HEADER = ""
    assert client_ip(_request(HTTP_X_FORWARDED_FOR="1.2.3.4")) == "10.0.0.2"


def test_a_forged_first_entry_is_ignored(behind_proxy):
    # given a client that sends its own X-Forwarded-For: the proxy appends the address it really saw
    request = _request(HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9")
    # then the address is the proxy's entry, not the client's forgery
    assert client_ip(request) == "203.0.113.9"


def test_two_proxies_read_the_second_entry_from_the_right(behind_proxy):
    behind_proxy.CLIENT_IP_PROXY_COUNT = 2
    request = _request(HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9, 10.1.1.1")
    assert client_ip(request) == "203.0.113.9"


def test_a_single_entry_header_reads_as_itself(behind_proxy):
    behind_proxy.CLIENT_IP_HEADER = "HTTP_X_REAL_IP"
    assert client_ip(_request(HTTP_X_REAL_IP="198.51.100.7")) == "198.51.100.7"


def test_an_empty_header_falls_back_to_the_socket(behind_proxy):
    assert client_ip(_request(HTTP_X_FORWARDED_FOR=" , ")) == "10.0.0.2"
