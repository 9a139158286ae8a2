import pytest

from bankcrm.audit.chain import GENESIS_HASH, row_hash
from bankcrm.audit.models import AuditEvent
from bankcrm.audit.services import audit_record, event_fields
from bankcrm.core.actor import SystemActor
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_events_link_each_to_the_previous_hash():
    user = UserFactory()
    first = audit_record(
        actor=user, action="customer.create", target=user, after={"name": "Li Wei"}
    )
    second = audit_record(actor=SystemActor("nightly"), action="job.run", reason="batch")
    assert (first.pk, second.pk) == (1, 2)
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.row_hash
    stored = AuditEvent.objects.get(pk=2)
    assert stored.actor == "system:nightly"
    assert row_hash(first.row_hash, event_fields(stored)) == stored.row_hash
