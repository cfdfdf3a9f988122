"""A withdrawal's `net = amount - fee` check holds to the cent on SQLite too (the database of `make run`).

SQLite subtracts decimals as floats: 100.00 - 0.10 is 99.899999…, so the check refused honest withdrawals
there. CI runs on PostgreSQL, so the table is built here in a private in-memory SQLite database from the
model's own constraints.
"""

import pytest
from django.db import IntegrityError, connection

from settlement.models import Withdrawal
from voucherhub.core.sqlite.base import DatabaseWrapper

ROW = ("W-1", 1, "工商银行", "requested", "", "", "2026-12-01 10:00:00")
INSERT = (
    'INSERT INTO "settlement_withdrawal" (number, wallet_id, payee, status, note, payout_reference, created_at,'
    " amount, fee, net) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


@pytest.fixture
def sqlite_withdrawals(db):
    wrapper = DatabaseWrapper({**connection.settings_dict, "ENGINE": "voucherhub.core.sqlite", "NAME": ":memory:"})
    with wrapper.schema_editor() as editor:
        editor.create_model(Withdrawal)
    wrapper.disable_constraint_checking()  # foreign keys only: the wallet and users are not here; CHECKs stay on
    yield wrapper
    wrapper.close()


@pytest.mark.parametrize(("amount", "fee", "net"), [("100.00", "0.10", "99.90"), ("35.30", "2.00", "33.30"), ("0.30", "0.10", "0.20")])
def test_the_net_check_accepts_amount_less_fee_to_the_cent(sqlite_withdrawals, amount, fee, net):
    with sqlite_withdrawals.cursor() as cursor:
        cursor.execute(INSERT.replace("?", "%s"), (*ROW, amount, fee, net))


def test_the_net_check_still_refuses_a_wrong_net(sqlite_withdrawals):
    with pytest.raises(IntegrityError), sqlite_withdrawals.cursor() as cursor:
        cursor.execute(INSERT.replace("?", "%s"), (*ROW, "100.00", "0.10", "99.80"))
