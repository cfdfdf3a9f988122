"""Checks every role's walk runs on each page it opens (issue 13's acceptance line).

A page fails on an internal value read as a word (the caller says which values are internal to it), an ISO
timestamp, an element wider than the window (unless it sits in a box that scrolls sideways on its own) or a
console error. CSP violations are reported by conftest's new_page fixture.

    errors = watch_console(page)
    ...
    problems += page_problems(page, errors, width=1366, internal=INTERNAL)
"""

import re
from collections.abc import Iterable

ISO_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")

# The words of every table cell, badge, list item and definition, split at the separators pages use.
CELL_WORDS = """() => Array.from(document.querySelectorAll('main td, main dd, main li, main .badge, main option'))
  .flatMap(el => el.innerText.split(/[·→|\\n]/)).map(t => t.trim()).filter(Boolean)"""
TOO_WIDE = """() => {
  const width = window.innerWidth;
  const wide = Array.from(document.querySelectorAll('body *')).filter(el => {
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.right <= width + 1) return false;
    for (let p = el.parentElement; p; p = p.parentElement) {  // inside a box that scrolls sideways on its own
      const overflow = getComputedStyle(p).overflowX;
      if (overflow === 'auto' || overflow === 'scroll' || overflow === 'hidden') return false;
    }
    return true;
  }).map(el => el.tagName.toLowerCase() + (el.dataset.testid ? '[' + el.dataset.testid + ']' : '') + '.' + el.className);
  return {scroll: document.documentElement.scrollWidth, width, wide: wide.slice(0, 5)};
}"""


def choice_values(*choices) -> set[str]:
    """Every stored value of these TextChoices classes (the words a page must translate)."""
    return {value for choice in choices for value in choice.values if value}


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
    layout = page.evaluate(TOO_WIDE)
    if layout["scroll"] > layout["width"] or layout["wide"]:
        return f"wider than the {width}px window ({layout['scroll']}px): {layout['wide']}"
    return None


def page_problems(page, errors: list[str], *, width: int, internal: Iterable[str]) -> list[str]:
    """What is wrong on the page shown: internal values, ISO timestamps, width, console errors (which it clears)."""
    problems = []
    where = page.url
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
