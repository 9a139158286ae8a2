"""Factories shared by every test module."""

from __future__ import annotations

import factory
from django.contrib.auth.hashers import make_password

from bankcrm.access.models import OrgUnit, Portfolio, Role, User

DEFAULT_PASSWORD = "Correct-Horse-9-Battery"
_HASHED_DEFAULT_PASSWORD: list[str] = []


def hashed_default_password() -> str:
    # Argon2 is deliberately slow: hash the shared test password once per run.
    if not _HASHED_DEFAULT_PASSWORD:
        _HASHED_DEFAULT_PASSWORD.append(make_password(DEFAULT_PASSWORD))
    return _HASHED_DEFAULT_PASSWORD[0]


class OrgUnitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OrgUnit
        skip_postgeneration_save = True

    code = factory.Sequence(lambda n: f"U{n:04d}")
    name = factory.Sequence(lambda n: f"Unit {n}")
    kind = OrgUnit.Kind.BRANCH
    parent = None

    @factory.post_generation
    def path(self, create, extracted, **kwargs):
        # The materialised path holds the unit's own key, as org_unit_create sets it, so
        # scoped querysets see factory units exactly like real ones.
        if create and not self.path:
            self.path = f"{self.parent.path if self.parent else '/'}{self.pk}/"
            OrgUnit.objects.filter(pk=self.pk).update(path=self.path)


class RoleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Role
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"role_{n}")
    name = factory.LazyAttribute(lambda o: o.code.replace("_", " ").title())
    permissions = factory.LazyFunction(list)
    data_scope = Role.DataScope.UNIT


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = "Test"
    last_name = factory.Sequence(lambda n: f"User{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@bank.example")
    password = factory.LazyFunction(hashed_default_password)
    org_unit = factory.SubFactory(OrgUnitFactory)

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        if create and extracted:
            self.roles.set(extracted)


class PortfolioFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Portfolio

    code = factory.Sequence(lambda n: f"P{n:04d}")
    name = factory.Sequence(lambda n: f"Portfolio {n}")
    manager = factory.SubFactory(UserFactory)
    org_unit = factory.LazyAttribute(lambda o: o.manager.org_unit)
