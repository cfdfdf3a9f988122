"""API conventions shared by every app: one error body shape, domain errors mapped to status codes.

Every error leaves the API as `{"error": {"code": "...", "message": "...", "fields": {...}}}`: the ones a
DRF view raises through `exception_handler`, and the ones Django answers before or around a view (an
unknown path, an unreadable request, a crash) through the error handlers below, which the API entry's
URLconf (voucherhub/api_urls.py) declares, and the site's (voucherhub/urls.py) for paths under /api/.
A database or Redis that is away for a moment is `503 unavailable` with Retry-After, from either path
(voucherhub/core/outages.py).
"""

import re
import sys

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from voucherhub.core.errors import DomainError, NotFound, PermissionDenied
from voucherhub.core.outages import is_outage, outage_log, retry_after_seconds

UNAVAILABLE = "unavailable"


def unavailable_message():
    return _("A service we depend on is briefly unavailable. Retry in a moment with the same Idempotency-Key.")


# The Idempotency-Key header as the OpenAPI schema states it: 1 to 100 characters, not only spaces (a key is
# trimmed before use). The one definition for every operation that takes one.
IDEMPOTENCY_KEY_SCHEMA = {"type": "string", "minLength": 1, "maxLength": 100, "pattern": r"\S"}


def error_body(code: str, message, fields: dict | None = None) -> dict:
    return {"error": {"code": code, "message": str(message), "fields": fields or {}}}


def error_json(code: str, message, *, status_code: int) -> JsonResponse:
    """The error body as a plain Django response, for answers given outside DRF (no renderer runs there).

    ensure_ascii=False like DRF's JSON renderer, so a Chinese message reads the same from either."""
    return JsonResponse(error_body(code, message), status=status_code, json_dumps_params={"ensure_ascii": False})


# Django's error handlers (handler400/403/404/500) for the API's urlconf.


def not_found(request, exception=None) -> JsonResponse:
    return error_json(NotFound.code, NotFound.default_message, status_code=404)


def bad_request(request, exception=None) -> JsonResponse:
    return error_json("bad_request", _("The request could not be read."), status_code=400)


def permission_denied(request, exception=None) -> JsonResponse:
    return error_json(PermissionDenied.code, PermissionDenied.default_message, status_code=403)


def server_error(request) -> JsonResponse:
    # Says nothing of the failure: the details (and whatever the request carried) stay in the server's log.
    # Called while Django handles the exception: a database or Redis that is away for a moment is a 503.
    if is_outage(sys.exception()):
        response = error_json(UNAVAILABLE, unavailable_message(), status_code=503)
        response["Retry-After"] = str(retry_after_seconds())
        return response
    return error_json("server_error", _("Something went wrong on our side. Please try again later."), status_code=500)


def error_response(code: str, message, *, status_code: int, fields: dict | None = None, headers=None) -> Response:
    return Response(error_body(code, message, fields), status=status_code, headers=headers)


def _flatten_fields(detail) -> dict:
    """DRF validation detail -> {"field": ["message", ...]} with nested fields joined by dots."""
    out: dict[str, list[str]] = {}

    def walk(prefix, value):
        if isinstance(value, dict):
            for key, sub in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), sub)
        elif isinstance(value, list) and value and not all(isinstance(v, (str, exceptions.ErrorDetail)) for v in value):
            for index, sub in enumerate(value):
                walk(f"{prefix}.{index}" if prefix else str(index), sub)
        else:
            items = value if isinstance(value, list) else [value]
            out.setdefault(prefix or "non_field_errors", []).extend(str(v) for v in items)

    walk("", detail)
    return out


def exception_handler(exc, context):
    if is_outage(exc):
        # A temporary outage (voucherhub/core/outages.py): the client retries the same request, same key.
        outage_log(context["request"], exc)
        headers = {"Retry-After": str(retry_after_seconds())}
        return error_response(UNAVAILABLE, unavailable_message(), status_code=503, headers=headers)
    if isinstance(exc, DomainError):
        # A refusal that ends at a known time (a lockout, a reveal limit) tells the client when: Retry-After.
        retry_after = getattr(exc, "retry_after", None)
        headers = {"Retry-After": str(int(retry_after))} if retry_after else None
        return error_response(exc.code, exc.message, status_code=exc.status, fields=exc.as_fields(), headers=headers)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = error_body("invalid", _("Some fields are not valid."), _flatten_fields(exc.detail))
        response.status_code = status.HTTP_400_BAD_REQUEST
        return response
    code = getattr(exc, "default_code", "error")
    detail = getattr(exc, "detail", str(exc))
    if isinstance(detail, exceptions.ErrorDetail):
        code = detail.code or code
    response.data = error_body(str(code), detail if isinstance(detail, str) else str(detail))
    return response


class ApiPagination(LimitOffsetPagination):
    """Every API list: `?limit=&offset=`, answered as {count, next, previous, results}.

    DRF's LimitOffsetPagination quietly uses its default for a limit or offset it cannot read; this one refuses
    it (400 `invalid`, the parameter named), so a list takes exactly what the OpenAPI schema says it takes:
    whole numbers, limit from 1 and offset from 0, both at most MAX_VALUE (so no number reaches the database's
    LIMIT and OFFSET that it cannot take), or nothing (absent or empty: the default)."""

    MAX_VALUE = 2**31 - 1
    _DIGITS = re.compile(r"[0-9]{1,10}")

    def get_limit(self, request):
        return self._number(request, self.limit_query_param, minimum=1, default=self.default_limit)

    def get_offset(self, request):
        return self._number(request, self.offset_query_param, minimum=0, default=0)

    def _number(self, request, name: str, *, minimum: int, default: int | None) -> int | None:
        raw = request.query_params.get(name, "")
        if raw == "":  # sent empty is not sent, as for every optional query parameter (schema_query_empty_values)
            return default
        if not self._DIGITS.fullmatch(raw) or not minimum <= int(raw) <= self.MAX_VALUE:
            message = _("Enter a whole number from %(minimum)d to %(maximum)d.") % {"minimum": minimum, "maximum": self.MAX_VALUE}
            raise exceptions.ValidationError({name: [message]})
        return int(raw)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            minimum = 1 if parameter["name"] == self.limit_query_param else 0
            parameter["schema"].update(minimum=minimum, maximum=self.MAX_VALUE)
        return parameters


def schema_query_empty_values(result, generator, request, public):
    """drf-spectacular postprocessing hook: the schema says that an optional query parameter may be sent empty.

    The API reads `?status=` as no status: DRF's serializers treat an empty query value of an optional field as
    absent, and so does ApiPagination. OpenAPI's word for it is `allowEmptyValue`."""
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            for parameter in operation.get("parameters", []) if isinstance(operation, dict) else []:
                if parameter.get("in") == "query" and not parameter.get("required"):
                    parameter["allowEmptyValue"] = True
    return result
