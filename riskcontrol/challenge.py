"""Server-side challenges (a captcha image from django-simple-captcha, its bundled font, no outside service).

A storefront embeds the fragment (GET /risk/challenge/ renders a key, an image and an answer
field) or an API client asks /api/v1/risk/challenge/ for a key and an image URL; the caller then
checks the answer with `challenge_verify(key=..., answer=...)` and, when it passes, evaluates
again with `RiskContext(..., challenge_passed=True)`. Every challenge can be answered once.

Anyone may ask for a challenge, so those two endpoints go through `challenge_issue(ip=...)`: at most
settings.RISK_CHALLENGES_PER_MINUTE per address (a sliding minute, riskcontrol.counters), after which
the address waits CHALLENGE_LOCK_SECONDS (ChallengeRateLimited: 429 with Retry-After). Expired
challenges are deleted every few minutes by the `risk challenges purge` job (`challenges_purge`).
"""

import math
from dataclasses import dataclass

from captcha.helpers import captcha_image_url
from captcha.models import CaptchaStore
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from riskcontrol import counters
from riskcontrol.errors import ChallengeRateLimited

CHALLENGE_WINDOW_SECONDS = 60
CHALLENGE_LOCK_SECONDS = 60


@dataclass(frozen=True)
class Challenge:
    key: str
    image_url: str


def challenge_new() -> Challenge:
    key = CaptchaStore.generate_key()
    return Challenge(key=key, image_url=captcha_image_url(key))


def _lock_key(ip: str) -> str:
    return f"risk:lock:challenge:{counters.digest(ip)}"


def challenge_issue(*, ip: str | None) -> Challenge:
    """A new challenge for a caller at address `ip`, or ChallengeRateLimited (429, retry_after seconds) when
    that address asked for more than RISK_CHALLENGES_PER_MINUTE in the last minute (0: no limit); it then
    waits CHALLENGE_LOCK_SECONDS. A caller without an address counts as one address."""
    limit = settings.RISK_CHALLENGES_PER_MINUTE
    if limit:
        source = str(ip or "").strip() or "unknown"
        now = counters.clock()
        locked_until = cache.get(_lock_key(source))
        if locked_until and float(locked_until) > now:
            raise ChallengeRateLimited(retry_after=math.ceil(float(locked_until) - now))
        hit = counters.Hit(base=f"challenge:ip:{counters.digest(source)}", window=CHALLENGE_WINDOW_SECONDS, amount=1)
        [result] = counters.hit_many([hit])
        if result.estimate > limit:
            cache.set(_lock_key(source), now + CHALLENGE_LOCK_SECONDS, timeout=CHALLENGE_LOCK_SECONDS)
            counters.reset(hit)  # after the wait the address starts a fresh count
            raise ChallengeRateLimited(retry_after=CHALLENGE_LOCK_SECONDS)
    return challenge_new()


def challenges_purge() -> int:
    """Delete the challenges past their expiry (answered ones are gone already); returns how many."""
    deleted, _detail = CaptchaStore.objects.filter(expiration__lte=timezone.now()).delete()
    return deleted


def challenge_verify(*, key: str, answer: str) -> bool:
    """True when `answer` solves the unexpired challenge `key`. The challenge is spent either way."""
    key = str(key or "").strip()
    answer = str(answer or "").strip().lower()
    if not key:
        return False
    solved = False
    if answer:
        deleted, _detail = CaptchaStore.objects.filter(hashkey=key, response=answer, expiration__gt=timezone.now()).delete()
        solved = deleted > 0
    if not solved:
        CaptchaStore.objects.filter(hashkey=key).delete()
    return solved
