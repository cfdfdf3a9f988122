"""The distributor API for orders and the wallet (signed requests, channels.api_auth)."""

import json

from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_variables
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from catalog.models import CardCode
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
    sku_by_code,
    sku_from_rows,
    sku_read,
)
from settlement.services.idempotency import idempotent_call, request_hash
from settlement.services.orders import order_number, order_place
from settlement.services.orderwrite import Answer
from settlement.services.wallets import wallet_for
from voucherhub.core.api import IDEMPOTENCY_KEY_SCHEMA, error_response
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
    paid_at = serializers.DateTimeField()
    delivered_at = serializers.DateTimeField()

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


def _codes_reveal(request, order: Order, codes: list[CardCode]) -> dict:
    return _codes_part(
        request,
        count=len(codes),
        open_codes=lambda: order_codes_reveal(
            order=order, actor_label=_actor_label(request), ip=client_ip(request), reason="api order response", codes=codes
        ),
    )


def _order_body(request, order: Order, *, with_codes: bool) -> dict:
    body = ORDER_OUT.to_representation(order)
    if with_codes and order.status == Order.Status.DELIVERED:
        body.update(_codes_reveal(request, order, [item.code for item in order_delivered_items(order)]))
    return body


def _answer_stored(body: dict, codes: list[CardCode] | None) -> dict:
    """The first answer as the idempotency record keeps it: each code by its id, never its plaintext (also
    when the reveal limit withheld them from the first answer: a replay may show them)."""
    body = {k: v for k, v in body.items() if k not in ("codes", "codes_withheld")}
    if codes is None:
        return body
    refs = [
        {
            "id": code.pk,
            "hint": code.hint,
            "serial": code.serial,
            "status": code.status,
            "expires_at": code.expires_at.isoformat() if code.expires_at else None,
        }
        for code in codes
    ]
    return {**body, "codes": refs}


def _answer_replayed(request, stored: dict) -> dict:
    """The first answer again, exactly as it was sent (fields in their order; jsonb keeps its own), its
    codes opened again from the vault and the reveal audited. Also after a refund voided them: the
    replay is the first answer, which carried them (the codes' status shows as it was then)."""
    body = {name: stored[name] for name in ORDER_OUT.fields if name in stored}
    if "codes" in stored:
        body.update(
            _codes_part(
                request,
                count=len(stored["codes"]),
                open_codes=lambda: codes_reopen(
                    entries=stored["codes"],
                    order_number=stored["number"],
                    actor_label=_actor_label(request),
                    ip=client_ip(request),
                    reason="api order replay",
                ),
            )
        )
    return body


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
    @sensitive_variables()  # the delivered codes are opened into locals here and below: never in an error report
    def post(self, request):
        key = request.headers.get("Idempotency-Key", "").strip()
        if not key or len(key) > 100:
            return error_response(
                "idempotency_key_required",
                "Send an Idempotency-Key header (1-100 characters).",
                status_code=400,
                fields={"Idempotency-Key": ["required"]},
            )
        distributor = self.distributor
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            sent = json.loads(request.body or b"{}")
        except ValueError:
            digest = request_hash(request.body)
        else:
            # The same order with or without a challenge answer: a replay matches whatever it carries.
            digest = request_hash({k: v for k, v in sent.items() if k not in CHALLENGE_FIELDS} if isinstance(sent, dict) else sent)
        # A challenge is checked (and spent, right or wrong) before the order and outside its transaction, so a
        # wrong guess is never rolled back into a reusable one. A replay of an order placed with it needs none.
        challenge_key = data.validated_data["challenge_key"].strip()
        challenge_sent = bool(challenge_key)
        challenge_passed = challenge_sent and challenge_ok(key=challenge_key, answer=data.validated_data["challenge_answer"])

        placed: dict = {}
        number = order_number()

        def reveal(order):
            # Inside the order's transaction, once its codes are delivered and before the ledger locks the
            # hot accounts: the codes just delivered are opened (not read back) and their reveal audited.
            placed["code_objects"] = list(order.delivered_codes)
            placed["codes"] = _codes_reveal(request, order, placed["code_objects"])

        def first_body(order):
            # The order's answer, rendered once: stored by the order's statement and sent (its values are final).
            placed["first_body"] = ORDER_OUT.to_representation(order)
            return placed["first_body"]

        def work(rows, *, record_id):
            # The SKU is read in the idempotency record's statement (PostgreSQL), else here.
            sku = sku_from_rows(rows) if rows is not None else sku_by_code(data.validated_data["sku"])
            if sku is None:
                raise SettlementError("Unknown SKU.", field="sku")
            placed["order"] = _order_place_challenged(
                challenge_sent=challenge_sent,
                challenge_passed=challenge_passed,
                channel=Order.Channel.API,
                distributor=distributor,
                sku=sku,
                quantity=data.validated_data["quantity"],
                customer_ref=data.validated_data["customer_ref"],
                idempotency_key=key,
                key_checked=True,  # the idempotency record was inserted in this transaction: no order has the key
                number=number,
                in_caller_transaction=True,  # idempotent_call's transaction rolls back on any error
                on_delivered=reveal,
                ip=client_ip(request),
                # The first answer, stored by the order's own statement (PostgreSQL): its codes by id only.
                answer=lambda order: Answer(
                    record_id=record_id, status_code=201, body=first_body(order), with_codes=order.status == Order.Status.DELIVERED
                ),
            )
            order = placed["order"]
            # (rendered already when this request's statement wrote the order; not when another order held the key)
            body = dict(placed["first_body"]) if getattr(order, "answer_stored", False) else ORDER_OUT.to_representation(order)
            if order.status == Order.Status.DELIVERED:
                if "codes" not in placed:  # an order that held the key already, or placed without orderwrite
                    placed["code_objects"] = [item.code for item in order_delivered_items(order)]
                    placed["codes"] = _codes_reveal(request, order, placed["code_objects"])
                body.update(placed["codes"])
            placed["body"] = body
            if getattr(order, "answer_stored", False):
                return 201, None, True
            # Stored for replays: the answer as sent, its codes by id (a replay opens them again, audited).
            return 201, _answer_stored(body, placed.get("code_objects") if "codes" in placed else None)

        status_code, stored, replayed = idempotent_call(
            scope=f"api-order:{distributor.pk}",
            key=key,
            digest=digest,
            work=work,
            expected=(201, {"order": number}),
            read=sku_read(data.validated_data["sku"]),
        )
        if replayed:
            if "number" in stored:
                body = _answer_replayed(request, stored)
            else:  # a record from before answers were stored: the order as it is now
                body = _order_body(request, order_get(distributor, stored["order"]), with_codes=True)
            return Response(body, status=status_code, headers={"Idempotent-Replayed": "true"})
        return Response(placed["body"], status=status_code)


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
