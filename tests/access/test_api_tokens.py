import datetime as dt
import hashlib

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from bankcrm.access import services
from bankcrm.access.models import ApiToken, Role
from bankcrm.audit.models import AuditEvent

from .conftest import SYSTEM, frozen_now, staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def integration(bank):
    return staff("core.banking", bank.head_office, is_service_account=True)


def test_create_stores_only_a_hash_and_authenticates(integration):
    token, raw = services.api_token_create(actor=SYSTEM, user=integration, name="Core banking")
    prefix, secret = raw.removeprefix("bk_").split(".")
    assert raw.startswith("bk_") and prefix == token.prefix and len(prefix) == 8
    stored = ApiToken.objects.get(pk=token.pk)
    assert stored.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(ApiToken.objects.values().get(pk=token.pk))
    assert services.api_token_authenticate(raw) == integration
    event = AuditEvent.objects.get(action="access.api_token_create")
    assert secret not in str(event.after) and event.changed_secrets == ["token"]


@pytest.mark.parametrize(
    "mangle",
    [
        lambda raw: raw[:-1] + ("A" if raw[-1] != "A" else "B"),
        lambda raw: raw.replace("bk_", "xx_"),
        lambda raw: raw.split(".")[0],
        lambda raw: "bk_ffffffff." + raw.split(".")[1],
        lambda raw: "",
    ],
)
def test_wrong_tokens_are_refused(integration, mangle):
    _token, raw = services.api_token_create(actor=SYSTEM, user=integration, name="t")
    assert services.api_token_authenticate(mangle(raw)) is None


def test_expiry(integration, now):
    _token, raw = services.api_token_create(
        actor=SYSTEM, user=integration, name="t", expires_at=now + dt.timedelta(days=1)
    )
    with frozen_now(now + dt.timedelta(hours=23)):
        assert services.api_token_authenticate(raw) == integration
    with frozen_now(now + dt.timedelta(days=1)):
        assert services.api_token_authenticate(raw) is None
    with pytest.raises(ValidationError) as exc:
        services.api_token_create(
            actor=SYSTEM, user=integration, name="t", expires_at=now - dt.timedelta(seconds=1)
        )
    assert exc.value.error_dict["expires_at"][0].code == "token_expiry_past"


def test_revoke_and_deactivation(bank, integration):
    token, raw = services.api_token_create(actor=SYSTEM, user=integration, name="t")
    services.api_token_revoke(actor=SYSTEM, token=token, reason="rotated")
    assert services.api_token_authenticate(raw) is None
    assert AuditEvent.objects.get(action="access.api_token_revoke").reason == "rotated"
    _token2, raw2 = services.api_token_create(actor=SYSTEM, user=integration, name="t2")
    services.user_deactivate(actor=SYSTEM, user=integration, reason="decommissioned")
    assert services.api_token_authenticate(raw2) is None


def test_last_used_is_touched_at_most_once_a_minute(integration, now):
    token, raw = services.api_token_create(actor=SYSTEM, user=integration, name="t")
    with frozen_now(now):
        services.api_token_authenticate(raw)
    assert ApiToken.objects.get(pk=token.pk).last_used_at == now
    with frozen_now(now + dt.timedelta(seconds=30)):
        services.api_token_authenticate(raw)
    assert ApiToken.objects.get(pk=token.pk).last_used_at == now
    with frozen_now(now + dt.timedelta(seconds=61)):
        services.api_token_authenticate(raw)
    assert ApiToken.objects.get(pk=token.pk).last_used_at == now + dt.timedelta(seconds=61)


def test_creating_a_token_needs_the_permission(bank, integration):
    manager = staff("bm", bank.head_office, Role.Code.BRANCH_MANAGER)
    with pytest.raises(PermissionDenied):
        services.api_token_create(actor=manager, user=integration, name="t")
    assert ApiToken.objects.count() == 0
    admin = staff("admin", bank.head_office, Role.Code.ADMINISTRATOR)
    services.api_token_create(actor=admin, user=integration, name="t")
    assert ApiToken.objects.count() == 1
