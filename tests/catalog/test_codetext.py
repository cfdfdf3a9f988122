"""Card codes typed into free text are found by the blind index, however they are spelled, and masked."""

import pytest

from catalog import codegen
from catalog.codetext import CodeInText, fold, text_code_guard, text_codes_mask, text_mentions_code
from tests import factories

pytestmark = pytest.mark.django_db

ZWSP = "\u200b"


@pytest.fixture
def code():
    """A generated code (16 symbols and a check symbol) in the vault, and its plaintext."""
    return factories.card_code(sku=factories.SkuFactory())


def dotted(plain: str) -> str:
    return ".".join(plain[i : i + 4] for i in range(0, len(plain), 4))


def full_width(text: str) -> str:
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)


SPELLINGS = {
    "as printed": lambda p: f"my code {codegen.pretty(p)} does not work",
    "dots between the groups": lambda p: f"code: {dotted(p)}",
    "without the check symbol": lambda p: f"code {p[:-1]} please",
    "dotted without the check symbol": lambda p: dotted(p[:-1]),
    "zero-width spaces between symbols": lambda p: ZWSP.join(p),
    "lower case, slashes": lambda p: "/".join(p.lower()[i : i + 4] for i in range(0, len(p), 4)),
    "full-width letters": lambda p: f"卡密{full_width(p)}无法使用",
    "glued to Chinese words": lambda p: f"我的卡密是{p}请处理",
    "glued to latin words": lambda p: f"mycodeis{p}thanks",
    "I and O for 1 and 0": lambda p: p.replace("1", "I").replace("0", "O"),
}


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_a_code_in_any_spelling_is_found_without_knowing_which(code, spelling):
    _card, plain = code
    assert text_mentions_code(SPELLINGS[spelling](plain))


def test_ordinary_text_and_codes_not_in_the_vault_pass(code):
    _card, plain = code
    assert not text_mentions_code("The code shows 'already used' at the till, order VH2026120700012345, store 上海 #3")
    assert not text_mentions_code(codegen.pretty(codegen.new_code()))
    assert not text_mentions_code("")
    assert not text_mentions_code(plain[:10])  # the last characters are how people should refer to a code


def test_an_imported_code_of_twelve_symbols_is_found(code):
    card, plain = factories.card_code(sku=code[0].sku, plaintext="ABCD-1234-WXYZ")
    assert text_mentions_code("it says abcd.1234.wxyz is invalid")
    assert not text_mentions_code("it says abcd.1234 is invalid")


def test_the_known_code_is_found_at_any_length(code):
    card, _plain = factories.card_code(sku=code[0].sku, plaintext="SHORT9")
    assert text_mentions_code("the code s-h-o-r-t-9 fails", code=card)
    assert not text_mentions_code("the code s-h-o-r-t-9 fails")  # too short to look for without knowing it


def test_the_guard_names_the_field(code):
    _card, plain = code
    with pytest.raises(CodeInText) as refused:
        text_code_guard(text=f"reversed {dotted(plain)}", field="reason")
    assert refused.value.field == "reason" and refused.value.status == 400
    text_code_guard(text="customer asked to reverse", field="reason")


def test_mask_replaces_every_code_with_its_hint(code):
    card, plain = code
    other, other_plain = factories.card_code(sku=card.sku)
    masked, count = text_codes_mask(f"first {codegen.pretty(plain)}, then {ZWSP.join(other_plain[:-1])}; order 42")
    assert count == 2
    assert masked == f"first {card.hint}, then {other.hint}; order 42"
    assert fold(plain) not in fold(masked) and fold(other_plain)[:-1] not in fold(masked)
    assert text_codes_mask("nothing here") == ("nothing here", 0)
