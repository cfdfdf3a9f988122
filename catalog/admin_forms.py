"""Forms of the catalog admin's actions (generate, void, reveal, find by code). Rules live in services."""

from django import forms
from django.utils.translation import gettext_lazy as _
from unfold.widgets import UnfoldAdminIntegerFieldWidget, UnfoldAdminPasswordWidget, UnfoldAdminTextInputWidget

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


class SkuAdminForm(forms.ModelForm):
    """The SKU page: allowed weekdays are ticked, never typed as a JSON list. Stored as before: a list of ISO
    weekday numbers (1 Monday .. 7 Sunday), empty for every day."""

    allowed_weekdays = forms.TypedMultipleChoiceField(
        label=_("allowed weekdays"),
        choices=WEEKDAYS,
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked means every day."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial["allowed_weekdays"] = [int(d) for d in (self.instance.allowed_weekdays or [])]

    def clean_allowed_weekdays(self):
        return sorted(set(self.cleaned_data["allowed_weekdays"]))
