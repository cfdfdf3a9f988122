"""Group-buy pages for consumers (mobile-first, in the storefront's colours): a campaign's page, where a group is
opened or an open one picked, and a group's share page (members masked, seats left, countdown, link and QR
code). Buying goes through settlement's checkout for the campaign (`?campaign=<id>` opens a group,
`&group=<token>` joins one); these pages only read."""

from urllib.parse import urlencode

import segno
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from channels import selectors as channel_selectors
from marketing.consumer_session import consumer_of
from marketing.models import Campaign, CampaignUse, GroupBuy
from marketing.selectors_groups import consumer_groups, group_campaign_public, group_view, groups_open_for_campaign


def _shop_row(campaign: Campaign, slug: str = ""):
    """The storefront a consumer buys the campaign's SKU at, with its shelf row: the campaign's own storefront,
    else (a platform campaign on every storefront) the one named by `slug`. (None, None) when it does not sell
    the SKU (closed, unlisted, below its floor)."""
    if campaign.storefront_id is not None:
        slug = campaign.storefront.slug
    shop = channel_selectors.storefront_public(slug) if slug else None
    row = channel_selectors.storefront_item_public(shop, campaign.sku.code) if shop is not None and campaign.sku_id else None
    return (shop, row) if row is not None else (None, None)


def _leader_shop_slug(group: GroupBuy) -> str:
    """The storefront the leader bought at (the campaign's record of the leader's order), for a share link of
    a platform-wide campaign opened without one."""
    leader_ref = group.members.filter(consumer_id=group.leader_id).order_by("joined_at").values_list("order_ref", flat=True).first()
    use = CampaignUse.objects.select_related("distributor").filter(campaign_id=group.campaign_id, order_ref=leader_ref or "").first()
    shop = channel_selectors.storefront_of(use.distributor) if use is not None and use.distributor is not None else None
    return shop.slug if shop is not None else ""


def _checkout_url(shop, campaign: Campaign, token: str = "") -> str:
    query = {"campaign": campaign.pk, **({"group": token} if token else {})}
    return reverse("settlement:checkout", args=(shop.slug, campaign.sku.code)) + "?" + urlencode(query)


def _group_url(token: str, shop, campaign: Campaign) -> str:
    """A group's page; the storefront rides along for a campaign that runs on every storefront."""
    url = reverse("marketing:group", args=(token,))
    return url + "?" + urlencode({"s": shop.slug}) if shop is not None and campaign.storefront_id is None else url


def _base_template(shop) -> str:
    return "channels/shop/base.html" if shop is not None else "marketing/groups/base_plain.html"


def group_campaign_page(request, campaign_id: int):
    """A group-buy campaign: its price and rules, a button that opens a new group, and open groups to join."""
    campaign = group_campaign_public(campaign_id)
    if campaign is None:
        raise Http404
    shop, row = _shop_row(campaign, request.GET.get("s", ""))
    viewer = consumer_of(request)
    now = timezone.now()
    open_groups = groups_open_for_campaign(campaign=campaign, viewer=viewer, now=now)
    mine = consumer_groups(consumer=viewer, campaign=campaign, now=now) if viewer is not None else []
    context = {
        "base_template": _base_template(shop),
        "shop": shop,
        "row": row,
        "campaign": campaign,
        "sku": campaign.sku,
        "live": campaign.is_live(now),
        "upcoming": campaign.status == Campaign.Status.ACTIVE and now < campaign.starts_at,
        "list_price": row.item.retail_price if row is not None else campaign.sku.face_value,
        "open_url": _checkout_url(shop, campaign) if shop is not None else "",
        "open_groups": [(view, _group_url(view.token, shop, campaign)) for view in open_groups],
        "my_groups": [(view, _group_url(view.token, shop, campaign)) for view in mine],
        "viewer": viewer,
    }
    return render(request, "marketing/groups/campaign.html", context)


def group_page(request, token: str):
    """A group's share page: who is in (masked), the seats left, the time left, the link with its QR code, and
    the button that joins through the checkout."""
    viewer = consumer_of(request)
    view = group_view(token=token, viewer=viewer)
    if view is None or view.campaign.status == Campaign.Status.DRAFT:
        raise Http404
    campaign = view.campaign
    shop, row = _shop_row(campaign, request.GET.get("s", ""))
    if shop is None and campaign.storefront_id is None:
        shop, row = _shop_row(campaign, _leader_shop_slug(view.group))
    share_url = request.build_absolute_uri(_group_url(token, shop, campaign))
    context = {
        "base_template": _base_template(shop),
        "shop": shop,
        "row": row,
        "view": view,
        "group": view.group,
        "campaign": campaign,
        "sku": campaign.sku,
        "list_price": row.item.retail_price if row is not None else campaign.sku.face_value,
        "empty_seats": range(view.seats_left),
        "join_url": _checkout_url(shop, campaign, token) if shop is not None and view.joinable else "",
        "campaign_url": reverse("marketing:group-campaign", args=(campaign.pk,)) + (f"?{urlencode({'s': shop.slug})}" if shop else ""),
        "share_url": share_url,
        "qr_svg": segno.make(share_url, error="m").svg_inline(scale=4, border=2, dark="#212529", light="#fff"),
        "viewer": viewer,
    }
    return render(request, "marketing/groups/group.html", context)
