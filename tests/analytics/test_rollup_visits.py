"""Storefront visits: a daily visitor hash (no cookie, no stored address), one row per visitor and day, rolled up
into visitors and page views per storefront and day."""

from datetime import date

import pytest
from django.urls import reverse

from analytics.models import StorefrontVisit, VisitDay
from analytics.rollups import visits as visit_rollup
from analytics.rollups.base import rollup_refresh
from analytics.visits import visitor_hash, visitor_is_bot
from tests.analytics.rollup_support import at, local

pytestmark = pytest.mark.django_db
PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 MicroMessenger/8.0"
DESKTOP = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"


def visit(client, url, *, agent=PHONE, address="203.0.113.7", method="get"):
    return getattr(client, method)(url, HTTP_USER_AGENT=agent, REMOTE_ADDR=address)


def test_a_visitor_is_counted_once_a_day_with_its_page_views_and_no_cookie(client, tree, settings):
    home = reverse("channels:shop", kwargs={"slug": tree.storefront.slug})
    product = reverse("channels:shop-product", kwargs={"slug": tree.storefront.slug, "sku_code": tree.sku.code})
    with at(local(2026, 11, 2, 20)):
        first = visit(client, home)
        # the page's own form token is the only cookie: no visitor id, no session
        assert first.status_code == 200 and set(first.cookies) <= {settings.CSRF_COOKIE_NAME}
        assert visit(client, product).status_code == 200
        visit(client, home, agent=DESKTOP)  # another browser at the same address: another visitor
        visit(client, home, address="198.51.100.9")  # another address
    seen = StorefrontVisit.objects.filter(storefront_id=tree.storefront.pk)
    assert sorted(seen.values_list("views", flat=True)) == [1, 1, 2]
    assert all(len(row.visitor) == 64 and "203.0.113.7" not in row.visitor for row in seen)
    assert seen.get(views=2).visitor == visitor_hash(address="203.0.113.7", user_agent=PHONE, day=date(2026, 11, 2))


def test_robots_posts_errors_and_other_pages_are_not_counted(client, tree):
    home = reverse("channels:shop", kwargs={"slug": tree.storefront.slug})
    with at(local(2026, 11, 2, 20)):
        visit(client, home, agent="Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)")
        visit(client, home, agent="")
        visit(client, home, method="post")
        assert visit(client, reverse("channels:shop", kwargs={"slug": "no-such-shop"})).status_code == 404
        visit(client, reverse("channels:join", kwargs={"token": "x"}))
    assert not StorefrontVisit.objects.exists()
    assert visitor_is_bot("curl/8.5.0") and visitor_is_bot("Baiduspider") and not visitor_is_bot(PHONE)


def test_the_visitor_hash_changes_from_one_day_to_the_next_and_with_the_secret(client, tree, settings):
    home = reverse("channels:shop", kwargs={"slug": tree.storefront.slug})
    with at(local(2026, 11, 2, 23, 50)):
        visit(client, home)
    with at(local(2026, 11, 3, 0, 10)):  # the same browser twenty minutes later, on the next local day
        visit(client, home)
    monday, tuesday = StorefrontVisit.objects.order_by("day")
    assert (monday.day, tuesday.day) == (date(2026, 11, 2), date(2026, 11, 3)) and monday.visitor != tuesday.visitor
    same = visitor_hash(address="203.0.113.7", user_agent=PHONE, day=date(2026, 11, 2))
    settings.SECRET_KEY = "another-secret-" + "x" * 40
    assert visitor_hash(address="203.0.113.7", user_agent=PHONE, day=date(2026, 11, 2)) != same == monday.visitor


def test_visit_day_sums_visitors_and_views_per_storefront_and_day(client, tree):
    home = reverse("channels:shop", kwargs={"slug": tree.storefront.slug})
    with at(local(2026, 11, 2, 20)):
        visit(client, home)
        visit(client, home)
        visit(client, home, agent=DESKTOP)
    with at(local(2026, 11, 2, 20, 10)):
        assert rollup_refresh(visit_rollup.ROLLUP) == 1
    with at(local(2026, 11, 2, 20, 30)):
        assert rollup_refresh(visit_rollup.ROLLUP) == 0  # nobody came since
        visit(client, home, address="198.51.100.9")
    with at(local(2026, 11, 2, 21)):
        assert rollup_refresh(visit_rollup.ROLLUP) == 1
    row = VisitDay.objects.get()
    assert (row.day, row.storefront_id, row.visitors, row.views) == (date(2026, 11, 2), tree.storefront.pk, 3, 4)
