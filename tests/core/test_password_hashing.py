"""The project's own password hashing, which the rest of the suite swaps for a fast one (tests/conftest.py)."""

import pytest
from django.contrib.auth.hashers import check_password, make_password


@pytest.mark.real_password_hashing
def test_passwords_are_stored_with_a_slow_salted_hash_and_still_check():
    stored = make_password("correct-horse-battery-staple")
    algorithm, rounds, _salt, _digest = stored.split("$")
    assert algorithm in {"pbkdf2_sha256", "argon2", "scrypt", "bcrypt_sha256"} and int(rounds) >= 600_000
    assert check_password("correct-horse-battery-staple", stored) and not check_password("correct-horse-battery", stored)
    assert make_password("correct-horse-battery-staple") != stored  # salted: never the same twice


@pytest.mark.real_password_hashing
def test_a_user_created_by_the_factories_has_the_slow_hash(db):
    from tests import factories

    user = factories.UserFactory()
    assert user.password.startswith("pbkdf2_sha256$")


def test_the_rest_of_the_suite_hashes_fast(db):
    from tests import factories

    assert factories.UserFactory().password.startswith("md5$")
