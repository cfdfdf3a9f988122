"""Generated codes: Crockford base32 from the OS CSPRNG, with a Luhn mod 32 check character.

16 random symbols carry 80 bits; the 17th is the check symbol, so any single mistyped symbol and
most swaps of neighbours are caught before a lookup. The alphabet has no I, L, O or U; on input
I and L read as 1 and O as 0, as Crockford specifies.
"""

import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}
_VALUE.update({"I": 1, "L": 1, "O": 0})
N = len(ALPHABET)
RANDOM_SYMBOLS = 16  # 16 * 5 bits = 80 bits of entropy
GROUP = 4


def check_symbol(body: str) -> str:
    """Luhn mod N over the body's symbol values."""
    total = 0
    factor = 2
    for ch in reversed(body):
        addend = factor * _VALUE[ch]
        total += addend // N + addend % N
        factor = 1 if factor == 2 else 2
    return ALPHABET[(N - total % N) % N]


def canonical(text: str) -> str:
    """Upper-case, drop blanks and dashes, read I/L as 1 and O as 0."""
    cleaned = "".join(text.split()).replace("-", "").upper()
    return "".join(ALPHABET[_VALUE[ch]] if ch in _VALUE else ch for ch in cleaned)


def is_valid(text: str) -> bool:
    code = canonical(text)
    if len(code) != RANDOM_SYMBOLS + 1 or any(ch not in _VALUE for ch in code):
        return False
    return check_symbol(code[:-1]) == code[-1]


def new_code() -> str:
    """16 symbols from 80 bits of the OS CSPRNG (exactly 5 bits each, so uniform), then the check symbol."""
    value = int.from_bytes(secrets.token_bytes(RANDOM_SYMBOLS * 5 // 8), "big")
    body = "".join(ALPHABET[(value >> shift) & 31] for shift in range(5 * (RANDOM_SYMBOLS - 1), -1, -5))
    return body + check_symbol(body)


def pretty(code: str) -> str:
    """XXXX-XXXX-XXXX-XXXX-C for people; the vault stores the canonical form."""
    return "-".join(code[i : i + GROUP] for i in range(0, len(code), GROUP))
