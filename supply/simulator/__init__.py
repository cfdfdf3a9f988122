"""The supplier simulator (a real HTTP server speaking the gateway, V2 and voucherhub protocols, with faults)."""

from supply.simulator.faults import Faults
from supply.simulator.server import SupplierSimulator

__all__ = ["Faults", "SupplierSimulator"]
