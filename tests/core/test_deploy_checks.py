"""`manage.py check --deploy` in production, run as the operator runs it: a subprocess whose environment is
the README's production example (settings are read at import, so only a fresh process shows start-up)."""

import base64
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def readme_production_env() -> dict[str, str]:
    """The README's production example block, with its `<…>` placeholders filled in with fresh values."""
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- production-env -->\s*```sh\n(.*?)```\s*<!-- /production-env -->", readme, re.DOTALL)
    assert block, "README.md lost its production example environment"
    env = {}
    for line in block.group(1).splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, _sep, value = line.partition("=")
        env[name.strip()] = value.strip()

    def fill(name: str, value: str) -> str:
        if name == "SECRET_KEY":
            return secrets.token_urlsafe(50)
        if name.startswith("VAULT_"):
            return base64.b64encode(os.urandom(32)).decode()
        return re.sub(r"<[^>]*>", "placeholder", value)

    return {name: fill(name, value) for name, value in env.items()}


def suite_redis() -> dict[str, str]:
    """The README's Redis host does not exist here: the suite's own Redis stands in for it (`make test` sets
    CACHE_URL when Redis answers), so riskcontrol's check reads a real server's configuration."""
    url = os.environ.get("CACHE_URL", "")
    return {"CACHE_URL": url} if url.startswith("redis") else {}


def check_deploy(**overrides: str) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"), "LANG": "C.UTF-8"}
    env.update(readme_production_env())
    env.update(suite_redis())
    env.update(overrides)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_readme_production_example_passes_check_deploy():
    # given the README's production example, with fresh keys
    # when the operator runs check --deploy
    result = check_deploy()
    # then nothing is reported, not even a warning (without a Redis to read, only that it could not be read)
    if not suite_redis():
        assert "riskcontrol.W003" in result.stdout + result.stderr
        assert "riskcontrol.W001" not in result.stdout + result.stderr and "ERRORS" not in result.stdout + result.stderr
        return
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("overrides", "named", "check_id"),
    [
        ({"PAYMENT_SANDBOX": "true"}, "PAYMENT_SANDBOX", "settlement.E001"),
        ({"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}, "EMAIL_BACKEND", "core.E001"),
        ({"EMAIL_BACKEND": "voucherhub.core.mail.ConsoleEmailBackend"}, "EMAIL_BACKEND", "core.E001"),
        ({"REDEMPTION_SMS_BACKEND": "redemption.notify.ConsoleSmsBackend"}, "REDEMPTION_SMS_BACKEND", "redemption.E001"),
        # allowed, but Django's console backend prints messages unmasked
        (
            {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend", "CONSOLE_MESSAGES_ALLOWED": "true"},
            "EMAIL_BACKEND",
            "core.E002",
        ),
        ({"REDEMPTION_SMS_URL": "http://sms-gateway.example.com/send"}, "REDEMPTION_SMS_URL", "redemption.E003"),
    ],
)
def test_check_deploy_fails_naming_the_setting(overrides, named, check_id):
    result = check_deploy(**overrides)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert check_id in output and named in output


def test_the_sandbox_is_off_in_production_unless_set_and_the_console_backends_pass_when_allowed():
    # The sandbox stays off by default, and the masking console backends may be allowed explicitly.
    allowed = check_deploy(
        EMAIL_BACKEND="voucherhub.core.mail.ConsoleEmailBackend",
        REDEMPTION_SMS_BACKEND="redemption.notify.ConsoleSmsBackend",
        CONSOLE_MESSAGES_ALLOWED="true",
    )
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    probe = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", "from settlement.adapters import adapters_enabled; print(sorted(adapters_enabled()))"],
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"), "LANG": "C.UTF-8", **readme_production_env()},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip().splitlines()[-1] == "['manual']"
