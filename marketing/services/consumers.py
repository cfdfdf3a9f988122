"""Who a consumer is: a verified mainland mobile number, proved by a one-time SMS code.

Rules (issue 16):

* `code_send(*, phone, ip)`: a mainland mobile number (11 digits from 13x to 19x; +86, spaces and dashes are
  dropped) gets a 6-digit code drawn with `secrets`. Only a keyed hash of it is stored (PhoneCode.code_hash);
  it lives MARKETING_OTP_TTL_SECONDS (300) and goes out through redemption's SMS adapter. Limits, counted in
  the cache (Redis in production, shared by every web node): one code per number per 60 seconds, five per
  number per hour, twenty per address per hour. A request over a limit is refused with the wait before any
  row is written or any SMS leaves, so a burst of requests sends at most one text.
* `code_verify(*, phone, code, ip) -> Consumer`: only the newest unexpired, unused code of the number counts.
  It allows five wrong tries, then it is dead; the compare is constant-time; a right code is used once. The
  first sign-in creates the Consumer; every sign-in sets last_login_at. Wrong codes from one address are
  counted too (thirty per hour), so nobody sweeps codes across many numbers.

Logs name a number only masked (138****8000) and never a code.
"""

import hmac
import ipaddress
import logging
import math
import re
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from marketing.errors import CampaignError, CodeRejected, TooManyRequests
from marketing.models import Consumer, PhoneCode
from redemption import notify

logger = logging.getLogger(__name__)

# 11 digits from 13x to 19x, optionally written with +86 / 86 in front and spaces, dashes or brackets between
# (the rule of settlement/services/contacts.py, which marketing may not import: it sits above).
MAINLAND_MOBILE = re.compile(r"(?:\+?86)?(1[3-9]\d{9})")
CODE_DIGITS = 6
CODE_ATTEMPTS = 5  # wrong tries a code allows; then it is dead
SEND_GAP_SECONDS = 60  # one code per number per minute
SENDS_PER_NUMBER_HOUR = 5
SENDS_PER_ADDRESS_HOUR = 20
FAILURES_PER_ADDRESS_HOUR = 30
HOUR = 3600

PHONE_INVALID = _("Enter a mainland China mobile number: 11 digits starting with 1, e.g. 138 0013 8000.")


def otp_ttl_seconds() -> int:
    """How long a sign-in code is valid (MARKETING_OTP_TTL_SECONDS, 300 by default)."""
    return int(getattr(settings, "MARKETING_OTP_TTL_SECONDS", 300))


def phone_normalized(raw: str) -> str:
    """The 11 digits of a mainland mobile number, or CampaignError naming the field `phone`."""
    digits = re.sub(r"[\s\-()]", "", str(raw or ""))
    mobile = MAINLAND_MOBILE.fullmatch(digits)
    if mobile is None:
        raise CampaignError(PHONE_INVALID, field="phone")
    return mobile.group(1)


def phone_masked(phone: str) -> str:
    return f"{phone[:3]}****{phone[-4:]}" if len(phone) == 11 else "****"


def _address(ip: str) -> str | None:
    """`ip` when it is an address the column can hold, else None (the counters still use the text)."""
    try:
        return str(ipaddress.ip_address(str(ip or "").strip()))
    except ValueError:
        return None


def _code_hash(phone: str, code: str) -> str:
    return salted_hmac("marketing.consumers.phone-code", f"{phone}:{code}", algorithm="sha256").hexdigest()


def wait_text(seconds: int) -> str:
    """'45 seconds' / '12 minutes' in the reader's language."""
    if seconds < 90:
        return ngettext("%(count)d second", "%(count)d seconds", seconds) % {"count": seconds}
    minutes = math.ceil(seconds / 60)
    return ngettext("%(count)d minute", "%(count)d minutes", minutes) % {"count": minutes}


# --- Counters in the cache ----------------------------------------------------------------------------------


def _window_take(*, key: str, limit: int, seconds: int) -> int:
    """Count one request in the window `key`, opened by its first request and `seconds` long. Returns 0 when
    the request fits, else the seconds until the window closes. cache.add and cache.incr are atomic on Redis,
    so parallel requests on several nodes each get their own count."""
    now = time.time()
    cache.add(f"{key}:opened", now, seconds)
    cache.add(key, 0, seconds)
    try:
        count = cache.incr(key)
    except ValueError:  # the window closed between add and incr: this request opens the next one
        cache.add(f"{key}:opened", now, seconds)
        cache.add(key, 1, seconds)
        return 0
    if count <= limit:
        return 0
    opened = cache.get(f"{key}:opened") or now
    return max(1, math.ceil(opened + seconds - now))


def _window_full(*, key: str, limit: int, seconds: int) -> int:
    """The seconds until the window `key` closes when it already holds `limit` requests, else 0 (counts
    nothing)."""
    if (cache.get(key) or 0) < limit:
        return 0
    now = time.time()
    opened = cache.get(f"{key}:opened") or now
    return max(1, math.ceil(opened + seconds - now))


def _gap_take(*, key: str, seconds: int) -> int:
    """Take the number's one-per-gap slot (an atomic add). 0 when taken, else the seconds left."""
    now = time.time()
    if cache.add(key, now, seconds):
        return 0
    sent = cache.get(key) or now
    return max(1, math.ceil(sent + seconds - now))


def _refuse(message: str, wait: int, *, field: str):
    raise TooManyRequests(message % {"wait": wait_text(wait)}, field=field, retry_after=wait)


def _send_limits_take(*, phone: str, ip: str) -> None:
    """Refuse (TooManyRequests on `phone`, with the wait) a send over any limit: the address's hour, the
    number's minute, the number's hour. Checked in this order so a refused burst spends only its own
    address's allowance and never the number's."""
    if ip:
        wait = _window_take(key=f"mk:otp:ip:{ip}", limit=SENDS_PER_ADDRESS_HOUR, seconds=HOUR)
        if wait:
            _refuse(gettext("Too many codes were requested from your network. Try again in %(wait)s."), wait, field="phone")
    wait = _gap_take(key=f"mk:otp:gap:{phone}", seconds=SEND_GAP_SECONDS)
    if wait:
        _refuse(gettext("A code was just sent to this number. You can ask for a new one in %(wait)s."), wait, field="phone")
    wait = _window_take(key=f"mk:otp:num:{phone}", limit=SENDS_PER_NUMBER_HOUR, seconds=HOUR)
    if wait:
        _refuse(gettext("Too many codes for this number. Try again in %(wait)s."), wait, field="phone")


def send_wait_seconds(*, phone: str) -> int:
    """Seconds until the number may ask for another code (0: now). For the page's resend timer."""
    sent = cache.get(f"mk:otp:gap:{phone}")
    return max(0, math.ceil(sent + SEND_GAP_SECONDS - time.time())) if sent else 0


# --- Send ---------------------------------------------------------------------------------------------------


def code_send(*, phone: str, ip: str) -> None:
    """Send a new sign-in code to `phone` by SMS; CampaignError(field="phone") for a number that is not a
    mainland mobile, TooManyRequests(field="phone") over a limit. A new code replaces the number's older ones
    (only the newest is checked)."""
    phone = phone_normalized(phone)
    _send_limits_take(phone=phone, ip=ip)
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    ttl = otp_ttl_seconds()
    row = PhoneCode.objects.create(
        phone=phone, code_hash=_code_hash(phone, code), ip=_address(ip), expires_at=timezone.now() + timedelta(seconds=ttl)
    )
    minutes = max(1, ttl // 60)
    text = ngettext(
        "%(code)s is your sign-in code. It expires in %(minutes)d minute. Never tell it to anyone.",
        "%(code)s is your sign-in code. It expires in %(minutes)d minutes. Never tell it to anyone.",
        minutes,
    ) % {"code": code, "minutes": minutes}
    try:
        notify.message_send(kind="phone", to=phone, subject=gettext("[VoucherHub]"), text=text)
    except (notify.SmsFailed, OSError) as error:  # the gateway did not take it: the code is dead, the person may try again
        PhoneCode.objects.filter(pk=row.pk).update(attempts=CODE_ATTEMPTS)
        cache.delete(f"mk:otp:gap:{phone}")
        logger.warning("sign-in code to %s not sent: %s", phone_masked(phone), error.__class__.__name__)
        raise CampaignError(gettext("We could not send the text message. Please try again in a moment."), field="phone") from None
    logger.info("sign-in code sent to %s", phone_masked(phone))


# --- Verify -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Check:
    consumer: Consumer | None
    refusal: str = ""


def _code_check(*, phone: str, code: str) -> _Check:
    """Lock the number's newest live code and try `code` against it. A wrong try is counted (and kept: the
    caller raises only after this transaction commits)."""
    now = timezone.now()
    with transaction.atomic():
        row = (
            PhoneCode.objects.select_for_update()
            .filter(phone=phone, used_at__isnull=True, expires_at__gt=now)
            .order_by("-created_at", "-pk")
            .first()
        )
        if row is None:
            return _Check(None, gettext("This code has expired or was already used. Ask for a new code."))
        if row.attempts >= CODE_ATTEMPTS:
            return _Check(None, gettext("Too many wrong tries for this code. Ask for a new code."))
        if not hmac.compare_digest(row.code_hash, _code_hash(phone, code)):
            row.attempts += 1
            row.save(update_fields=["attempts"])
            left = CODE_ATTEMPTS - row.attempts
            if not left:
                return _Check(None, gettext("Too many wrong tries for this code. Ask for a new code."))
            return _Check(
                None,
                ngettext("Wrong code. %(left)d more try.", "Wrong code. %(left)d more tries.", left) % {"left": left},
            )
        row.used_at = now
        row.save(update_fields=["used_at"])
        consumer, _created = Consumer.objects.get_or_create(phone=phone)
        consumer.last_login_at = now
        consumer.save(update_fields=["last_login_at"])
        return _Check(consumer)


def code_verify(*, phone: str, code: str, ip: str) -> Consumer:
    """The consumer of `phone` when `code` is its newest live sign-in code (created on the first sign-in);
    else CodeRejected(field="code") saying why, or TooManyRequests(field="code") for an address that sent
    too many wrong codes."""
    phone = phone_normalized(phone)
    code = re.sub(r"\s", "", str(code or ""))
    wait = _window_full(key=f"mk:otp:fail:{ip}", limit=FAILURES_PER_ADDRESS_HOUR, seconds=HOUR) if ip else 0
    if wait:
        _refuse(gettext("Too many wrong codes from your network. Try again in %(wait)s."), wait, field="code")
    if not (len(code) == CODE_DIGITS and code.isdigit()):
        raise CodeRejected(gettext("Enter the 6 digits of the code we sent you."), field="code")
    checked = _code_check(phone=phone, code=code)
    if checked.consumer is None:
        if ip:
            _window_take(key=f"mk:otp:fail:{ip}", limit=FAILURES_PER_ADDRESS_HOUR, seconds=HOUR)
        logger.info("sign-in refused for %s", phone_masked(phone))
        raise CodeRejected(checked.refusal, field="code")
    logger.info("consumer %s signed in", phone_masked(phone))
    return checked.consumer
