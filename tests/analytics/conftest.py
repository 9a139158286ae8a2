"""Shared fixtures of the analytics tests: the customers' two-branch bank (``bank``), the
early-warning fixture (``warning_bank``), the RFM fixture (``rfm_bank``) and the Berka
PKDD'99 folder of the shared data (``berka_dir``, skipped when absent outside CI)."""

from __future__ import annotations

from tests.analytics.test_early_warning import warning_bank  # noqa: F401  (re-exported fixture)
from tests.analytics.test_rfm import rfm_bank  # noqa: F401  (re-exported fixture)
from tests.customers.conftest import Bank, bank  # noqa: F401  (re-exported fixture)
from tests.integrations.conftest import berka_dir  # noqa: F401  (re-exported fixture)
