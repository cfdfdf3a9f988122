"""Issue 13: the team list has search, a status filter, pagination and an export of what is filtered, with each
member's place below the reader in words, and never the neighbour's members."""

import io

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from channels.models import Distributor

pytestmark = pytest.mark.django_db


def test_the_team_list_searches_filters_and_exports_only_the_readers_team(client, tree):
    client.force_login(tree.top_user)
    url = reverse("channels:portal-downline")
    page = client.get(url, {"q": "杭州推广"}, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    team = page.split('data-testid="downline-tree"', 1)[1]
    assert "杭州推广员" in team and "浙江省代" not in team and "二级" in team

    Distributor.objects.filter(pk=tree.sibling.pk).update(status=Distributor.Status.SUSPENDED)
    suspended = client.get(url, {"status": "suspended"}).content.decode().split('data-testid="downline-tree"', 1)[1]
    assert "江苏省代" in suspended and "杭州推广员" not in suspended

    xlsx = client.get(url, {"export": "xlsx"}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    names = sorted(row[0] for row in sheet.iter_rows(min_row=2, values_only=True))
    assert names == sorted(["浙江省代", "杭州推广员", "江苏省代"])  # never the neighbour's 华南 branch
    assert sheet.cell(row=1, column=1).value == "名称" and sheet.freeze_panes == "A2"
    levels = {row[0]: row[2] for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert levels["浙江省代"] == "直接下级" and levels["杭州推广员"] == "二级"

    csv = client.get(url, {"q": "杭州推广", "export": "csv"}).content.decode("utf-8-sig")
    assert len(csv.strip().splitlines()) == 2 and "杭州推广员" in csv


def test_a_wrong_team_filter_is_a_400_naming_the_field(client, tree):
    client.force_login(tree.top_user)
    response = client.get(reverse("channels:portal-downline"), {"status": "nonsense"}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400 and "Select a valid choice." in response.content.decode()
