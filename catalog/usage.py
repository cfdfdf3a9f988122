"""How a buyer uses a code of each product kind: the words the storefront, the receipt and the private code
page show. A video membership is entered in the provider's app; a coffee voucher is shown at the counter."""

from django.utils.translation import gettext_lazy as _

from catalog.models import Product

C = Product.Category

# Kinds that are used online (entered on the provider's site or app), not shown to a merchant.
ONLINE = frozenset({C.VIDEO, C.MUSIC, C.COURSE, C.TOPUP})

HOW_TO_USE = {
    C.VIDEO: _("Open the video app or website, sign in, choose “Redeem a code” under your account and enter the code."),
    C.MUSIC: _("Open the music app, sign in, choose “Redeem a code” under your account and enter the code."),
    C.COURSE: _("Sign in on the course website or app and enter the code on its “Redeem” page."),
    C.TOPUP: _("Enter the code on the operator's or game's top-up page; the amount is credited to your account."),
    C.MOVIE: _("Choose the film and seats in the cinema's app, or show the QR code or the code at the cinema's counter."),
    C.DINING: _("Show the QR code or the code to the staff when you pay; they scan or type it."),
    C.COFFEE: _("Show the QR code or the code at the counter when you order; the staff scan it."),
    C.GIFT_CARD: _("Show the QR code or the code at the checkout of a participating store."),
    C.OTHER: _("Follow the product's notes below; at a store, show the QR code or the code at the checkout."),
}


def how_to_use(category: str) -> str:
    """The usage text of a product kind (the general one for an unknown kind)."""
    return HOW_TO_USE.get(category, HOW_TO_USE[C.OTHER])


def used_online(category: str) -> bool:
    """Codes of this kind are entered online: no QR code to show at a counter."""
    return category in ONLINE
