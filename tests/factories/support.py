"""Factories of the customer service module: queues, their agents and case types.

Cases themselves are made through ``case_create`` (the service) in tests, so that
references, workflow state, SLA dues and audit are those of real cases.
"""

from __future__ import annotations

import factory

from bankcrm.support.models import CaseType, Queue, QueueMember

from . import OrgUnitFactory, UserFactory


class CaseTypeFactory(factory.django.DjangoModelFactory):
    """A case type; the seeded ones (inquiry, complaint …) are returned when the code exists."""

    class Meta:
        model = CaseType
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"type_{n}")
    name = factory.LazyAttribute(lambda o: o.code.replace("_", " ").capitalize())
    workflow_key = factory.LazyAttribute(lambda o: f"support_{o.code}")
    sla_pause_states = factory.LazyFunction(lambda: ["waiting_on_customer"])


class QueueFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Queue

    code = factory.Sequence(lambda n: f"queue_{n}")
    name = factory.Sequence(lambda n: f"Queue {n}")
    org_unit = factory.SubFactory(OrgUnitFactory)
    assignment = Queue.Assignment.ROUND_ROBIN


class QueueMemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = QueueMember

    queue = factory.SubFactory(QueueFactory)
    user = factory.SubFactory(UserFactory)
    is_available = True
