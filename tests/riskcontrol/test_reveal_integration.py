"""The catalog's reveal path runs risk control's hourly limit and second verification (wired in ready())."""

import pytest
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from catalog import services as catalog_services
from catalog.services import WrongPassword, codes_generate
from riskcontrol.protection import RevealLimitExceeded, reveal_guard, reveal_second_factor
from tests import factories
from tests.factories import PASSWORD
from tests.riskcontrol.conftest import settings_set
from voucherhub.core import roles

pytestmark = pytest.mark.django_db


@pytest.fixture
def revealer(db):
    return factories.UserFactory(username="revealer", role=roles.OPS, is_staff=True)


def test_risk_checks_are_wired_into_the_catalog():
    assert reveal_guard in catalog_services.REVEAL_GUARDS
    assert catalog_services._second_factor_check == [reveal_second_factor]


def test_hourly_reveal_limit_stops_a_catalog_reveal(revealer):
    settings_set(reveal_limit_per_hour=3)
    batch = codes_generate(sku=factories.SkuFactory(), count=5)
    codes = list(batch.codes.order_by("pk"))
    # given three single reveals inside the limit
    for code in codes[:3]:
        catalog_services.codes_reveal(codes=[code], actor=revealer, reason="support ticket 7", ip="10.0.0.9")
    # when a fourth is asked within the hour
    with pytest.raises(RevealLimitExceeded):
        catalog_services.codes_reveal(codes=[codes[3]], actor=revealer, reason="support ticket 7", ip="10.0.0.9")


def test_a_user_with_an_authenticator_must_give_its_code_for_a_bulk_reveal(revealer):
    device = TOTPDevice.objects.create(user=revealer, name="phone", confirmed=True)
    batch = codes_generate(sku=factories.SkuFactory(), count=2)
    token = f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):0{device.digits}d}"
    revealed = catalog_services.codes_reveal(codes=batch.codes.all(), actor=revealer, reason="audit", ip="10.0.0.9", password=token)
    assert len(revealed) == 2
    # the password no longer counts as the second verification
    with pytest.raises(WrongPassword):
        catalog_services.codes_reveal(codes=batch.codes.all(), actor=revealer, reason="audit", ip="10.0.0.9", password=PASSWORD)


def test_without_an_authenticator_the_password_is_the_second_verification(revealer):
    batch = codes_generate(sku=factories.SkuFactory(), count=2)
    assert len(catalog_services.codes_reveal(codes=batch.codes.all(), actor=revealer, reason="audit", ip="1.2.3.4", password=PASSWORD)) == 2
