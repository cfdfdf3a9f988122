"""The holder's side of a code: private links, reveal, gifting (可赠送) and the reminder opt-out.

Settlement calls `holding_create(...)` when it delivers codes; the holder opens /my/<token>/.
"""

import re

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from catalog import vault
from catalog.models import CardCode
from redemption import conf, notify, tokens
from redemption.models import CodeHolding, HolderLink, Redemption, ReminderOptOut
from voucherhub.core.audit import audit_record
from voucherhub.core.errors import Conflict, DomainError, NotFound

PHONE_RE = re.compile(r"^\+?\d{6,15}$")


class InvalidContact(DomainError):
    code = "invalid_contact"
    default_message = _("Enter a mobile number or an email address.")


class GiftNotAllowed(Conflict):
    code = "gift_not_allowed"
    default_message = _("Only an unused code can be gifted.")


class RevealLimited(DomainError):
    code = "reveal_rate_limited"
    status = 429
    default_message = _("Too many reveals: wait a few minutes and try again.")


def contact_normalized(contact: str) -> tuple[str, str]:
    """(normalized contact, kind). Phones keep digits and a leading +; emails are lower-cased."""
    text = (contact or "").strip()
    if not text:
        raise InvalidContact(field="contact")
    if "@" in text:
        try:
            validate_email(text)
        except ValidationError:
            raise InvalidContact(field="contact")
        return text.lower(), HolderLink.ContactKind.EMAIL
    phone = re.sub(r"[\s\-()]", "", text)
    if not PHONE_RE.match(phone):
        raise InvalidContact(field="contact")
    return phone, HolderLink.ContactKind.PHONE


def contact_masked(contact: str) -> str:
    if not contact:
        return ""
    if "@" in contact:
        name, _sep, domain = contact.partition("@")
        return f"{name[:1]}***@{domain}"
    return f"{contact[:3]}****{contact[-4:]}" if len(contact) >= 8 else "****" + contact[-2:]


def link_path(link: HolderLink) -> str:
    return reverse("redemption:holder-codes", kwargs={"token": tokens.link_token(link.public_id)})


def link_url(link: HolderLink) -> str:
    return conf.site_url() + link_path(link)


def unsubscribe_url(link: HolderLink) -> str:
    return conf.site_url() + reverse("redemption:holder-unsubscribe", kwargs={"token": tokens.link_token(link.public_id)})


def link_for_token(token: str) -> HolderLink:
    public_id = tokens.link_public_id(token or "")
    link = HolderLink.objects.filter(public_id=public_id).first() if public_id else None
    if link is None:
        raise NotFound(_("This link is not valid."))
    return link


@transaction.atomic
def holding_create(*, code_ids, contact: str = "", order_ref: str = "") -> str:
    """Put delivered codes on a new private link for their holder; returns the link's URL.

    Safe to call twice for one order: codes already held under the same order reference give back that link.
    """
    code_ids = sorted({int(pk) for pk in code_ids})
    if not code_ids:
        raise NotFound(_("No codes to hold."), field="code_ids")
    normalized, kind = contact_normalized(contact) if contact else ("", HolderLink.ContactKind.NONE)
    codes = list(CardCode.objects.select_for_update().filter(pk__in=code_ids).order_by("pk"))
    if len(codes) != len(code_ids):
        raise NotFound(_("Some codes do not exist."), field="code_ids")
    held = list(CodeHolding.objects.filter(code_id__in=code_ids, active=True).select_related("link"))
    if held:
        links = {h.link_id for h in held}
        if len(held) == len(code_ids) and len(links) == 1 and held[0].link.order_ref == order_ref:
            return link_url(held[0].link)
        raise Conflict(_("Some of these codes are already held by someone."), field="code_ids")
    link = HolderLink.objects.create(public_id=HolderLink.new_public_id(), contact=normalized, contact_kind=kind, order_ref=order_ref[:64])
    CodeHolding.objects.bulk_create([CodeHolding(link=link, code=code) for code in codes])
    audit_record(action="holding.create", obj=link, data={"codes": code_ids, "order_ref": order_ref, "contact": contact_masked(normalized)})
    return link_url(link)


def holding_is_unused(holding: CodeHolding) -> bool:
    return (
        holding.code.status == CardCode.Status.SOLD
        and not Redemption.objects.filter(code_id=holding.code_id, status=Redemption.Status.COMPLETED).exists()
        and not (holding.code.expires_at and holding.code.expires_at <= timezone.now())
    )


def holding_gift(*, link: HolderLink, holding_id: int, to_contact: str, ip: str | None = None) -> HolderLink:
    """Give one unused code of `link` to a friend: a new private link for them; the old link stops showing it."""
    normalized, kind = contact_normalized(to_contact)
    with transaction.atomic():
        holding = (
            CodeHolding.objects.select_for_update(of=("self",))
            .select_related("code__sku")
            .filter(pk=holding_id, link=link, active=True)
            .first()
        )
        if holding is None:
            raise NotFound(_("This code is not on your page."))
        CardCode.objects.select_for_update().filter(pk=holding.code_id).first()  # no redemption slips in meanwhile
        holding.code.refresh_from_db(fields=["status", "expires_at"])
        if not holding_is_unused(holding):
            raise GiftNotAllowed()
        now = timezone.now()
        CodeHolding.objects.filter(pk=holding.pk).update(active=False, gifted_at=now)
        new_link = HolderLink.objects.create(
            public_id=HolderLink.new_public_id(), contact=normalized, contact_kind=kind, order_ref=link.order_ref, gifted_by=link
        )
        CodeHolding.objects.create(link=new_link, code=holding.code, gifted_from=holding, created_at=now)
        audit_record(
            action="holding.gift",
            obj=holding.code,
            ip=ip,
            data={"from_link": link.pk, "to_link": new_link.pk, "to": contact_masked(normalized), "from": contact_masked(link.contact)},
        )
        url = link_url(new_link)
        sku_name = holding.code.sku.name
        transaction.on_commit(lambda: _gift_notify(kind=kind, to=normalized, sku_name=sku_name, url=url))
    return new_link


def _gift_notify(*, kind: str, to: str, sku_name: str, url: str) -> None:
    subject = gettext("A gift for you: %(sku)s") % {"sku": sku_name}
    text = gettext("Someone gave you %(sku)s. Open your private link to see and use it: %(url)s") % {"sku": sku_name, "url": url}
    notify.message_send(kind=kind, to=to, subject=subject, text=text)


def _reveal_allowed(link: HolderLink) -> bool:
    limit, window = conf.reveal_limit()
    key = f"vh:reveal:{link.pk}"
    cache.add(key, 0, timeout=window)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=window)
        count = 1
    return count <= limit


def holding_reveal(*, link: HolderLink, holding_id: int, ip: str | None = None) -> str:
    """The plaintext of one active code of `link` (in memory only), audited and rate-limited per link."""
    holding = CodeHolding.objects.select_related("code").filter(pk=holding_id, link=link, active=True).first()
    if holding is None:
        raise NotFound(_("This code is not on your page."))
    if not _reveal_allowed(link):
        audit_record(action="code.reveal_refused", obj=holding.code, ip=ip, data={"link": link.pk, "by": "holder"})
        raise RevealLimited()
    code = holding.code
    plaintext = vault.keyring().open(ciphertext=code.ciphertext, key_id=code.key_id, blind_index=code.blind_index)
    audit_record(action="code.reveal", obj=code, ip=ip, data={"link": link.pk, "by": "holder"})
    return plaintext


def link_opened(link: HolderLink) -> None:
    HolderLink.objects.filter(pk=link.pk).update(last_opened_at=timezone.now())


def reminders_unsubscribe(*, link: HolderLink, ip: str | None = None) -> None:
    if link.contact:
        ReminderOptOut.objects.get_or_create(contact=link.contact)
        audit_record(action="reminders.unsubscribe", obj=link, ip=ip, data={"contact": contact_masked(link.contact)})


def reminders_resubscribe(*, link: HolderLink, ip: str | None = None) -> None:
    if link.contact:
        ReminderOptOut.objects.filter(contact=link.contact).delete()
        audit_record(action="reminders.resubscribe", obj=link, ip=ip, data={"contact": contact_masked(link.contact)})


def is_unsubscribed(link: HolderLink) -> bool:
    return bool(link.contact) and ReminderOptOut.objects.filter(contact=link.contact).exists()
