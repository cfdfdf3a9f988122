"""The console mail backend: prints each message, with every link and code masked in production.

Development (make run) prints messages in full, so the demo's links can be opened from the console. In
production a console backend is refused by `check --deploy` (voucherhub/core/checks.py) unless
CONSOLE_MESSAGES_ALLOWED=true, and even then the log shows no private link and no code.
"""

import copy

from django.conf import settings
from django.core.mail.backends.console import EmailBackend as DjangoConsoleBackend

from voucherhub.core.logmask import message_masked


def console_messages_masked() -> bool:
    return bool(getattr(settings, "PRODUCTION", False))


class ConsoleEmailBackend(DjangoConsoleBackend):
    def write_message(self, message) -> None:
        if console_messages_masked():
            message = _masked_copy(message)
        super().write_message(message)


def _masked_copy(message):
    masked = copy.copy(message)
    masked.subject = message_masked(str(message.subject))
    masked.body = message_masked(str(message.body))
    if getattr(message, "alternatives", None):
        masked.alternatives = [(message_masked(str(content)), mimetype) for content, mimetype in message.alternatives]
    if message.attachments:  # an attachment is never printed, only counted
        masked.attachments = []
        masked.body += f"\n[{len(message.attachments)} attachment(s) not shown]"
    return masked
