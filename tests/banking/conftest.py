"""The banking tests use the customers tests' small bank: two branches, their RMs and customers."""

from tests.customers.conftest import Bank, bank

__all__ = ["Bank", "bank"]
