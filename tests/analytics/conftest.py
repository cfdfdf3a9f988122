# The distributor tree the finance figures are built on (tests/settlement/conftest.py).
from tests.settlement.conftest import tree  # noqa: F401
