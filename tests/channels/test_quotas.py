import threading

import pytest
from django.db import IntegrityError, connection, transaction

from channels import selectors, services
from channels.errors import DistributorNotActive, InvalidQuantity, NotInDownline, QuotaExceeded, ReturnExceedsDraw
from channels.models import Quota, QuotaMovement
from tests import factories
from voucherhub.core import roles
from voucherhub.core.errors import PermissionDenied


@pytest.fixture
def ops(db):
    return factories.UserFactory(username="ops-quota", role=roles.OPS, is_staff=True)


def balance(distributor, sku):
    return Quota.objects.get(distributor=distributor, sku=sku).balance


def test_allocate_pass_down_draw_and_return(tree, sku, ops):
    services.quota_allocate(distributor=tree.top, sku=sku, quantity=100, actor=ops)
    services.quota_transfer(from_distributor=tree.top, to_distributor=tree.mid, sku=sku, quantity=40)
    services.quota_transfer(from_distributor=tree.top, to_distributor=tree.leaf, sku=sku, quantity=10)  # any depth below
    services.quota_transfer(from_distributor=tree.mid, to_distributor=tree.leaf, sku=sku, quantity=15)
    services.quota_draw(distributor=tree.leaf, sku=sku, quantity=5, reference="ORDER-1")
    assert (balance(tree.top, sku), balance(tree.mid, sku), balance(tree.leaf, sku)) == (50, 25, 20)
    services.quota_return(distributor=tree.leaf, sku=sku, quantity=2, reference="ORDER-1")
    assert balance(tree.leaf, sku) == 22
    with pytest.raises(ReturnExceedsDraw):
        services.quota_return(distributor=tree.leaf, sku=sku, quantity=4, reference="ORDER-1")
    with pytest.raises(ReturnExceedsDraw):
        services.quota_return(distributor=tree.leaf, sku=sku, quantity=1, reference="ORDER-unknown")
    # every movement is a row: who, from, to, how many
    kinds = list(QuotaMovement.objects.order_by("id").values_list("kind", "from_distributor", "to_distributor", "quantity"))
    assert kinds == [
        ("allocate", None, tree.top.pk, 100),
        ("transfer", tree.top.pk, tree.mid.pk, 40),
        ("transfer", tree.top.pk, tree.leaf.pk, 10),
        ("transfer", tree.mid.pk, tree.leaf.pk, 15),
        ("draw", tree.leaf.pk, None, 5),
        ("return", None, tree.leaf.pk, 2),
    ]
    assert QuotaMovement.objects.filter(kind="allocate").get().actor == ops
    assert selectors.quota_check() == []


def test_quota_never_exceeds_what_was_given(tree, sku, ops):
    services.quota_allocate(distributor=tree.top, sku=sku, quantity=10, actor=ops)
    with pytest.raises(QuotaExceeded):
        services.quota_transfer(from_distributor=tree.top, to_distributor=tree.mid, sku=sku, quantity=11)
    with pytest.raises(QuotaExceeded):
        services.quota_draw(distributor=tree.mid, sku=sku, quantity=1, reference="X")
    with pytest.raises(QuotaExceeded):
        services.quota_revoke(distributor=tree.top, sku=sku, quantity=11, actor=ops)
    services.quota_revoke(distributor=tree.top, sku=sku, quantity=4, actor=ops)
    assert balance(tree.top, sku) == 6
    assert selectors.quota_check() == []


def test_quota_goes_only_down_the_own_tree(tree, sku, ops):
    services.quota_allocate(distributor=tree.top, sku=sku, quantity=10, actor=ops)
    services.quota_allocate(distributor=tree.mid, sku=sku, quantity=10, actor=ops)
    for source, target in ((tree.mid, tree.top), (tree.mid, tree.sibling), (tree.top, tree.neighbour_child), (tree.top, tree.top)):
        with pytest.raises(NotInDownline):
            services.quota_transfer(from_distributor=source, to_distributor=target, sku=sku, quantity=1)
    services.distributor_suspend(distributor=tree.leaf, actor=ops)
    with pytest.raises(DistributorNotActive):
        services.quota_transfer(from_distributor=tree.mid, to_distributor=tree.leaf, sku=sku, quantity=1)
    with pytest.raises(InvalidQuantity):
        services.quota_transfer(from_distributor=tree.top, to_distributor=tree.mid, sku=sku, quantity=0)
    with pytest.raises(PermissionDenied):
        services.quota_allocate(distributor=tree.top, sku=sku, quantity=10, actor=tree.top_user)


def test_database_backs_the_invariants(tree, sku, ops):
    services.quota_allocate(distributor=tree.top, sku=sku, quantity=1, actor=ops)
    with pytest.raises(IntegrityError), transaction.atomic():
        Quota.objects.filter(distributor=tree.top).update(balance=-1)
    # a hand-edited balance is found by the check
    Quota.objects.filter(distributor=tree.top).update(balance=7)
    (mismatch,) = selectors.quota_check()
    assert (mismatch.quota.balance, mismatch.movements_sum) == (7, 1)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_sub_allocations_never_overdraw(tree, sku):
    """20 threads move quota at once, 5 units each: 15 pass from mid (40) to leaf, 5 feed mid from top (30)."""
    ops = factories.UserFactory(username="ops-race", role=roles.OPS, is_staff=True)
    services.quota_allocate(distributor=tree.mid, sku=sku, quantity=40, actor=ops)
    services.quota_allocate(distributor=tree.top, sku=sku, quantity=30, actor=ops)
    barrier = threading.Barrier(20)
    results: list[str] = []
    lock = threading.Lock()

    def worker(n):
        try:
            barrier.wait(timeout=10)
            if n % 4 == 0:  # top feeds mid while mid passes down: two rows locked in pk order
                services.quota_transfer(from_distributor=tree.top, to_distributor=tree.mid, sku=sku, quantity=5)
                outcome = "fed"
            else:
                services.quota_transfer(from_distributor=tree.mid, to_distributor=tree.leaf, sku=sku, quantity=5)
                outcome = "ok"
        except QuotaExceeded:
            outcome = "refused"
        except Exception as exc:  # pragma: no cover - shown in the assertion
            outcome = f"error: {exc!r}"
        finally:
            connection.close()
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not [r for r in results if r.startswith("error")], results
    fed, passed = results.count("fed"), results.count("ok")
    assert fed == 5  # top has 30: every feed of 5 fits
    assert balance(tree.top, sku) == 30 - 5 * fed
    assert balance(tree.leaf, sku) == 5 * passed
    assert balance(tree.mid, sku) == 40 + 5 * fed - 5 * passed >= 0
    assert passed + results.count("refused") == 15
    assert passed <= (40 + 25) // 5 and results.count("refused") >= 2
    assert selectors.quota_check() == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_draws_exhaust_exactly_the_quota(tree, sku):
    ops = factories.UserFactory(username="ops-race2", role=roles.OPS, is_staff=True)
    services.quota_allocate(distributor=tree.leaf, sku=sku, quantity=7, actor=ops)
    barrier = threading.Barrier(12)
    outcomes = []

    def worker(n):
        try:
            barrier.wait(timeout=10)
            services.quota_draw(distributor=tree.leaf, sku=sku, quantity=1, reference=f"O-{n}")
            outcomes.append("ok")
        except QuotaExceeded:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert outcomes.count("ok") == 7 and outcomes.count("refused") == 5
    assert balance(tree.leaf, sku) == 0
    assert selectors.quota_check() == []
