"""``bankcrm demo``: create the demo bank, once; running it again changes nothing.

The demo bank is built by a list of *seeders* (``DEMO_SEEDERS``), each a dotted path to a
function ``seed(*, actor, demo)`` run in its own transaction, in order. The first one opens
the organisation and one user per role; modules that bring their own demo data (customers,
accounts, loans …) add their seeder to the list. A seeder must be idempotent: it looks up
what exists and creates only what is missing, through the module's services, so everything
it does is in the audit trail.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, OutputWrapper
from django.db import transaction
from django.utils.module_loading import import_string

from bankcrm.access import services as access_services
from bankcrm.access.models import OrgUnit, Portfolio, Role, User
from bankcrm.core.actor import SystemActor
from bankcrm.core.context import request_context

DEMO_SEEDERS: list[str] = [
    "bankcrm.core.management.commands.demo.seed_organisation",
    "bankcrm.core.management.commands.demo.seed_staff",
    "bankcrm.integrations.demo.seed_customers",
    # Before lending: its applications are scored in underwriting by the production model.
    "bankcrm.integrations.demo_risk.seed_risk",
    "bankcrm.integrations.demo_lending.seed_lending",
    "bankcrm.integrations.demo_risk.seed_risk_monitoring",
    # The service desk: queues, agents, knowledge base, cases with their conversations.
    "bankcrm.integrations.demo_support.seed_support",
    # Marketing: consents, offers, segments, a propensity model, campaigns and their results.
    "bankcrm.integrations.demo_marketing.seed_marketing",
    # After every seeder that books: its monitoring runs over every booking made before it.
    "bankcrm.integrations.demo_compliance.seed_compliance",
    # The dashboards' snapshots of the balances and customers all the seeders made.
    "bankcrm.integrations.demo_analytics.seed_analytics",
]

DEMO_EMAIL_DOMAIN = "demo-bank.example"
PASSWORD_FILE_NAME = "demo-password.txt"

# (code, name, kind, parent code): head office > regions > branches.
DEMO_UNITS: list[tuple[str, str, str, str | None]] = [
    ("HO", "Head Office", OrgUnit.Kind.HEAD_OFFICE, None),
    ("EAST", "East China", OrgUnit.Kind.REGION, "HO"),
    ("NORTH", "North China", OrgUnit.Kind.REGION, "HO"),
    ("SH-PD", "Shanghai Pudong", OrgUnit.Kind.BRANCH, "EAST"),
    ("HZ-WL", "Hangzhou West Lake", OrgUnit.Kind.BRANCH, "EAST"),
    ("BJ-CY", "Beijing Chaoyang", OrgUnit.Kind.BRANCH, "NORTH"),
]


@dataclass(frozen=True)
class DemoUser:
    """One member of the demo bank's staff."""

    username: str
    first_name: str
    last_name: str
    role: str
    unit: str
    portfolio: str = ""  # code of the portfolio a relationship manager looks after


DEMO_STAFF: list[DemoUser] = [
    DemoUser("admin", "Ming", "Gao", Role.Code.ADMINISTRATOR, "HO"),
    DemoUser("rm.zhang", "Wei", "Zhang", Role.Code.RELATIONSHIP_MANAGER, "SH-PD", "PF-SH-PD-01"),
    DemoUser("rm.sun", "Li", "Sun", Role.Code.RELATIONSHIP_MANAGER, "BJ-CY", "PF-BJ-CY-01"),
    DemoUser("bm.li", "Na", "Li", Role.Code.BRANCH_MANAGER, "SH-PD"),
    DemoUser("lo.wang", "Fang", "Wang", Role.Code.LOAN_OFFICER, "HZ-WL"),
    DemoUser("lo.chen", "Jie", "Chen", Role.Code.LOAN_OFFICER, "SH-PD"),
    DemoUser("bm.he", "Lin", "He", Role.Code.BRANCH_MANAGER, "HZ-WL"),
    DemoUser("ca.zhao", "Lei", "Zhao", Role.Code.CREDIT_ANALYST, "HO"),
    DemoUser("mr.wang", "Hui", "Wang", Role.Code.MODEL_RISK_OFFICER, "HO"),
    DemoUser("co.chen", "Jing", "Chen", Role.Code.COMPLIANCE_OFFICER, "HO"),
    DemoUser("sa.liu", "Yang", "Liu", Role.Code.SERVICE_AGENT, "SH-PD"),
    DemoUser("mm.huang", "Min", "Huang", Role.Code.MARKETING_MANAGER, "HO"),
    # The second marketing manager approves the first one's campaigns (maker-checker).
    DemoUser("mm.xie", "Lan", "Xie", Role.Code.MARKETING_MANAGER, "HO"),
    DemoUser("au.zhou", "Qiang", "Zhou", Role.Code.AUDITOR, "HO"),
    DemoUser("ex.lin", "Hao", "Lin", Role.Code.EXECUTIVE, "HO"),
]


@dataclass
class DemoRun:
    """What the seeders share: the password of demo users, and what was created."""

    password: str
    stdout: OutputWrapper
    created: list[str] = field(default_factory=list)
    # ``--customers N --seed S --as-of DATE``: how many demo customers, from which seed.
    customers: int = 0
    seed: int = 1
    as_of: dt.date | None = None

    def note(self, what: str) -> None:
        self.created.append(what)


def demo_password(var_dir: Path) -> tuple[str, str]:
    """The demo users' password and where it comes from.

    ``BANKCRM_DEMO_PASSWORD`` wins; otherwise a random one is made once and kept in
    ``var/demo-password.txt`` (mode 0600), so each run prints the same logins.
    """
    from_env = os.environ.get("BANKCRM_DEMO_PASSWORD", "")
    if from_env:
        return from_env, "BANKCRM_DEMO_PASSWORD"
    path = var_dir / PASSWORD_FILE_NAME
    if path.exists():
        return path.read_text().strip(), str(path)
    var_dir.mkdir(parents=True, exist_ok=True)
    # Upper and lower case, digits and a symbol: meets the bank's password policy.
    password = f"Demo-{secrets.token_hex(4)}-{secrets.token_hex(4).upper()}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(password + "\n")
    return password, str(path)


def seed_organisation(*, actor: SystemActor, demo: DemoRun) -> None:
    """Head Office, two regions and three branches."""
    for code, name, kind, parent_code in DEMO_UNITS:
        if OrgUnit.objects.filter(code=code).exists():
            continue
        parent = OrgUnit.objects.get(code=parent_code) if parent_code else None
        access_services.org_unit_create(actor=actor, code=code, name=name, kind=kind, parent=parent)
        demo.note(f"unit {code}")


def seed_staff(*, actor: SystemActor, demo: DemoRun) -> None:
    """One user per role (two relationship managers, in different regions), and portfolios."""
    roles = {role.code: role for role in Role.objects.all()}
    for person in DEMO_STAFF:
        role = roles.get(person.role)
        if role is None:
            raise CommandError(
                f"The role {person.role} does not exist: run `bankcrm migrate` first."
            )
        unit = OrgUnit.objects.get(code=person.unit)
        user = User.objects.filter(username=person.username).first()
        if user is None:
            user = access_services.user_create(
                actor=actor,
                username=person.username,
                password=demo.password,
                org_unit=unit,
                roles=[role],
                email=f"{person.username}@{DEMO_EMAIL_DOMAIN}",
                first_name=person.first_name,
                last_name=person.last_name,
                must_change_password=False,
                roles_reason="Demo bank",
            )
            demo.note(f"user {person.username}")
        else:
            if set(user.roles.values_list("code", flat=True)) != {role.code}:
                access_services.user_roles_set(
                    actor=actor, user=user, roles=[role], reason="Demo bank"
                )
                demo.note(f"roles of {person.username}")
            if not user.check_password(demo.password):
                # The printed logins must work: bring the password back to the demo one.
                access_services.user_password_set(
                    actor=actor, user=user, password=demo.password, must_change_password=False
                )
                demo.note(f"password of {person.username}")
        if person.portfolio and not Portfolio.objects.filter(code=person.portfolio).exists():
            access_services.portfolio_create(
                actor=actor,
                code=person.portfolio,
                name=f"{person.first_name} {person.last_name} — {unit.name}",
                manager=user,
                org_unit=unit,
            )
            demo.note(f"portfolio {person.portfolio}")


class Command(BaseCommand):
    help = "Create the demo bank (organisation, one user per role, portfolios); idempotent."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--customers",
            type=int,
            default=0,
            help="Also generate this many customers with accounts and a year of transactions.",
        )
        parser.add_argument(
            "--seed", type=int, default=1, help="Seed of the customer generator (default 1)."
        )
        parser.add_argument(
            "--as-of",
            type=dt.date.fromisoformat,
            default=None,
            help="Last day of the generated year of transactions (default: today).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        password, source = demo_password(settings.VAR_DIR)
        demo = DemoRun(
            password=password,
            stdout=self.stdout,
            customers=options.get("customers") or 0,
            seed=options.get("seed", 1),
            as_of=options.get("as_of"),
        )
        actor = SystemActor("demo")
        with request_context(channel="command"):
            for dotted in DEMO_SEEDERS:
                seeder: Callable[..., None] = import_string(dotted)
                try:
                    with transaction.atomic():
                        seeder(actor=actor, demo=demo)
                except ValidationError as exc:
                    raise CommandError(f"{dotted}: {_validation_text(exc)}") from exc

        if demo.created:
            self.stdout.write(f"Demo bank: {len(demo.created)} change(s) made.")
            if options["verbosity"] > 1:
                for item in demo.created:
                    self.stdout.write(f"  {item}")
        else:
            self.stdout.write("Demo bank: already in place, nothing changed.")
        self._print_logins(password, source)

    def _print_logins(self, password: str, source: str) -> None:
        users = {
            user.username: user
            for user in User.objects.filter(username__in=[p.username for p in DEMO_STAFF])
            .select_related("org_unit")
            .prefetch_related("roles")
        }
        rows = [("username", "role", "unit", "MFA required?")]
        for person in DEMO_STAFF:
            user = users[person.username]
            roles = list(user.roles.all())
            mfa = any(role.requires_mfa for role in roles)
            rows.append(
                (
                    user.username,
                    ", ".join(str(role.name) for role in roles),
                    user.org_unit.name if user.org_unit else "",
                    "yes (enrol at first sign-in)" if mfa else "no",
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        url = f"http://127.0.0.1:{settings.PORT}/"
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"bankcrm demo: open {url}"))
        self.stdout.write("")
        for index, row in enumerate(rows):
            self.stdout.write("  " + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)))
            if index == 0:
                self.stdout.write("  " + "  ".join("-" * width for width in widths))
        self.stdout.write("")
        self.stdout.write(f"  password for every demo user: {password}")
        self.stdout.write(f"  (from {source})")
        self.stdout.write("")


def _validation_text(exc: ValidationError) -> str:
    if hasattr(exc, "message_dict"):
        return "; ".join(f"{key}: {' '.join(msgs)}" for key, msgs in exc.message_dict.items())
    return " ".join(exc.messages)
