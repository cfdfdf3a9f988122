"""Card codes typed into free text: find them (by the vault's blind index, nothing is decrypted) and mask them.

People type codes where they should not (an after-sales description, a reversal reason, a review note, an
order reference, an admin search box), and not always as printed: with dots or slashes between the groups,
without the check symbol, in full-width letters, with zero-width spaces between the symbols. So free text is
compared on a folded form (Unicode NFKC, every character that is not an ASCII letter or digit dropped,
upper-case), and every candidate in it is looked up by its blind index:

* each run of consecutive alphanumeric pieces (the text split on anything else) of 12 to 64 symbols, as
  written and as a generated code is read (Crockford: I/L as 1, O as 0);
* each window of 16 and 17 symbols of the whole folded text (a generated code glued to other words), the
  16-symbol ones also with their check symbol appended (a generated code typed without it).

Shorter codes (imported codes may have 6 to 11 symbols) are not looked for: too many ordinary words and
numbers would match. `text_mentions_code` and `text_code_guard` are the functions other apps call;
`text_codes_mask` rewrites a text with every found code replaced by its masked hint (existing rows, logs).
"""

import unicodedata
from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_variables

from catalog import codegen, vault
from catalog.models import CardCode
from voucherhub.core.errors import DomainError

MIN_RUN = 12
MAX_RUN = 64  # catalog.importing.checks.CODE_MAX_LENGTH
GENERATED = codegen.RANDOM_SYMBOLS + 1
LOOKUP_CHUNK = 2000


class CodeInText(DomainError):
    code = "code_in_text"
    default_message = _(
        "Do not type a card code here: it would be stored and shown in plain text. "
        "Refer to the code by its order, its serial or its last four characters."
    )


@dataclass(frozen=True)
class Candidate:
    text: str  # the folded symbols
    start: int  # span in the original text
    end: int


def fold(text: str) -> str:
    """NFKC, only ASCII letters and digits, upper-case: the form free text and codes are compared on."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", text or "") if ch.isascii() and ch.isalnum()).upper()


def _symbols(text: str) -> list[tuple[str, int]]:
    """(folded symbol, index in the original text) for each ASCII alphanumeric of the text after NFKC."""
    out = []
    for index, ch in enumerate(text):
        for sub in unicodedata.normalize("NFKC", ch):
            out.append((sub.upper() if sub.isascii() and sub.isalnum() else "", index))
    return out


def _pieces(symbols: list[tuple[str, int]]) -> list[tuple[str, int, int]]:
    """Maximal runs of alphanumerics: (folded text, start, end) in the original text."""
    pieces, current, start, end = [], [], 0, 0
    for sym, index in symbols:
        if sym:
            if not current:
                start = index
            current.append(sym)
            end = index + 1
        elif current:
            pieces.append(("".join(current), start, end))
            current = []
    if current:
        pieces.append(("".join(current), start, end))
    return pieces


def _candidates(text: str) -> list[Candidate]:
    symbols = _symbols(text)
    pieces = _pieces(symbols)
    found: dict[str, Candidate] = {}
    for i in range(len(pieces)):
        joined = ""
        for j in range(i, len(pieces)):
            joined += pieces[j][0]
            if len(joined) > MAX_RUN:
                break
            if len(joined) >= MIN_RUN:
                found.setdefault(joined, Candidate(joined, pieces[i][1], pieces[j][2]))
    folded = [(sym, index) for sym, index in symbols if sym]
    for width in (codegen.RANDOM_SYMBOLS, GENERATED):
        for i in range(len(folded) - width + 1):
            window = folded[i : i + width]
            joined = "".join(sym for sym, _index in window)
            found.setdefault(joined, Candidate(joined, window[0][1], window[-1][1] + 1))
    return list(found.values())


def _forms(candidate: str) -> set[str]:
    """The stored forms a candidate may be: as typed, as a generated code reads, and with its check symbol."""
    forms = {candidate, codegen.canonical(candidate)}
    if len(candidate) == codegen.RANDOM_SYMBOLS:
        body = codegen.canonical(candidate)
        if all(ch in codegen.ALPHABET for ch in body):
            forms.add(body + codegen.check_symbol(body))
    return forms


@sensitive_variables("text", "candidates", "by_index")
def _found(text: str) -> list[tuple[Candidate, str]]:
    """The candidates of `text` that are codes in the vault, with the hint of the code each one is."""
    candidates = _candidates(text)
    if not candidates:
        return []
    index_of = vault.BulkSealer().index  # one-shot HMAC: the same index as Keyring.blind_index, faster
    by_index: dict[str, list[Candidate]] = {}
    for candidate in candidates:
        for form in _forms(candidate.text):
            by_index.setdefault(index_of(form), []).append(candidate)
    indexes = list(by_index)
    hits = []
    for start in range(0, len(indexes), LOOKUP_CHUNK):
        chunk = indexes[start : start + LOOKUP_CHUNK]
        for index, hint in CardCode.objects.filter(blind_index__in=chunk).values_list("blind_index", "hint"):
            hits.extend((candidate, hint) for candidate in by_index[index])
    return hits


@sensitive_variables("text", "plaintext")
def _mentions_known(text: str, code: CardCode) -> bool:
    """Whether `text` holds this code, compared on the folded form, with and without its check symbol."""
    plaintext = fold(vault.keyring().open(ciphertext=code.ciphertext, key_id=code.key_id, blind_index=code.blind_index))
    if not plaintext:
        return False
    forms = {plaintext}
    if codegen.is_valid(plaintext):
        forms.add(codegen.canonical(plaintext)[:-1])
    folded = fold(text)
    return any(form in variant for form in forms for variant in (folded, codegen.canonical(folded)))


@sensitive_variables("text")
def text_mentions_code(text: str, *, code: CardCode | None = None) -> bool:
    """Whether `text` holds a card code of the vault (a run of at least 12 symbols), or `code` itself at any length."""
    if not (text or "").strip():
        return False
    if code is not None and _mentions_known(text, code):
        return True
    return bool(_found(text))


@sensitive_variables("text")
def text_code_guard(*, text: str, field: str, code: CardCode | None = None, message=None) -> None:
    """Refuse free text that holds a card code: raises CodeInText naming `field` (a 400 in the API, a form error)."""
    if text_mentions_code(text, code=code):
        raise CodeInText(message, field=field)


@sensitive_variables("text")
def text_codes_mask(text: str) -> tuple[str, int]:
    """`text` with each card code in it replaced by the code's masked hint; and how many were replaced."""
    spans = sorted({(candidate.start, candidate.end, hint) for candidate, hint in _found(text or "")})
    if not spans:
        return text, 0
    merged: list[list] = []
    for start, end, hint in spans:
        if merged and start < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end, hint])
    out, last = [], 0
    for start, end, hint in merged:
        out.append(text[last:start])
        out.append(hint)
        last = end
    out.append(text[last:])
    return "".join(out), len(merged)
