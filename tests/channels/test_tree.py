from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_q.models import Schedule

from catalog.services import codes_generate
from channels import selectors, services
from channels.apps import UPGRADE_SCHEDULE_NAME
from channels.errors import ChannelError, InvitationClosed, LevelNotAllowed, SelfAdoption, TreeLoop
from channels.models import CodeSale, Distributor, Invitation, LevelChange
from channels.tasks import levels_upgrade_run
from tests import factories
from voucherhub.core import roles
from voucherhub.core.errors import PermissionDenied
from voucherhub.core.models import AuditLog


@pytest.fixture
def ops(db):
    return factories.UserFactory(username="ops-tree", role=roles.OPS, is_staff=True)


def path_of(*distributors) -> str:
    return "/" + "".join(Distributor.path_segment(d.pk) for d in distributors)


def fresh(distributor):
    return Distributor.objects.get(pk=distributor.pk)


# --- tree shape ----------------------------------------------------------------------------------


def test_paths_and_depths(tree):
    assert tree.top.depth == 0 and tree.mid.depth == 1 and tree.leaf.depth == 2
    assert tree.leaf.path == path_of(tree.top, tree.mid, tree.leaf)
    assert list(selectors.downline(tree.top)) == [tree.mid, tree.leaf, tree.sibling]
    assert list(selectors.downline(tree.mid)) == [tree.leaf]


def test_tree_order_holds_when_ids_gain_a_digit(tree):
    """Paths sort as text: unpadded, a child /9/10/ would sort after its uncle /11/."""
    child, uncle = "/" + Distributor.path_segment(9) + Distributor.path_segment(10), "/" + Distributor.path_segment(11)
    assert sorted([uncle, child]) == [child, uncle]
    # and on the database: a sibling created after a deep branch still comes after the whole branch
    late = factories.DistributorFactory(name="late sibling", parent=tree.top)
    deep = factories.DistributorFactory(name="deep", parent=tree.leaf)
    assert list(selectors.downline(tree.top))[-1] == late
    assert list(selectors.downline(tree.mid)) == [tree.leaf, deep]


def test_self_adoption_is_refused(tree, ops):
    with pytest.raises(SelfAdoption):
        services.distributor_move(distributor=tree.mid, new_parent=tree.mid, actor=ops)
    with pytest.raises(IntegrityError), transaction.atomic():  # and the database refuses it too
        Distributor.objects.filter(pk=tree.mid.pk).update(parent=tree.mid.pk)


@pytest.mark.parametrize("under", ["leaf", "mid"])
def test_moving_under_the_own_downline_is_a_loop(tree, ops, under):
    target = getattr(tree, under)
    with pytest.raises(TreeLoop):
        services.distributor_move(distributor=tree.top, new_parent=target, actor=ops)
    assert fresh(tree.top).parent is None


def test_moving_a_subtree_rewrites_every_path_and_is_audited(tree, ops):
    services.distributor_move(distributor=tree.mid, new_parent=tree.sibling, actor=ops, reason="合并区域")
    mid, leaf = fresh(tree.mid), fresh(tree.leaf)
    assert mid.parent == tree.sibling
    assert leaf.path == path_of(tree.top, tree.sibling, tree.mid, tree.leaf)
    assert leaf.depth == 3
    entry = AuditLog.objects.get(action="distributor.move")
    assert entry.actor == ops and entry.reason == "合并区域"
    assert entry.data == {"from_parent": tree.top.pk, "to_parent": tree.sibling.pk, "subtree_size": 2}
    # to another tree, then to the top
    services.distributor_move(distributor=tree.mid, new_parent=tree.neighbour, actor=ops)
    assert set(selectors.downline(tree.neighbour)) == {tree.neighbour_child, tree.mid, tree.leaf}
    assert list(selectors.downline(tree.top)) == [tree.sibling]
    services.distributor_move(distributor=tree.mid, new_parent=None, actor=ops)
    assert fresh(tree.leaf).path == path_of(tree.mid, tree.leaf)


def test_only_ops_moves_a_subtree(tree):
    with pytest.raises(PermissionDenied):
        services.distributor_move(distributor=tree.leaf, new_parent=tree.sibling, actor=tree.top_user)
    assert fresh(tree.leaf).parent == tree.mid


def test_status_changes_are_services_with_rules(tree, ops):
    pending = factories.DistributorFactory(level=tree.promoter, parent=tree.leaf, status=Distributor.Status.PENDING)
    services.distributor_approve(distributor=pending, actor=ops)
    assert fresh(pending).status == Distributor.Status.ACTIVE and fresh(pending).approved_by == ops
    services.distributor_suspend(distributor=pending, actor=ops, reason="窜货")
    with pytest.raises(ChannelError):
        services.distributor_approve(distributor=pending, actor=ops)
    services.distributor_reactivate(distributor=pending, actor=ops)
    assert fresh(pending).status == Distributor.Status.ACTIVE


# --- invitations ------------------------------------------------------------------------------------


def signup(token, username="newbie", **extra):
    data = {"token": token, "username": username, "password": "Str0ng-pass-2026", "name": "新团长", "region": "浙江 / 温州", **extra}
    return services.invitation_accept(**data)


def test_invitation_signup_is_pending_until_ops_approves(tree, ops):
    invitation = services.invitation_create(distributor=tree.mid, target_level=tree.promoter, max_uses=2, actor=tree.mid_user)
    newcomer = signup(invitation.token)
    assert newcomer.parent == tree.mid and newcomer.level == tree.promoter
    assert newcomer.status == Distributor.Status.PENDING
    assert newcomer.staff.get().user.username == "newbie"
    assert roles.DISTRIBUTOR in roles.roles_of(newcomer.staff.get().user)
    assert LevelChange.objects.get(distributor=newcomer).reason == LevelChange.Reason.SIGNUP
    services.distributor_approve(distributor=newcomer, actor=ops)
    assert fresh(newcomer).status == Distributor.Status.ACTIVE


def test_a_level_may_auto_approve_signups(tree):
    tree.promoter.auto_approve_signups = True
    tree.promoter.save()
    invitation = services.invitation_create(distributor=tree.mid, target_level=tree.promoter)
    assert signup(invitation.token).status == Distributor.Status.ACTIVE


def test_invitation_max_uses(tree):
    invitation = services.invitation_create(distributor=tree.mid, target_level=tree.promoter, max_uses=2)
    signup(invitation.token, "first")
    signup(invitation.token, "second")
    with pytest.raises(InvitationClosed):
        signup(invitation.token, "third")
    assert not get_user_model().objects.filter(username="third").exists()
    invitation.refresh_from_db()
    assert invitation.used_count == 2 and invitation.state == "used_up"


def test_invitation_expiry_and_withdrawal(tree):
    expired = services.invitation_create(distributor=tree.mid, target_level=tree.promoter)
    Invitation.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(InvitationClosed):
        signup(expired.token)
    withdrawn = services.invitation_create(distributor=tree.mid, target_level=tree.promoter)
    services.invitation_revoke(invitation=withdrawn)
    with pytest.raises(InvitationClosed):
        signup(withdrawn.token)
    with pytest.raises(InvitationClosed):
        signup("no-such-token")
    assert not Distributor.objects.filter(name="新团长").exists()


def test_invitation_rules(tree):
    with pytest.raises(LevelNotAllowed):  # a 省代 cannot recruit a 总代
        services.invitation_create(distributor=tree.mid, target_level=tree.general)
    with pytest.raises(ChannelError):
        services.invitation_create(distributor=tree.mid, target_level=tree.promoter, expires_in_days=365)
    with pytest.raises(ChannelError):
        services.invitation_create(distributor=tree.mid, target_level=tree.promoter, max_uses=0)
    invitation = services.invitation_create(distributor=tree.mid, target_level=tree.promoter)
    services.distributor_suspend(distributor=tree.mid, actor=None)
    with pytest.raises(InvitationClosed):
        signup(invitation.token)


def test_signup_refuses_a_taken_username(tree):
    invitation = services.invitation_create(distributor=tree.mid, target_level=tree.promoter, max_uses=3)
    with pytest.raises(ChannelError) as info:
        signup(invitation.token, "mid-user")
    assert info.value.field == "username"
    invitation.refresh_from_db()
    assert invitation.used_count == 0


# --- the upgrade job -------------------------------------------------------------------------------


def sell(distributor, sku, amount, *, days_ago=0):
    batch = codes_generate(sku=sku, count=1)
    (sale,) = services.code_sale_record(code_ids=[batch.codes.get().pk], distributor=distributor, order_ref="T", unit_price=amount)
    CodeSale.objects.filter(pk=sale.pk).update(sold_at=timezone.now() - timedelta(days=days_ago))


def test_upgrade_job_promotes_exactly_the_qualifying_distributors(tree, sku):
    # 省代 needs 1,000 of sales in 30 days AND 2 active direct downline; 总代 needs 5,000 in 30 days.
    tree.province.auto_upgrade = True
    tree.province.upgrade_min_sales = Decimal("1000.00")
    tree.province.upgrade_min_active_downline = 2
    tree.province.save()
    tree.general.auto_upgrade = True
    tree.general.upgrade_min_sales = Decimal("5000.00")
    tree.general.save()
    qualifies = tree.leaf  # 推广员 with enough sales and 2 active children
    factories.DistributorFactory(level=tree.promoter, parent=qualifies)
    factories.DistributorFactory(level=tree.promoter, parent=qualifies)
    sell(qualifies, sku, "1000.00")
    too_few_downline = factories.DistributorFactory(level=tree.promoter, parent=tree.sibling)
    factories.DistributorFactory(level=tree.promoter, parent=too_few_downline)
    factories.DistributorFactory(level=tree.promoter, parent=too_few_downline, status=Distributor.Status.PENDING)
    sell(too_few_downline, sku, "2000.00")
    old_sales = factories.DistributorFactory(level=tree.promoter, parent=tree.sibling)
    factories.DistributorFactory(level=tree.promoter, parent=old_sales)
    factories.DistributorFactory(level=tree.promoter, parent=old_sales)
    sell(old_sales, sku, "3000.00", days_ago=31)
    jumps_two = tree.sibling  # 省代 already, sells 6,000 -> 总代
    sell(jumps_two, sku, "6000.00")

    assert levels_upgrade_run() == 2
    assert fresh(qualifies).level == tree.province
    assert fresh(jumps_two).level == tree.general
    assert fresh(too_few_downline).level == tree.promoter
    assert fresh(old_sales).level == tree.promoter
    change = LevelChange.objects.filter(distributor=qualifies).latest("id")
    assert (change.from_level, change.to_level, change.reason) == (tree.promoter, tree.province, LevelChange.Reason.AUTO_UPGRADE)
    # running again changes nothing
    out = StringIO()
    call_command("run_level_upgrades", stdout=out)
    assert "0 distributor(s) upgraded" in out.getvalue()


def test_upgrade_job_is_scheduled_once(db):
    assert Schedule.objects.filter(name=UPGRADE_SCHEDULE_NAME, func="channels.tasks.levels_upgrade_run").count() == 1
    from channels.apps import _ensure_schedules

    _ensure_schedules(sender=None)
    assert Schedule.objects.filter(name=UPGRADE_SCHEDULE_NAME).count() == 1
