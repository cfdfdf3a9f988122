"""factory-boy factories: one per model, real-looking defaults, no fixed ids."""

from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from catalog.models import Product, Sku, Supplier

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.test")

    @factory.post_generation
    def password(self, create, extracted, **kwargs):
        self.set_password(extracted or PASSWORD)
        if create:
            self.save()

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if create and extracted:
            group, _ = Group.objects.get_or_create(name=extracted)
            self.groups.add(group)


class SupplierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Supplier

    name = factory.Sequence(lambda n: f"供应商 {n}")
    contact = "张三"


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    supplier = factory.SubFactory(SupplierFactory)
    name = factory.Sequence(lambda n: f"视频会员 {n}")
    category = Product.Category.VIDEO


class SkuFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Sku

    product = factory.SubFactory(ProductFactory)
    code = factory.Sequence(lambda n: f"SKU-{n:04d}")
    name = factory.LazyAttribute(lambda s: f"{s.product.name} 月卡")
    face_value = Decimal("30.00")
    cost_price = Decimal("20.00")
    valid_days = 365
    low_stock_threshold = 10


# --- channels ---------------------------------------------------------------------------------

from channels import services as channel_services  # noqa: E402
from channels.models import Distributor, DistributorLevel, PriceEntry  # noqa: E402


class DistributorLevelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DistributorLevel
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"级别 {n}")
    position = factory.Sequence(lambda n: n + 10)


class DistributorFactory(factory.django.DjangoModelFactory):
    """Built through channel_services.distributor_create, so the tree path is right. `user=` links a user."""

    class Meta:
        model = Distributor

    name = factory.Sequence(lambda n: f"分销商 {n}")
    level = factory.SubFactory(DistributorLevelFactory)
    parent = None
    kind = Distributor.Kind.PROMOTER
    status = Distributor.Status.ACTIVE
    region = "浙江 / 杭州"

    @classmethod
    def _create(cls, model_class, *args, user=None, **kwargs):
        distributor = channel_services.distributor_create(**kwargs)
        if user is not None:
            channel_services.staff_add(distributor=distributor, user=user, is_owner=True)
        return distributor


class PriceEntryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PriceEntry

    sku = factory.SubFactory(SkuFactory)
    level = None
    distributor = None
    min_quantity = 1
    purchase_price = Decimal("20.00")
    suggested_retail = Decimal("30.00")
    price_floor = Decimal("25.00")


# --- Redemption -------------------------------------------------------------------------------------

from datetime import timedelta  # noqa: E402

from django.utils import timezone  # noqa: E402

from catalog import codegen, vault  # noqa: E402
from catalog.models import CardCode, CodeBatch  # noqa: E402
from redemption.models import Merchant, Store  # noqa: E402


class MerchantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Merchant

    name = factory.Sequence(lambda n: f"商户 {n}")
    code = factory.Sequence(lambda n: f"merchant-{n}")


class StoreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Store

    merchant = factory.SubFactory(MerchantFactory)
    name = factory.Sequence(lambda n: f"门店 {n}")
    code = factory.Sequence(lambda n: f"store-{n}")
    city = "上海"


def terminal_for(store, name: str = "POS"):
    """(terminal, secret) through the service, like an operator creates one."""
    from redemption.services import terminal_create

    return terminal_create(store=store, name=name)


def card_code(*, sku, status=CardCode.Status.SOLD, expires_in=timedelta(days=30), serial: str = "", plaintext: str | None = None):
    """(card code, plaintext) sealed in the vault, `sold` by default (what settlement leaves for redemption)."""
    plaintext = plaintext or codegen.new_code()
    sealed = vault.seal(plaintext)
    batch = CodeBatch.objects.filter(sku=sku, label="factory").first() or CodeBatch.objects.create(
        sku=sku, source=CodeBatch.Source.GENERATED, label="factory"
    )
    code = CardCode.objects.create(
        sku=sku,
        batch=batch,
        ciphertext=sealed.ciphertext,
        key_id=sealed.key_id,
        blind_index=sealed.blind_index,
        hint=sealed.hint,
        serial=serial,
        status=status,
        expires_at=(timezone.now() + expires_in) if expires_in is not None else None,
    )
    return code, plaintext
