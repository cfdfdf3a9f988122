"""The distributor API under /api/v1/: signed requests only (channels.api_auth), thin views over
selectors and services, errors as {"error": {"code", "message", "fields"}}."""

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.models import Sku
from channels import selectors, services
from channels.api_auth import ApiPrincipal, DistributorKeyAuthentication
from channels.models import Distributor, PriceViolation
from voucherhub.core.api import IDEMPOTENCY_KEY_SCHEMA, ApiPagination
from voucherhub.core.errors import PermissionDenied
from voucherhub.core.idempotency import IDEMPOTENCY_HEADER, idempotency_key_checked, idempotent_answer, request_fingerprint

ERROR = inline_serializer(
    "Error",
    fields={
        "error": inline_serializer(
            "ErrorBody",
            fields={
                "code": serializers.CharField(),
                "message": serializers.CharField(),
                "fields": serializers.DictField(child=serializers.ListField(child=serializers.CharField())),
            },
        )
    },
)
ERRORS = {400: ERROR, 401: ERROR, 404: ERROR, 409: ERROR, 422: ERROR}
# A list: 400 for a limit, offset or filter it cannot take (named in `fields`), 401 a refused signature.
LIST_ERRORS = {400: ERROR, 401: ERROR}
IDEMPOTENCY_KEY = OpenApiParameter(
    IDEMPOTENCY_HEADER,
    IDEMPOTENCY_KEY_SCHEMA,
    OpenApiParameter.HEADER,
    required=True,
    description=_(
        "1 to 100 printable characters, new for each write. A retry with the same key and body gets the first "
        "answer (header Idempotent-Replayed: true) and changes nothing; another body under the key is refused (409)."
    ),
)


class DistributorApiView(APIView):
    authentication_classes = [DistributorKeyAuthentication]
    permission_classes = [IsAuthenticated]
    # What `paginate` pages with. Declared on the view so that the OpenAPI schema (drf-spectacular reads it)
    # documents a list answer as it is sent, {count, next, previous, results}, with its limit and offset.
    pagination_class = ApiPagination

    @property
    def distributor(self):
        user = self.request.user
        if not isinstance(user, ApiPrincipal):
            raise PermissionDenied()
        return user.distributor

    def paginate(self, items, serializer_class, *, context: dict | None = None):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(items, self.request, view=self)
        return paginator.get_paginated_response(serializer_class(page, many=True, context=context or {}).data)

    def idempotent(self, *, scope: str, work) -> Response:
        """Answer a write once per Idempotency-Key of this distributor (voucherhub.core.idempotency)."""
        key = idempotency_key_checked(self.request.headers.get(IDEMPOTENCY_HEADER))
        answer = idempotent_answer(
            scope=f"{scope}:{self.distributor.pk}",
            key=key,
            fingerprint=request_fingerprint(scope=scope, body=self.request.body),
            work=work,
        )
        return Response(answer.body, status=answer.status_code, headers=answer.headers)


class SourceSerializer(serializers.Serializer):
    kind = serializers.CharField()
    label = serializers.CharField()


class QuoteSerializer(serializers.Serializer):
    quantity = serializers.IntegerField()
    purchase_price = serializers.DecimalField(max_digits=14, decimal_places=2)
    suggested_retail = serializers.DecimalField(max_digits=14, decimal_places=2)
    price_floor = serializers.DecimalField(max_digits=14, decimal_places=2)
    total = serializers.DecimalField(max_digits=14, decimal_places=2)
    sources = serializers.DictField(child=SourceSerializer())


class TierSerializer(serializers.Serializer):
    min_quantity = serializers.IntegerField(source="quantity")
    purchase_price = serializers.DecimalField(max_digits=14, decimal_places=2)


def _sources(quote) -> dict:
    return {name: {"kind": source.kind, "label": source.label} for name, source in quote.sources.items()}


class CatalogApi(DistributorApiView):
    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "CatalogItem"

        sku = serializers.CharField(source="sku.code")
        name = serializers.CharField(source="sku.name")
        product = serializers.CharField(source="sku.product.name")
        category = serializers.CharField(source="sku.product.category")
        face_value = serializers.DecimalField(source="sku.face_value", max_digits=14, decimal_places=2)
        currency = serializers.CharField(source="sku.currency")
        purchase_price = serializers.DecimalField(source="quote.purchase_price", max_digits=14, decimal_places=2)
        suggested_retail = serializers.DecimalField(source="quote.suggested_retail", max_digits=14, decimal_places=2)
        price_floor = serializers.DecimalField(source="quote.price_floor", max_digits=14, decimal_places=2)
        sources = serializers.SerializerMethodField()
        tiers = TierSerializer(many=True)

        def get_sources(self, row) -> dict:
            return _sources(row.quote)

    @extend_schema(
        summary="My catalog with my prices",
        description="Every SKU I may sell, with purchase price, suggested retail price, price floor and quantity tiers.",
        responses={200: OutputSerializer(many=True), **LIST_ERRORS},
    )
    def get(self, request):
        return self.paginate(selectors.catalog_for(self.distributor), self.OutputSerializer)


class CatalogQuoteApi(DistributorApiView):
    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "QuoteQuery"

        quantity = serializers.IntegerField(min_value=1, max_value=1_000_000, default=1)

    class OutputSerializer(QuoteSerializer):
        class Meta:
            ref_name = "Quote"

        sku = serializers.CharField(source="sku.code")

    @extend_schema(
        summary="My price for a quantity of one SKU",
        parameters=[OpenApiParameter("quantity", int, description="Units (quantity tiers apply).")],
        responses={200: OutputSerializer, **ERRORS},
    )
    def get(self, request, sku_code: str):
        params = self.InputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        sku = get_object_or_404(Sku, code=sku_code)
        quote = services.price_quote(distributor=self.distributor, sku=sku, quantity=params.validated_data["quantity"])
        data = self.OutputSerializer(quote).data
        data["sources"] = _sources(quote)
        return Response(data)


class QuotaListApi(DistributorApiView):
    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "QuotaBalance"

        id = serializers.IntegerField()
        sku = serializers.CharField(source="sku.code")
        name = serializers.CharField(source="sku.name")
        balance = serializers.IntegerField()
        updated_at = serializers.DateTimeField()

    @extend_schema(summary="My quotas", responses={200: OutputSerializer(many=True), **LIST_ERRORS})
    def get(self, request):
        return self.paginate(selectors.quotas_for(self.distributor), self.OutputSerializer)


class MovementSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    sku = serializers.CharField(source="sku.code")
    quantity = serializers.IntegerField()
    from_distributor = serializers.IntegerField(source="from_distributor_id", allow_null=True)
    to_distributor = serializers.IntegerField(source="to_distributor_id", allow_null=True)
    reference = serializers.CharField()
    created_at = serializers.DateTimeField()


class QuotaTransferApi(DistributorApiView):
    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "QuotaTransferRequest"

        to_distributor = serializers.IntegerField(help_text=_("Id of a distributor in your downline."))
        sku = serializers.CharField()
        quantity = serializers.IntegerField(min_value=1, max_value=10_000_000)
        note = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")

    @extend_schema(
        summary="Pass part of my quota to my downline",
        parameters=[IDEMPOTENCY_KEY],
        request=InputSerializer,
        responses={201: MovementSerializer, **ERRORS},
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)

        def work():
            target = selectors.downline_get(self.distributor, data.validated_data["to_distributor"])
            sku = get_object_or_404(Sku, code=data.validated_data["sku"])
            movement = services.quota_transfer(
                from_distributor=self.distributor,
                to_distributor=target,
                sku=sku,
                quantity=data.validated_data["quantity"],
                note=data.validated_data["note"],
                reference=f"api:{request.user.key.key_id}",
            )
            return status.HTTP_201_CREATED, MovementSerializer(movement).data

        return self.idempotent(scope="quota-transfer", work=work)


class DownlineSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    level = serializers.CharField(source="level.name")
    kind = serializers.CharField()
    status = serializers.CharField()
    region = serializers.CharField()
    parent_id = serializers.IntegerField(allow_null=True)
    depth = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_depth(self, obj) -> int:
        return obj.depth - self.context["root_depth"]


class DownlineApi(DistributorApiView):
    class FilterSerializer(serializers.Serializer):
        class Meta:
            ref_name = "DownlineFilter"

        status = serializers.ChoiceField(choices=Distributor.Status.choices, required=False)

    @extend_schema(
        summary="My downline",
        description="Every distributor below me, at every depth, in tree order; depth 1 is my direct downline.",
        parameters=[FilterSerializer],
        responses={200: DownlineSerializer(many=True), **LIST_ERRORS},
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        rows = selectors.downline(self.distributor)
        if "status" in filters.validated_data:
            rows = rows.filter(status=filters.validated_data["status"])
        return self.paginate(rows, DownlineSerializer, context={"root_depth": self.distributor.depth})


class DownlineDetailApi(DistributorApiView):
    @extend_schema(summary="One distributor of my downline", responses={200: DownlineSerializer, 401: ERROR, 404: ERROR})
    def get(self, request, pk: int):
        row = selectors.downline_get(self.distributor, pk)
        return Response(DownlineSerializer(row, context={"root_depth": self.distributor.depth}).data)


class StorefrontItemSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="item.id")
    sku = serializers.CharField(source="item.sku.code")
    name = serializers.CharField(source="item.sku.name")
    retail_price = serializers.DecimalField(source="item.retail_price", max_digits=14, decimal_places=2)
    listed = serializers.BooleanField(source="item.listed")
    sellable = serializers.BooleanField()
    price_floor = serializers.DecimalField(source="quote.price_floor", max_digits=14, decimal_places=2, allow_null=True)


class StorefrontItemsApi(DistributorApiView):
    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "StorefrontItemRequest"

        sku = serializers.CharField()
        retail_price = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=0)
        listed = serializers.BooleanField(default=True)
        position = serializers.IntegerField(min_value=0, max_value=32767, default=0)

    @extend_schema(summary="My storefront's items", responses={200: StorefrontItemSerializer(many=True), **ERRORS})
    def get(self, request):
        storefront = selectors.storefront_of(self.distributor)
        rows = selectors.storefront_rows(storefront) if storefront else []
        return self.paginate(rows, StorefrontItemSerializer)

    @extend_schema(
        summary="List a SKU in my storefront at my retail price",
        description=(
            "A retail price below the price floor is refused with 422 `price_below_floor` (and reported to ops). "
            "Sets the item to the values sent, so sending the same request again changes nothing: no Idempotency-Key."
        ),
        request=InputSerializer,
        responses={200: StorefrontItemSerializer, **ERRORS},
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        sku = get_object_or_404(Sku, code=data.validated_data["sku"])
        item = services.storefront_item_set(
            distributor=self.distributor,
            sku=sku,
            retail_price=data.validated_data["retail_price"],
            listed=data.validated_data["listed"],
            position=data.validated_data["position"],
            channel=PriceViolation.Channel.API,
        )
        row = next(r for r in selectors.storefront_rows(item.storefront) if r.item.pk == item.pk)
        return Response(StorefrontItemSerializer(row).data)


class MeApi(DistributorApiView):
    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "Me"

        id = serializers.IntegerField()
        name = serializers.CharField()
        level = serializers.CharField(source="level.name")
        kind = serializers.CharField()
        status = serializers.CharField()
        region = serializers.CharField()
        upline = serializers.CharField(source="parent.name", allow_null=True, default=None)

    @extend_schema(summary="The distributor this key belongs to", responses={200: OutputSerializer, 401: ERROR})
    def get(self, request):
        return Response(self.OutputSerializer(self.distributor).data)
