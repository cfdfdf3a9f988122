"""A card code typed into an admin search box is not searched, is dropped from the address and is logged masked."""

import logging

import pytest

from catalog.codetext import fold
from tests import factories
from voucherhub.core.models import AuditLog

pytestmark = pytest.mark.django_db


def dotted(code: str) -> str:
    return ".".join(code[i : i + 4] for i in range(0, len(code), 4))


@pytest.mark.parametrize("path", ["/admin/settlement/order/", "/admin/catalog/cardcode/", "/admin/settlement/codeissue/"])
def test_a_code_in_an_admin_search_box_is_refused_and_masked(ops_client, path, caplog):
    code, plain = factories.card_code(sku=factories.SkuFactory())
    caplog.set_level(logging.INFO)
    response = ops_client.get(path, {"q": f"order of {dotted(plain[:-1])}", "o": "1"})
    assert response.status_code == 302 and response["Location"] == f"{path}?o=1"
    entry = AuditLog.objects.get(action="codes.search_refused")
    assert entry.data["search"] == f"order of {code.hint}" and entry.data["path"] == path
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert code.hint in logged
    everything = fold(logged + str(AuditLog.objects.values_list("data", "reason")))
    assert fold(plain)[:-1] not in everything


def test_the_person_is_told_where_to_look_a_code_up(ops_client, settings):
    settings.LANGUAGE_CODE = "en"
    _code, plain = factories.card_code(sku=factories.SkuFactory())
    followed = ops_client.get("/admin/settlement/order/", {"q": plain}, follow=True)
    assert followed.redirect_chain == [("/admin/settlement/order/", 302)]
    assert [str(m) for m in followed.context["messages"]] == [
        "That search holds a card code. Codes are not searched in lists: use Find by code on the card-code list."
    ]


def test_an_ordinary_admin_search_runs(ops_client):
    factories.card_code(sku=factories.SkuFactory())
    assert ops_client.get("/admin/settlement/order/", {"q": "VH2026120700012345"}).status_code == 200
    assert not AuditLog.objects.filter(action="codes.search_refused").exists()
