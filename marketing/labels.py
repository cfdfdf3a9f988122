"""Labels of values marketing stores but does not own: the order channel of a campaign use is settlement's
Order.Channel value (settlement sits above marketing, so its choices cannot be imported here). The same
words as settlement's labels, so both catalogs translate them alike."""

from django.utils.translation import gettext_lazy as _

CHANNEL_LABELS = {"portal": _("Distributor portal"), "api": _("Distributor API"), "storefront": _("Storefront")}


def channel_label(value: str) -> str:
    """The reader's word for an order channel; an unknown value reads as "Other", never as stored."""
    return str(CHANNEL_LABELS.get(value, _("Other")))
