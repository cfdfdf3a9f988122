"""Terminal API: verify, redeem (Idempotency-Key), reverse (Idempotency-Key), list. Thin: services do the work.

A redeem is the request a POS sends most. The plain case (signed, JSON in and out, a code or QR token without
an amount) skips DRF's request machinery: see RedemptionListCreateApi.dispatch and docs/performance.md.
"""

import json

from django.conf import settings
from django.http import HttpResponse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_variables
from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerExtension
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.utils.json import strict_constant

from redemption import selectors, services
from redemption.auth import IsTerminal, TerminalSignatureAuthentication, terminal_authenticate, terminal_of
from voucherhub.core import apisign
from voucherhub.core.api import IDEMPOTENCY_KEY_SCHEMA
from voucherhub.core.errors import NotFound
from voucherhub.core.net import client_ip

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    IDEMPOTENCY_KEY_SCHEMA,
    OpenApiParameter.HEADER,
    required=True,
    description="Unique per attempt (1-100 characters). A replay returns the first answer; another body under the key gets 409.",
)


class TerminalSignatureScheme(OpenApiAuthenticationExtension):
    target_class = "redemption.auth.TerminalSignatureAuthentication"
    name = "terminalSignature"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-VH-Signature",
            "description": "HMAC-SHA256 signed request, see docs/api-signing.md",
        }


@extend_schema_serializer(component_name="RedemptionError")
class ErrorSerializer(serializers.Serializer):
    error = inline_serializer(
        "RedemptionErrorBody", {"code": serializers.CharField(), "message": serializers.CharField(), "fields": serializers.DictField()}
    )


# What every terminal operation may answer besides its own outcomes: 400 unreadable or invalid input (each bad
# field named), 401 a refused signature (docs/api-signing.md).
TERMINAL_ERRORS = {400: ErrorSerializer, 401: ErrorSerializer}


class CodeEntryInput(serializers.Serializer):
    code = serializers.CharField(required=False, allow_blank=True, max_length=300, help_text="The typed code, or a scanned QR token.")
    serial = serializers.CharField(required=False, allow_blank=True, max_length=64, help_text="The card's serial number, when it has one.")
    qr_token = serializers.CharField(
        required=False, allow_blank=True, max_length=300, help_text="The token read from the holder's QR code."
    )

    def validate(self, attrs):
        if bool(attrs.get("code", "").strip()) == bool(attrs.get("qr_token", "").strip()):
            raise serializers.ValidationError({"code": [_("Give either a code or a QR token.")]})
        return attrs

    @staticmethod
    def entry(data) -> services.CodeEntry:
        return services.CodeEntry(code=data.get("code", ""), serial=data.get("serial", ""), qr_token=data.get("qr_token", ""))


class CodeEntryInputScheme(OpenApiSerializerExtension):
    """CodeEntryInput.validate's rule in the OpenAPI schema: exactly one of `code` and `qr_token` is given, and
    given means more than spaces (both are trimmed). The fields themselves are mapped as usual."""

    target_class = CodeEntryInput
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_basic_serializer(self.target, direction)
        given = {"pattern": r"\S"}
        schema["oneOf"] = [
            {"required": ["code"], "properties": {"code": given}},
            {"required": ["qr_token"], "properties": {"qr_token": given}},
        ]
        return schema


@extend_schema_serializer(component_name="Redemption")
class RedemptionOutput(serializers.Serializer):
    """The shape of `services.redemption_payload` (documented here, built there)."""

    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["completed", "reversed"])
    code = inline_serializer("RedeemedCode", {"hint": serializers.CharField(), "serial": serializers.CharField()})
    sku = inline_serializer("RedeemedSku", {"code": serializers.CharField(), "name": serializers.CharField()})
    merchant = inline_serializer("RedemptionMerchant", {"id": serializers.IntegerField(), "name": serializers.CharField()})
    store = inline_serializer(
        "RedemptionStore", {"id": serializers.IntegerField(), "code": serializers.CharField(), "name": serializers.CharField()}
    )
    terminal = serializers.CharField(allow_null=True)
    channel = serializers.CharField()
    amount = serializers.DecimalField(max_digits=14, decimal_places=2)
    spend = serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True)
    balance_after = serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True)
    amount_owed = serializers.DecimalField(max_digits=14, decimal_places=2)
    currency = serializers.CharField()
    reference = serializers.CharField()
    redeemed_at = serializers.DateTimeField()
    reversed_at = serializers.DateTimeField(allow_null=True)


# The text fields of RedemptionListCreateApi.InputSerializer and their max_length.
_REDEEM_TEXT_FIELDS = (("code", 300), ("serial", 64), ("qr_token", 300), ("reference", 64))


def redeem_input_quick(data) -> dict | None:
    """What RedemptionListCreateApi.InputSerializer would validate `data` to, for the plain case only; else None.

    Every POS redeem is the plain case: a JSON object whose text fields are ASCII strings within their lengths,
    without amount or spend (or with null), naming a code or a QR token. Building a serializer (its fields are
    deep-copied for every instance) costs more than the rest of the request's Python; this gives the same
    validated data without it. Anything else returns None and goes to the serializer, which then decides and
    words the error exactly as before (tests/redemption/test_api.py checks both agree).
    """
    if type(data) is not dict:
        return None
    validated = {}
    for name, max_length in _REDEEM_TEXT_FIELDS:
        if name not in data:
            continue
        value = data[name]
        # CharField: strings only here (it also takes numbers), no NUL (nor surrogates: ASCII has none), trimmed.
        if type(value) is not str or not value.isascii() or "\x00" in value:
            return None
        value = value.strip()
        if len(value) > max_length:
            return None
        validated[name] = value
    for name in ("amount", "spend"):
        if name in data:
            if data[name] is not None:
                return None
            validated[name] = None
    if bool(validated.get("code")) == bool(validated.get("qr_token")):  # CodeEntryInput.validate
        return None
    return validated


class TerminalApi(GenericAPIView):
    authentication_classes = [TerminalSignatureAuthentication]
    permission_classes = [IsTerminal]

    def caller(self, request) -> services.Caller:
        return services.Caller.for_terminal(terminal_of(request), ip=client_ip(request), risk_read=request.user.cache_snapshot.get_many)


def outcome_response(outcome: services.Outcome) -> Response:
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else None
    return Response(outcome.body, status=outcome.status_code, headers=headers)


class RedemptionVerifyApi(TerminalApi):
    @extend_schema_serializer(component_name="RedemptionVerifyInput")
    class InputSerializer(CodeEntryInput):
        amount = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=0, required=False, allow_null=True)
        spend = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=0, required=False, allow_null=True)

    @extend_schema_serializer(component_name="RedemptionVerifyOutput")
    class OutputSerializer(serializers.Serializer):
        @extend_schema_serializer(component_name="RedemptionVerifiedCode")
        class CodeSerializer(serializers.Serializer):
            hint = serializers.CharField()
            serial = serializers.CharField()
            status = serializers.CharField()
            sku = inline_serializer("VerifiedSku", {"code": serializers.CharField(), "name": serializers.CharField()})
            stored_value = serializers.BooleanField()
            face_value = serializers.DecimalField(max_digits=14, decimal_places=2)
            balance = serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True)
            currency = serializers.CharField()
            expires_at = serializers.DateTimeField(allow_null=True)
            redeemed = inline_serializer(
                "VerifiedRedeemedAt", {"store": serializers.CharField(), "at": serializers.DateTimeField()}, allow_null=True
            )
            usage = inline_serializer(
                "VerifiedUsage",
                {
                    "weekdays": serializers.ListField(child=serializers.IntegerField()),
                    "from_time": serializers.TimeField(allow_null=True),
                    "until_time": serializers.TimeField(allow_null=True),
                    "min_spend": serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True),
                    "notes": serializers.CharField(),
                },
            )

        valid = serializers.BooleanField()
        reason = inline_serializer("VerifyReason", {"code": serializers.CharField(), "message": serializers.CharField()}, allow_null=True)
        code = CodeSerializer(allow_null=True)

    @extend_schema(
        operation_id="redemptions_verify",
        summary="Would this code be accepted here and now? (read-only)",
        request=InputSerializer,
        # 429: the terminal, its address or its store is locked out after too many wrong codes (Retry-After).
        responses={200: OutputSerializer, **TERMINAL_ERRORS, 429: ErrorSerializer},
    )
    @sensitive_variables()  # the JSON body's code is in locals here and below: not in an error report
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = services.redemption_verify(
            caller=self.caller(request),
            entry=CodeEntryInput.entry(data.validated_data),
            amount=data.validated_data.get("amount"),
            spend=data.validated_data.get("spend"),
        )
        code = result.code
        body = {
            "valid": result.valid,
            "reason": {"code": result.reason, "message": result.message} if result.refusal else None,
            "code": None,
        }
        if code is not None:
            sku = code.sku
            body["code"] = {
                "hint": code.hint,
                "serial": code.serial,
                "status": code.status,
                "sku": {"code": sku.code, "name": sku.name},
                "stored_value": sku.is_stored_value,
                "face_value": sku.face_value,
                "balance": result.balance,
                "currency": sku.currency,
                "expires_at": code.expires_at,
                "redeemed": {"store": result.redeemed_where[0], "at": result.redeemed_where[1]} if result.redeemed_where else None,
                "usage": {
                    "weekdays": [int(d) for d in sku.allowed_weekdays or []],
                    "from_time": sku.usable_from_time,
                    "until_time": sku.usable_until_time,
                    "min_spend": sku.min_spend,
                    "notes": sku.usage_notes,
                },
            }
        return Response(self.OutputSerializer(body).data)


_SIGNED_HEADERS = (apisign.META_KEY, apisign.META_TIMESTAMP, apisign.META_NONCE, apisign.META_SIGNATURE)
_IDEMPOTENCY_KEY = apisign.meta_name("Idempotency-Key")
_JSON_TYPES = frozenset({"application/json", "application/json; charset=utf-8", "application/json;charset=utf-8"})
_ACCEPT_JSON = frozenset({"", "*/*", "application/json"})


def redeem_input_direct(request) -> dict | None:
    """The validated input of a redeem that may take the direct path, else None (DRF serves it as before).

    Only what DRF would answer exactly the same way: all four signature headers, no query string (`?format=`),
    an Accept that DRF's negotiation settles on JSON without options, a JSON body (DRF's strict parsing), and
    input that redeem_input_quick accepts. Reads nothing but the request: deciding has no side effect."""
    if not getattr(settings, "REDEMPTION_API_DIRECT", True):
        return None
    meta = request.META
    if meta.get("QUERY_STRING") or meta.get("HTTP_ACCEPT", "").strip().lower() not in _ACCEPT_JSON:
        return None
    if meta.get("CONTENT_TYPE", "").strip().lower() not in _JSON_TYPES:
        return None
    if not all(meta.get(name) for name in _SIGNED_HEADERS):
        return None
    try:
        data = json.loads(request.body.decode("utf-8"), parse_constant=strict_constant)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError: DRF words the parse error
        return None
    return redeem_input_quick(data)


class RedemptionListCreateApi(TerminalApi):
    @sensitive_variables()  # both paths (direct and DRF's post) hold the JSON body's code in locals below here
    def dispatch(self, request, *args, **kwargs):
        """A plain redeem (redeem_input_direct) runs without DRF's Request, negotiation and serializers.

        It does what DRF would: the signature check (TerminalSignatureAuthentication; IsTerminal holds for what it
        returns), the service, and the same response: JSON rendered by DRF's JSONRenderer with the view's
        `Allow` and `Vary` headers. Every exception, a refused signature included, is answered by DRF's own
        handle_exception and finalize_response, so error statuses, bodies and headers are DRF's.
        """
        validated = redeem_input_direct(request) if request.method == "POST" and self.direct_allowed() else None
        if validated is None:
            return super().dispatch(request, *args, **kwargs)
        self.args, self.kwargs = args, kwargs
        self.headers = self.default_response_headers
        try:
            principal, _credential = terminal_authenticate(request)
            request.user = principal
            caller = services.Caller.for_terminal(principal.terminal, ip=client_ip(request), risk_read=principal.cache_snapshot.get_many)
            outcome = self.redeem(caller=caller, validated=validated, idempotency_key=request.META.get(_IDEMPOTENCY_KEY, ""))
            response = HttpResponse(JSONRenderer().render(outcome.body), status=outcome.status_code, content_type=JSONRenderer.media_type)
            if outcome.replayed:
                response["Idempotent-Replayed"] = "true"
            return self.finalize_response(request, response, *args, **kwargs)
        except Exception as exc:
            self.request = drf_request = self.initialize_request(request, *args, **kwargs)
            self.format_kwarg = self.get_format_suffix(**kwargs)
            drf_request.accepted_renderer, drf_request.accepted_media_type = self.perform_content_negotiation(drf_request)
            return self.finalize_response(drf_request, self.handle_exception(exc), *args, **kwargs)

    @classmethod
    def direct_allowed(cls) -> bool:
        """The direct path does what this DRF configuration does, and nothing more: signature authentication,
        IsTerminal, no throttling, no versioning. Any other configuration (a throttle added to the DRF settings,
        say) sends every request through DRF."""
        return (
            list(cls.authentication_classes) == [TerminalSignatureAuthentication]
            and list(cls.permission_classes) == [IsTerminal]
            and not cls.throttle_classes
            and cls.versioning_class is None
        )

    @staticmethod
    def redeem(*, caller: services.Caller, validated: dict, idempotency_key: str) -> services.Outcome:
        return services.redemption_redeem(
            caller=caller,
            entry=CodeEntryInput.entry(validated),
            idempotency_key=idempotency_key,
            amount=validated.get("amount"),
            spend=validated.get("spend"),
            reference=validated.get("reference", ""),
        )

    @extend_schema_serializer(component_name="RedemptionCreateInput")
    class InputSerializer(CodeEntryInput):
        amount = serializers.DecimalField(
            max_digits=14, decimal_places=2, min_value=0, required=False, allow_null=True, help_text="Stored-value codes: how much to take."
        )
        spend = serializers.DecimalField(
            max_digits=14, decimal_places=2, min_value=0, required=False, allow_null=True, help_text="The bill, for a minimum-spend rule."
        )
        reference = serializers.CharField(required=False, allow_blank=True, max_length=64, help_text="The POS receipt number.")

    @extend_schema_serializer(component_name="RedemptionListFilter")
    class FilterSerializer(serializers.Serializer):
        store = serializers.CharField(required=False, allow_blank=True, help_text="Store id or code")
        date = serializers.DateField(required=False)

    @extend_schema(
        operation_id="redemptions_create",
        summary="Redeem a code (single-use: whole; stored value: `amount` of the balance)",
        request=InputSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={201: RedemptionOutput, **TERMINAL_ERRORS, 409: ErrorSerializer, 422: ErrorSerializer, 429: ErrorSerializer},
    )
    def post(self, request):
        validated = redeem_input_quick(request.data)
        if validated is None:  # anything but the plain case: the serializer judges (and words the errors)
            data = self.InputSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            validated = data.validated_data
        key = request.headers.get("Idempotency-Key", "")
        return outcome_response(self.redeem(caller=self.caller(request), validated=validated, idempotency_key=key))

    @extend_schema(
        operation_id="redemptions_list",
        summary="This merchant's redemptions, newest first",
        parameters=[FilterSerializer],
        responses={200: RedemptionOutput(many=True), **TERMINAL_ERRORS},
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        terminal = terminal_of(request)
        queryset = selectors.redemptions_list(
            merchant=terminal.store.merchant, store=filters.validated_data.get("store"), day=filters.validated_data.get("date")
        )
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response([services.redemption_payload(r) for r in page])


class RedemptionDetailApi(TerminalApi):
    @extend_schema(operation_id="redemptions_retrieve", responses={200: RedemptionOutput, 401: ErrorSerializer, 404: ErrorSerializer})
    def get(self, request, pk: int):
        redemption = selectors.redemptions_visible(merchant=terminal_of(request).store.merchant).filter(pk=pk).first()
        if redemption is None:
            raise NotFound(_("No such redemption."))
        return Response(services.redemption_payload(redemption))


class RedemptionReverseApi(TerminalApi):
    @extend_schema_serializer(component_name="RedemptionReverseInput")
    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(required=False, allow_blank=True, max_length=200)

    @extend_schema(
        operation_id="redemptions_reverse",
        summary="Reverse a redemption of this merchant within its window (twice changes nothing)",
        request=InputSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={200: RedemptionOutput, **TERMINAL_ERRORS, 404: ErrorSerializer, 409: ErrorSerializer},
    )
    def post(self, request, pk: int):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        outcome = services.redemption_reverse(
            caller=self.caller(request),
            redemption_id=pk,
            idempotency_key=request.headers.get("Idempotency-Key", ""),
            reason=data.validated_data.get("reason", ""),
        )
        return outcome_response(outcome)
