"""``bankcrm risk <action>``: credit models from the command line.

``bankcrm risk train --data FILE --target COLUMN --bad VALUE …``
    train on a CSV (plain or gzipped, separator sniffed) and register the result as a draft
    version; progress goes to stderr, and stdout gets exactly one JSON line::

        {"name": "german-credit", "version": 1, "method": "scorecard", "status": "draft",
         "auc_cv_mean": 0.80, "auc_cv_std": 0.03, "gini": 0.60, "ks": 0.47, "rows": 1000,
         "bad_rate": 0.3}

    With ``--method both`` the line is the scorecard's (the champion) and holds the
    gradient-boosting challenger (registered as ``NAME-gbm``) under ``"challenger"``.
``bankcrm risk list [--status S] [--purpose P] [--name N] [--json]``
``bankcrm risk show NAME [--version N]``  (one JSON document)
``bankcrm risk card NAME [--version N] --out FILE.html|FILE.pdf``
``bankcrm risk validate|approve NAME --version N --user USERNAME --note TEXT``
``bankcrm risk promote|retire NAME --version N --user USERNAME --reason TEXT``
``bankcrm risk shadow NAME --version N --user USERNAME --on|--off --reason TEXT``

The acting person is ``--user`` (an active user; governance steps need one, and the usual
rules apply: a developer never validates or approves their own model, promotion needs a
second person). Without ``--user``, training and reading act as the system job
``system:risk-cli``, so a model trained that way has no developer on record. Every change is
audited (channel ``command``). Bad options or input stop the command with a message naming
each one, exit status 1, and change nothing.

Other risk actions plug in as *action groups*: a pair ``(add, handle)`` where
``add(actions)`` adds sub-parsers to the ``argparse`` sub-parsers object and
``handle(command, options) -> bool`` runs the action named ``options["action"]`` (False when
it is not one of its own). ``command`` offers ``actor(options)``, ``emit(data)`` (one JSON
line on stdout), ``progress(text)`` (stderr) and ``stop(exc)`` (a CommandError naming the
options at fault). List the pair in ``ACTION_GROUPS``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404
from django.utils.translation import gettext as _

from bankcrm.core.actor import SystemActor
from bankcrm.core.context import request_context
from bankcrm.core.models.approvals import PendingApproval
from bankcrm.risk.commands_dataset import add_dataset_actions, handle_dataset_action
from bankcrm.risk.commands_scoring import add_scoring_actions, handle_scoring_action
from bankcrm.risk.models import ModelVersion, Purpose

CLI_ACTOR = SystemActor("risk-cli")

# The option that carries each service field, to name it in error messages.
OPTION_OF_FIELD = {
    "data": "--data",
    "target": "--target",
    "bad": "--bad",
    "exclude": "--exclude",
    "name": "--name",
    "method": "--method",
    "purpose": "--purpose",
    "pdo": "--pdo",
    "base_score": "--base-score",
    "base_odds": "--base-odds",
    "folds": "--folds",
    "repeats": "--repeats",
    "monotone": "--monotone",
    "note": "--note",
    "reason": "--reason",
    "version": "--version",
}

SUMMARY_METRICS = ("auc_cv_mean", "auc_cv_std", "gini", "ks", "rows", "bad_rate")

AddActions = Callable[[Any], None]
HandleAction = Callable[["Command", Mapping[str, Any]], bool]


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4) if math.isfinite(value) else None
    return value


def training_summary(version: ModelVersion) -> dict[str, Any]:
    """The one-line result of a training run for ``version``."""
    metrics = version.metrics or {}
    summary: dict[str, Any] = {
        "name": version.name,
        "version": version.version,
        "method": version.method,
        "status": version.status,
    }
    for key in SUMMARY_METRICS:
        summary[key] = _rounded(metrics.get(key))
    return summary


def _user_argument(parser: CommandParser, *, required: bool) -> None:
    parser.add_argument(
        "--user",
        required=required,
        metavar="USERNAME",
        help=_("The person acting (an active user)."),
    )


def _version_arguments(parser: CommandParser, *, required: bool) -> None:
    parser.add_argument("name", metavar="NAME", help=_("The model's name."))
    parser.add_argument(
        "--version",
        type=int,
        required=required,
        metavar="N",
        help=_("The version number")
        if required
        else _("The version number (default: the one in production, else the newest)."),
    )


# --- The registry's actions -------------------------------------------------------------------


def add_registry_actions(actions: Any) -> None:
    """Add train, list, show, card and the governance steps to ``bankcrm risk``."""
    train = actions.add_parser(
        "train",
        help="Train a credit model on a CSV file and register it as a draft.",
        description=(
            "Train a WoE scorecard (and/or a LightGBM challenger) on any CSV with a binary "
            "outcome, evaluate it by repeated stratified cross-validation and register it "
            "with its model card. Progress goes to stderr; one JSON line to stdout."
        ),
    )
    train.add_argument("--data", required=True, metavar="FILE", help="CSV file, plain or .gz.")
    train.add_argument("--target", required=True, metavar="COLUMN", help="The outcome column.")
    train.add_argument(
        "--bad",
        required=True,
        action="extend",
        nargs="+",
        metavar="VALUE",
        help="Target value(s) meaning bad (repeatable).",
    )
    train.add_argument(
        "--exclude", action="extend", nargs="+", default=[], metavar="COL", help="Columns left out."
    )
    train.add_argument(
        "--name", default="", help="Model name (default: the file's name, as a slug)."
    )
    train.add_argument(
        "--method",
        choices=("scorecard", "gbm", "both"),
        default="scorecard",
        help="scorecard (default), gbm, or both (the challenger is registered as NAME-gbm).",
    )
    train.add_argument(
        "--purpose", choices=Purpose.values, default=Purpose.APPLICATION, help="What it scores."
    )
    train.add_argument("--description", default="", help="What the model is for.")
    train.add_argument("--pdo", type=float, default=20.0, help="Points to double the odds (20).")
    train.add_argument(
        "--base-score", type=float, default=600.0, help="Score at the base odds (600)."
    )
    train.add_argument(
        "--base-odds", type=float, default=50.0, help="Good:bad odds at the base score (50)."
    )
    train.add_argument("--folds", type=int, default=5, help="Cross-validation folds (5).")
    train.add_argument("--repeats", type=int, default=5, help="Cross-validation repeats (5).")
    train.add_argument("--seed", type=int, default=None, help="Random seed (42).")
    train.add_argument(
        "--monotone",
        action="extend",
        nargs="+",
        default=[],
        metavar="COL=ascending|descending",
        help="Declared risk trend of a column (ascending: risk rises with the value).",
    )
    for option, what in (
        ("--date", "Date columns to use (ignored unless declared)."),
        ("--categorical", "Columns to treat as categories."),
        ("--numeric", "Columns to treat as numbers."),
    ):
        train.add_argument(option, action="extend", nargs="+", default=[], metavar="COL", help=what)
    _user_argument(train, required=False)

    listing = actions.add_parser("list", help="List model versions.")
    listing.add_argument("--status", action="append", choices=ModelVersion.Status.values)
    listing.add_argument("--purpose", choices=Purpose.values)
    listing.add_argument("--name")
    listing.add_argument("--json", action="store_true", help="One JSON array instead of a table.")
    _user_argument(listing, required=False)

    show = actions.add_parser("show", help="Print one model version as JSON.")
    _version_arguments(show, required=False)
    _user_argument(show, required=False)

    card = actions.add_parser("card", help="Write a model version's card (HTML or PDF).")
    _version_arguments(card, required=False)
    card.add_argument("--out", required=True, metavar="FILE", help="FILE.html or FILE.pdf.")
    _user_argument(card, required=False)

    for action, text, note in (
        ("validate", "Record the independent validation of a draft.", "--note"),
        ("approve", "Approve a validated version for use.", "--note"),
        ("promote", "Ask for (or approve) the promotion of an approved version.", "--reason"),
        ("retire", "Take a version out of use.", "--reason"),
        ("shadow", "Let an approved version score in shadow, or stop it.", "--reason"),
    ):
        step = actions.add_parser(action, help=text, description=text)
        _version_arguments(step, required=True)
        _user_argument(step, required=True)
        step.add_argument(note, required=True, help="Why (recorded in the audit trail).")
        if action == "shadow":
            switch = step.add_mutually_exclusive_group(required=True)
            switch.add_argument("--on", dest="shadow_on", action="store_true")
            switch.add_argument("--off", dest="shadow_on", action="store_false")


def handle_registry_action(command: Command, options: Mapping[str, Any]) -> bool:
    """Run the registry action named in ``options["action"]``; False if it is not one."""
    action = options.get("action")
    handlers: dict[str, Callable[[Command, Mapping[str, Any]], None]] = {
        "train": _train,
        "list": _list,
        "show": _show,
        "card": _card,
        "validate": _governance,
        "approve": _governance,
        "promote": _governance,
        "retire": _governance,
        "shadow": _governance,
    }
    handler = handlers.get(str(action))
    if handler is None:
        return False
    handler(command, options)
    return True


def _train(command: Command, options: Mapping[str, Any]) -> None:
    from bankcrm.risk import services

    actor = command.actor(options)
    data = Path(options["data"])
    try:
        settings = services.training_settings_build(
            method=options["method"],
            pdo=options["pdo"],
            base_score=options["base_score"],
            base_odds=options["base_odds"],
            folds=options["folds"],
            repeats=options["repeats"],
            monotone=options["monotone"],
            seed=options.get("seed"),
        )
        versions = services.model_train(
            actor=actor,
            path=data,
            target=options["target"],
            bad=options["bad"],
            exclude=options["exclude"],
            name=options["name"],
            method=options["method"],
            purpose=options["purpose"],
            settings=settings,
            description=options["description"],
            dates=options["date"],
            categorical=options["categorical"],
            numeric=options["numeric"],
            dataset_name=str(data),
            progress=command.progress,
        )
    except (ValidationError, PermissionDenied) as exc:
        raise command.stop(exc) from None
    champion, *others = versions
    line = training_summary(champion)
    if others:
        line["challenger"] = training_summary(others[0])
    command.emit(line)


def _list(command: Command, options: Mapping[str, Any]) -> None:
    from bankcrm.risk import selectors

    versions = list(
        selectors.model_versions(
            actor=command.actor(options),
            status=options.get("status"),
            purpose=options.get("purpose"),
            name=options.get("name"),
        ).defer("spec", "card", "baseline")
    )
    if options.get("json"):
        command.emit(
            [{**training_summary(v), "purpose": v.purpose, "shadow": v.shadow} for v in versions]
        )
        return
    header = (
        f"{'name':<28}{'ver':>4}  {'method':<10}{'purpose':<12}{'status':<12}"
        f"{'AUC':>7}{'Gini':>7}{'rows':>8}"
    )
    command.stdout.write(header)
    for version in versions:
        metrics = version.metrics or {}
        status = version.status + ("+shadow" if version.shadow else "")
        auc, gini, rows = metrics.get("auc_cv_mean"), metrics.get("gini"), metrics.get("rows")
        command.stdout.write(
            f"{version.name:<28}{version.version:>4}  {version.method:<10}{version.purpose:<12}"
            f"{status:<12}"
            f"{(f'{auc:.3f}' if isinstance(auc, int | float) else '-'):>7}"
            f"{(f'{gini:.3f}' if isinstance(gini, int | float) else '-'):>7}"
            f"{(str(rows) if rows is not None else '-'):>8}"
        )


def _find(command: Command, options: Mapping[str, Any], actor: Any) -> ModelVersion:
    from bankcrm.risk import selectors

    try:
        return selectors.model_version_by_name(
            actor=actor, name=options["name"], version=options.get("version")
        )
    except Http404:
        if options.get("version") is not None:
            message = _("There is no version %(version)s of the model “%(name)s”.") % {
                "version": options["version"],
                "name": options["name"],
            }
        else:
            message = _("There is no model “%(name)s”.") % {"name": options["name"]}
        raise CommandError(message) from None


def _show(command: Command, options: Mapping[str, Any]) -> None:
    from bankcrm.risk.api import model_version_detail_out

    actor = command.actor(options)
    version = _find(command, options, actor)
    detail = model_version_detail_out(actor, version)
    command.stdout.write(json.dumps(detail, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2))


def _card(command: Command, options: Mapping[str, Any]) -> None:
    from bankcrm.risk.card import CardRenderError, model_card_html, model_card_pdf

    out = Path(options["out"])
    suffix = out.suffix.lower()
    if suffix not in (".html", ".htm", ".pdf"):
        raise CommandError(_("--out: name a .html or a .pdf file."))
    version = _find(command, options, command.actor(options))
    html = version.card_html or model_card_html(version)
    if suffix == ".pdf":
        content = bytes(version.card_pdf or b"")
        if not content:
            try:
                content = model_card_pdf(html)
            except (CardRenderError, ValueError) as exc:
                raise CommandError(str(exc)) from None
    else:
        content = html.encode("utf-8")
    try:
        out.write_bytes(content)
    except OSError as exc:
        raise CommandError(_("--out: %(reason)s") % {"reason": exc}) from None
    command.emit(
        {"name": version.name, "version": version.version, "out": str(out), "bytes": len(content)}
    )


def _governance(command: Command, options: Mapping[str, Any]) -> None:
    from bankcrm.risk import services

    action = options["action"]
    actor = command.actor(options)
    version = _find(command, options, actor)
    result: dict[str, Any] = {}
    try:
        if action == "validate":
            services.model_validate(actor=actor, version=version, note=options["note"])
        elif action == "approve":
            services.model_approve(actor=actor, version=version, note=options["note"])
        elif action == "promote":
            approval = services.model_promote(
                actor=actor, version=version, reason=options["reason"]
            )
            promoted = approval.status == PendingApproval.Status.APPROVED
            result = {
                "result": "promoted" if promoted else "pending_approval",
                "approval": approval.pk,
            }
        elif action == "retire":
            services.model_retire(actor=actor, version=version, reason=options["reason"])
        else:
            services.model_shadow_set(
                actor=actor, version=version, on=options["shadow_on"], reason=options["reason"]
            )
    except (ValidationError, PermissionDenied) as exc:
        raise command.stop(exc) from None
    version.refresh_from_db()
    command.emit(
        {
            "name": version.name,
            "version": version.version,
            "status": version.status,
            "shadow": version.shadow,
            **result,
        }
    )


# Each pair adds its sub-commands and runs them (see the module's docstring).
ACTION_GROUPS: tuple[tuple[AddActions, HandleAction], ...] = (
    (add_registry_actions, handle_registry_action),
    (add_scoring_actions, handle_scoring_action),
    (add_dataset_actions, handle_dataset_action),
)


class Command(BaseCommand):
    help = (
        "Credit models: train, list, show, card, validate, approve, promote, retire, shadow "
        "(risk ACTION --help)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        for add, _handle in ACTION_GROUPS:
            add(actions)

    def handle(self, *args: Any, **options: Any) -> None:
        with request_context(channel="command"):
            for _add, handle in ACTION_GROUPS:
                if handle(self, options):
                    return
        raise CommandError(_("Unknown action %(action)s.") % {"action": options.get("action")})

    # --- Helpers for the action groups ------------------------------------------------------

    def actor(self, options: Mapping[str, Any], *, default: Any = CLI_ACTOR) -> Any:
        """The active user named by ``--user``, or ``default`` (the system) without one."""
        username = options.get("user")
        if not username:
            return default
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(
                _("--user: there is no active user “%(name)s”.") % {"name": username}
            )
        return user

    def emit(self, data: Any) -> None:
        """Print ``data`` as one JSON line on stdout."""
        self.stdout.write(json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False))

    def progress(self, text: str) -> None:
        """A progress line on stderr (stdout stays for the result)."""
        self.stderr.write(str(text), style_func=lambda message: message)

    def stop(self, exc: Exception) -> CommandError:
        """A CommandError naming each option at fault in a service's refusal."""
        if isinstance(exc, ValidationError) and hasattr(exc, "error_dict"):
            lines: list[str] = []
            for field, messages in exc.message_dict.items():
                top = field.split(".", 1)[0]
                option = OPTION_OF_FIELD.get(top, f"--{top.replace('_', '-')}")
                label = option if field == top else f"{option} ({field})"
                lines.extend(
                    f"{label}: {message}" if field != "__all__" else message for message in messages
                )
            return CommandError("\n".join(lines))
        if isinstance(exc, ValidationError):
            return CommandError("\n".join(exc.messages))
        return CommandError(str(exc) or _("You do not have permission to do this."))
