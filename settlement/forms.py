"""Forms of the portal, the storefront checkout, the order lookup and the finance pages."""

import hashlib
import re
import uuid

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from catalog.models import Sku
from marketing.services.offers import OfferRequest
from settlement.adapters import adapters_enabled
from settlement.errors import SettlementError
from settlement.models import CodeIssue, ExportJob, Order
from settlement.services.contacts import CONTACT_HELP, contact_parse
from voucherhub.core.money import Currency
from voucherhub.core.templatetags.vh_format import money_text


class SubmitOnceForm(forms.Form):
    """A form that places an order carries a random key, new each time the form is shown, and the order is
    placed under it (order_place's idempotency key): a double click, a reload that posts again or the back
    button's old form lands on the order the first submission placed instead of placing a second one."""

    submit_key = forms.CharField(widget=forms.HiddenInput, required=False, max_length=64)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial["submit_key"] = uuid.uuid4().hex

    def clean_submit_key(self) -> str:
        # Only a key this form could have made; anything else (an edited page) places the order without one.
        key = self.cleaned_data.get("submit_key") or ""
        return key if SUBMIT_KEY.fullmatch(key) else ""

    def order_key(self, scope: str, *what) -> str | None:
        """The order's idempotency key, or None without a usable key. `scope`: which form placed it; `what`: the
        values that make the order (product, quantity ...): the same form sent again with other values (an old
        page edited and sent on purpose) is another order."""
        key = self.cleaned_data.get("submit_key")
        if not key:
            return None
        digest = hashlib.sha256("\x1f".join(map(str, what)).encode()).hexdigest()[:16]
        return f"{scope}:{key}:{digest}"


SUBMIT_KEY = re.compile(r"[0-9a-f]{32}")


class _SoldOutSelect(forms.Select):
    """A select whose sold-out options are shown, marked and disabled."""

    def __init__(self, *args, sold_out=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.sold_out = set(sold_out)

    def create_option(self, name, value, *args, **kwargs):
        option = super().create_option(name, value, *args, **kwargs)
        if value in self.sold_out:
            option["attrs"]["disabled"] = True
        return option


ACCOUNT_HELP = _("Direct top-ups only: the mobile number, QQ number or game account to top up.")
REGION_HELP = _("Game top-ups only: the game's region or server.")


def topup_fields_clean(form: forms.Form, *, sku, quantity=1) -> None:
    """A top-up SKU's account (and region) checked by supply against the SKU's top-up profile: the error goes on
    the field it names; cleaned_data gets them normalised. One top-up per order."""
    from settlement.services.topups import topup_order_check
    from voucherhub.core.errors import DomainError

    data = form.cleaned_data
    try:
        data["account"], data["region"] = topup_order_check(
            sku=sku, quantity=quantity or 1, account=data.get("account") or "", region=data.get("region") or ""
        )
    except DomainError as error:
        form.add_error(error.field if error.field in form.fields else "account", str(error.message))


class OrderForm(SubmitOnceForm):
    """The portal's order form. `options`: settlement.selectors.buying.buy_options; a sold-out SKU is listed,
    marked and cannot be chosen. A direct top-up asks for the account (and region) to top up."""

    sku = forms.ChoiceField(label=_("Product"))
    quantity = forms.IntegerField(label=_("Quantity"), min_value=1, initial=1)
    account = forms.CharField(label=_("Account to top up"), max_length=80, required=False, help_text=ACCOUNT_HELP)
    region = forms.CharField(label=_("Region"), max_length=80, required=False, help_text=REGION_HELP)

    def __init__(self, *args, options=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.options = {option.sku.code: option for option in options}
        choices = []
        for option in options:
            label = f"{option.sku.name} ({option.sku.code}) · {money_text(option.unit_price, option.sku.currency)}"
            choices.append((option.sku.code, f"{label} · {_('sold out')}" if option.sold_out else label))
        self.fields["sku"].choices = choices
        self.fields["sku"].widget = _SoldOutSelect(sold_out=[code for code, option in self.options.items() if option.sold_out])
        self.fields["sku"].widget.choices = choices
        available = [option for option in options if not option.sold_out]
        if not self.is_bound and available:
            self.initial.setdefault("sku", available[0].sku.code)

    def clean(self):
        data = super().clean()
        option = self.options.get(data.get("sku"))
        quantity = data.get("quantity")
        if option is not None and option.sold_out:
            self.add_error("sku", _("This product is sold out."))
        elif option is not None and option.is_topup and quantity:
            topup_fields_clean(self, sku=option.sku, quantity=quantity)
        elif option is not None and quantity and quantity > option.available:
            self.add_error("quantity", _("Only %(n)s left.") % {"n": option.available})
        return data


class SecondFactorForm(forms.Form):
    password = forms.CharField(label=_("Your password"), widget=forms.PasswordInput, required=False)
    otp_token = forms.CharField(label=_("Authenticator code"), max_length=8, required=False, help_text=_("If you use two-factor sign-in."))


# A consumer's or a top-up's ways to pay, in this order; only the enabled adapters are offered (and accepted).
PAYMENT_CHOICES = [(Order.PayMethod.SANDBOX, _("Sandbox payment (demo)")), (Order.PayMethod.MANUAL, _("Bank transfer"))]


def _payment_choices(field: forms.ChoiceField) -> None:
    enabled = adapters_enabled()
    field.choices = [(value, label) for value, label in PAYMENT_CHOICES if value in enabled]
    field.initial = field.choices[0][0] if field.choices else None


class CheckoutForm(SubmitOnceForm):
    """The storefront checkout. `sku`: what is bought; a direct top-up asks for the account (and region) to top up
    instead of a quantity."""

    quantity = forms.IntegerField(label=_("Quantity"), min_value=1, max_value=20, initial=1)
    account = forms.CharField(label=_("Account to top up"), max_length=80, help_text=ACCOUNT_HELP)
    region = forms.CharField(label=_("Region"), max_length=80, required=False, help_text=REGION_HELP)
    contact = forms.CharField(label=_("Mobile number or e-mail address"), max_length=200, help_text=CONTACT_HELP)
    lookup_password = forms.CharField(
        label=_("Lookup password"),
        min_length=6,
        max_length=64,
        widget=forms.PasswordInput(render_value=True),
        help_text=_("At least 6 characters. With the order number and your contact it opens your order later."),
    )
    pay_method = forms.ChoiceField(label=_("Payment"), widget=forms.RadioSelect)
    coupon = forms.CharField(
        label=_("Coupon code"), max_length=16, required=False, help_text=_("Optional. One coupon per order unless it says it stacks.")
    )
    # The campaign the product page linked to (a flash sale, new-user price, group buy) and the group joined.
    campaign = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=1)
    group = forms.CharField(widget=forms.HiddenInput, required=False, max_length=24)

    def __init__(self, *args, sku=None, consumer=None, **kwargs):
        super().__init__(*args, **kwargs)
        _payment_choices(self.fields["pay_method"])
        self.sku = sku
        self.consumer = consumer
        if consumer is not None:  # signed in: the order is on their /me/ page, no lookup password needed
            del self.fields["lookup_password"]
            self.fields["contact"].initial = consumer.phone
        self.is_topup = sku is not None and sku.fulfilment == Sku.Fulfilment.TOPUP
        if self.is_topup:
            self.fields["quantity"].widget = forms.HiddenInput()
            self.fields["quantity"].max_value = 1
            self.fields["account"].help_text = _("The mobile number, QQ number or game account to top up.")
            if not _profile_regions(sku):
                del self.fields["region"]
        else:
            del self.fields["account"], self.fields["region"]
            return
        del self.fields["coupon"]  # campaigns do not apply to direct top-ups

    def clean_coupon(self) -> str:
        return "".join((self.cleaned_data.get("coupon") or "").split()).upper()

    def offer_request(self, *, referral_token: str = "") -> OfferRequest:
        """What the buyer chose: the campaign, the coupon, the group to join, the share link they came by."""
        data = self.cleaned_data
        coupon = data.get("coupon") or ""
        return OfferRequest(
            campaign_id=data.get("campaign") or None,
            coupon_codes=(coupon,) if coupon else (),
            group_token=data.get("group") or "",
            referral_token=referral_token,
        )

    def clean(self):
        data = super().clean()
        if self.is_topup and not self.errors:
            topup_fields_clean(self, sku=self.sku, quantity=data.get("quantity"))
        return data

    def clean_contact(self) -> str:
        try:
            return contact_parse(self.cleaned_data["contact"]).value
        except SettlementError as error:
            raise forms.ValidationError(error.message, code="contact") from None


class BundleCheckoutForm(SubmitOnceForm):
    """A bundle's checkout: where the codes go, the lookup password (none when signed in), how to pay."""

    contact = forms.CharField(label=_("Mobile number or e-mail address"), max_length=200, help_text=CONTACT_HELP)
    lookup_password = forms.CharField(
        label=_("Lookup password"),
        min_length=6,
        max_length=64,
        widget=forms.PasswordInput(render_value=True),
        help_text=_("At least 6 characters. With the order number and your contact it opens your order later."),
    )
    pay_method = forms.ChoiceField(label=_("Payment"), widget=forms.RadioSelect)

    def __init__(self, *args, consumer=None, **kwargs):
        super().__init__(*args, **kwargs)
        _payment_choices(self.fields["pay_method"])
        if consumer is not None:
            del self.fields["lookup_password"]
            self.fields["contact"].initial = consumer.phone

    def clean_contact(self) -> str:
        try:
            return contact_parse(self.cleaned_data["contact"]).value
        except SettlementError as error:
            raise forms.ValidationError(error.message, code="contact") from None


def _profile_regions(sku) -> list:
    """The regions a game top-up SKU offers (supply's TopupProfile), or [] for none."""
    profile = getattr(sku, "topup_profile", None)
    return list(getattr(profile, "regions", None) or [])


class LookupForm(forms.Form):
    number = forms.CharField(label=_("Order number"), max_length=32)
    contact = forms.CharField(label=_("E-mail or mobile number"), max_length=200)
    lookup_password = forms.CharField(label=_("Lookup password"), max_length=64, widget=forms.PasswordInput)


class TopupForm(forms.Form):
    amount = forms.DecimalField(label=_("Amount"), min_value=1, max_digits=12, decimal_places=2)
    adapter = forms.ChoiceField(label=_("Pay by"), widget=forms.RadioSelect)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _payment_choices(self.fields["adapter"])


class WithdrawalForm(forms.Form):
    amount = forms.DecimalField(label=_("Amount"), min_value=0, max_digits=12, decimal_places=2)
    payee = forms.CharField(label=_("Pay to"), max_length=200, help_text=_("Bank, account name and number."))


class StatementRangeForm(forms.Form):
    start = forms.DateField(label=pgettext_lazy("start of a period", "From"), widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=_("Until (inclusive)"), widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["end"] < data["start"]:
            self.add_error("end", _("The period must end after it starts."))
        return data


class FinanceStatementForm(StatementRangeForm):
    distributor = forms.ModelChoiceField(label=_("Distributor"), queryset=None)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from channels.models import Distributor

        self.fields["distributor"].queryset = Distributor.objects.order_by("name")
        self.order_fields(["distributor", "start", "end"])


class ApproveForm(forms.Form):
    payout_reference = forms.CharField(label=_("Payout reference"), max_length=100)
    note = forms.CharField(label=_("Note"), max_length=300, required=False)


class RejectForm(forms.Form):
    note = forms.CharField(label=_("Reason"), max_length=300)


class ReconcileForm(forms.Form):
    note = forms.CharField(label=_("Note"), max_length=300, required=False)


class ConfirmPaymentForm(forms.Form):
    amount = forms.DecimalField(label=_("Amount received"), max_digits=12, decimal_places=2)
    bank_reference = forms.CharField(label=_("Bank reference"), max_length=100)


class TopupRecordForm(forms.Form):
    distributor = forms.ModelChoiceField(label=_("Distributor"), queryset=None)
    amount = forms.DecimalField(label=_("Amount"), min_value=0, max_digits=12, decimal_places=2)
    reference = forms.CharField(label=_("Bank reference"), max_length=100)
    note = forms.CharField(label=_("Note"), max_length=300, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from channels.models import Distributor

        self.fields["distributor"].queryset = Distributor.objects.order_by("name")


class ExportForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("What"),
        choices=[
            (k, label) for k, label in ExportJob.Kind.choices if k not in (ExportJob.Kind.STATEMENT, ExportJob.Kind.MERCHANT_STATEMENT)
        ],
    )
    fmt = forms.ChoiceField(label=_("Format"), choices=ExportJob.Format.choices)
    start = forms.DateField(
        label=pgettext_lazy("start of a period", "From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(label=_("Until (inclusive)"), required=False, widget=forms.DateInput(attrs={"type": "date"}))


class MerchantStatementForm(StatementRangeForm):
    merchant = forms.ModelChoiceField(label=_("Merchant"), queryset=None)
    currency = forms.ChoiceField(label=_("Currency"), choices=Currency.choices)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from django.conf import settings

        from redemption.models import Merchant

        self.fields["merchant"].queryset = Merchant.objects.order_by("name")
        self.fields["currency"].initial = settings.DEFAULT_CURRENCY
        self.order_fields(["merchant", "start", "end", "currency"])


class RefundPayoutForm(forms.Form):
    payout_reference = forms.CharField(label=_("Payout reference"), max_length=100)
    note = forms.CharField(label=_("Note"), max_length=300, required=False)


class CodeIssueForm(forms.Form):
    """A buyer's report about one delivered code (after-sales)."""

    reason = forms.ChoiceField(label=_("What is wrong?"), choices=CodeIssue.Reason.choices)
    details = forms.CharField(
        label=_("Details"),
        max_length=1000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Where and when you tried to use it, what you saw. Do not type the code itself."),
    )
