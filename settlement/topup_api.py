"""The distributor API for direct top-ups (signed requests, channels.api_auth): place one, read one.

A top-up is an order of a TOPUP SKU (quantity 1) whose `account` (and `region`) a supplier tops up; its order
is PAID while the supplier works and ends DELIVERED, REFUNDED or PARTIALLY_REFUNDED (the webhook events
`topup.succeeded`, `topup.failed`, `topup.partial` say so). The order's `id` or `number` reads it back."""

import hashlib

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from catalog.models import Sku
from catalog.selectors import sku_by_code
from channels.api import ERROR, ERRORS, DistributorApiView
from settlement.errors import SettlementError
from settlement.models import Order
from settlement.selectors.topups import TopupView, topup_order_get, topup_view
from settlement.services.orders import order_place
from voucherhub.core.api import IDEMPOTENCY_KEY_SCHEMA
from voucherhub.core.idempotency import IDEMPOTENCY_HEADER, idempotency_key_checked, idempotent_answer, request_fingerprint
from voucherhub.core.net import client_ip

MONEY = {"max_digits": 14, "decimal_places": 2}


class TopupOut(serializers.Serializer):
    class Meta:
        ref_name = "Topup"

    id = serializers.IntegerField(source="order.pk")
    number = serializers.CharField(source="order.number")
    status = serializers.CharField(source="order.status", help_text="The order: paid (topping up), delivered, refunded, ...")
    topup_status = serializers.CharField(allow_null=True, help_text="The top-up at the supplier: pending, processing, success, ...")
    sku = serializers.CharField(source="order.sku.code")
    account = serializers.CharField(source="order.topup_account")
    region = serializers.CharField(source="order.topup_region")
    face_value = serializers.DecimalField(**MONEY)
    delivered_value = serializers.DecimalField(allow_null=True, **MONEY)
    total = serializers.DecimalField(source="order.total", **MONEY)
    refunded_amount = serializers.DecimalField(source="order.refunded_amount", **MONEY)
    currency = serializers.CharField(source="order.currency")
    customer_ref = serializers.CharField(source="order.customer_ref")
    held_for_review = serializers.BooleanField()
    created_at = serializers.DateTimeField(source="order.created_at")
    paid_at = serializers.DateTimeField(source="order.paid_at")
    finished_at = serializers.DateTimeField(allow_null=True)


TOPUP_OUT = TopupOut()


def topup_answer(view: TopupView) -> dict:
    return dict(TOPUP_OUT.to_representation(view))


class TopupCreateApi(DistributorApiView):
    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "TopupInput"

        sku = serializers.SlugField()
        account = serializers.CharField(max_length=80, help_text="The phone number, QQ number or game account to top up.")
        region = serializers.CharField(max_length=80, required=False, allow_blank=True, default="", help_text="Game SKUs: the region.")
        customer_ref = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")

    @extend_schema(
        operation_id="topups_create",
        request=InputSerializer,
        parameters=[OpenApiParameter("Idempotency-Key", IDEMPOTENCY_KEY_SCHEMA, location=OpenApiParameter.HEADER, required=True)],
        # 400 names `account` (or `region`) when supply's check refuses it; 402 insufficient_funds; 403 risk_blocked
        responses={201: TopupOut, **ERRORS, 402: ERROR, 403: ERROR, 428: ERROR, 429: ERROR},
    )
    def post(self, request):
        key = idempotency_key_checked(request.headers.get(IDEMPOTENCY_HEADER))
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        sent = data.validated_data

        def place():
            sku = sku_by_code(sent["sku"])
            if sku is None:
                raise SettlementError(_("Unknown SKU."), field="sku")
            if sku.fulfilment != Sku.Fulfilment.TOPUP:
                raise SettlementError(_("This SKU is not a direct top-up: order its codes at /api/v1/orders/."), field="sku")
            order = order_place(
                channel=Order.Channel.API,
                distributor=self.distributor,
                sku=sku,
                quantity=1,
                account=sent["account"],
                region=sent["region"],
                customer_ref=sent["customer_ref"],
                idempotency_key="topup:" + hashlib.sha256(key.encode()).hexdigest()[:40],  # never the key of a code order
                ip=client_ip(request),
            )
            return 201, topup_answer(topup_view(order))

        answer = idempotent_answer(
            scope=f"api-topup:{self.distributor.pk}",
            key=key,
            fingerprint=request_fingerprint(scope="api-topup", body=request.body),
            work=place,
        )
        return Response(answer.body, status=answer.status_code, headers=answer.headers)


class TopupDetailApi(DistributorApiView):
    @extend_schema(operation_id="topups_retrieve", responses={200: TopupOut, **ERRORS})
    def get(self, request, ref):
        """The distributor's own top-up by order id or number (anyone else's: 404)."""
        return Response(topup_answer(topup_view(topup_order_get(self.distributor, ref))))
