"""``bankcrm kyc <action>``: the KYC/CDD lifecycle from the command line.

``bankcrm kyc rate --all [--batch-size N]``
    re-rate every customer under the active policy; prints ``{"rated", "seconds",
    "customers_per_second"}``.
``bankcrm kyc rate --party ID``
    rate one customer; prints its score, band, due diligence, next review and factors.
``bankcrm kyc nightly [--as-of YYYY-MM-DD]``
    the nightly job (ratings, escalations, document expiry tasks, periodic reviews); prints
    its figures.
``bankcrm kyc reviews [--overdue]``
    reviews in progress (earliest due first), one JSON line each.
``bankcrm kyc ubo PARTY_ID [--threshold PCT] [--svg FILE]``
    the ownership of an organisation as one JSON document (owners with their direct and
    effective shares and paths, beneficial owners, control persons); ``--svg`` also writes the
    graph.

``bankcrm kyc policy-export``
    print the active rating policy's specification as JSON (factors, weights, bands, review
    periods, checklist), ready to edit.
``bankcrm kyc policy-load FILE.json --name NAME``
    check a specification and make it the new active version of the rating policy (every
    problem named at once; nothing changes unless it is valid); customers are re-rated by the
    next nightly run or ``kyc rate --all``.

``bankcrm kyc country-list CODE [--set CC [CC ...] --reason TEXT [--name NAME]]``
    print a country list the rating policy refers to (``fatf_high_risk``,
    ``sanctioned_jurisdictions``, ``offshore_centres`` …) or replace its countries (a new
    code opens a new list, ``--name`` required); audited with what was added and removed.

Commands act as the system job ``system:kyc-cli`` and are audited (channel ``command``).
Bad options stop the command with a message naming each one, exit status 1, and change
nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.serializers.json import DjangoJSONEncoder
from django.utils.translation import gettext as _

from bankcrm.core.actor import SystemActor
from bankcrm.core.context import request_context

CLI_ACTOR = SystemActor("kyc-cli")


class Command(BaseCommand):
    help = "KYC/CDD: rate customers, run the nightly job, list reviews, show ownership."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        rate = actions.add_parser("rate", help=_("Rate one customer or every customer."))
        which = rate.add_mutually_exclusive_group(required=True)
        which.add_argument("--all", action="store_true", help=_("Every customer."))
        which.add_argument("--party", metavar="ID", help=_("One customer's key."))
        rate.add_argument("--batch-size", type=int, default=2000, metavar="N")
        nightly = actions.add_parser("nightly", help=_("Run the nightly KYC job now."))
        nightly.add_argument("--as-of", metavar="YYYY-MM-DD", help=_("The day (default today)."))
        reviews = actions.add_parser("reviews", help=_("List the reviews in progress."))
        reviews.add_argument("--overdue", action="store_true", help=_("Only overdue ones."))
        owners = actions.add_parser("ubo", help=_("Beneficial ownership of an organisation."))
        owners.add_argument("party", metavar="PARTY_ID")
        owners.add_argument(
            "--threshold", default=None, metavar="PCT", help=_("Default: the active policy's.")
        )
        owners.add_argument("--svg", metavar="FILE", help=_("Also write the graph as SVG."))
        actions.add_parser("policy-export", help=_("Print the active rating policy as JSON."))
        countries = actions.add_parser("country-list", help=_("Show or replace a country list."))
        countries.add_argument("code", metavar="CODE")
        countries.add_argument("--set", nargs="+", metavar="CC", dest="countries")
        countries.add_argument("--reason", default="")
        countries.add_argument("--name", default="")
        load = actions.add_parser("policy-load", help=_("Activate a new rating policy version."))
        load.add_argument("file", metavar="FILE")
        load.add_argument("--name", required=True, help=_("The new version's name."))

    def emit(self, data: Any) -> None:
        self.stdout.write(json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False))

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        try:
            with request_context(channel="command"):
                getattr(self, f"_{action.replace('-', '_')}")(options)
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                raise CommandError(
                    "\n".join(
                        f"--{field.replace('_', '-')}: {message}"
                        for field, messages in exc.message_dict.items()
                        for message in messages
                    )
                ) from exc
            raise CommandError("\n".join(exc.messages)) from exc
        except PermissionDenied as exc:
            raise CommandError(str(exc)) from exc

    def _country_list(self, options: dict[str, Any]) -> None:
        from bankcrm.compliance.models import CountryList
        from bankcrm.compliance.services_kyc import country_list_set

        if options["countries"]:
            country_list = country_list_set(
                actor=CLI_ACTOR,
                code=options["code"],
                countries=options["countries"],
                reason=options["reason"],
                name=options["name"],
            )
        else:
            country_list = CountryList.objects.filter(code=options["code"]).first()
            if country_list is None:
                raise CommandError(_("There is no country list “%(code)s”.") % options)
        self.emit(
            {
                "code": country_list.code,
                "name": country_list.name,
                "countries": country_list.countries,
            }
        )

    def _policy_export(self, options: dict[str, Any]) -> None:
        from bankcrm.compliance.services_kyc import active_policy

        policy = active_policy()
        self.stdout.write(
            json.dumps(
                {"version": policy.version, "name": policy.name, "spec": policy.spec},
                ensure_ascii=False,
                indent=2,
            )
        )

    def _policy_load(self, options: dict[str, Any]) -> None:
        from bankcrm.compliance.services_kyc import rating_policy_activate

        path = Path(options["file"])
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CommandError(
                _("%(file)s: not a readable JSON file (%(error)s).") % {"file": path, "error": exc}
            ) from exc
        # The file may be what policy-export printed, or the bare specification.
        spec = data.get("spec", data) if isinstance(data, dict) else data
        policy = rating_policy_activate(actor=CLI_ACTOR, spec=spec, name=options["name"])
        self.emit({"version": policy.version, "name": policy.name, "active": policy.is_active})

    def _party(self, pk: str) -> Any:
        from bankcrm.customers.models import Party

        try:
            return Party.objects.get(pk=pk)
        except (Party.DoesNotExist, ValueError, ValidationError) as exc:
            raise CommandError(_("There is no customer “%(pk)s”.") % {"pk": pk}) from exc

    def _rate(self, options: dict[str, Any]) -> None:
        from bankcrm.compliance.services_kyc import parties_rate_all, party_rate

        if options["all"]:
            if options["batch_size"] < 1:
                raise CommandError(_("--batch-size: give a number above zero."))
            started = time.monotonic()
            rated = parties_rate_all(
                actor=CLI_ACTOR, trigger="manual", batch_size=options["batch_size"]
            )
            seconds = time.monotonic() - started
            self.emit(
                {
                    "rated": rated,
                    "seconds": round(seconds, 3),
                    "customers_per_second": round(rated / seconds, 1) if seconds else None,
                }
            )
            return
        party = self._party(options["party"])
        profile = party_rate(actor=CLI_ACTOR, party=party, trigger="manual")
        self.emit(
            {
                "party": str(party.pk),
                "score": str(profile.risk_score),
                "band": profile.risk_band,
                "due_diligence": profile.due_diligence,
                "next_review_on": profile.next_review_on,
                "edd_until": profile.edd_until,
                "factors": profile.risk_factors,
            }
        )

    def _nightly(self, options: dict[str, Any]) -> None:
        from bankcrm.compliance.tasks_kyc import nightly

        as_of = None
        if options.get("as_of"):
            try:
                as_of = dt.date.fromisoformat(options["as_of"])
            except ValueError as exc:
                raise CommandError(
                    _("--as-of: enter a date as YYYY-MM-DD, not “%(value)s”.")
                    % {"value": options["as_of"]}
                ) from exc
        self.emit(nightly(today=as_of))

    def _reviews(self, options: dict[str, Any]) -> None:
        from bankcrm.compliance.selectors_kyc import kyc_review_list

        reviews = kyc_review_list(actor=CLI_ACTOR, overdue=True if options["overdue"] else None)
        for review in reviews.iterator(chunk_size=1000):
            self.emit(
                {
                    "review": review.pk,
                    "party": str(review.party_id),
                    "name": review.party.display_name,
                    "kind": review.kind,
                    "state": review.state,
                    "due_on": review.due_on,
                    "escalated_at": review.escalated_at,
                    "missing": [
                        i["code"]
                        for i in review.checklist
                        if i.get("required") and not i.get("done")
                    ],
                }
            )

    def _ubo(self, options: dict[str, Any]) -> None:
        from bankcrm.compliance import ubo
        from bankcrm.compliance.selectors_kyc import ubo_threshold

        try:
            threshold = Decimal(options["threshold"]) if options["threshold"] else ubo_threshold()
        except InvalidOperation as exc:
            raise CommandError(_("--threshold: give a percentage.")) from exc
        if not Decimal(0) < threshold <= Decimal(100):
            raise CommandError(_("--threshold: give a percentage above 0, at most 100."))
        party = self._party(options["party"])
        result = ubo.ownership(party.pk, threshold=threshold)
        if options.get("svg"):
            Path(options["svg"]).write_text(ubo.graph_svg(result), encoding="utf-8")
        self.emit(result.as_dict())
