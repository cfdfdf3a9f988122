from decimal import Decimal

import pytest

from voucherhub.core.money import money, rate


def test_money_rounds_half_up_once():
    assert money("2.345") == Decimal("2.35")
    assert money("-2.345") == Decimal("-2.35")
    assert money(3) == Decimal("3.00")


def test_money_refuses_float():
    with pytest.raises(TypeError):
        money(0.1)
    with pytest.raises(TypeError):
        rate(0.1)


def test_rate_has_four_places():
    assert rate("0.123456") == Decimal("0.1235")
