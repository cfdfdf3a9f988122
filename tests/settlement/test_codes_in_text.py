"""Card codes typed into settlement's free text: after-sales details and notes, API order references.

Refused however they are spelled; cases stored before the guard are masked by `aftersales_mask_codes`."""

import json
from io import StringIO

import pytest
from django.core.management import call_command

from catalog import codegen
from catalog.codetext import CodeInText, fold
from catalog.vault import keyring
from settlement.errors import SettlementError
from settlement.models import CodeIssue, Order
from settlement.services.aftersales import code_issue_reject, code_issue_report
from settlement.services.orders import order_place
from tests.settlement.conftest import fund
from tests.settlement.test_api import Api
from voucherhub.core.models import AuditLog

pytestmark = pytest.mark.django_db
ZWSP = "\u200b"


def plain(code) -> str:
    return keyring().open(ciphertext=code.ciphertext, key_id=code.key_id, blind_index=code.blind_index)


def dotted(code: str) -> str:
    return ".".join(code[i : i + 4] for i in range(0, len(code), 4))


@pytest.fixture
def order(tree, finance_user):
    fund(tree.seller, "100.00", actor=finance_user)
    return order_place(channel=Order.Channel.PORTAL, distributor=tree.seller, sku=tree.sku, quantity=2, actor=tree.seller_user)


SPELLINGS = {
    "dots": lambda p: f"{dotted(p)} says invalid",
    "no check symbol": lambda p: f"the code {p[:-1]} says invalid",
    "zero-width spaces": lambda p: ZWSP.join(p),
    "zero-width spaces, no check symbol": lambda p: ZWSP.join(p[:-1]),
}


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_the_reported_code_in_any_spelling_is_refused_and_nothing_stored(tree, order, spelling):
    item = order.items.order_by("pk").first()
    with pytest.raises(SettlementError) as refused:
        code_issue_report(item=item, reason="other", details=SPELLINGS[spelling](plain(item.code)), distributor=tree.seller)
    assert refused.value.field == "details"
    assert not CodeIssue.objects.exists()


def test_another_code_of_the_vault_in_the_details_is_refused(tree, order):
    first, second = order.items.order_by("pk")
    with pytest.raises(SettlementError):
        code_issue_report(item=first, reason="other", details=f"the other one {dotted(plain(second.code))} works", distributor=tree.seller)
    case = code_issue_report(item=first, reason="other", details="the other one (••••) works", distributor=tree.seller)
    assert case.details == "the other one (••••) works"


def test_a_resolution_note_that_holds_a_code_is_refused(tree, order, ops_user):
    item = order.items.order_by("pk").first()
    case = code_issue_report(item=item, reason="other", details="does not work", distributor=tree.seller)
    with pytest.raises(CodeInText) as refused:
        code_issue_reject(case=case, actor=ops_user, note=f"works for us: {ZWSP.join(plain(item.code))}")
    assert refused.value.field == "note"
    case.refresh_from_db()
    assert case.status == CodeIssue.Status.OPEN and case.resolution_note == ""


def test_an_api_order_reference_that_holds_a_code_is_a_field_error(client, tree, order, finance_user):
    fund(tree.seller, "100.00", actor=finance_user)
    api = Api(client, tree.seller)
    code = plain(order.items.order_by("pk").first().code)
    response = api.post("/api/v1/orders/", {"sku": tree.sku.code, "quantity": 1, "customer_ref": code[:-1]}, idempotency_key="ref-1")
    assert response.status_code == 400, response.content
    assert list(response.json()["error"]["fields"]) == ["customer_ref"]
    assert Order.objects.count() == 1


def test_the_command_masks_codes_already_stored_in_cases(tree, order):
    # given: cases written before the guard caught every spelling (saved directly, as the old code did)
    first, second = order.items.order_by("pk")
    leaked = CodeIssue.objects.create(
        order=order, item=first, code_hint=first.code.hint, reason="other", details=f"code {dotted(plain(first.code))} fails"
    )
    clean = CodeIssue.objects.create(order=order, item=second, code_hint=second.code.hint, reason="other", details="fails at the till")
    out = StringIO()
    call_command("aftersales_mask_codes", "--dry-run", stdout=out)
    assert "cases holding a card code: 1" in out.getvalue()
    leaked.refresh_from_db()
    assert fold(plain(first.code)) in fold(leaked.details)  # a dry run changes nothing
    # when
    call_command("aftersales_mask_codes", stdout=StringIO())
    # then
    leaked.refresh_from_db()
    clean.refresh_from_db()
    assert leaked.details == f"code {first.code.hint} fails"
    assert clean.details == "fails at the till"
    stored = json.dumps(list(CodeIssue.objects.values("details", "resolution_note")), ensure_ascii=False)
    assert codegen.canonical(plain(first.code))[:-1] not in fold(stored)
    assert AuditLog.objects.filter(action="aftersales.masked", object_id=str(leaked.pk)).count() == 1
    call_command("aftersales_mask_codes", stdout=StringIO())  # again: nothing left to do
    assert AuditLog.objects.filter(action="aftersales.masked").count() == 1
