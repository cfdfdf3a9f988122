"""Challenges: a captcha made here (bundled font, no outside service), answered once."""

import pytest
from captcha.models import CaptchaStore
from django.urls import reverse

from riskcontrol.services import challenge_new, challenge_verify

pytestmark = pytest.mark.django_db


def test_a_challenge_is_answered_once():
    challenge = challenge_new()
    answer = CaptchaStore.objects.get(hashkey=challenge.key).response
    assert challenge_verify(key=challenge.key, answer=answer.upper()) is True
    assert challenge_verify(key=challenge.key, answer=answer) is False


def test_a_wrong_answer_spends_the_challenge():
    challenge = challenge_new()
    answer = CaptchaStore.objects.get(hashkey=challenge.key).response
    assert challenge_verify(key=challenge.key, answer="wrong") is False
    assert challenge_verify(key=challenge.key, answer=answer) is False
    assert challenge_verify(key="", answer="x") is False


def test_the_picture_is_drawn_here(client):
    challenge = challenge_new()
    response = client.get(challenge.image_url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response.content[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_fragment_a_storefront_embeds(client):
    response = client.get(reverse("riskcontrol:challenge"))
    body = response.content.decode()
    assert response.status_code == 200
    assert 'name="challenge_key"' in body and 'name="challenge_answer"' in body
    assert "<script" not in body and "style=" not in body  # fits the Content-Security-Policy


def test_the_api_gives_a_challenge(client):
    response = client.post("/api/v1/risk/challenge/")
    assert response.status_code == 201
    data = response.json()
    assert CaptchaStore.objects.filter(hashkey=data["key"]).exists()
    assert data["image_url"].startswith("http://testserver/captcha/image/")


def test_the_challenge_form_checks_the_answer_once():
    from riskcontrol.forms import ChallengeForm

    challenge = challenge_new()
    assert not ChallengeForm({"challenge_key": challenge.key, "challenge_answer": "nope"}).is_valid()
    challenge = challenge_new()
    answer = CaptchaStore.objects.get(hashkey=challenge.key).response
    assert ChallengeForm({"challenge_key": challenge.key, "challenge_answer": answer}).is_valid()
    assert not ChallengeForm({"challenge_key": challenge.key, "challenge_answer": answer}).is_valid()
