"""Signed tokens: the holder's private link, and the QR redemption token that stands in for a code.

* Link token: the link's random `public_id` signed with SECRET_KEY (salted). Unguessable twice over, and
  a link can be reprinted (the demo prints one) without storing the token itself.
* QR token: `VHQ.` + a timestamped signature over [holding id, code id]. It expires (REDEMPTION_QR_MAX_AGE)
  and names the holding, so a gifted code's old QR stops working. It never carries the code.
"""

from dataclasses import dataclass

from django.core import signing

from redemption import conf

LINK_SALT = "redemption.holder-link"
QR_SALT = "redemption.qr"
QR_PREFIX = "VHQ."


def link_token(public_id: str) -> str:
    return signing.Signer(salt=LINK_SALT, sep=".").sign(public_id)


def link_public_id(token: str) -> str | None:
    try:
        return signing.Signer(salt=LINK_SALT, sep=".").unsign(token)
    except signing.BadSignature:
        return None


def qr_token(*, holding_id: int, code_id: int) -> str:
    return QR_PREFIX + signing.TimestampSigner(salt=QR_SALT, sep=".").sign_object([holding_id, code_id])


def is_qr_token(text: str) -> bool:
    return text.strip().upper().startswith(QR_PREFIX)


class QrTokenExpired(Exception):
    pass


@dataclass(frozen=True)
class QrClaim:
    holding_id: int
    code_id: int


def qr_claim(text: str, *, max_age: int | None = None) -> QrClaim | None:
    """The holding and code a QR token names; None when it is not ours; QrTokenExpired when it is too old."""
    text = text.strip()
    if not text.upper().startswith(QR_PREFIX):
        return None
    body = text[len(QR_PREFIX) :]
    try:
        value = signing.TimestampSigner(salt=QR_SALT, sep=".").unsign_object(
            body, max_age=max_age if max_age is not None else conf.qr_max_age()
        )
    except signing.SignatureExpired:
        raise QrTokenExpired
    except (signing.BadSignature, ValueError):
        return None
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value)):
        return None
    return QrClaim(holding_id=value[0], code_id=value[1])
