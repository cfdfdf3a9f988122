from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction

from settlement.errors import InsufficientFunds, Unbalanced
from settlement.models import Account, Entry, Transfer
from settlement.selectors.ledger import ledger_check
from settlement.services.ledger import platform_account, transfer_post, transfer_reverse, wallet_account
from settlement.services.wallets import wallet_credit_limit_set, wallet_for, wallet_topup_record

pytestmark = pytest.mark.django_db

D = Decimal


def test_unbalanced_transfer_is_refused_and_nothing_is_written():
    revenue = platform_account(Account.Kind.REVENUE)
    bank = platform_account(Account.Kind.BANK)
    with pytest.raises(Unbalanced):
        transfer_post(kind=Transfer.Kind.TOPUP, lines=[(revenue, D("10.00")), (bank, D("-9.99"))])
    assert not Entry.objects.exists() and not Transfer.objects.exists()


def test_topup_moves_balances_and_ledger_check_proves_them(tree, finance_user, capsys):
    wallet = wallet_for(tree.seller)
    wallet_topup_record(wallet=wallet, amount="500.00", actor=finance_user, reference="BANK-1")
    assert wallet_account(wallet, Account.Kind.WALLET).balance == D("500.00")
    assert platform_account(Account.Kind.BANK).balance == D("-500.00")
    report = ledger_check()
    assert report.ok and report.trial_balance["CNY"] == 0
    call_command("ledger_check")
    assert "ledger check OK" in capsys.readouterr().out


def test_topup_with_the_same_bank_reference_is_recorded_once(tree, finance_user):
    wallet = wallet_for(tree.seller)
    first = wallet_topup_record(wallet=wallet, amount="100.00", actor=finance_user, reference="BANK-9")
    again = wallet_topup_record(wallet=wallet, amount="100.00", actor=finance_user, reference="BANK-9")
    assert first.pk == again.pk
    assert wallet_account(wallet, Account.Kind.WALLET).balance == D("100.00")


def test_wallet_never_below_minus_its_credit_limit(tree, finance_user):
    wallet = wallet_for(tree.seller)
    wallet_credit_limit_set(wallet=wallet, credit_limit="50.00", actor=finance_user)
    account = wallet_account(wallet, Account.Kind.WALLET)
    revenue = platform_account(Account.Kind.REVENUE)
    transfer_post(kind=Transfer.Kind.SALE, lines=[(account, D("-50.00")), (revenue, D("50.00"))])
    with pytest.raises(InsufficientFunds):
        transfer_post(kind=Transfer.Kind.SALE, lines=[(account, D("-0.01")), (revenue, D("0.01"))])
    # and the database refuses it too, whoever writes
    with pytest.raises(IntegrityError), transaction.atomic():
        Account.objects.filter(pk=account.pk).update(balance=D("-50.01"))


@pytest.mark.postgres
def test_entries_are_append_only_in_postgresql(tree, finance_user):
    wallet = wallet_for(tree.seller)
    transfer = wallet_topup_record(wallet=wallet, amount="10.00", actor=finance_user, reference="BANK-2")
    entry = transfer.entries.first()
    with pytest.raises(Exception, match="append-only"), transaction.atomic():
        Entry.objects.filter(pk=entry.pk).update(amount=D("99.00"))
    with pytest.raises(Exception, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM settlement_entry WHERE id = %s", [entry.pk])
    with pytest.raises(Exception, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE settlement_transfer SET memo = 'x' WHERE id = %s", [transfer.pk])


def test_a_correction_is_a_reversing_transfer(tree, finance_user):
    wallet = wallet_for(tree.seller)
    transfer = wallet_topup_record(wallet=wallet, amount="80.00", actor=finance_user, reference="BANK-3")
    reversal = transfer_reverse(transfer=transfer, actor=finance_user)
    assert transfer_reverse(transfer=transfer, actor=finance_user).pk == reversal.pk
    assert wallet_account(wallet, Account.Kind.WALLET).balance == D("0.00")
    assert Entry.objects.filter(transfer=transfer).count() == 2  # the original stays
    assert ledger_check().ok


def test_ledger_check_finds_a_tampered_balance(tree, finance_user):
    wallet = wallet_for(tree.seller)
    wallet_topup_record(wallet=wallet, amount="10.00", actor=finance_user, reference="BANK-4")
    account = wallet_account(wallet, Account.Kind.WALLET)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE settlement_account SET balance = balance + 1 WHERE id = %s", [account.pk])
    report = ledger_check()
    assert not report.ok and report.mismatched[0]["account"] == account.pk


def test_credit_limit_cannot_drop_below_the_current_debt(tree, finance_user):
    from settlement.errors import LimitBreached

    wallet = wallet_for(tree.seller)
    wallet_credit_limit_set(wallet=wallet, credit_limit="100.00", actor=finance_user)
    account = wallet_account(wallet, Account.Kind.WALLET)
    transfer_post(kind=Transfer.Kind.SALE, lines=[(account, D("-60.00")), (platform_account(Account.Kind.REVENUE), D("60.00"))])
    with pytest.raises(LimitBreached):
        wallet_credit_limit_set(wallet=wallet, credit_limit="59.99", actor=finance_user)
    wallet_credit_limit_set(wallet=wallet, credit_limit="60.00", actor=finance_user)
