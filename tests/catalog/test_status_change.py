"""catalog's one writer of a code's status, for one code or many: one statement on PostgreSQL, the ORM elsewhere."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from catalog import services
from catalog.models import CardCode, CodeEvent
from tests import factories
from tests.catalog.vault_helpers import insert_codes

pytestmark = pytest.mark.django_db

S = CardCode.Status


def _codes(n, prefix):
    return list(insert_codes(sku=factories.SkuFactory(), plaintexts=[f"{prefix}{i:08d}" for i in range(n)]).codes.order_by("pk"))


def test_a_sale_through_reserved_writes_both_steps_as_events(ops_user):
    codes = _codes(3, "THROUGH")
    with transaction.atomic():
        moved = services.code_status_change(
            codes=codes, to_status=S.SOLD, through=[S.RESERVED], from_statuses=[S.AVAILABLE], order_ref="O-1", reference="O-1", locked=True
        )
    assert moved == sorted(codes, key=lambda c: c.pk) and all(c.status == S.SOLD and c.previous_status == S.AVAILABLE for c in moved)
    assert set(CardCode.objects.values_list("status", "order_ref")) == {(S.SOLD, "O-1")}
    for code in codes:
        assert list(CodeEvent.objects.filter(code=code).values_list("from_status", "to_status", "reference")) == [
            (S.AVAILABLE, S.RESERVED, "O-1"),
            (S.RESERVED, S.SOLD, "O-1"),
        ]


def test_a_path_outside_the_transitions_is_refused_before_anything_is_read():
    codes = _codes(1, "BADPATH")
    with pytest.raises(ValueError):
        services.code_status_change(codes=codes, to_status=S.AVAILABLE, through=[S.SOLD])
    assert not CodeEvent.objects.exists()


def test_from_statuses_narrows_where_codes_may_come_from():
    codes = _codes(2, "NARROW")
    with pytest.raises(services.InvalidTransition) as refused:
        services.code_status_change(codes=[c.pk for c in codes], to_status=S.SOLD, from_statuses=[S.RESERVED])
    assert refused.value.details["refused"] == {S.AVAILABLE: 2}
    assert set(CardCode.objects.values_list("status", flat=True)) == {S.AVAILABLE} and not CodeEvent.objects.exists()


def test_ids_come_back_as_rows_with_what_an_audit_entry_needs():
    codes = _codes(2, "BYIDS")
    moved = services.code_status_change(
        codes=[c.pk for c in reversed(codes)], to_status=S.VOID, reason="bad batch", also={"order_ref": "X"}
    )
    assert [c.pk for c in moved] == [c.pk for c in codes]
    assert [(c.hint, c.batch_id, c.previous_status, c.status) for c in moved] == [(c.hint, c.batch_id, S.AVAILABLE, S.VOID) for c in codes]
    assert set(CodeEvent.objects.values_list("reason", flat=True)) == {"bad batch"}


def test_a_queryset_moves_the_rows_it_selects():
    codes = _codes(4, "QSET")
    CardCode.objects.filter(pk=codes[0].pk).update(status=S.SOLD)
    moved = services.code_status_change(codes=CardCode.objects.filter(pk__in=[c.pk for c in codes], status=S.AVAILABLE), to_status=S.VOID)
    assert len(moved) == 3 and CardCode.objects.filter(status=S.VOID).count() == 3


@pytest.mark.postgres
def test_many_codes_move_in_one_statement():
    codes = _codes(300, "MANY")
    with CaptureQueriesContext(connection) as queries:
        services.code_status_change(codes=[c.pk for c in codes], to_status=S.RESERVED, order_ref="BULK")
    assert len(queries.captured_queries) == 1
    assert CodeEvent.objects.filter(from_status=S.AVAILABLE, to_status=S.RESERVED).count() == 300
