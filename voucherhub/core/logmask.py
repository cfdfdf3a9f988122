"""Private links and codes kept out of logs.

A holder's page (/my/<token>/), a consumer's report link (/orders/report/<token>/), an invitation
(/join/<token>/) and a password reset (/reset/<uid>/<token>/) open with the token alone, so a log line
that holds one is a key to someone's codes or account. `private_paths_masked` drops the token from a
path, request line or referrer; `message_masked` also drops every link's path and every code-like word
from a message body, for the console mail and SMS backends when they run in production.

Used by: the LOGGING filter below (settings.LOGGING), the gunicorn access log (voucherhub/core/gunicorn_logger.py,
gunicorn.conf.py), voucherhub.core.mail.ConsoleEmailBackend and redemption.notify.ConsoleSmsBackend.
"""

import logging
import re

MASK = "***"

# The path prefixes whose next segment is a bearer token (the reset form: two segments).
_PRIVATE_PATH = re.compile(r"(?P<prefix>/(?:my|join|orders/report)/)[^/\s?#\"'<>]+|(?P<reset>/reset/)[^/\s?#\"'<>]+/[^/\s?#\"'<>]+")

# A message: a link with a host (kept: scheme, host, first path segment), a bare private path, or a
# code-like word (6 or more letters, digits, - or _, with at least one digit: card codes, tokens, numbers).
_MESSAGE = re.compile(
    r"(?P<url>https?://[^\s<>\"']+)"
    r"|(?P<path>/(?:my|join|orders/report|reset)/[^\s<>\"']+)"
    r"|(?P<code>\b(?=[\w-]*\d)[A-Za-z0-9][\w-]{5,}\b)",
    re.ASCII,
)
_URL = re.compile(r"(?P<base>https?://[^/\s<>\"'?#]+)(?P<rest>.*)", re.ASCII | re.DOTALL)


def private_paths_masked(text: str) -> str:
    """`text` with the token of every private path replaced by ***."""
    if not text or "/" not in text:
        return text

    def replace(match: re.Match) -> str:
        return (match.group("prefix") or match.group("reset")) + MASK

    return _PRIVATE_PATH.sub(replace, text)


def _url_masked(url: str) -> str:
    parts = _URL.match(url)
    if parts is None:
        return MASK
    rest = parts.group("rest")
    first = rest.lstrip("/").split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    if not rest.strip("/"):
        return url  # the site's address alone
    return f"{parts.group('base')}/{first}/{MASK}" if first and first != rest.strip("/") else f"{parts.group('base')}/{MASK}"


def message_masked(text: str) -> str:
    """A message body fit for a log: links reduced to their host and first path segment, codes masked."""
    if not text:
        return text

    def replace(match: re.Match) -> str:
        if match.group("url"):
            return _url_masked(match.group("url"))
        if match.group("path"):
            return private_paths_masked(match.group("path").split("?", 1)[0])
        return MASK

    return _MESSAGE.sub(replace, text)


class PrivatePathFilter(logging.Filter):
    """A handler filter: a record's message loses the tokens of private paths (Django's "Not Found: /my/…"
    warnings, a request line, a referrer). Formats the record's arguments into its message once."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = private_paths_masked(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True
