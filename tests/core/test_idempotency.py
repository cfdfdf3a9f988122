"""The one idempotency helper: a replay gets the first answer, another body a 409, records of before are recognised."""

import hashlib
import json

import pytest

from voucherhub.core.errors import IdempotencyConflict
from voucherhub.core.idempotency import idempotent_answer, request_canonical, request_fingerprint
from voucherhub.core.models import IdempotencyRecord

pytestmark = pytest.mark.django_db


def _fp(body, **kwargs):
    return request_fingerprint(scope="t", body=json.dumps(body).encode(), **kwargs)


def test_a_replay_gets_the_first_answer_and_runs_nothing():
    runs = []

    def work():
        runs.append(1)
        return 201, {"n": len(runs)}, 42

    first = idempotent_answer(scope="t:1", key="k", fingerprint=_fp({"a": 1}), work=work)
    again = idempotent_answer(scope="t:1", key="k", fingerprint=_fp({"a": 1}), work=work)
    assert (first.status_code, first.body, first.replayed, first.reference_id) == (201, {"n": 1}, False, 42)
    assert (again.status_code, again.body, again.replayed, again.reference_id) == (201, {"n": 1}, True, 42)
    assert again.headers == {"Idempotent-Replayed": "true"} and runs == [1]


def test_another_body_under_the_key_is_refused():
    idempotent_answer(scope="t:1", key="k", fingerprint=_fp({"a": 1}), work=lambda: (201, {}))
    with pytest.raises(IdempotencyConflict):
        idempotent_answer(scope="t:1", key="k", fingerprint=_fp({"a": 2}), work=lambda: (201, {}))


def test_the_fingerprint_is_keyed_and_ignores_key_order_spaces_and_ignored_fields():
    assert _fp({"a": 1, "b": 2}) == request_fingerprint(scope="t", body=b'{ "b": 2,  "a": 1 }')
    assert _fp({"a": 1, "answer": "x"}, ignore=["answer"]) == _fp({"a": 1})
    assert _fp({"a": 1}) != hashlib.sha256(request_canonical(b'{"a": 1}').encode()).hexdigest()


def test_a_record_copied_from_before_is_recognised_by_its_old_fingerprint():
    old = hashlib.sha256(b'{"a":1}').hexdigest()
    IdempotencyRecord.objects.create(scope="t:1", key="k", fingerprint=old, fingerprint_legacy=True, status_code=201, response={"n": 1})
    legacy = lambda: hashlib.sha256(request_canonical(b'{"a": 1}').encode()).hexdigest()  # noqa: E731
    answer = idempotent_answer(scope="t:1", key="k", fingerprint=_fp({"a": 1}), work=lambda: (500, {}), legacy_fingerprint=legacy)
    assert answer.replayed and answer.body == {"n": 1}
    with pytest.raises(IdempotencyConflict):  # without its old scheme, or with another body, it is another request
        idempotent_answer(scope="t:1", key="k", fingerprint=_fp({"a": 1}), work=lambda: (500, {}))
    with pytest.raises(IdempotencyConflict):
        idempotent_answer(
            scope="t:1",
            key="k",
            fingerprint=_fp({"a": 2}),
            work=lambda: (500, {}),
            legacy_fingerprint=lambda: hashlib.sha256(b"x").hexdigest(),
        )


def test_a_new_record_is_never_matched_by_an_old_fingerprint():
    idempotent_answer(scope="t:1", key="k", fingerprint=_fp({"a": 1}), work=lambda: (201, {}))
    with pytest.raises(IdempotencyConflict):
        idempotent_answer(scope="t:1", key="k", fingerprint=_fp({"a": 2}), work=lambda: (201, {}), legacy_fingerprint=lambda: _fp({"a": 1}))
