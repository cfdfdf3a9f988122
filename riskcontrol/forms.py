from django import forms
from django.utils.translation import gettext_lazy as _

from riskcontrol.models import Channel, Dimension, RiskRule


class RiskRuleForm(forms.ModelForm):
    """The rule admin's form: the channel scope as checkboxes (none ticked: every channel)."""

    channels = forms.MultipleChoiceField(
        label=_("channels"),
        choices=Channel.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=RiskRule._meta.get_field("channels").help_text,
    )

    class Meta:
        model = RiskRule
        fields = ["channels"]  # the admin adds the others from its fieldsets


class ReviewDecisionForm(forms.Form):
    APPROVE = "approve"
    REJECT = "reject"

    decision = forms.ChoiceField(
        label=_("Decision"),
        choices=[(APPROVE, _("Approve: let it continue")), (REJECT, _("Reject: stop it (the caller refunds)"))],
        widget=forms.RadioSelect,
    )
    note = forms.CharField(label=_("Note"), max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 2}))
    block = forms.MultipleChoiceField(
        label=_("Also add to the blocklist"),
        required=False,
        choices=[(d.value, d.label) for d in (Dimension.IP, Dimension.DEVICE, Dimension.ACCOUNT, Dimension.PHONE, Dimension.EMAIL)],
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Only used when rejecting."),
    )

    def __init__(self, *args, event=None, **kwargs):
        super().__init__(*args, **kwargs)
        if event is not None:
            values = {"ip": event.ip, "device": event.device, "account": event.account_id, "phone": event.phone, "email": event.email}
            self.fields["block"].choices = [
                (value, f"{label}: {values[value]}") for value, label in self.fields["block"].choices if values[value]
            ]

    def clean(self):
        data = super().clean()
        if data.get("decision") == self.REJECT and not (data.get("note") or "").strip():
            self.add_error("note", _("Say why you reject it."))
        if data.get("decision") == self.APPROVE:
            data["block"] = []
        return data


class AlertAcknowledgeForm(forms.Form):
    note = forms.CharField(label=_("Note"), max_length=500, required=False)


class OTPTokenForm(forms.Form):
    token = forms.CharField(
        label=_("Code from your authenticator app"),
        min_length=6,
        max_length=8,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
    )

    def clean_token(self):
        token = "".join(self.cleaned_data["token"].split())
        if not token.isdigit():
            raise forms.ValidationError(_("Enter the digits shown in your authenticator app."))
        return token


class ChallengeForm(forms.Form):
    """The fields of the challenge fragment (/risk/challenge/), checked once: mix it into a storefront form
    or validate it beside one, then evaluate again with RiskContext(challenge_passed=True)."""

    challenge_key = forms.CharField(widget=forms.HiddenInput)
    challenge_answer = forms.CharField(label=_("Type the characters in the picture"), max_length=32)

    def clean(self):
        from riskcontrol.challenge import challenge_verify

        data = super().clean()
        if "challenge_key" in data and "challenge_answer" in data:
            if not challenge_verify(key=data["challenge_key"], answer=data["challenge_answer"]):
                self.add_error("challenge_answer", _("The characters do not match. Try the new picture."))
        return data
