import uuid

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class CodeForm(forms.Form):
    """The console's code field: typed, or a scanner's input ending in Enter (a code or a QR token)."""

    code = forms.CharField(
        label=_("Code or QR"),
        max_length=300,
        widget=forms.TextInput(
            attrs={
                "autofocus": True,
                "autocomplete": "off",
                "autocapitalize": "characters",
                "spellcheck": "false",
                "enterkeyhint": "go",
                "class": "form-control form-control-lg font-monospace",
                "data-testid": "code-input",
            }
        ),
    )
    serial = forms.CharField(
        label=_("Serial number (if the card has one)"),
        max_length=64,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "class": "form-control"}),
    )


class RedeemForm(CodeForm):
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=100)
    amount = forms.DecimalField(
        label=_("Amount to use"),
        max_digits=14,
        decimal_places=2,
        min_value=0,
        required=False,
        widget=forms.NumberInput(attrs={"class": "form-control form-control-lg", "step": "0.01", "inputmode": "decimal"}),
    )
    spend = forms.DecimalField(
        label=_("Bill amount"),
        max_digits=14,
        decimal_places=2,
        min_value=0,
        required=False,
        widget=forms.NumberInput(attrs={"class": "form-control form-control-lg", "step": "0.01", "inputmode": "decimal"}),
    )
    reference = forms.CharField(
        label=_("Receipt number"), max_length=64, required=False, widget=forms.TextInput(attrs={"class": "form-control"})
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["code"].widget = forms.HiddenInput()
        self.fields["serial"].widget = forms.HiddenInput()

    @staticmethod
    def new_key() -> str:
        return uuid.uuid4().hex


class ReverseForm(forms.Form):
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=100)
    reason = forms.CharField(
        label=_("Reason"),
        max_length=200,
        error_messages={"required": _("Give a reason for the reversal, e.g. the customer cancelled.")},
    )


DATE_INPUT = {"type": "date", "class": "form-control"}


class PeriodForm(forms.Form):
    # In context: a bare "From"/"To" is also a quota movement's source and destination (来源/去向).
    start = forms.DateField(label=pgettext_lazy("start of a period", "From"), required=False, widget=forms.DateInput(attrs=DATE_INPUT))
    end = forms.DateField(label=pgettext_lazy("end of a period", "To"), required=False, widget=forms.DateInput(attrs=DATE_INPUT))
    store = forms.TypedChoiceField(label=_("Store"), required=False, coerce=int, empty_value=None)

    def __init__(self, *args, stores=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["store"].choices = [("", _("All stores"))] + [(s.pk, s.name) for s in stores]
        self.fields["store"].widget.attrs["class"] = "form-select"

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["end"] < data["start"]:
            self.add_error("end", _("The end is before the start."))
        if data.get("start") and data.get("end") and (data["end"] - data["start"]).days > 366:
            self.add_error("end", _("Choose at most one year."))
        return data


class GiftForm(forms.Form):
    contact = forms.CharField(
        label=_("Friend's mobile number or email"),
        max_length=254,
        widget=forms.TextInput(attrs={"class": "form-control", "autocomplete": "off", "inputmode": "email", "data-testid": "gift-contact"}),
    )
