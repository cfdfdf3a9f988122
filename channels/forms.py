from django import forms
from django.contrib.auth import get_user_model, password_validation
from django.utils.translation import gettext_lazy as _

from catalog.models import Sku
from channels.models import HEX_COLOUR, Distributor, DistributorLevel

LOGO_MAX_BYTES = 200 * 1024
LOGO_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}


class InvitationForm(forms.Form):
    target_level = forms.ModelChoiceField(label=_("Level of the newcomer"), queryset=DistributorLevel.objects.none())
    kind = forms.ChoiceField(label=_("Kind"), choices=Distributor.Kind.choices, initial=Distributor.Kind.PROMOTER)
    expires_in_days = forms.IntegerField(label=_("Valid for (days)"), min_value=1, max_value=90, initial=7)
    max_uses = forms.IntegerField(label=_("Maximum uses"), min_value=1, max_value=1000, initial=1)
    note = forms.CharField(label=_("Note"), max_length=200, required=False)

    def __init__(self, *args, distributor: Distributor, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["target_level"].queryset = DistributorLevel.objects.filter(position__gte=distributor.level.position)
        self.fields["target_level"].initial = self.fields["target_level"].queryset.exclude(pk=distributor.level_id).first()


class SignupForm(forms.Form):
    name = forms.CharField(label=_("Shop or company name"), max_length=120)
    contact_name = forms.CharField(label=_("Contact person"), max_length=80)
    phone = forms.RegexField(
        label=_("Mobile phone"), regex=r"^\+?[0-9][0-9 -]{5,19}$", error_messages={"invalid": _("Enter a phone number.")}
    )
    region = forms.CharField(label=_("Region"), max_length=60, help_text=_("Province or city."))
    email = forms.EmailField(label=_("Email"), required=False)
    username = forms.RegexField(
        label=_("Username"),
        regex=r"^[\w.@+-]{3,150}$",
        error_messages={"invalid": _("3 to 150 letters, digits and @/./+/-/_ only.")},
    )
    password1 = forms.CharField(label=_("Password"), widget=forms.PasswordInput, strip=False)
    password2 = forms.CharField(label=_("Password again"), widget=forms.PasswordInput, strip=False)

    def clean_username(self):
        username = self.cleaned_data["username"]
        if get_user_model().objects.filter(username__iexact=username).exists():
            raise forms.ValidationError(_("This username is taken."))
        return username

    def clean(self):
        data = super().clean()
        one, two = data.get("password1"), data.get("password2")
        if one and two and one != two:
            self.add_error("password2", _("The two passwords differ."))
        elif one:
            user = get_user_model()(username=data.get("username", ""), email=data.get("email", ""))
            try:
                password_validation.validate_password(one, user)
            except forms.ValidationError as error:
                self.add_error("password1", error)
        return data


class QuotaTransferForm(forms.Form):
    to_distributor = forms.ModelChoiceField(label=_("Pass to"), queryset=Distributor.objects.none())
    sku = forms.ModelChoiceField(label=_("SKU"), queryset=Sku.objects.none(), to_field_name="code")
    quantity = forms.IntegerField(label=_("Quantity"), min_value=1, max_value=10_000_000)
    note = forms.CharField(label=_("Note"), max_length=200, required=False)

    def __init__(self, *args, downline, skus, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["to_distributor"].queryset = downline
        self.fields["sku"].queryset = skus


class StorefrontForm(forms.Form):
    title = forms.CharField(label=_("Shop name"), max_length=80)
    slug = forms.SlugField(label=_("Shop address"), max_length=40, help_text=_("Your shop lives at /s/<shop address>/."))
    tagline = forms.CharField(label=_("Tagline"), max_length=160, required=False)
    support_contact = forms.CharField(
        label=_("Support contact"),
        max_length=120,
        required=False,
        help_text=_("Shown in the shop's footer: a phone number, WeChat ID or e-mail address buyers can ask."),
    )
    colour = forms.CharField(label=_("Colour"), max_length=7, validators=[HEX_COLOUR], widget=forms.TextInput(attrs={"type": "color"}))
    logo = forms.FileField(label=_("Logo"), required=False, help_text=_("PNG, JPEG, WebP or GIF, at most 200 KB."))
    clear_logo = forms.BooleanField(label=_("Remove the logo"), required=False)
    is_open = forms.BooleanField(label=_("Shop is open"), required=False, initial=True)

    def clean_logo(self):
        upload = self.cleaned_data.get("logo")
        if not upload:
            return None
        if upload.size > LOGO_MAX_BYTES:
            raise forms.ValidationError(_("The logo is larger than 200 KB."))
        data = upload.read()
        from io import BytesIO

        from PIL import Image

        try:
            with Image.open(BytesIO(data)) as image:
                image.verify()
                kind = image.format
        except Exception:
            raise forms.ValidationError(_("This file is not an image."))
        if kind not in LOGO_TYPES:
            raise forms.ValidationError(_("Use a PNG, JPEG, WebP or GIF image."))
        return data, LOGO_TYPES[kind]


class StorefrontItemForm(forms.Form):
    sku = forms.ModelChoiceField(label=_("SKU"), queryset=Sku.objects.none(), to_field_name="code")
    retail_price = forms.DecimalField(label=_("Retail price"), max_digits=14, decimal_places=2, min_value=0)
    position = forms.IntegerField(label=_("Position"), min_value=0, max_value=999, initial=0, required=False)
    listed = forms.BooleanField(label=_("Listed"), required=False, initial=True)

    def __init__(self, *args, skus, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["sku"].queryset = skus


class ApiKeyForm(forms.Form):
    label = forms.CharField(label=_("Label"), max_length=80, required=False, help_text=_("e.g. the system that uses the key."))
    ip_allowlist = forms.CharField(
        label=_("IP allowlist"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("One address or network per line, e.g. 203.0.113.7 or 203.0.113.0/24. Empty allows any address."),
    )


class ApiKeyRotateForm(forms.Form):
    grace = forms.TypedChoiceField(
        label=_("Old key"),
        coerce=int,
        choices=[(0, _("Stops working now")), (3600, _("Keeps working for 1 hour")), (86400, _("Keeps working for 24 hours"))],
        initial=0,
    )


class TraceForm(forms.Form):
    q = forms.CharField(label=_("Card code or serial number"), max_length=200)
