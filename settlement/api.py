"""The distributor API for orders and the wallet (signed requests, channels.api_auth)."""

import hashlib
import json

from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_variables
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from catalog.selectors import sku_by_code
from channels.api import ERROR, ERRORS, DistributorApiView
from riskcontrol.errors import ChallengeRequired, RevealLimitExceeded
from riskcontrol.services import reveal_guard
from settlement.errors import SettlementError
from settlement.integrations import challenge_ok
from settlement.models import Order
from settlement.selectors.orders import (
    codes_reopen,
    order_codes_reveal,
    order_delivered_items,
    order_get,
    orders_for,
)
from settlement.services.orders import order_place
from settlement.services.wallets import wallet_for
from voucherhub.core.api import IDEMPOTENCY_KEY_SCHEMA, error_response
from voucherhub.core.idempotency import IDEMPOTENCY_HEADER, idempotency_key_checked, idempotent_answer, request_fingerprint
from voucherhub.core.net import client_ip


class OrderOut(serializers.Serializer):
    class Meta:
        ref_name = "Order"

    number = serializers.CharField()
    status = serializers.CharField()
    channel = serializers.CharField()
    sku = serializers.CharField(source="sku.code")
    quantity = serializers.IntegerField()
    unit_price = serializers.DecimalField(max_digits=14, decimal_places=2)
    total = serializers.DecimalField(max_digits=14, decimal_places=2)
    currency = serializers.CharField()
    refunded_quantity = serializers.IntegerField()
    refunded_amount = serializers.DecimalField(max_digits=14, decimal_places=2)
    customer_ref = serializers.CharField()
    held_for_review = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    paid_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)  # none while held for review or topping up

    def get_held_for_review(self, order) -> bool:
        return order.hold == Order.Hold.REVIEW


# One instance for every answer: DRF deep-copies a serializer's fields each time one is made, and
# to_representation only reads them.
ORDER_OUT = OrderOut()


class CodeOut(serializers.Serializer):
    hint = serializers.CharField()
    code = serializers.CharField()
    serial = serializers.CharField()
    status = serializers.CharField()
    expires_at = serializers.CharField(allow_null=True)


def _actor_label(request) -> str:
    return request.user.get_username()


def _reveal_allowed(request, *, count: int) -> None:
    """The hourly reveal limit of the portal (risk control's reveal_guard), for the API caller: every key of a
    distributor draws on one allowance (ApiPrincipal.pk). Raises RevealLimitExceeded (429, Retry-After)."""
    reveal_guard(actor=request.user, count=count, ip=client_ip(request))


def _codes_part(request, *, count: int, open_codes) -> dict:
    """What an order answer says of its codes: {"codes": open_codes()} when the hourly reveal limit lets
    `count` more codes be opened, else {"codes_withheld": {code, message, retry_after}}. The order stands
    either way; its codes come with a later answer (the same request again, or GET /orders/<n>/codes/)."""
    try:
        _reveal_allowed(request, count=count)
    except RevealLimitExceeded as refusal:
        return {"codes_withheld": {"code": refusal.code, "message": str(refusal.message), "retry_after": refusal.retry_after}}
    return {"codes": open_codes()}


def _answer_kept(order: Order) -> dict:
    """An order's answer as its idempotency record keeps it: the order, and when delivered its codes by id,
    hint, serial, status and expiry, never their plaintext (voucherhub.core.idempotency)."""
    body = dict(ORDER_OUT.to_representation(order))
    if order.status == Order.Status.DELIVERED:
        body["codes"] = [
            {"id": code.pk, "hint": code.hint, "serial": code.serial, "status": code.status,
             "expires_at": code.expires_at.isoformat() if code.expires_at else None}
            for code in (item.code for item in order_delivered_items(order))
        ]  # fmt: skip
    return body


def _answer_sent(request, answer, *, distributor) -> dict:
    """The kept answer as it is sent, the first time and on every replay alike: the order's fields in their
    order, its codes opened from the vault (each reveal audited) while the hourly reveal limit allows (see
    _codes_part). A replay sent after a refund voided the codes shows them as first answered."""
    kept = answer.body
    if "number" not in kept:  # a record kept before answers were (settlement's table of before): the order as it is now
        kept = _answer_kept(order_get(distributor, kept["order"]))
    body = {name: kept[name] for name in ORDER_OUT.fields if name in kept}
    if "codes" in kept:
        reason = "api order replay" if answer.replayed else "api order response"
        body.update(
            _codes_part(
                request,
                count=len(kept["codes"]),
                open_codes=lambda: codes_reopen(
                    entries=kept["codes"],
                    order_number=kept["number"],
                    actor_label=_actor_label(request),
                    ip=client_ip(request),
                    reason=reason,
                ),
            )
        )
    return body


def _fingerprint_before_issue_14(body: bytes) -> str:
    """An order's fingerprint as settlement kept it before voucherhub.core.idempotency (an unkeyed SHA-256 of
    the canonical body without the challenge fields): records copied from its table are still recognised."""
    try:
        sent = json.loads(body or b"{}")
    except ValueError:
        return hashlib.sha256(body).hexdigest()
    if isinstance(sent, dict):
        sent = {k: v for k, v in sent.items() if k not in CHALLENGE_FIELDS}
    return hashlib.sha256(json.dumps(sent, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


CHALLENGE_FIELDS = ("challenge_key", "challenge_answer")


def _order_place_challenged(*, challenge_sent: bool, **kwargs) -> Order:
    """order_place, with risk control's challenge worded for an API client: how to get and answer one, or
    that the answer sent was wrong (`challenge_answer`)."""
    try:
        return order_place(**kwargs)
    except ChallengeRequired as error:
        if challenge_sent and not kwargs["challenge_passed"]:
            message, field = _("The challenge answer does not match. Get a new challenge and try again."), "challenge_answer"
        else:
            message, field = (
                _(
                    "Risk control asks for a challenge: get one from POST /api/v1/risk/challenge/, show its picture to "
                    "the person placing the order and send the order again with challenge_key and challenge_answer."
                ),
                None,
            )
        raise ChallengeRequired(message, decision=error.decision, field=field) from error


class OrderListCreateApi(DistributorApiView):
    class InputSerializer(serializers.Serializer):
        sku = serializers.SlugField()
        quantity = serializers.IntegerField(min_value=1)
        customer_ref = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
        challenge_key = serializers.CharField(
            max_length=64,
            required=False,
            allow_blank=True,
            default="",
            help_text="After a 428 challenge_required: the key of a challenge from POST /api/v1/risk/challenge/.",
        )
        challenge_answer = serializers.CharField(
            max_length=32,
            required=False,
            allow_blank=True,
            default="",
            help_text="The characters the person placing the order read in that challenge's picture.",
        )

        def validate(self, attrs):
            if bool(attrs["challenge_key"].strip()) != bool(attrs["challenge_answer"].strip()):
                missing = "challenge_answer" if attrs["challenge_key"].strip() else "challenge_key"
                raise serializers.ValidationError({missing: [_("Send challenge_key and challenge_answer together.")]})
            return attrs

    class FilterSerializer(serializers.Serializer):
        class Meta:
            ref_name = "OrderFilter"

        status = serializers.ChoiceField(choices=Order.Status.choices, required=False)

    @extend_schema(operation_id="orders_list", parameters=[FilterSerializer], responses={200: OrderOut(many=True), **ERRORS})
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        return self.paginate(orders_for(self.distributor, status=filters.validated_data.get("status")), OrderOut)

    @extend_schema(
        operation_id="orders_create",
        request=InputSerializer,
        parameters=[OpenApiParameter("Idempotency-Key", IDEMPOTENCY_KEY_SCHEMA, location=OpenApiParameter.HEADER, required=True)],
        # 402 insufficient_funds (the wallet with its credit limit does not cover the order), 403 risk_blocked,
        # 428 challenge_required (answer a challenge and send again), 429 too many requests
        responses={201: OrderOut, **ERRORS, 402: ERROR, 403: ERROR, 428: ERROR, 429: ERROR},
    )
    @sensitive_variables()  # the delivered codes are opened into locals below here: never in an error report
    def post(self, request):
        key = idempotency_key_checked(request.headers.get(IDEMPOTENCY_HEADER))
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        sent = data.validated_data
        # A challenge is checked (and spent, right or wrong) before the order and outside its transaction, so a
        # wrong guess is never rolled back into a reusable one. A replay of an order placed with it needs none.
        challenge_sent = bool(sent["challenge_key"].strip())
        challenge_passed = challenge_sent and challenge_ok(key=sent["challenge_key"].strip(), answer=sent["challenge_answer"])

        def place():
            sku = sku_by_code(sent["sku"])
            if sku is None:
                raise SettlementError(_("Unknown SKU."), field="sku")
            order = _order_place_challenged(
                challenge_sent=challenge_sent,
                challenge_passed=challenge_passed,
                channel=Order.Channel.API,
                distributor=self.distributor,
                sku=sku,
                quantity=sent["quantity"],
                customer_ref=sent["customer_ref"],
                idempotency_key=key,
                ip=client_ip(request),
            )
            return 201, _answer_kept(order)

        answer = idempotent_answer(
            scope=f"api-order:{self.distributor.pk}",
            key=key,
            # The same order with or without a challenge answer: a replay matches whatever it carries.
            fingerprint=request_fingerprint(scope="api-order", body=request.body, ignore=CHALLENGE_FIELDS),
            legacy_fingerprint=lambda: _fingerprint_before_issue_14(request.body),
            work=place,
        )
        return Response(_answer_sent(request, answer, distributor=self.distributor), status=answer.status_code, headers=answer.headers)


class OrderDetailApi(DistributorApiView):
    @extend_schema(operation_id="orders_retrieve", responses={200: OrderOut, **ERRORS})
    def get(self, request, number):
        return Response(OrderOut(order_get(self.distributor, number)).data)


class OrderCodesApi(DistributorApiView):
    pagination_class = None  # every code of the order at once: a plain list, documented as one

    @extend_schema(operation_id="orders_codes", responses={200: CodeOut(many=True), **ERRORS, 429: ERROR})
    @sensitive_variables()  # the codes are opened into locals below here
    def get(self, request, number):
        order = order_get(self.distributor, number)
        if order.status != Order.Status.DELIVERED and order.status != Order.Status.PARTIALLY_REFUNDED:
            return error_response("not_delivered", "The order has no delivered codes.", status_code=409)
        codes = [item.code for item in order_delivered_items(order)]
        _reveal_allowed(request, count=len(codes))  # 429 reveal_limit with Retry-After past the hourly limit
        return Response(
            order_codes_reveal(order=order, actor_label=_actor_label(request), ip=client_ip(request), reason="api codes", codes=codes)
        )


class WalletApi(DistributorApiView):
    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "Wallet"

        currency = serializers.CharField()
        balance = serializers.DecimalField(max_digits=14, decimal_places=2)
        credit_limit = serializers.DecimalField(max_digits=14, decimal_places=2)
        spendable = serializers.DecimalField(max_digits=14, decimal_places=2)
        commission_frozen = serializers.DecimalField(max_digits=14, decimal_places=2)
        commission_available = serializers.DecimalField(max_digits=14, decimal_places=2)
        commission_withdrawing = serializers.DecimalField(max_digits=14, decimal_places=2)
        commission_debt = serializers.DecimalField(max_digits=14, decimal_places=2)

    @extend_schema(operation_id="wallet_retrieve", responses={200: OutputSerializer, **ERRORS})
    def get(self, request):
        from settlement.selectors.wallets import wallet_summary

        return Response(self.OutputSerializer(wallet_summary(wallet_for(self.distributor))).data)
