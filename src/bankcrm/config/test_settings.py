"""Settings for the test suite: the normal settings plus the test-only models app.

``tests.testapp`` holds small concrete models (with encrypted fields, workflow subjects …)
that exercise the kernel's mechanisms before any business module uses them.
"""

from .settings import *  # noqa: F403
from .settings import INSTALLED_APPS, STATIC_ROOT, VAR_DIR, env

INSTALLED_APPS = [*INSTALLED_APPS, "tests.testapp"]

# Tests use their own keyring so that rotation tests never touch the instance's keys.
KEYRING = env("TEST_KEYRING") or str(VAR_DIR / "test-keyring.json")

# whitenoise scans STATIC_ROOT when the app starts and warns in every test that uses the
# client if the folder is missing; `bankcrm serve` creates it the same way.
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
