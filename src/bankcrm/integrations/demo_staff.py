"""Staff that a module's demo seeder needs beyond the one user per role ``bankcrm demo``
opens: a second officer where an action needs two people (maker-checker)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from bankcrm.access import services as access_services
from bankcrm.access.models import OrgUnit, Role, User


def demo_user(username: str) -> User | None:
    return User.objects.filter(username=username, is_active=True).first()


def staff_ensure(
    *,
    actor: Any,
    demo: Any,
    role_code: str,
    people: Iterable[tuple[str, str, str, str]],
    counts: Counter[str],
    label: str,
) -> list[User]:
    """The users ``(username, first name, last name, unit code)`` of a role, each opened with
    the demo password when missing; ``counts[label]`` counts the opened ones."""
    role = Role.objects.filter(code=role_code).first()
    users = []
    for username, first, last, unit_code in people:
        user = demo_user(username)
        unit = OrgUnit.objects.filter(code=unit_code).first()
        if user is None and role is not None and unit is not None:
            user = access_services.user_create(
                actor=actor,
                username=username,
                password=demo.password,
                org_unit=unit,
                roles=[role],
                email=f"{username}@demo-bank.example",
                first_name=first,
                last_name=last,
                must_change_password=False,
                roles_reason="Demo bank",
            )
            counts[label] += 1
        if user is not None:
            users.append(user)
    return users
