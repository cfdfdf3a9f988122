"""Fixtures for redemption: two merchants with a store and a signed terminal each, SKUs they accept, sold codes."""

import json
import uuid
from dataclasses import dataclass
from decimal import Decimal

import pytest

from redemption.models import Terminal
from tests import factories
from voucherhub.core import apisign, roles


@dataclass
class TerminalClient:
    """A Django test client that signs every request like a POS does."""

    client: object
    terminal: Terminal
    secret: str

    def _headers(self, method: str, path: str, body: bytes, idem: str | None, extra: dict | None) -> dict:
        headers = apisign.signed_headers(key_id=self.terminal.key_id, secret=self.secret, method=method, path=path, body=body)
        if idem is not None:
            headers["Idempotency-Key"] = idem
        headers.update(extra or {})
        return headers

    def post(self, path: str, data: dict | None = None, *, idem: str | None = None, headers: dict | None = None, remote="10.1.1.1"):
        body = json.dumps(data or {}).encode()
        return self.client.generic(
            "POST",
            path,
            body,
            content_type="application/json",
            headers=self._headers("POST", path, body, idem, headers),
            REMOTE_ADDR=remote,
        )

    def get(self, path: str, remote="10.1.1.1"):
        return self.client.get(path, headers=self._headers("GET", path, b"", None, None), REMOTE_ADDR=remote)

    def redeem(self, data: dict, *, idem: str | None = None):
        return self.post("/api/v1/redemptions/", data, idem=idem or uuid.uuid4().hex)

    def verify(self, data: dict):
        return self.post("/api/v1/redemptions/verify/", data)

    def reverse(self, redemption_id: int, *, idem: str | None = None, reason: str = ""):
        return self.post(f"/api/v1/redemptions/{redemption_id}/reverse/", {"reason": reason}, idem=idem or uuid.uuid4().hex)


@dataclass
class Shop:
    merchant: object
    store: object
    terminal: Terminal
    secret: str


def shop_make(name: str) -> Shop:
    merchant = factories.MerchantFactory(name=name, code=f"m-{uuid.uuid4().hex[:8]}")
    store = factories.StoreFactory(merchant=merchant, name=f"{name} 一号店")
    terminal, secret = factories.terminal_for(store)
    return Shop(merchant=merchant, store=store, terminal=terminal, secret=secret)


@pytest.fixture
def shop_a(db) -> Shop:
    return shop_make("星巴克")


@pytest.fixture
def shop_b(db) -> Shop:
    return shop_make("万达影城")


@pytest.fixture
def sku_a(shop_a):
    """A single-use coffee voucher honoured by merchant A."""
    return factories.SkuFactory(face_value=Decimal("35.00"), allowed_merchant_ids=[shop_a.merchant.pk])


@pytest.fixture
def gift_card_a(shop_a):
    """A stored-value gift card (100.00) honoured by merchant A."""
    return factories.SkuFactory(face_value=Decimal("100.00"), is_stored_value=True, allowed_merchant_ids=[shop_a.merchant.pk])


@pytest.fixture
def sku_b(shop_b):
    return factories.SkuFactory(face_value=Decimal("50.00"), allowed_merchant_ids=[shop_b.merchant.pk])


@pytest.fixture
def api_a(client, shop_a) -> TerminalClient:
    return TerminalClient(client=client, terminal=shop_a.terminal, secret=shop_a.secret)


@pytest.fixture
def api_b(shop_b) -> TerminalClient:
    from django.test import Client

    return TerminalClient(client=Client(), terminal=shop_b.terminal, secret=shop_b.secret)


def clerk_make(shop: Shop, username: str, stores=()):
    from redemption.services import clerk_link

    user = factories.UserFactory(username=username, role=roles.MERCHANT)
    clerk_link(user=user, merchant=shop.merchant, stores=stores)
    return user


@pytest.fixture(autouse=True)
def _forget_terminal_credentials():
    from redemption.services import terminal_credentials_forget

    terminal_credentials_forget()
    yield
    terminal_credentials_forget()
