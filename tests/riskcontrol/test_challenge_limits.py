"""Anyone may ask for a challenge: at most RISK_CHALLENGES_PER_MINUTE per address, and expired ones are purged."""

from datetime import timedelta

import pytest
from captcha.models import CaptchaStore
from django.urls import reverse
from django.utils import timezone

from riskcontrol.services import challenge_new
from riskcontrol.tasks import CHALLENGES_PURGE_SCHEDULE, risk_challenges_purge, schedules_ensure

pytestmark = pytest.mark.django_db


@pytest.fixture
def three_a_minute(settings, clock):
    settings.RISK_CHALLENGES_PER_MINUTE = 3
    return clock


def ask(client, ip: str):
    return client.post("/api/v1/risk/challenge/", REMOTE_ADDR=ip)


def test_the_api_refuses_an_address_past_its_limit_with_retry_after(client, three_a_minute):
    # given: three challenges from one address within the minute
    assert [ask(client, "203.0.113.9").status_code for _ in range(3)] == [201, 201, 201]
    # when: a fourth, and many more, are asked for
    refused = [ask(client, "203.0.113.9") for _ in range(20)]
    # then: 429 with the time to wait, and no captcha row for any of them
    assert {r.status_code for r in refused} == {429}
    assert refused[0].json()["error"]["code"] == "too_many_challenges" and refused[0]["Retry-After"] == "60"
    assert 1 <= int(refused[-1]["Retry-After"]) <= 60
    chinese = client.post("/api/v1/risk/challenge/", REMOTE_ADDR="203.0.113.9", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "秒后再试" in chinese.json()["error"]["message"]
    assert CaptchaStore.objects.count() == 3
    # another address is not held back
    assert ask(client, "198.51.100.4").status_code == 201
    # after the wait the address may ask again
    three_a_minute.advance(61)
    assert ask(client, "203.0.113.9").status_code == 201


def test_the_address_is_the_trusted_proxys_header_when_configured(client, settings, three_a_minute):
    # behind a TLS proxy every request comes from the proxy; the visitor's address is in the header it sets
    settings.CLIENT_IP_HEADER = "HTTP_X_REAL_IP"
    for _ in range(3):
        assert client.post("/api/v1/risk/challenge/", REMOTE_ADDR="10.0.0.2", HTTP_X_REAL_IP="203.0.113.9").status_code == 201
    assert client.post("/api/v1/risk/challenge/", REMOTE_ADDR="10.0.0.2", HTTP_X_REAL_IP="203.0.113.9").status_code == 429
    assert client.post("/api/v1/risk/challenge/", REMOTE_ADDR="10.0.0.2", HTTP_X_REAL_IP="198.51.100.4").status_code == 201


def test_the_fragment_counts_against_the_same_limit(client, three_a_minute):
    for _ in range(2):
        assert ask(client, "203.0.113.9").status_code == 201
    assert client.get(reverse("riskcontrol:challenge"), REMOTE_ADDR="203.0.113.9").status_code == 200
    refused = client.get(reverse("riskcontrol:challenge"), REMOTE_ADDR="203.0.113.9", headers={"HX-Request": "true"})
    assert refused.status_code == 429 and refused["Retry-After"] == "60"
    assert CaptchaStore.objects.count() == 3


def test_expired_challenges_are_purged_every_few_minutes():
    # given: two live challenges and two expired ones
    live = [challenge_new().key for _ in range(2)]
    expired = [challenge_new().key for _ in range(2)]
    CaptchaStore.objects.filter(hashkey__in=expired).update(expiration=timezone.now() - timedelta(seconds=1))
    # when: the purge job runs
    assert risk_challenges_purge() == "challenges=2"
    # then: only the live ones are left
    assert set(CaptchaStore.objects.values_list("hashkey", flat=True)) == set(live)


def test_the_purge_job_is_scheduled_every_five_minutes():
    from django_q.models import Schedule

    Schedule.objects.filter(name=CHALLENGES_PURGE_SCHEDULE).delete()
    schedules_ensure()
    schedules_ensure()  # idempotent
    schedule = Schedule.objects.get(name=CHALLENGES_PURGE_SCHEDULE)
    assert (schedule.func, schedule.schedule_type, schedule.minutes, schedule.repeats) == (
        "riskcontrol.tasks.risk_challenges_purge",
        Schedule.MINUTES,
        5,
        -1,
    )
