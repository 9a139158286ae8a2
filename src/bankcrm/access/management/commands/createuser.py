"""``bankcrm createuser``: open a staff account from the command line (first administrator).

    bankcrm createuser ada --role administrator --unit HO --create-unit "Head Office" \
        --email ada@bank.example --password-stdin < password.txt

The password is read from standard input (``--password-stdin``) or asked twice at the
terminal; it is never an argument, so it stays out of shell history and process lists.
Roles are given at once (the command acts as the system, recorded as
``system:createuser`` in the audit trail); people grant roles later through approvals.
"""

from __future__ import annotations

import getpass
import sys
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from bankcrm.access import services
from bankcrm.access.models import OrgUnit, Role
from bankcrm.core.actor import SystemActor
from bankcrm.core.context import request_context

ACTOR = SystemActor("createuser")


class Command(BaseCommand):
    help = "Create a staff user with roles in an organisation unit."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--role",
            action="append",
            dest="roles",
            default=[],
            metavar="CODE",
            help="Role code, repeatable: " + ", ".join(Role.Code.values),
        )
        parser.add_argument("--unit", required=True, metavar="CODE", help="Org unit code.")
        parser.add_argument(
            "--create-unit",
            metavar="NAME",
            default="",
            help="Open the unit as a head office with this name if it does not exist yet.",
        )
        parser.add_argument("--email", default="")
        parser.add_argument("--first-name", default="")
        parser.add_argument("--last-name", default="")
        parser.add_argument("--language", default="", choices=["", "en", "zh-hans"])
        parser.add_argument("--timezone", default="", help="IANA name, e.g. Asia/Shanghai.")
        parser.add_argument(
            "--password-stdin",
            action="store_true",
            help="Read the password from the first line of standard input.",
        )
        parser.add_argument(
            "--must-change-password",
            action="store_true",
            help="Make the user choose a new password at first sign-in.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        password = self._read_password(options["password_stdin"])
        codes = sorted(set(options["roles"]))
        roles = list(Role.objects.filter(code__in=codes))
        unknown = sorted(set(codes) - {role.code for role in roles})
        if unknown:
            raise CommandError(
                f"Unknown role(s): {', '.join(unknown)}. Known roles: "
                + ", ".join(Role.objects.order_by("code").values_list("code", flat=True))
            )
        with request_context(channel="command"):
            try:
                with transaction.atomic():
                    unit = self._unit(options["unit"], options["create_unit"])
                    user = services.user_create(
                        actor=ACTOR,
                        username=options["username"],
                        password=password,
                        org_unit=unit,
                        roles=roles,
                        email=options["email"],
                        first_name=options["first_name"],
                        last_name=options["last_name"],
                        language=options["language"],
                        timezone=options["timezone"],
                        must_change_password=options["must_change_password"],
                        roles_reason="createuser command",
                    )
            except ValidationError as exc:
                raise CommandError(_validation_text(exc)) from exc
        role_text = ", ".join(sorted(role.code for role in roles)) or "no role"
        self.stdout.write(
            self.style.SUCCESS(f"Created user {user.username} in {unit.code} ({role_text}).")
        )
        if any(role.requires_mfa for role in roles):
            self.stdout.write("Two-factor authentication will be set up at first sign-in.")

    def _unit(self, code: str, create_name: str) -> OrgUnit:
        unit = OrgUnit.objects.filter(code=code).first()
        if unit is not None:
            return unit
        if not create_name:
            raise CommandError(
                f"No organisation unit has the code {code!r}. Give an existing code, or add "
                f'--create-unit "Head Office" to open it as the head office.'
            )
        return services.org_unit_create(
            actor=ACTOR, code=code, name=create_name, kind=OrgUnit.Kind.HEAD_OFFICE
        )

    def _read_password(self, from_stdin: bool) -> str:
        if from_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
            if not password:
                raise CommandError("No password on standard input.")
            return password
        if not sys.stdin.isatty():
            raise CommandError(
                "No terminal to ask for the password: pass --password-stdin and pipe it in."
            )
        first = getpass.getpass("Password: ")
        second = getpass.getpass("Password (again): ")
        if first != second:
            raise CommandError("The two passwords differ.")
        return first


def _validation_text(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return "\n".join(
            f"{field}: {message}"
            for field, messages in exc.message_dict.items()
            for message in messages
        )
    return "\n".join(exc.messages)
