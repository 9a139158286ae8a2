"""Factories of the customers module: parties and everything recorded about them."""

from __future__ import annotations

import datetime as dt

import factory
from django.utils import timezone

from bankcrm.customers.models import (
    Consent,
    ConsentPurpose,
    ContactPoint,
    Household,
    Identifier,
    Interaction,
    OrganisationProfile,
    Party,
    PersonProfile,
    Relationship,
    Task,
)
from bankcrm.customers.naming import search_name_of, search_pinyin_of
from bankcrm.customers.validators import resident_id_check_character, uscc_check_character

from . import OrgUnitFactory, UserFactory


def make_resident_id(birth: dt.date, region: str = "110105", sequence: int = 123) -> str:
    """A valid 18-character resident ID for ``birth`` (odd sequence: a man)."""
    body = f"{region}{birth:%Y%m%d}{sequence:03d}"
    return body + resident_id_check_character(body)


def make_uscc(body: str = "91110000MA00000") -> str:
    """A valid Unified Social Credit Code whose first 17 characters start with ``body``."""
    body = (body + "0" * 17)[:17]
    return body + uscc_check_character(body)


class HouseholdFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Household

    name = factory.Sequence(lambda n: f"Household {n}")
    owning_unit = factory.SubFactory(OrgUnitFactory)


class PartyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Party
        skip_postgeneration_save = True

    kind = Party.Kind.PERSON
    display_name = factory.Sequence(lambda n: f"张{'伟芳娜敏静丽强磊军洋'[n % 10]}{n}")
    status = Party.Status.ACTIVE
    segment = Party.Segment.MASS
    owning_unit = factory.SubFactory(OrgUnitFactory)
    portfolio = None
    search_name = factory.LazyAttribute(lambda o: search_name_of(o.display_name))
    search_pinyin = factory.LazyAttribute(lambda o: search_pinyin_of(o.display_name))


class PersonProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PersonProfile

    party = factory.SubFactory(PartyFactory)
    family_name = "Zhang"
    given_name = "Wei"
    native_name = factory.LazyAttribute(lambda o: o.party.display_name)
    date_of_birth = dt.date(1985, 3, 14)
    birth_year = 1985
    gender = PersonProfile.Gender.MALE
    nationality = "CN"


class PersonFactory(PartyFactory):
    """A party with its person profile."""

    person = factory.RelatedFactory(PersonProfileFactory, factory_related_name="party")


class OrganisationProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OrganisationProfile

    party = factory.SubFactory(
        PartyFactory, kind=Party.Kind.ORGANISATION, segment=Party.Segment.SME
    )
    legal_name = factory.LazyAttribute(lambda o: o.party.display_name)
    uscc = factory.Sequence(lambda n: make_uscc(f"9111000{n:010d}"))
    legal_form = OrganisationProfile.LegalForm.LIMITED_COMPANY


class OrganisationFactory(PartyFactory):
    """A party that is an organisation, with its profile."""

    kind = Party.Kind.ORGANISATION
    segment = Party.Segment.SME
    display_name = factory.Sequence(lambda n: f"Acme Trading {n} Ltd")
    organisation = factory.RelatedFactory(OrganisationProfileFactory, factory_related_name="party")


class IdentifierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Identifier

    party = factory.SubFactory(PartyFactory)
    type = Identifier.Type.CN_RESIDENT_ID
    number = factory.Sequence(
        lambda n: make_resident_id(dt.date(1985, 3, 14), sequence=(n % 999) + 1)
    )
    issuing_country = "CN"


class ContactPointFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ContactPoint

    party = factory.SubFactory(PartyFactory)
    kind = ContactPoint.Kind.PHONE
    value = factory.Sequence(lambda n: f"+86138{n:08d}")
    is_primary = False


class ConsentFactory(factory.django.DjangoModelFactory):
    """A granted consent; give ``contact_point`` for the channel purposes (its party is used)."""

    class Meta:
        model = Consent

    party = factory.LazyAttribute(
        lambda o: o.contact_point.party if o.contact_point is not None else PartyFactory()
    )
    purpose = ConsentPurpose.EMAIL_MARKETING
    contact_point = None
    status = Consent.Status.GRANTED
    source = "branch"
    granted_at = factory.LazyFunction(timezone.now)


class RelationshipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Relationship

    party_from = factory.SubFactory(PartyFactory)
    party_to = factory.SubFactory(
        PartyFactory, owning_unit=factory.SelfAttribute("..party_from.owning_unit")
    )
    type = Relationship.Type.SPOUSE


class InteractionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Interaction

    party = factory.SubFactory(PartyFactory)
    kind = Interaction.Kind.CALL
    direction = Interaction.Direction.OUTBOUND
    channel = Interaction.Channel.PHONE
    staff = factory.SubFactory(UserFactory)
    occurred_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(days=1))
    subject = factory.Sequence(lambda n: f"Annual review call {n}")
    body = "Discussed the term deposit renewal."


class TaskFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Task

    party = factory.SubFactory(PartyFactory)
    title = factory.Sequence(lambda n: f"Follow up {n}")
    owner = factory.SubFactory(UserFactory)
    owning_unit = factory.LazyAttribute(
        lambda o: o.party.owning_unit if o.party else o.owner.org_unit
    )
    due_on = factory.LazyFunction(lambda: timezone.localdate() + dt.timedelta(days=7))


__all__ = [
    "ContactPointFactory",
    "HouseholdFactory",
    "IdentifierFactory",
    "InteractionFactory",
    "OrganisationFactory",
    "OrganisationProfileFactory",
    "PartyFactory",
    "PersonFactory",
    "PersonProfileFactory",
    "RelationshipFactory",
    "TaskFactory",
    "make_resident_id",
    "make_uscc",
]
