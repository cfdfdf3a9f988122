"""Terminal API: verify, redeem (Idempotency-Key), reverse (Idempotency-Key), list. Thin: input serializer ->
one service -> output.
"""

from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_variables
from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerExtension
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from redemption import selectors, services
from redemption.auth import IsTerminal, TerminalSignatureAuthentication, terminal_of
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


class TerminalApi(GenericAPIView):
    authentication_classes = [TerminalSignatureAuthentication]
    permission_classes = [IsTerminal]

    def caller(self, request) -> services.Caller:
        return services.Caller.for_terminal(terminal_of(request), ip=client_ip(request))


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


class RedemptionListCreateApi(TerminalApi):
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
    @sensitive_variables()  # the JSON body's code is in locals here: not in an error report
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        outcome = services.redemption_redeem(
            caller=self.caller(request),
            entry=CodeEntryInput.entry(data.validated_data),
            idempotency_key=request.headers.get("Idempotency-Key", ""),
            amount=data.validated_data.get("amount"),
            spend=data.validated_data.get("spend"),
            reference=data.validated_data.get("reference", ""),
        )
        return outcome_response(outcome)

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
