"""Forms of ops' supply pages and the supply admin: each validates what a person typed; services do the rest."""

from django import forms
from django.utils.translation import gettext_lazy as _

from supply.models import StatementImport, Upstream, UpstreamProduct
from supply.statement_files import MAX_BYTES


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"), max_length=300, widget=forms.TextInput(attrs={"placeholder": _("Why (kept in the audit log)")})
    )


class HoldDecisionForm(forms.Form):
    """A held top-up: send it to a chosen supplier again, or refund the buyer. Always with a reason."""

    RESUBMIT, REFUND = "resubmit", "refund"
    decision = forms.ChoiceField(label=_("Decision"), choices=[(RESUBMIT, _("Resubmit to a supplier")), (REFUND, _("Refund the buyer"))])
    upstream = forms.ModelChoiceField(label=_("Supplier"), queryset=Upstream.objects.none(), required=False)
    reason = forms.CharField(label=_("Reason"), max_length=300)

    def __init__(self, *args, sku=None, **kwargs):
        super().__init__(*args, **kwargs)
        serving = UpstreamProduct.objects.filter(kind=UpstreamProduct.Kind.TOPUP, active=True)
        if sku is not None:
            serving = serving.filter(sku=sku)
        self.fields["upstream"].queryset = Upstream.objects.filter(pk__in=serving.values("upstream_id")).select_related("supplier")
        self.fields["upstream"].label_from_instance = lambda upstream: f"{upstream.supplier.name} · {upstream.get_status_display()}"

    def clean(self):
        data = super().clean()
        if data.get("decision") == self.RESUBMIT and not data.get("upstream"):
            self.add_error("upstream", _("Choose the supplier to send it to."))
        return data


class StatementUploadForm(forms.Form):
    upstream = forms.ModelChoiceField(label=_("Supplier"), queryset=Upstream.objects.select_related("supplier"))
    file = forms.FileField(label=_("Statement file (CSV or XLSX)"))
    mode = forms.ChoiceField(label=_("When some rows are bad"), choices=StatementImport.Mode.choices, initial=StatementImport.Mode.ALL)
    period_start = forms.DateTimeField(
        label=_("Period from"), required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
    )
    period_end = forms.DateTimeField(
        label=_("Period until"), required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["upstream"].label_from_instance = lambda upstream: upstream.supplier.name
        self.fields["period_start"].help_text = _("Empty: from the first time in the file.")
        self.fields["period_end"].help_text = _("Empty: until the last time in the file.")

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_BYTES:
            raise forms.ValidationError(_("The file is too large."))
        return upload

    def clean(self):
        data = super().clean()
        start, end = data.get("period_start"), data.get("period_end")
        if start and end and end < start:
            self.add_error("period_end", _("The end must come after the start."))
        return data


class ResolveForm(forms.Form):
    note = forms.CharField(label=_("Note"), max_length=500, widget=forms.TextInput(attrs={"placeholder": _("What was done")}))


class ReplenishForm(forms.Form):
    quantity = forms.IntegerField(label=_("Quantity"), min_value=1, max_value=100_000)


class UpstreamAdminForm(forms.ModelForm):
    """The upstream's settings; its two secrets are written here and never shown back (blank keeps them)."""

    api_secret = forms.CharField(
        label=_("API secret"),
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("Sealed in the vault; never shown again. Leave empty to keep the current one."),
    )
    callback_secret = forms.CharField(
        label=_("Callback secret"),
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("Leave empty to keep the current one (the API secret is used when the supplier has no other)."),
    )

    base_url = forms.URLField(label=_("base URL"), max_length=300, assume_scheme="https")

    class Meta:
        model = Upstream
        fields = [
            "supplier",
            "protocol",
            "base_url",
            "app_key",
            "low_balance_threshold",
            "timeout_seconds",
            "success_rate_floor",
            "rate_window_minutes",
            "rate_min_attempts",
        ]

    def clean(self):
        data = super().clean()
        if not self.instance.secrets_key_id and not data.get("api_secret"):
            self.add_error("api_secret", _("A new supplier needs its API secret."))
        return data

    @property
    def secrets_changed(self) -> list[str]:
        return [name for name in ("api_secret", "callback_secret") if self.cleaned_data.get(name)]

    def save(self, commit=True):
        upstream = super().save(commit=False)
        if self.secrets_changed:
            api_now, callback_now = upstream.secrets() if upstream.secrets_key_id else ("", "")
            api = self.cleaned_data.get("api_secret") or api_now
            callback = self.cleaned_data.get("callback_secret") or callback_now or api
            upstream.secrets_set(api_secret=api, callback_secret=callback)
        if commit:
            upstream.save()
        return upstream
