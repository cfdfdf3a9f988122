"""Supplier protocol adapters: one module per protocol behind the interface of supply.adapters.base."""

from supply.adapters.base import adapter_for

__all__ = ["adapter_for"]
