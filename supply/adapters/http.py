"""The adapters' one way to reach a supplier over HTTP (requests), with every transport trouble in one exception.

`Unreachable` covers a refused connection, a timeout, a broken answer: the adapter turns it into
Outcome.UNKNOWN (submit, query) or SupplierUnavailable (balance, card purchase), never into a failure.
"""

import json
from dataclasses import dataclass

import requests

USER_AGENT = "VoucherHub-supply/1"


class Unreachable(Exception):
    """No usable HTTP answer: connection refused or reset, timeout, TLS trouble."""


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes

    def json(self):
        """The body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return None

    @property
    def server_error(self) -> bool:
        return self.status >= 500


def http_call(method: str, url: str, *, timeout: float, data=None, body: bytes | None = None, headers: dict | None = None) -> Reply:
    """One request; `data` is sent as a form, `body` as is. Raises Unreachable."""
    sent_headers = {"User-Agent": USER_AGENT, **(headers or {})}
    try:
        response = requests.request(method, url, data=body if body is not None else data, headers=sent_headers, timeout=timeout)
        return Reply(status=response.status_code, body=response.content)
    except requests.RequestException as trouble:
        raise Unreachable(type(trouble).__name__) from None


def json_dumps(value) -> str:
    """Compact JSON as the suppliers expect it (UTF-8 text, no ASCII escapes)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
