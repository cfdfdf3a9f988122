"""What a person sees of issue 12's recovery: an export whose worker stopped says so (in Chinese) and is
retried with one click; with Redis unreachable a page is the branded "try again in a moment" page (503),
without a Content-Security-Policy violation. The new_page fixture fails a test on any CSP violation."""

import socket
from datetime import timedelta

import pytest
from django.utils import timezone

from settlement.models import ExportJob
from tests.browser.conftest import follow, login
from tests.factories import PASSWORD
from tests.settlement.conftest import fund, tree_make

pytestmark = pytest.mark.django_db(transaction=True)


def test_finance_sees_an_export_whose_worker_stopped_and_retries_it(new_page, transactional_db, finance_user, q_sync):
    tree = tree_make()
    fund(tree.seller, "100.00", actor=finance_user)
    job = ExportJob.objects.create(
        kind=ExportJob.Kind.LEDGER,
        status=ExportJob.Status.FAILED,
        failure=ExportJob.Failure.WORKER_STOPPED,
        attempts=2,
        heartbeat_at=timezone.now() - timedelta(minutes=10),
        created_by=finance_user,
    )
    page = new_page()
    login(page, finance_user.username, PASSWORD)
    page.goto("/finance/exports/")
    row = page.locator(f"#export-{job.pk}")
    assert "失败：执行任务的进程已停止" in row.inner_text()

    follow(page, row.get_by_role("button", name="重试"))

    row = page.locator(f"#export-{job.pk}")
    assert row.get_attribute("data-status") == "done"
    assert row.get_by_role("link", name="下载").count() == 1
    job.refresh_from_db()
    assert (job.status, job.failure) == (ExportJob.Status.DONE, "")


def test_with_redis_unreachable_a_page_is_the_try_again_page(new_page, transactional_db, finance_user, settings):
    page = new_page()
    login(page, finance_user.username, PASSWORD)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.CACHES = {"default": {"BACKEND": "voucherhub.core.cache.ReusedClientRedisCache", "LOCATION": f"redis://127.0.0.1:{port}/0"}}

    response = page.goto("/dashboards/finance/")

    assert response.status == 503 and response.headers["retry-after"] == "5"
    card = page.get_by_test_id("unavailable")
    assert "请稍后再试" in card.inner_text()
    assert page.get_by_test_id("unavailable-retry").get_attribute("href") == "/dashboards/finance/"
    # the page's own CSS loaded (no CDN, nothing inline)
    assert page.evaluate("getComputedStyle(document.querySelector('.btn-primary')).display") == "inline-block"
