"""Server-side challenges (a captcha image from django-simple-captcha, its bundled font, no outside service).

A storefront embeds the fragment (GET /risk/challenge/ renders a key, an image and an answer
field) or an API client asks /api/v1/risk/challenge/ for a key and an image URL; the caller then
checks the answer with `challenge_verify(key=..., answer=...)` and, when it passes, evaluates
again with `RiskContext(..., challenge_passed=True)`. Every challenge can be answered once.
"""

from dataclasses import dataclass

from captcha.helpers import captcha_image_url
from captcha.models import CaptchaStore
from django.utils import timezone


@dataclass(frozen=True)
class Challenge:
    key: str
    image_url: str


def challenge_new() -> Challenge:
    key = CaptchaStore.generate_key()
    return Challenge(key=key, image_url=captcha_image_url(key))


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
