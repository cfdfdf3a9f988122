"""Forms of the catalog admin: its actions (generate, void, reveal, find by code) and the SKU page's usage rules.
Rules live in services."""

from django import forms
from django.apps import apps
from django.utils.translation import gettext_lazy as _
from unfold.widgets import (
    UnfoldAdminCheckboxSelectMultipleWidget,
    UnfoldAdminIntegerFieldWidget,
    UnfoldAdminPasswordWidget,
    UnfoldAdminSelect2MultipleWidget,
    UnfoldAdminSingleTimeWidget,
    UnfoldAdminTextInputWidget,
)

GENERATE_MAX_PER_ACTION = 100_000


class NoEchoTextInput(UnfoldAdminTextInputWidget):
    """A text box that never writes its value back into the page (for a plaintext card code)."""

    def format_value(self, value):
        return None


class GenerateCodesForm(forms.Form):
    count = forms.IntegerField(
        label=_("Number of codes"),
        min_value=1,
        max_value=GENERATE_MAX_PER_ACTION,
        widget=UnfoldAdminIntegerFieldWidget,
        help_text=_("Each code: 16 random Crockford base32 symbols (80 bits) and a check symbol."),
    )
    label = forms.CharField(
        label=_("Label"),
        max_length=200,
        required=False,
        widget=UnfoldAdminTextInputWidget,
        help_text=_("Optional note shown on the batch."),
    )


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=300,
        widget=UnfoldAdminTextInputWidget(attrs={"autocomplete": "off"}),
        help_text=_("Written to the audit log with your name."),
    )


class RevealForm(ReasonForm):
    """Reason always; the user's password again (second verification) for several codes or a download."""

    password = forms.CharField(
        label=_("Your password"),
        required=False,
        strip=False,
        widget=UnfoldAdminPasswordWidget(render_value=False, attrs={"autocomplete": "current-password"}),
        help_text=_(
            "Needed to reveal more than one code or to download codes. If you use an authenticator app, enter its 6-digit code instead."
        ),
    )

    def __init__(self, *args, needs_password: bool, **kwargs):
        super().__init__(*args, **kwargs)
        if needs_password:
            self.fields["password"].required = True
        else:
            del self.fields["password"]


class FindCodeForm(forms.Form):
    code = forms.CharField(
        label=_("Card code"),
        max_length=200,
        widget=NoEchoTextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text=_("Type or scan the full code. It is looked up by its blind index and never stored or shown."),
    )


WEEKDAYS = [
    (1, _("Monday")),
    (2, _("Tuesday")),
    (3, _("Wednesday")),
    (4, _("Thursday")),
    (5, _("Friday")),
    (6, _("Saturday")),
    (7, _("Sunday")),
]


class IdListField(forms.ModelMultipleChoiceField):
    """Rows picked in a searchable multi-select, stored as a sorted JSON list of their ids (the shape the usage rules
    always had). An id that is not a row is refused on the field, like any bad choice."""

    def clean(self, value):
        rows = super().clean(value)
        return sorted(row.pk for row in rows)

    def has_changed(self, initial, data):
        return sorted(str(v) for v in initial or []) != sorted(str(v) for v in data or [])


class SearchableMultiSelect(UnfoldAdminSelect2MultipleWidget):
    """The admin's select2 multi-select: type to search, click to add, × to remove. Its script is a static file
    (unfold's select2.init.js), so it runs under the admin's Content-Security-Policy."""

    def __init__(self, placeholder):
        super().__init__(attrs={"data-placeholder": placeholder, "data-width": "100%"})
        # Not also "admin-autocomplete": Django's autocomplete.js (on the page for the product field) takes every
        # such select for a server-side search of a relation, and this list has no such endpoint: it came up empty.
        self.attrs["class"] = "unfold-admin-autocomplete"

    @property
    def media(self):
        return super().media + forms.Media(css={"screen": ["catalog/admin/usage-rules.css"]})


class TimeOfDayInput(UnfoldAdminSingleTimeWidget):
    """The browser's own time picker (hours and minutes)."""

    input_type = "time"

    def __init__(self):
        super().__init__(format="%H:%M")


def _redemption_model(name: str):
    # The ids refer to redemption's merchants and stores (redemption enforces the rules). Looked up by name, not
    # imported: catalog sits left of redemption and only reads these rows to offer them.
    return apps.get_model("redemption", name)


class SkuAdminForm(forms.ModelForm):
    """The SKU page's usage rules, edited with widgets and never typed as JSON lists. Stored as before:
    merchants and stores as lists of their ids, weekdays as ISO numbers (1 Monday .. 7 Sunday), each empty for
    "no restriction"; the hours as two times of day, a window across midnight when the end is before the start."""

    allowed_merchant_ids = IdListField(
        label=_("allowed merchants"),
        queryset=None,
        required=False,
        widget=SearchableMultiSelect(_("Type a merchant's name or code")),
        help_text=_(
            "Codes are honoured at every store of these merchants. With no merchant and no store picked, they are honoured nowhere."
        ),
    )
    allowed_store_ids = IdListField(
        label=_("allowed stores"),
        queryset=None,
        required=False,
        widget=SearchableMultiSelect(_("Type a store's name, code or city")),
        help_text=_(
            "Also honoured at these stores. When some stores of a merchant are picked, that merchant honours the codes "
            "only at those stores."
        ),
    )
    allowed_weekdays = forms.TypedMultipleChoiceField(
        label=_("allowed weekdays"),
        choices=WEEKDAYS,
        coerce=int,
        required=False,
        widget=UnfoldAdminCheckboxSelectMultipleWidget,
        help_text=_("None ticked means every day."),
    )
    usable_from_time = forms.TimeField(
        label=_("usable from (time of day)"),
        required=False,
        widget=TimeOfDayInput,
        help_text=_("Empty: from midnight."),
    )
    usable_until_time = forms.TimeField(
        label=_("usable until (time of day)"),
        required=False,
        widget=TimeOfDayInput,
        help_text=_("Empty: until midnight. An end before the start is a window across midnight, e.g. 22:00 to 02:00."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        merchants = _redemption_model("Merchant").objects.order_by("name")
        stores = _redemption_model("Store").objects.select_related("merchant").order_by("merchant__name", "name")
        self.fields["allowed_merchant_ids"].queryset = merchants
        self.fields["allowed_merchant_ids"].label_from_instance = lambda m: f"{m.name} ({m.code})"
        self.fields["allowed_store_ids"].queryset = stores
        self.fields["allowed_store_ids"].label_from_instance = _store_label
        self.initial["allowed_weekdays"] = [int(d) for d in (self.instance.allowed_weekdays or [])]

    def clean_allowed_weekdays(self):
        return sorted(set(self.cleaned_data["allowed_weekdays"]))

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("usable_from_time"), cleaned.get("usable_until_time")
        if start is not None and start == end:
            self.add_error(
                "usable_until_time",
                _(
                    "The end must differ from the start. For a window across midnight put the end before the start; "
                    "for the whole day leave both empty."
                ),
            )
        return cleaned


def _store_label(store) -> str:
    where = f" · {store.city}" if store.city else ""
    return f"{store.merchant.name} · {store.name}{where} ({store.code})"
