from tests.api.conftest import SETUP, admin_user, clerk_user  # noqa: F401

MODEL = "testapp.customisedrecord"
