# The distributor tree the finance figures are built on (tests/settlement/conftest.py).
import pytest  # noqa: E402
from django.utils import translation  # noqa: E402

from tests import factories  # noqa: E402
from tests.settlement.conftest import tree  # noqa: F401
from voucherhub.core import roles  # noqa: E402


@pytest.fixture
def english():
    """The dashboards' labels in English, whatever the default language (the tests read them)."""
    with translation.override("en"):
        yield


@pytest.fixture
def outsiders(db):
    """A distributor's user and a merchant clerk: roles that may open neither ops' nor finance's dashboards."""
    distributor_user = factories.UserFactory(username="dist-owner", role=roles.DISTRIBUTOR)
    factories.DistributorFactory(user=distributor_user)
    merchant_user = factories.UserFactory(username="clerk", role=roles.MERCHANT)
    return distributor_user, merchant_user
