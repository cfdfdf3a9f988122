"""Checks every role's walk runs on each page it opens (issue 13's acceptance line).

A page fails on an internal value read as a word (the caller says which values are internal to it), an ISO
timestamp, an element wider than the window (unless it sits in a box that scrolls sideways on its own) or a
console error. CSP violations are reported by conftest's new_page fixture.

    errors = watch_console(page)
    ...
    problems += page_problems(page, errors, width=1366, internal=INTERNAL, language="en")
    problems += pages_problems(page, errors, hrefs, width=1366, internal=INTERNAL, language="en")

With a language, a page also fails on money not written as ¥1,234.50 (or alone in a cell without its sign) and
on a date in the other language's format (2027-03-07 on an English page, 7 Mar 2027 on a Chinese one): one
money format, one date format per language (voucherhub/core/templatetags/vh_format.py).
"""

import re
from collections.abc import Iterable

ISO_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
# Any amount after the yuan sign, and the one way to write it (vh_format.money: ¥1,234.50).
MONEY = re.compile(r"¥\s*-?[\d,]+(?:\.\d+)?")
MONEY_FORMAT = re.compile(r"¥-?\d{1,3}(?:,\d{3})*\.\d{2}")
# An amount alone in a cell, without its currency sign (35.00).
BARE_MONEY = re.compile(r"-?\d[\d,]*\.\d{2}")
# Each language's date written in the other's format.
FOREIGN_DATE = {
    "en": re.compile(r"(?<![\d-])\d{4}-\d{2}-\d{2}(?![\d-])"),
    "zh-hans": re.compile(r"\b\d{1,2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4}\b"),
}

# The words of every table cell, badge, list item and definition, split at the separators pages use.
CELL_WORDS = """() => Array.from(document.querySelectorAll('main td, main dd, main li, main .badge, main option'))
  .flatMap(el => el.innerText.split(/[·→|\\n]/)).map(t => t.trim()).filter(Boolean)"""
# Measured against the device's width, never window.innerWidth: a phone widens its layout viewport (and
# innerWidth with it) to a page that does not fit, which would hide the very overflow looked for.
TOO_WIDE = """width => {
  const wide = Array.from(document.querySelectorAll('body *')).filter(el => {
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.right <= width + 1) return false;
    for (let p = el.parentElement; p; p = p.parentElement) {  // inside a box that scrolls sideways on its own
      const overflow = getComputedStyle(p).overflowX;
      if (overflow === 'auto' || overflow === 'scroll' || overflow === 'hidden') return false;
    }
    return true;
  }).map(el => el.tagName.toLowerCase() + (el.dataset.testid ? '[' + el.dataset.testid + ']' : '') + '.' + el.className);
  return {scroll: Math.max(document.documentElement.scrollWidth, window.innerWidth), width, wide: wide.slice(0, 5)};
}"""


def choice_values(*choices) -> set[str]:
    """Every stored value of these TextChoices classes (the words a page must translate)."""
    return {value for choice in choices for value in choice.values if value}


def stored_values(*app_labels: str) -> set[str]:
    """The stored value of every choice of every model field in these apps, unless the value is also its own
    English label (a currency code, say), which a page may show as it is."""
    from django.apps import apps
    from django.utils import translation

    values = set()
    with translation.override("en"):
        for label in app_labels:
            for model in apps.get_app_config(label).get_models():
                for model_field in model._meta.get_fields():
                    for value, name in getattr(model_field, "flatchoices", None) or []:
                        if isinstance(value, str) and value and value != str(name):
                            values.add(value)
    return values


def watch_console(page) -> list[str]:
    """A list that fills with the page's console errors and uncaught exceptions, each with the URL it was on."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"{page.url}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"{page.url}: {e}"))
    return errors


def internal_words(page, internal: Iterable[str]) -> list[str]:
    """The internal values read as a whole word in a cell, definition, list item, badge or option of <main>."""
    internal = set(internal)
    return sorted({word for word in page.evaluate(CELL_WORDS) if word in internal})


def iso_timestamp(page) -> str | None:
    """The first ISO timestamp in the page's text, or None."""
    found = ISO_TIMESTAMP.search(page.locator("body").inner_text())
    return found.group() if found else None


def too_wide(page, width: int) -> str | None:
    """Why the page is wider than the window (the document's width and the first elements past the edge), or None."""
    layout = page.evaluate(TOO_WIDE, width)
    if layout["scroll"] > layout["width"] or layout["wide"]:
        return f"wider than the {width}px window ({layout['scroll']}px): {layout['wide']}"
    return None


def money_misformatted(text: str) -> list[str]:
    """The amounts after a ¥ in `text` that are not written as ¥1,234.50."""
    return [found for found in MONEY.findall(text) if not MONEY_FORMAT.fullmatch(found.replace(" ", ""))]


def foreign_dates(text: str, language: str) -> list[str]:
    """Dates in `text` written in the other language's format."""
    return FOREIGN_DATE["zh-hans" if language.lower().startswith("zh") else "en"].findall(text)


def page_problems(page, errors: list[str], *, width: int, internal: Iterable[str], language: str | None = None) -> list[str]:
    """What is wrong on the page shown: internal values, ISO timestamps, width, console errors (which it clears)
    and, given the page's language, money and dates not in that language's one format."""
    problems = []
    where = page.url
    if language:
        text = page.locator("body").inner_text()
        money = money_misformatted(text)
        if money:
            problems.append(f"{where}: money not written as ¥1,234.50: {money[:5]}")
        bare = sorted({word for word in page.evaluate(CELL_WORDS) if BARE_MONEY.fullmatch(word)})
        if bare:
            problems.append(f"{where}: money without its currency sign: {bare[:5]}")
        dates = foreign_dates(text, language)
        if dates:
            problems.append(f"{where}: dates in another language's format: {dates[:5]}")
    shown = internal_words(page, internal)
    if shown:
        problems.append(f"{where}: internal values shown: {shown}")
    stamp = iso_timestamp(page)
    if stamp:
        problems.append(f"{where}: an ISO timestamp: {stamp}")
    wide = too_wide(page, width)
    if wide:
        problems.append(f"{where}: {wide}")
    if errors:
        problems.append(f"{where}: console errors: {list(errors)}")
        errors.clear()
    return problems


def page_settled(page) -> None:
    """Wait until an opened page has finished its own requests: its load event (what goto waits for) and no htmx
    request in flight. Our pages fetch nothing after loading but htmx's polls of a running job. Playwright's
    "networkidle" waits for 500 ms without any request as well: half a second on every page, nearly half the
    time of a walk through every menu page."""
    page.wait_for_load_state("load")
    page.wait_for_function("() => !document.querySelector('.htmx-request')")


def pages_problems(
    page, errors: list[str], hrefs: Iterable[str], *, width: int, internal: Iterable[str], language: str | None = None
) -> list[str]:
    """page_problems of each page in `hrefs`, opened in turn (each must answer 200)."""
    problems = []
    for href in hrefs:
        response = page.goto(href)
        page_settled(page)
        if response is None or response.status != 200:
            problems.append(f"{href}: answered {response.status if response else 'nothing'}")
            continue
        problems += page_problems(page, errors, width=width, internal=internal, language=language)
    return problems
