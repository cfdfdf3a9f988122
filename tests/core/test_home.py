import pytest
from django.urls import reverse

from tests import factories
from tests.factories import PASSWORD
from voucherhub.core import roles

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("role", "landing"),
    [(roles.OPS, "dashboards:ops-home"), (roles.FINANCE, "dashboards:finance-home")],
)
def test_login_lands_on_the_role_home(client, role, landing):
    # given a user of the role
    factories.UserFactory(username="someone", role=role)
    # when it logs in through the login page
    response = client.post(reverse("login"), {"username": "someone", "password": PASSWORD}, follow=True)
    # then it ends on its own home page
    assert response.redirect_chain[-1][0] == reverse(landing)
    assert response.status_code == 200


def test_user_without_role_lands_on_account(client):
    factories.UserFactory(username="plain")
    response = client.post(reverse("login"), {"username": "plain", "password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("account")


def test_wrong_password_shows_a_form_error(client):
    factories.UserFactory(username="someone", role=roles.OPS)
    response = client.post(reverse("login"), {"username": "someone", "password": "nope"})
    assert response.status_code == 200
    assert response.context["form"].errors


def test_ops_home_is_refused_to_finance(finance_client):
    assert finance_client.get(reverse("dashboards:ops-home")).status_code == 403


def test_anonymous_is_sent_to_login(client):
    response = client.get(reverse("dashboards:ops-home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_ops_home_shows_stock_and_low_stock_alert(ops_client):
    sku = factories.SkuFactory(code="LOW-1", low_stock_threshold=5)
    response = ops_client.get(reverse("dashboards:ops-home"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "LOW-1" in body
    assert 'data-testid="low-stock-alert"' in body
    assert sku.name in body


@pytest.mark.parametrize(("language", "text"), [("zh-hans", "库存"), ("en", "Stock by SKU")])
def test_ops_home_speaks_both_languages(ops_client, language, text):
    ops_client.post(reverse("set_language"), {"language": language, "next": "/"})
    response = ops_client.get(reverse("dashboards:ops-home"))
    assert text in response.content.decode()


def test_password_change_page(ops_client):
    assert ops_client.get(reverse("password_change")).status_code == 200


def login(client, username: str, password: str):
    return client.post(reverse("login"), {"username": username, "password": password})


def test_logout_logs_out_and_redirects_to_the_login_page(client):
    factories.UserFactory(username="someone", role=roles.OPS)
    assert login(client, "someone", PASSWORD).status_code == 302
    assert client.get(reverse("dashboards:ops-home")).status_code == 200
    # a link cannot log anyone out (GET), only the form's POST does
    assert client.get(reverse("logout")).status_code == 405
    response = client.post(reverse("logout"))
    assert response.status_code == 302 and response["Location"] == reverse("login")
    assert "_auth_user_id" not in client.session
    after = client.get(reverse("dashboards:ops-home"))
    assert after.status_code == 302 and after["Location"].startswith(reverse("login"))


NEW_PASSWORD = "Lantern-Orchid-7295"


def test_password_change_takes_the_new_password(client):
    user = factories.UserFactory(username="someone", role=roles.OPS)
    login(client, "someone", PASSWORD)
    response = client.post(
        reverse("password_change"), {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert response.status_code == 302 and response["Location"] == reverse("password_change_done")
    assert client.get(reverse("dashboards:ops-home")).status_code == 200  # still signed in on this browser
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD) and not user.check_password(PASSWORD)
    # through the login page: the old password no longer works, the new one does
    client.post(reverse("logout"))
    refused = login(client, "someone", PASSWORD)
    assert refused.status_code == 200 and refused.context["form"].errors
    assert login(client, "someone", NEW_PASSWORD).status_code == 302
    assert client.get(reverse("dashboards:ops-home")).status_code == 200


def test_password_change_with_a_wrong_old_password_is_a_form_error(ops_client, ops_user):
    response = ops_client.post(
        reverse("password_change"), {"old_password": "not-my-password", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert response.status_code == 200
    assert list(response.context["form"].errors) == ["old_password"]
    ops_user.refresh_from_db()
    assert ops_user.check_password(PASSWORD) and not ops_user.check_password(NEW_PASSWORD)


def test_roles_are_groups_with_permissions():
    from django.contrib.auth.models import Group

    roles.roles_sync()
    ops = Group.objects.get(name=roles.OPS)
    assert ops.permissions.filter(codename="view_auditlog").exists()
    assert set(Group.objects.values_list("name", flat=True)) >= set(roles.ROLE_ORDER)


def test_ops_home_links_the_audit_log_and_ops_may_open_it(ops_client):
    body = ops_client.get(reverse("dashboards:ops-home")).content.decode()
    audit = reverse("admin:core_auditlog_changelist")
    assert 'data-testid="audit-log-link"' in body and f'href="{audit}"' in body
    assert ops_client.get(audit).status_code == 200
