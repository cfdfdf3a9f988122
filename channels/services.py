"""Every write of the channels app. Keyword-only `<thing>_<action>` functions raising domain errors.

Other apps (settlement, redemption) use: price_quote, retail_price_check, commission_plan,
upline_chain (re-exported from channels.pricing), and the writers of channels' rows an order or refund
moves: quota_held / quota_draw / quota_return (quota movements) and code_sale_record (CodeSale rows).
"""

import ipaddress
import re
import secrets
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q, Sum, Value
from django.db.models.functions import Concat, Substr
from django.utils import timezone
from django.utils.translation import gettext as _

from catalog.models import CardCode, Sku
from channels import lock_objects
from channels.errors import (
    ChannelError,
    DistributorNotActive,
    InvalidQuantity,
    InvitationClosed,
    LevelNotAllowed,
    NotInDownline,
    QuotaExceeded,
    ReturnExceedsDraw,
    SelfAdoption,
    SlugTaken,
    TreeLoop,
)
from channels.models import (
    SLUG_RE,
    ApiKey,
    CodeSale,
    Distributor,
    DistributorLevel,
    DistributorStaff,
    Invitation,
    LevelChange,
    PriceViolation,
    Quota,
    QuotaMovement,
    Storefront,
    StorefrontItem,
)
from channels.pricing import (  # noqa: F401 - the public surface other apps import from here
    CommissionLine,
    PriceQuote,
    commission_plan,
    price_quote,
    retail_price_check,
    upline_chain,
)
from voucherhub.core import roles, sealing
from voucherhub.core.audit import audit_record
from voucherhub.core.errors import PermissionDenied
from voucherhub.core.money import money

INVITATION_MAX_DAYS = 90
INVITATION_MAX_USES = 1000
API_SECRET_PURPOSE = "channels.apikey"
MAX_ALLOWLIST = 20


def _require_ops(actor) -> None:
    if actor is not None and not roles.has_role(actor, roles.OPS):
        raise PermissionDenied(_("Only operations staff may do this."))


def _locked(distributor: Distributor) -> Distributor:
    return lock_objects.distributor_lock(distributor)


# --- The tree ---------------------------------------------------------------------------------


@transaction.atomic
def distributor_create(
    *,
    name: str,
    level: DistributorLevel,
    parent: Distributor | None = None,
    kind: str = Distributor.Kind.PROMOTER,
    status: str = Distributor.Status.ACTIVE,
    region: str = "",
    contact_name: str = "",
    phone: str = "",
    email: str = "",
    invitation: Invitation | None = None,
    actor=None,
    reason: str = LevelChange.Reason.MANUAL,
) -> Distributor:
    """Create a distributor under `parent` (or at the top) and record its first level."""
    parent_path = ""
    if parent is not None:
        parent_path = _locked(parent).path
    distributor = Distributor.objects.create(
        name=name.strip(),
        level=level,
        parent=parent,
        kind=kind,
        status=status,
        region=region.strip(),
        contact_name=contact_name.strip(),
        phone=phone.strip(),
        email=email.strip(),
        invitation=invitation,
        approved_at=timezone.now() if status == Distributor.Status.ACTIVE else None,
        approved_by=actor if status == Distributor.Status.ACTIVE and getattr(actor, "is_authenticated", False) else None,
    )
    distributor.path = f"{parent_path or '/'}{Distributor.path_segment(distributor.pk)}"
    distributor.save(update_fields=["path"])
    LevelChange.objects.create(distributor=distributor, to_level=level, reason=reason, actor=_user_or_none(actor))
    audit_record(actor=actor, action="distributor.create", obj=distributor, data={"parent": parent.pk if parent else None})
    return distributor


def _user_or_none(actor):
    return actor if getattr(actor, "is_authenticated", False) else None


@transaction.atomic
def distributor_move(
    *, distributor: Distributor, new_parent: Distributor | None, actor, reason: str = "", ip: str | None = None
) -> Distributor:
    """Move `distributor` and its whole subtree under `new_parent` (None: to the top). Ops only; audited.

    Refuses self-adoption and loops (a new parent inside the moved subtree). Both rows are locked in
    primary-key order, so two crossing moves cannot build a loop between them.
    """
    _require_ops(actor)
    if new_parent is not None and new_parent.pk == distributor.pk:
        raise SelfAdoption(field="parent")
    pks = sorted({distributor.pk, *([new_parent.pk] if new_parent else [])})
    rows = {d.pk: d for d in Distributor.objects.select_for_update().filter(pk__in=pks).order_by("pk")}
    moving = rows[distributor.pk]
    target = rows[new_parent.pk] if new_parent else None
    if target is not None and target.path.startswith(moving.path):
        raise TreeLoop(field="parent")
    old_parent_id = moving.parent_id
    old_path = moving.path
    new_path = f"{target.path if target else '/'}{Distributor.path_segment(moving.pk)}"
    if new_path != old_path:
        Distributor.objects.filter(path__startswith=old_path).update(path=Concat(Value(new_path), Substr("path", len(old_path) + 1)))
    Distributor.objects.filter(pk=moving.pk).update(parent=target)
    moved = Distributor.objects.subtree_of(Distributor(pk=moving.pk, path=new_path)).count()
    audit_record(
        actor=actor,
        action="distributor.move",
        obj=moving,
        ip=ip,
        reason=reason,
        data={"from_parent": old_parent_id, "to_parent": target.pk if target else None, "subtree_size": moved},
    )
    distributor.refresh_from_db()
    return distributor


def _set_status(distributor: Distributor, *, to: str, allowed_from: set[str], actor, action: str, reason: str = "") -> Distributor:
    with transaction.atomic():
        row = _locked(distributor)
        if row.status == to:
            return row
        if row.status not in allowed_from:
            raise ChannelError(_("A %(status)s distributor cannot be changed this way.") % {"status": row.get_status_display()})
        before = row.status
        row.status = to
        fields = ["status"]
        if to == Distributor.Status.ACTIVE and row.approved_at is None:
            row.approved_at = timezone.now()
            row.approved_by = _user_or_none(actor)
            fields += ["approved_at", "approved_by"]
        row.save(update_fields=fields)
        audit_record(actor=actor, action=action, obj=row, reason=reason, data={"from": before, "to": to})
    distributor.refresh_from_db()
    return distributor


def distributor_approve(*, distributor: Distributor, actor) -> Distributor:
    _require_ops(actor)
    return _set_status(
        distributor, to=Distributor.Status.ACTIVE, allowed_from={Distributor.Status.PENDING}, actor=actor, action="distributor.approve"
    )


def distributor_suspend(*, distributor: Distributor, actor, reason: str = "") -> Distributor:
    _require_ops(actor)
    return _set_status(
        distributor,
        to=Distributor.Status.SUSPENDED,
        allowed_from={Distributor.Status.ACTIVE, Distributor.Status.PENDING},
        actor=actor,
        action="distributor.suspend",
        reason=reason,
    )


def distributor_reactivate(*, distributor: Distributor, actor) -> Distributor:
    _require_ops(actor)
    return _set_status(
        distributor, to=Distributor.Status.ACTIVE, allowed_from={Distributor.Status.SUSPENDED}, actor=actor, action="distributor.reactivate"
    )


@transaction.atomic
def distributor_set_level(
    *, distributor: Distributor, level: DistributorLevel, actor=None, reason: str = LevelChange.Reason.MANUAL, note: str = ""
) -> Distributor:
    row = _locked(distributor)
    if row.level_id == level.pk:
        return row
    change = LevelChange.objects.create(
        distributor=row, from_level=row.level, to_level=level, reason=reason, note=note[:300], actor=_user_or_none(actor)
    )
    row.level = level
    row.save(update_fields=["level"])
    audit_record(actor=actor, action="distributor.level", obj=row, reason=note, data={"from": change.from_level_id, "to": level.pk})
    distributor.refresh_from_db()
    return distributor


def staff_add(*, distributor: Distributor, user, is_owner: bool = False) -> DistributorStaff:
    """Link a user to a distributor (a user acts for one distributor) and give it the distributor role."""
    staff, _created = DistributorStaff.objects.update_or_create(user=user, defaults={"distributor": distributor, "is_owner": is_owner})
    group, _created = Group.objects.get_or_create(name=roles.DISTRIBUTOR)
    user.groups.add(group)
    return staff


# --- Levels: the scheduled upgrade ------------------------------------------------------------


def levels_upgrade(*, now=None) -> list[LevelChange]:
    """Promote every active distributor that meets a higher level's conditions to the highest such level.

    Conditions (all that are set must hold): own sales (CodeSale prices) over the level's period at
    least `upgrade_min_sales`; at least `upgrade_min_active_downline` active direct downline.
    Never demotes. Safe to run twice: a promoted distributor no longer qualifies for its own level.
    """
    now = now or timezone.now()
    targets = list(DistributorLevel.objects.filter(auto_upgrade=True).order_by("position"))
    if not targets:
        return []
    candidates = list(Distributor.objects.active().select_related("level").filter(level__position__gt=targets[0].position))
    if not candidates:
        return []
    ids = [d.pk for d in candidates]
    downline = dict(
        Distributor.objects.active().filter(parent_id__in=ids).values("parent_id").annotate(n=Count("pk")).values_list("parent_id", "n")
    )
    sales_by_period: dict[int, dict[int, object]] = {}
    for level in targets:
        if level.upgrade_min_sales is not None and level.upgrade_period_days not in sales_by_period:
            since = now - timedelta(days=level.upgrade_period_days)
            sales_by_period[level.upgrade_period_days] = dict(
                CodeSale.objects.filter(distributor_id__in=ids, sold_at__gte=since, sold_at__lte=now)
                .values("distributor_id")
                .annotate(total=Sum("unit_price"))
                .values_list("distributor_id", "total")
            )

    def qualifies(distributor: Distributor, level: DistributorLevel) -> bool:
        if level.upgrade_min_sales is None and level.upgrade_min_active_downline is None:
            return False
        if level.upgrade_min_sales is not None:
            sales = sales_by_period[level.upgrade_period_days].get(distributor.pk) or 0
            if sales < level.upgrade_min_sales:
                return False
        if level.upgrade_min_active_downline is not None and downline.get(distributor.pk, 0) < level.upgrade_min_active_downline:
            return False
        return True

    changes = []
    for distributor in candidates:
        for level in targets:  # highest first
            if level.position >= distributor.level.position:
                break
            if qualifies(distributor, level):
                distributor_set_level(
                    distributor=distributor, level=level, reason=LevelChange.Reason.AUTO_UPGRADE, note=_("Upgrade conditions met")
                )
                changes.append(LevelChange.objects.filter(distributor=distributor).latest("id"))
                break
    return changes


# --- Invitations --------------------------------------------------------------------------------


def invitation_create(
    *,
    distributor: Distributor,
    target_level: DistributorLevel,
    expires_in_days: int = 7,
    max_uses: int = 1,
    kind: str = Distributor.Kind.PROMOTER,
    note: str = "",
    actor=None,
) -> Invitation:
    if distributor.status != Distributor.Status.ACTIVE:
        raise DistributorNotActive()
    if target_level.position < distributor.level.position:
        raise LevelNotAllowed(field="target_level")
    if not 1 <= expires_in_days <= INVITATION_MAX_DAYS:
        raise ChannelError(_("An invitation lasts between 1 and %(n)s days.") % {"n": INVITATION_MAX_DAYS}, field="expires_in_days")
    if not 1 <= max_uses <= INVITATION_MAX_USES:
        raise ChannelError(_("An invitation may be used between 1 and %(n)s times.") % {"n": INVITATION_MAX_USES}, field="max_uses")
    invitation = Invitation.objects.create(
        distributor=distributor,
        token=secrets.token_urlsafe(24),
        target_level=target_level,
        kind=kind,
        note=note[:200],
        expires_at=timezone.now() + timedelta(days=expires_in_days),
        max_uses=max_uses,
        created_by=_user_or_none(actor),
    )
    audit_record(actor=actor, action="invitation.create", obj=invitation, data={"level": target_level.pk, "max_uses": max_uses})
    return invitation


def invitation_revoke(*, invitation: Invitation, actor=None) -> Invitation:
    if invitation.revoked_at is None:
        Invitation.objects.filter(pk=invitation.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        audit_record(actor=actor, action="invitation.revoke", obj=invitation)
        invitation.refresh_from_db()
    return invitation


def invitation_closed_reason(invitation: Invitation) -> str:
    return {
        "revoked": _("This invitation was withdrawn."),
        "used_up": _("This invitation has been used as often as allowed."),
        "expired": _("This invitation has expired."),
    }.get(invitation.state, "")


@transaction.atomic
def invitation_accept(
    *,
    token: str,
    username: str,
    password: str,
    name: str,
    email: str = "",
    contact_name: str = "",
    phone: str = "",
    region: str = "",
) -> Distributor:
    """Sign a newcomer up through an invitation: a user and a distributor under the inviter.

    The distributor is active at once when the target level auto-approves signups, else pending
    until ops approves it. The invitation row is locked, so concurrent signups cannot exceed max uses.
    """
    invitation = Invitation.objects.select_for_update().select_related("distributor", "target_level").filter(token=token).first()
    if invitation is None:
        raise InvitationClosed(_("This invitation link is not valid."))
    if not invitation.is_open:
        raise InvitationClosed(invitation_closed_reason(invitation))
    inviter = invitation.distributor
    if inviter.status != Distributor.Status.ACTIVE:
        raise InvitationClosed(_("The inviting distributor is not active."))
    User = get_user_model()
    if User.objects.filter(username__iexact=username).exists():
        raise ChannelError(_("This username is taken."), field="username")
    try:
        with transaction.atomic():
            user = User.objects.create_user(username=username, email=email, password=password)
    except IntegrityError:
        raise ChannelError(_("This username is taken."), field="username")
    auto = invitation.target_level.auto_approve_signups
    distributor = distributor_create(
        name=name,
        level=invitation.target_level,
        parent=inviter,
        kind=invitation.kind,
        status=Distributor.Status.ACTIVE if auto else Distributor.Status.PENDING,
        region=region,
        contact_name=contact_name,
        phone=phone,
        email=email,
        invitation=invitation,
        actor=user,
        reason=LevelChange.Reason.SIGNUP,
    )
    staff_add(distributor=distributor, user=user, is_owner=True)
    Invitation.objects.filter(pk=invitation.pk).update(used_count=F("used_count") + 1)
    return distributor


# --- Quotas -------------------------------------------------------------------------------------


def _positive(quantity) -> int:
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        raise InvalidQuantity(field="quantity")
    return quantity


def _lock_quotas(sku: Sku, distributors: list[Distributor]) -> dict[int, Quota]:
    return lock_objects.quotas_lock(sku=sku, distributors=distributors)


def _move(*, sku, kind, quantity, source: Distributor | None, target: Distributor | None, actor, reference="", note="") -> QuotaMovement:
    parties = [d for d in (source, target) if d is not None]
    locked = _lock_quotas(sku, parties)
    if source is not None:
        row = locked[source.pk]
        if row.balance < quantity:
            raise QuotaExceeded(
                _("Only %(n)s of %(sku)s left in the quota.") % {"n": row.balance, "sku": sku.code}, field="quantity", balance=row.balance
            )
        Quota.objects.filter(pk=row.pk).update(balance=F("balance") - quantity, updated_at=timezone.now())
    if target is not None:
        Quota.objects.filter(pk=locked[target.pk].pk).update(balance=F("balance") + quantity, updated_at=timezone.now())
    return QuotaMovement.objects.create(
        sku=sku,
        kind=kind,
        from_distributor=source,
        to_distributor=target,
        quantity=quantity,
        reference=reference[:64],
        note=note[:200],
        actor=_user_or_none(actor),
    )


@transaction.atomic
def quota_allocate(*, distributor: Distributor, sku: Sku, quantity: int, actor, note: str = "", reference: str = "") -> QuotaMovement:
    """Ops gives `distributor` a quota of `sku` (from the platform)."""
    _require_ops(actor)
    quantity = _positive(quantity)
    if distributor.status == Distributor.Status.SUSPENDED:
        raise DistributorNotActive()
    movement = _move(
        sku=sku,
        kind=QuotaMovement.Kind.ALLOCATE,
        quantity=quantity,
        source=None,
        target=distributor,
        actor=actor,
        note=note,
        reference=reference,
    )
    audit_record(actor=actor, action="quota.allocate", obj=distributor, data={"sku": sku.code, "quantity": quantity})
    return movement


@transaction.atomic
def quota_revoke(*, distributor: Distributor, sku: Sku, quantity: int, actor, note: str = "") -> QuotaMovement:
    """Ops takes unused quota back from `distributor` (never more than its balance)."""
    _require_ops(actor)
    quantity = _positive(quantity)
    movement = _move(sku=sku, kind=QuotaMovement.Kind.REVOKE, quantity=quantity, source=distributor, target=None, actor=actor, note=note)
    audit_record(actor=actor, action="quota.revoke", obj=distributor, data={"sku": sku.code, "quantity": quantity})
    return movement


@transaction.atomic
def quota_transfer(
    *, from_distributor: Distributor, to_distributor: Distributor, sku: Sku, quantity: int, actor=None, note: str = "", reference: str = ""
) -> QuotaMovement:
    """A distributor passes part of its quota to someone in its downline."""
    quantity = _positive(quantity)
    source = Distributor.objects.get(pk=from_distributor.pk)
    target = Distributor.objects.get(pk=to_distributor.pk)
    if not source.is_ancestor_of(target):
        raise NotInDownline(field="to_distributor")
    if source.status != Distributor.Status.ACTIVE or target.status != Distributor.Status.ACTIVE:
        raise DistributorNotActive(_("Both distributors must be active to pass quota."))
    movement = _move(
        sku=sku,
        kind=QuotaMovement.Kind.TRANSFER,
        quantity=quantity,
        source=source,
        target=target,
        actor=actor,
        note=note,
        reference=reference,
    )
    audit_record(actor=actor, action="quota.transfer", obj=source, data={"sku": sku.code, "quantity": quantity, "to": target.pk})
    return movement


def quota_held(*, distributor: Distributor, sku: Sku) -> bool:
    """Whether `distributor` sells `sku` from a quota (it has the quota row, whatever its balance): its sales
    of the SKU then draw it (quota_draw), and a refund gives it back (quota_return)."""
    return Quota.objects.filter(distributor=distributor, sku=sku).exists()


@transaction.atomic
def quota_draw(*, distributor: Distributor, sku: Sku, quantity: int, reference: str, actor=None) -> QuotaMovement:
    """A sale of `quantity` units by `distributor` uses its quota; raises QuotaExceeded when short."""
    quantity = _positive(quantity)
    return _move(
        sku=sku, kind=QuotaMovement.Kind.DRAW, quantity=quantity, source=distributor, target=None, actor=actor, reference=reference
    )


@transaction.atomic
def quota_return(*, distributor: Distributor, sku: Sku, quantity: int, reference: str, actor=None) -> QuotaMovement:
    """Give back quota drawn under `reference` (refund, expiry); never more than was drawn under it."""
    quantity = _positive(quantity)
    _lock_quotas(sku, [distributor])  # serialises draws and returns of this (distributor, sku)
    moved = QuotaMovement.objects.filter(sku=sku, reference=reference)
    drawn = moved.filter(kind=QuotaMovement.Kind.DRAW, from_distributor=distributor).aggregate(n=Sum("quantity"))["n"] or 0
    returned = moved.filter(kind=QuotaMovement.Kind.RETURN, to_distributor=distributor).aggregate(n=Sum("quantity"))["n"] or 0
    if returned + quantity > drawn:
        raise ReturnExceedsDraw(field="quantity", drawn=drawn, returned=returned)
    return _move(
        sku=sku, kind=QuotaMovement.Kind.RETURN, quantity=quantity, source=None, target=distributor, actor=actor, reference=reference
    )


# --- Traceability ---------------------------------------------------------------------------------


def code_sale_record(*, code_ids, distributor: Distributor, order_ref: str, unit_price=None, sku=None) -> list[CodeSale]:
    """Remember which distributor these card codes were sold through (for "who sold this code").
    `sku`: the caller has just sold these codes of this SKU in its transaction, so they are not read back."""
    code_ids = list(code_ids)
    if sku is not None:
        codes = [CardCode(pk=pk, sku_id=sku.pk) for pk in dict.fromkeys(code_ids)]
    else:
        codes = list(CardCode.objects.filter(pk__in=code_ids).only("pk", "sku_id"))
        if len(codes) != len(set(code_ids)):
            raise ChannelError(_("Some card codes do not exist."), field="code_ids")
    now = timezone.now()
    price = money(unit_price) if unit_price is not None else None
    return CodeSale.objects.bulk_create(
        [
            CodeSale(code_id=c.pk, sku_id=c.sku_id, distributor=distributor, order_ref=order_ref[:64], unit_price=price, sold_at=now)
            for c in codes
        ]
    )


# --- Storefronts ----------------------------------------------------------------------------------

RESERVED_SLUGS = {"admin", "api", "portal", "static", "media", "join", "s", "www"}


def storefront_save(
    *,
    distributor: Distributor,
    slug: str,
    title: str,
    colour: str = "#d63384",
    tagline: str = "",
    support_contact: str = "",
    is_open: bool = True,
    logo: bytes | None = None,
    logo_type: str = "",
    clear_logo: bool = False,
    actor=None,
) -> Storefront:
    slug = slug.strip().lower()
    if not SLUG_RE.match(slug) or slug in RESERVED_SLUGS:
        raise ChannelError(_("Use 3 to 40 lower-case letters, digits and dashes."), field="slug")
    if not re.fullmatch(r"#[0-9a-fA-F]{6}", colour or ""):
        raise ChannelError(_("Use a colour like #0d6efd."), field="colour")
    if not title.strip():
        raise ChannelError(_("Give the shop a name."), field="title")
    if Storefront.objects.filter(slug=slug).exclude(distributor=distributor).exists():
        raise SlugTaken(field="slug")
    values = {
        "slug": slug,
        "title": title.strip()[:80],
        "colour": colour,
        "tagline": tagline.strip()[:160],
        "support_contact": support_contact.strip()[:120],
        "is_open": is_open,
    }
    if logo is not None:
        values.update(logo=logo, logo_type=logo_type)
    elif clear_logo:
        values.update(logo=None, logo_type="")
    try:
        with transaction.atomic():
            storefront, created = Storefront.objects.update_or_create(distributor=distributor, defaults=values)
    except IntegrityError:
        raise SlugTaken(field="slug")
    audit_record(actor=actor, action="storefront.create" if created else "storefront.update", obj=storefront)
    return storefront


def storefront_item_set(
    *,
    distributor: Distributor,
    sku: Sku,
    retail_price,
    listed: bool = True,
    position: int = 0,
    channel: str = PriceViolation.Channel.STOREFRONT,
) -> StorefrontItem:
    """List `sku` in the distributor's storefront at `retail_price`; refused below the floor (and reported)."""
    storefront = Storefront.objects.filter(distributor=distributor).first()
    if storefront is None:
        raise ChannelError(_("Open your storefront first."), field="storefront")
    retail_price_check(distributor=distributor, sku=sku, price=retail_price, channel=channel)
    item, _created = StorefrontItem.objects.update_or_create(
        storefront=storefront, sku=sku, defaults={"retail_price": money(retail_price), "listed": listed, "position": position}
    )
    return item


def storefront_item_remove(*, distributor: Distributor, item_id: int) -> None:
    deleted, _by_model = StorefrontItem.objects.filter(pk=item_id, storefront__distributor=distributor).delete()
    if not deleted:
        raise NotInDownline(_("No such item in your storefront."))


# --- API keys -------------------------------------------------------------------------------------


def _clean_allowlist(entries) -> list[str]:
    if isinstance(entries, str):
        entries = entries.replace(",", "\n").split()
    cleaned = []
    for entry in entries or []:
        entry = str(entry).strip()
        if not entry:
            continue
        try:
            cleaned.append(str(ipaddress.ip_network(entry, strict=False)))
        except ValueError:
            raise ChannelError(_("%(entry)s is not an IP address or network.") % {"entry": entry}, field="ip_allowlist")
    if len(cleaned) > MAX_ALLOWLIST:
        raise ChannelError(_("At most %(n)s entries.") % {"n": MAX_ALLOWLIST}, field="ip_allowlist")
    return cleaned


def _purpose(key_id: str) -> str:
    return f"{API_SECRET_PURPOSE}:{key_id}"


def api_key_secret(key: ApiKey) -> str:
    """The secret, opened from its sealed form (for signature checks only; never shown again)."""
    return sealing.open_text(bytes(key.secret_sealed), purpose=_purpose(key.key_id))


def api_key_issue(*, distributor: Distributor, actor=None, label: str = "", ip_allowlist=()) -> tuple[ApiKey, str]:
    """A new key for `distributor`. Returns (key, secret): the secret is shown once and stored sealed."""
    allowlist = _clean_allowlist(ip_allowlist)
    key_id = "vhk_" + secrets.token_hex(10)
    secret = secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        distributor=distributor,
        key_id=key_id,
        secret_sealed=sealing.seal_text(secret, purpose=_purpose(key_id)),
        label=label.strip()[:80],
        ip_allowlist=allowlist,
        created_by=_user_or_none(actor),
    )
    audit_record(actor=actor, action="apikey.issue", obj=key, data={"distributor": distributor.pk, "ip_allowlist": allowlist})
    return key, secret


def api_key_update(*, key: ApiKey, actor=None, label: str | None = None, ip_allowlist=None) -> ApiKey:
    if label is not None:
        key.label = label.strip()[:80]
    if ip_allowlist is not None:
        key.ip_allowlist = _clean_allowlist(ip_allowlist)
    key.save(update_fields=["label", "ip_allowlist"])
    audit_record(actor=actor, action="apikey.update", obj=key, data={"ip_allowlist": key.ip_allowlist})
    return key


def api_key_revoke(*, key: ApiKey, actor=None) -> ApiKey:
    if key.revoked_at is None:
        ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        audit_record(actor=actor, action="apikey.revoke", obj=key)
        key.refresh_from_db()
    return key


@transaction.atomic
def api_key_rotate(*, key: ApiKey, actor=None, grace_seconds: int = 0) -> tuple[ApiKey, str]:
    """Replace `key` by a new one with the same label and allowlist. The old key stops at once, or
    keeps working for `grace_seconds` (at most a day) so clients can switch without downtime."""
    old = ApiKey.objects.select_for_update().get(pk=key.pk)
    if not old.usable:
        raise ChannelError(_("Only a working key can be rotated."))
    new, secret = api_key_issue(distributor=old.distributor, actor=actor, label=old.label, ip_allowlist=old.ip_allowlist)
    grace = max(0, min(int(grace_seconds), 86400))
    old.replaced_by = new
    if grace:
        old.expires_at = timezone.now() + timedelta(seconds=grace)
    else:
        old.revoked_at = timezone.now()
    old.save(update_fields=["replaced_by", "expires_at", "revoked_at"])
    audit_record(actor=actor, action="apikey.rotate", obj=old, data={"new": new.key_id, "grace_seconds": grace})
    return new, secret


def api_key_touch(*, key: ApiKey) -> None:
    """Note when a key was last used (at most once a minute, so busy clients do not write per request)."""
    now = timezone.now()
    ApiKey.objects.filter(pk=key.pk).filter(Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - timedelta(seconds=60))).update(
        last_used_at=now
    )
