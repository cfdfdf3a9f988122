"""Targeted issuance (定向发放): lists with bad rows (CSV and XLSX), distributors, segments, preview, confirm
and the job run in-process, the budget stop, resume after a crash, SMS, pages and permissions."""

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone, translation
from openpyxl import Workbook

from catalog.models import CardCode, Product
from marketing.errors import CampaignError
from marketing.models import Campaign, Consumer, Coupon, Issuance, IssuanceRecipient
from marketing.selectors_issuance import issuance_results
from marketing.services import issuance as service
from marketing.services import issuance_lists as lists
from redemption.models import CodeHolding, HolderLink
from redemption.notify import ConsoleSmsBackend
from tests import factories
from voucherhub.core.audit import AuditLog
from voucherhub.core.jobs import job_claim, jobs_sweep

pytestmark = pytest.mark.django_db

PHONES = ["13800138000", "13900139000", "15000150000", "18600186000", "17700177000"]


def campaign_new(**fields) -> Campaign:
    now = timezone.now()
    values = {
        "name": "老客回馈券",
        "kind": Campaign.Kind.TARGETED,
        "status": Campaign.Status.ACTIVE,
        "starts_at": now - timedelta(hours=1),
        "ends_at": now + timedelta(days=7),
        "discount_kind": Campaign.DiscountKind.FIXED,
        "discount_amount": Decimal("10.00"),
        "coupon_valid_days": 30,
    }
    values.update(fields)
    return Campaign.objects.create(**values)


def csv_file(text: str, name: str = "phones.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode("utf-8"), content_type="text/csv")


def xlsx_file(rows, name: str = "phones.xlsx") -> SimpleUploadedFile:
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return SimpleUploadedFile(name, buffer.getvalue())


@pytest.fixture
def ops(ops_user):
    return ops_user


@pytest.fixture(autouse=True)
def _english():
    """Messages are compared in English (the site's default language is zh-hans)."""
    with translation.override("en"):
        yield


# --- Reading lists -----------------------------------------------------------------------------------


def test_csv_with_bad_rows_reports_each_with_its_row_number_and_reason():
    found = lists.recipients_from_file(
        "手机号\n138 0013 8000\n+86-139-0013-9000\n12345\n13800138000\n\nabc\n".encode(), filename="list.csv"
    )
    assert [r.phone for r in found.recipients] == ["13800138000", "13900139000"]
    assert found.bad_count == 3
    rows = {bad["row"]: bad["reason"] for bad in found.bad_rows}
    assert rows[4] == "not a mainland mobile number"
    assert rows[5] == "duplicate of row 2"
    assert rows[7] == "not a mainland mobile number"


def test_xlsx_numbers_as_number_cells_and_a_header_found_by_alias():
    book_rows = [["name", "Mobile"], ["张三", 13800138000], ["李四", 13900139000.0], ["王五", "1390013900"]]
    found = lists.recipients_from_file(xlsx_file(book_rows).read())
    assert [r.phone for r in found.recipients] == ["13800138000", "13900139000"]
    assert found.bad_rows == [{"row": 4, "value": "139****3900", "reason": "not a mainland mobile number"}]


def test_a_file_without_header_is_one_column_of_numbers():
    found = lists.recipients_from_file(b"13800138000\r\n13900139000\r\n")
    assert [r.phone for r in found.recipients] == ["13800138000", "13900139000"]


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"", "a.csv", "empty"),
        (b"\xd0\xcf\x11\xe0rest", "a.xls", "XLSX"),
        (b"PK\x03\x04broken", "a.xlsx", "cannot be read"),
        (b"name,city\nzhang,hz\n", "a.csv", "No phone column"),
    ],
)
def test_unusable_files_are_refused_naming_the_file_field(data, name, message):
    with pytest.raises(CampaignError) as caught:
        lists.recipients_from_file(data, filename=name)
    assert caught.value.field == "file"
    assert message in str(caught.value.message)


def test_row_and_size_limits(settings):
    settings.MARKETING_ISSUANCE_MAX_ROWS = 3
    with pytest.raises(CampaignError, match="more than 3 rows"):
        lists.recipients_from_file(("phone\n" + "\n".join(PHONES)).encode())
    settings.MARKETING_ISSUANCE_MAX_BYTES = 20
    with pytest.raises(CampaignError, match="larger than"):
        lists.recipients_from_file(("phone\n" + "\n".join(PHONES)).encode())


# --- Preparing and previewing ---------------------------------------------------------------------------


def test_prepare_writes_the_good_rows_and_the_preview_masks_them(ops):
    campaign = campaign_new()
    issuance = service.issuance_prepare(
        campaign=campaign,
        source=Issuance.Source.FILE,
        gift=Issuance.Gift.COUPON,
        file=csv_file("phone\n13800138000\nbad\n13900139000\n"),
        actor=ops,
    )
    assert issuance.status == Issuance.Status.PREVIEW
    assert issuance.total == 2
    assert issuance.file_name == "phones.csv"
    assert sorted(issuance.recipients.values_list("phone", flat=True)) == ["13800138000", "13900139000"]
    preview = service.issuance_preview(issuance)
    assert preview.count == 2
    assert preview.sample == ["138****8000", "139****9000"]
    assert preview.bad_count == 1 and preview.bad_rows[0]["row"] == 3
    assert AuditLog.objects.filter(action="marketing.issuance.prepare").count() == 1


def test_a_refused_file_writes_nothing(ops):
    campaign = campaign_new()
    with pytest.raises(CampaignError):
        service.issuance_prepare(
            campaign=campaign, source=Issuance.Source.FILE, gift=Issuance.Gift.COUPON, file=csv_file("x\ny\n"), actor=ops
        )
    assert not Issuance.objects.exists()
    assert not IssuanceRecipient.objects.exists()


def test_campaign_and_gift_are_checked(ops):
    with pytest.raises(CampaignError) as caught:
        service.issuance_prepare(
            campaign=campaign_new(kind=Campaign.Kind.FLASH_SALE), source=Issuance.Source.FILE, gift=Issuance.Gift.COUPON,
            file=csv_file("13800138000"), actor=ops,
        )  # fmt: skip
    assert caught.value.field == "campaign"
    with pytest.raises(CampaignError) as caught:
        service.issuance_prepare(
            campaign=campaign_new(), source=Issuance.Source.FILE, gift=Issuance.Gift.FREE_CODE, file=csv_file("13800138000"), actor=ops
        )
    assert caught.value.field == "campaign"  # free codes need a SKU


def test_distributors_at_their_mobile_number_one_without_is_a_bad_row(ops):
    with_phone = factories.DistributorFactory(name="杭州总代", phone="138-0013-8000")
    without = factories.DistributorFactory(name="宁波推广员", phone="")
    issuance = service.issuance_prepare(
        campaign=campaign_new(), source=Issuance.Source.DISTRIBUTORS, gift=Issuance.Gift.COUPON,
        distributor_ids=[with_phone.pk, without.pk], actor=ops,
    )  # fmt: skip
    recipient = issuance.recipients.get()
    assert (recipient.phone, recipient.distributor_id) == ("13800138000", with_phone.pk)
    assert issuance.params["bad_rows"] == [{"row": 2, "value": "宁波推广员", "reason": "no mobile number on file"}]
    with pytest.raises(CampaignError) as caught:
        service.issuance_prepare(
            campaign=campaign_new(), source=Issuance.Source.DISTRIBUTORS, gift=Issuance.Gift.COUPON, distributor_ids=[], actor=ops
        )
    assert caught.value.field == "distributors"


def _held(sku, phone: str, *, status=CardCode.Status.SOLD, days_ago: int = 1):
    code, _plain = factories.card_code(sku=sku, status=status)
    link = HolderLink.objects.create(public_id=HolderLink.new_public_id(), contact=phone, contact_kind=HolderLink.ContactKind.PHONE)
    CodeHolding.objects.create(link=link, code=code, created_at=timezone.now() - timedelta(days=days_ago))
    return code


def test_segment_bought_sku_not_redeemed_in_the_last_n_days():
    sku = factories.SkuFactory()
    other = factories.SkuFactory()
    _held(sku, "13800138000")  # bought, not redeemed: in
    _held(sku, "13800138000")  # twice: still once
    _held(sku, "13900139000", status=CardCode.Status.REDEEMED)  # redeemed: out
    _held(sku, "15000150000", days_ago=40)  # too long ago: out
    _held(other, "18600186000")  # another SKU: out
    found = lists.recipients_of_segment({"kind": lists.SEGMENT.BOUGHT_NOT_REDEEMED, "sku_id": sku.pk, "days": 30})
    assert [r.phone for r in found.recipients] == ["13800138000"]


def test_segment_bought_in_a_category_and_signed_in_never_bought():
    coffee = factories.SkuFactory(product=factories.ProductFactory(category=Product.Category.COFFEE))
    video = factories.SkuFactory()
    _held(coffee, "13800138000", status=CardCode.Status.REDEEMED)
    _held(video, "13900139000")
    found = lists.recipients_of_segment({"kind": lists.SEGMENT.BOUGHT_CATEGORY, "category": "coffee", "days": 30})
    assert [r.phone for r in found.recipients] == ["13800138000"]
    Consumer.objects.create(phone="13900139000", last_login_at=timezone.now())  # bought: out
    Consumer.objects.create(phone="17700177000", last_login_at=timezone.now())  # signed in, never bought: in
    Consumer.objects.create(phone="18600186000")  # never signed in: out
    found = lists.recipients_of_segment({"kind": lists.SEGMENT.SIGNED_IN_NEVER_BOUGHT})
    assert [r.phone for r in found.recipients] == ["17700177000"]


@pytest.mark.parametrize(
    ("segment", "field"),
    [({}, "segment"), ({"kind": "bought_not_redeemed"}, "sku"), ({"kind": "bought_category", "category": "x"}, "category")],
)
def test_segment_choices_are_checked(segment, field):
    with pytest.raises(CampaignError) as caught:
        lists.recipients_of_segment(segment)
    assert caught.value.field == field


def test_cancel_drops_a_preview_and_confirm_needs_recipients(ops):
    campaign = campaign_new()
    issuance = service.issuance_prepare(
        campaign=campaign, source=Issuance.Source.FILE, gift=Issuance.Gift.COUPON, file=csv_file("phone\nbad\n"), actor=ops
    )
    with pytest.raises(CampaignError) as caught:
        service.issuance_confirm(issuance=issuance, actor=ops)
    assert caught.value.field == "issuance"
    service.issuance_cancel(issuance=issuance, actor=ops)
    assert not Issuance.objects.exists()


# --- Pages ----------------------------------------------------------------------------------------------


def test_pages_are_for_ops_only(client, ops):
    issuance = service.issuance_prepare(
        campaign=campaign_new(), source=Issuance.Source.FILE, gift=Issuance.Gift.COUPON, file=csv_file("13800138000"), actor=ops
    )
    distributor_user = factories.UserFactory(username="dist1", role="distributor")
    client.force_login(distributor_user)
    for url in (reverse("marketing:issuances"), reverse("marketing:issuance-new"), reverse("marketing:issuance", args=[issuance.pk])):
        assert client.get(url).status_code == 403
    assert client.post(reverse("marketing:issuance-confirm", args=[issuance.pk])).status_code == 403
    issuance.refresh_from_db()
    assert issuance.status == Issuance.Status.PREVIEW


def test_upload_page_shows_field_errors_and_the_preview(ops_client):
    campaign = campaign_new()
    url = reverse("marketing:issuance-new")
    answer = ops_client.post(url, {"campaign": campaign.pk, "gift": "coupon", "source": "file"})
    assert answer.status_code == 200
    assert "请选择文件。" in answer.content.decode()  # the page is in the site's language
    answer = ops_client.post(
        url, {"campaign": campaign.pk, "gift": "coupon", "source": "file", "file": csv_file("phone\n13800138000\n12\n13900139000\n")}
    )
    issuance = Issuance.objects.get()
    assert answer.status_code == 302 and answer["Location"] == reverse("marketing:issuance", args=[issuance.pk])
    page = ops_client.get(answer["Location"]).content.decode()
    assert "138****8000" in page and "13800138000" not in page
    assert 'data-testid="bad-row"' in page


# --- The job --------------------------------------------------------------------------------------------


class BrokenSms:
    def send(self, *, to: str, text: str) -> None:
        raise OSError("gateway down")


@pytest.fixture
def sms_outbox():
    ConsoleSmsBackend.outbox.clear()
    yield ConsoleSmsBackend.outbox
    ConsoleSmsBackend.outbox.clear()


def _prepared(ops, campaign, phones=PHONES, gift=Issuance.Gift.COUPON) -> Issuance:
    return service.issuance_prepare(
        campaign=campaign, source=Issuance.Source.FILE, gift=gift, file=csv_file("phone\n" + "\n".join(phones)), actor=ops
    )


def test_confirm_queues_the_job_which_issues_one_coupon_each_and_texts_them(ops, q_sync, sms_outbox, django_capture_on_commit_callbacks):
    campaign = campaign_new()
    Consumer.objects.create(phone=PHONES[0])  # known already: no second consumer
    issuance = _prepared(ops, campaign)
    with django_capture_on_commit_callbacks(execute=True):
        service.issuance_confirm(issuance=issuance, actor=ops)
    issuance.refresh_from_db()
    assert (issuance.status, issuance.done, issuance.failed, issuance.progress) == (Issuance.Status.DONE, 5, 0, 100)
    assert Consumer.objects.filter(phone__in=PHONES).count() == 5
    coupons = Coupon.objects.filter(issuance=issuance)
    assert sorted(coupons.values_list("consumer__phone", flat=True)) == sorted(PHONES)
    assert set(coupons.values_list("status", flat=True)) == {Coupon.Status.CLAIMED}
    campaign.refresh_from_db()
    assert campaign.coupons_issued == 5
    # one SMS each, with the link to /me/ and no coupon code in it
    assert sorted(m.to for m in sms_outbox) == sorted(PHONES)
    codes = set(coupons.values_list("code", flat=True))
    assert all("/me/" in m.text and not any(code in m.text for code in codes) for m in sms_outbox)
    assert issuance.recipients.filter(notified_at__isnull=False).count() == 5
    results = issuance_results(issuance)
    assert (results.delivered, results.claimed, results.used, results.notified) == (5, 0, 0, 5)
    assert AuditLog.objects.filter(action="marketing.issuance.confirm").count() == 1


def test_the_budget_stops_the_run_exactly_the_rest_failed_budget_used_up(ops, settings, sms_outbox):
    settings.MARKETING_ISSUANCE_BATCH = 2
    campaign = campaign_new(budget_kind=Campaign.BudgetKind.MONEY, budget_amount=Decimal("30.00"))  # three ¥10 coupons
    issuance = _prepared(ops, campaign)
    service.issuance_confirm(issuance=issuance, actor=ops)
    issuance = service.issuance_run(issuance_id=issuance.pk)
    assert (issuance.status, issuance.done, issuance.failed) == (Issuance.Status.DONE, 3, 2)
    assert Coupon.objects.filter(issuance=issuance).count() == 3
    failed = issuance.recipients.filter(status=IssuanceRecipient.Status.FAILED)
    assert set(failed.values_list("error", flat=True)) == {service.BUDGET_USED_UP}
    assert len(sms_outbox) == 3  # only the served are texted


def test_the_coupon_total_stops_the_run_too(ops):
    campaign = campaign_new(coupons_total=2)
    issuance = _prepared(ops, campaign)
    service.issuance_confirm(issuance=issuance, actor=ops)
    issuance = service.issuance_run(issuance_id=issuance.pk)
    assert (issuance.done, issuance.failed) == (2, 3)


def test_a_dead_worker_is_taken_over_and_nobody_gets_two_coupons(ops, settings):
    settings.MARKETING_ISSUANCE_BATCH = 2
    campaign = campaign_new()
    issuance = _prepared(ops, campaign)
    service.issuance_confirm(issuance=issuance, actor=ops)
    # given: a worker claimed the job, issued one batch and died (no more heartbeat)
    attempt = job_claim(Issuance, pk=issuance.pk, frm=[Issuance.Status.QUEUED], to=Issuance.Status.RUNNING)
    assert service._batch_run(issuance, attempt=attempt) is True
    Issuance.objects.filter(pk=issuance.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    # when: the sweeper finds it and queues it again; the redelivered task runs
    assert jobs_sweep().requeued == 1
    issuance.refresh_from_db()
    assert (issuance.status, issuance.done) == (Issuance.Status.QUEUED, 2)
    issuance = service.issuance_run(issuance_id=issuance.pk)
    # then: it went on from the recipients still pending
    assert (issuance.status, issuance.done, issuance.failed, issuance.attempts) == (Issuance.Status.DONE, 5, 0, 2)
    assert Coupon.objects.filter(issuance=issuance).count() == 5
    assert Coupon.objects.filter(issuance=issuance).values("consumer").distinct().count() == 5


def test_a_live_worker_is_left_alone_and_a_done_job_is_not_run_again(ops):
    issuance = _prepared(ops, campaign_new())
    service.issuance_confirm(issuance=issuance, actor=ops)
    job_claim(Issuance, pk=issuance.pk, frm=[Issuance.Status.QUEUED], to=Issuance.Status.RUNNING)
    assert service.issuance_run(issuance_id=issuance.pk).done == 0  # another worker holds it, alive
    Issuance.objects.filter(pk=issuance.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    assert service.issuance_run(issuance_id=issuance.pk).done == 5
    assert service.issuance_run(issuance_id=issuance.pk).done == 5
    assert Coupon.objects.filter(issuance=issuance).count() == 5


def test_a_paused_campaign_stops_the_run_and_retry_goes_on(ops):
    campaign = campaign_new()
    issuance = _prepared(ops, campaign)
    service.issuance_confirm(issuance=issuance, actor=ops)
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.PAUSED)
    issuance = service.issuance_run(issuance_id=issuance.pk)
    assert (issuance.status, issuance.done) == (Issuance.Status.FAILED, 0)
    assert issuance.recipients.filter(status=IssuanceRecipient.Status.PENDING).count() == 5
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.ACTIVE)
    service.issuance_retry(issuance=issuance, actor=ops)
    issuance = service.issuance_run(issuance_id=issuance.pk)
    assert (issuance.status, issuance.done) == (Issuance.Status.DONE, 5)


def test_failed_sms_are_recorded_and_retried(ops, settings, sms_outbox):
    settings.REDEMPTION_SMS_BACKEND = "tests.marketing.test_issuance.BrokenSms"
    issuance = _prepared(ops, campaign_new(), phones=PHONES[:2])
    service.issuance_confirm(issuance=issuance, actor=ops)
    issuance = service.issuance_run(issuance_id=issuance.pk)
    assert issuance.done == 2
    recipient = issuance.recipients.first()
    assert (recipient.notified_at, recipient.notify_attempts) == (None, 1)
    assert "gateway down" in recipient.notify_error
    assert issuance_results(issuance).notify_failed == 2
    settings.REDEMPTION_SMS_BACKEND = "redemption.notify.ConsoleSmsBackend"
    assert service.issuance_notices_retry() == 2
    assert sorted(m.to for m in sms_outbox) == sorted(PHONES[:2])
    assert service.issuance_notices_retry() == 0


def test_results_count_claimed_and_used_coupons(ops):
    issuance = _prepared(ops, campaign_new(), phones=PHONES[:3])
    service.issuance_confirm(issuance=issuance, actor=ops)
    issuance = service.issuance_run(issuance_id=issuance.pk)
    coupons = list(Coupon.objects.filter(issuance=issuance).order_by("pk"))
    Consumer.objects.filter(pk=coupons[0].consumer_id).update(last_login_at=timezone.now())  # came to look
    Coupon.objects.filter(pk=coupons[1].pk).update(status=Coupon.Status.USED, used_at=timezone.now(), order_ref="VH1")
    results = issuance_results(issuance)
    assert (results.delivered, results.claimed, results.used) == (3, 2, 1)


def test_the_progress_page_polls_while_working_and_shows_results_masked(ops_client, ops):
    issuance = _prepared(ops, campaign_new(), phones=PHONES[:2])
    service.issuance_confirm(issuance=issuance, actor=ops)
    partial = ops_client.get(reverse("marketing:issuance-progress", args=[issuance.pk])).content.decode()
    assert "hx-trigger" in partial and 'data-status="queued"' in partial
    service.issuance_run(issuance_id=issuance.pk)
    page = ops_client.get(reverse("marketing:issuance", args=[issuance.pk])).content.decode()
    assert "hx-trigger" not in page and "100%" in page
    assert not any(phone in page for phone in PHONES)


def test_the_form_picks_distributors_or_a_segment_with_field_errors(ops_client):
    campaign = campaign_new()
    url = reverse("marketing:issuance-new")
    answer = ops_client.post(url, {"campaign": campaign.pk, "gift": "coupon", "source": "distributors"})
    assert "请至少选择一个分销商。" in answer.content.decode()  # the page is in the site's language
    answer = ops_client.post(url, {"campaign": campaign.pk, "gift": "coupon", "source": "segment", "segment": "bought_not_redeemed"})
    assert "请选择 SKU。" in answer.content.decode()
    assert not Issuance.objects.exists()
    distributor = factories.DistributorFactory(phone="13800138000")
    answer = ops_client.post(url, {"campaign": campaign.pk, "gift": "coupon", "source": "distributors", "distributors": [distributor.pk]})
    assert answer.status_code == 302
    Consumer.objects.create(phone="17700177000", last_login_at=timezone.now())
    answer = ops_client.post(url, {"campaign": campaign.pk, "gift": "coupon", "source": "segment", "segment": "signed_in_never_bought"})
    assert answer.status_code == 302
    assert sorted(Issuance.objects.values_list("source", "total")) == [("distributors", 1), ("segment", 1)]


def test_a_hundred_thousand_rows_are_read_and_written(ops):
    body = "phone\n" + "\n".join(f"138{i:08d}" for i in range(100_000))
    issuance = _prepared_file(ops, body)
    assert issuance.total == 100_000
    assert IssuanceRecipient.objects.filter(issuance=issuance).count() == 100_000


def _prepared_file(ops, body: str) -> Issuance:
    return service.issuance_prepare(
        campaign=campaign_new(), source=Issuance.Source.FILE, gift=Issuance.Gift.COUPON, file=csv_file(body), actor=ops
    )


def test_in_production_the_console_sms_shows_no_phone_and_logs_name_no_phone(ops, settings, capsys, caplog, sms_outbox):
    settings.PRODUCTION = True  # the console SMS backend masks what it prints and keeps nothing
    settings.CONSOLE_MESSAGES_ALLOWED = True
    issuance = _prepared(ops, campaign_new(), phones=PHONES[:2])
    service.issuance_confirm(issuance=issuance, actor=ops)
    assert service.issuance_run(issuance_id=issuance.pk).done == 2
    printed = capsys.readouterr().out
    assert "[sms to" in printed
    assert not any(phone in printed for phone in PHONES[:2])
    assert not any(phone in caplog.text for phone in PHONES[:2])
    assert sms_outbox == []
