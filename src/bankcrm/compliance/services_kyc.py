"""KYC/CDD services: the customer risk rating, periodic and event-driven reviews, document
expiry reminders, enhanced due diligence and PEP status.

The rating itself is the pure :func:`bankcrm.compliance.rating.evaluate`; this module gathers
each customer's facts with a fixed number of set-based queries per batch (never one query per
customer), applies the active policy and writes the profile, a history row when the rating
changed, the audit trail and the events. ``parties_rate_all`` rates the whole book that way.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import JSONField, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from bankcrm.access.models import Role, User
from bankcrm.access.permissions import actor_perm_scope
from bankcrm.audit.models import AuditEvent
from bankcrm.audit.services import audit_record, audit_snapshot
from bankcrm.banking.models import Account, AccountMonthlyFlow, AccountRole
from bankcrm.banking.selectors import fx_rates_latest, to_base
from bankcrm.core.actor import is_system
from bankcrm.core.services_approvals import approval_request
from bankcrm.core.timefmt import bank_today
from bankcrm.core.workflow import workflow_start, workflow_transition
from bankcrm.customers.models import Identifier, Party
from bankcrm.events.services import event_record

from . import rating, ubo
from .models import CountryList, EddRecord, KycProfile, KycReview, RatingPolicy, RiskRatingHistory

logger = logging.getLogger(__name__)

WORKFLOW_KEY = "kyc_review"
EDD_ACTION = "compliance.approve_edd"
EDD_PERMISSION = "compliance.approve_eddrecord"
DOCUMENT_EXPIRY_ACTION = "kyc.document_expiry_task"
EXPIRING_TYPES = (
    Identifier.Type.CN_RESIDENT_ID,
    Identifier.Type.PASSPORT,
    Identifier.Type.BUSINESS_LICENCE,
)
_RATED_FIELDS = (
    "risk_score",
    "risk_band",
    "risk_factors",
    "policy",
    "rated_at",
    "due_diligence",
    "next_review_on",
    "edd_until",
)


# --- Permission and scope ------------------------------------------------------------------


def _require_perm(actor: Any, permission: str, party: Party | None = None) -> None:
    """The actor holds ``permission``; with ``party``, the party is within its scope
    (outside it: reported as not found, like a selector would)."""
    scope = actor_perm_scope(actor, permission)
    if scope is None:
        raise PermissionDenied(_("You do not have permission to do this."))
    if (
        party is not None
        and not Party.objects.filter(pk=party.pk).within_scope(actor, scope).exists()
    ):
        raise Party.DoesNotExist(_("No such customer."))


def _invalid(field: str, message: str, code: str) -> ValidationError:
    return ValidationError({field: [ValidationError(message, code=code)]})


# --- Policy and country lists --------------------------------------------------------------


def active_policy() -> RatingPolicy:
    """The rating policy in force (exactly one is active)."""
    policy = RatingPolicy.objects.filter(is_active=True).first()
    if policy is None:
        raise ValidationError(_("No customer risk rating policy is active."), code="no_policy")
    return policy


def country_lists() -> dict[str, frozenset[str]]:
    """Every country list, code → set of ISO codes (one query)."""
    return {
        code: frozenset(str(c).upper() for c in countries or [])
        for code, countries in CountryList.objects.values_list("code", "countries")
    }


def country_list_set(
    *, actor: Any, code: str, countries: Iterable[str], reason: str, name: str = ""
) -> CountryList:
    """Replace the countries of a list the rating policy refers to (or open a new list),
    e.g. after a FATF plenary. Every code is checked (two-letter ISO); the reason and the
    countries added and removed go to the audit trail. Customers are re-rated by the next
    nightly run (or ``bankcrm kyc rate --all``)."""
    from bankcrm.customers.validators import validate_country_code

    _require_perm(actor, "compliance.change_countrylist")
    reason = (reason or "").strip()
    if not reason:
        raise _invalid("reason", _("Say why the list changes."), "required")
    codes = sorted({str(value).strip().upper() for value in countries if str(value).strip()})
    bad = []
    for value in codes:
        try:
            validate_country_code(value)
        except ValidationError:
            bad.append(value)
    if bad:
        raise _invalid(
            "countries",
            _("Not two-letter ISO country codes: %(codes)s.") % {"codes": ", ".join(bad)},
            "country_code",
        )
    with transaction.atomic():
        country_list = CountryList.objects.select_for_update().filter(code=code).first()
        if country_list is None:
            if not (name or "").strip():
                raise _invalid("name", _("Give the new list a name."), "required")
            country_list = CountryList(code=code, name=name.strip())
            before: list[str] = []
        else:
            before = sorted(country_list.countries or [])
            if name.strip():
                country_list.name = name.strip()
        country_list.countries = codes
        country_list.full_clean()
        country_list.save()
        audit_record(
            actor=actor,
            action="kyc.country_list_set",
            target=country_list,
            before={"countries": before},
            after={
                "countries": codes,
                "added": sorted(set(codes) - set(before)),
                "removed": sorted(set(before) - set(codes)),
            },
            reason=reason,
        )
    return country_list


def rating_policy_activate(*, actor: Any, spec: dict[str, Any], name: str) -> RatingPolicy:
    """Make a new version of the rating policy the active one (the previous stays on record).

    Every problem of the spec is reported at once under ``spec``. Customers are re-rated by
    the next nightly run (or ``bankcrm kyc rate --all``)."""
    _require_perm(actor, "compliance.add_ratingpolicy")
    problems = rating.validate_spec(spec)
    known = set(CountryList.objects.values_list("code", flat=True))
    for factor in spec.get("factors") or [] if isinstance(spec, Mapping) else []:
        if isinstance(factor, Mapping):
            for list_code in factor.get("lists") or {}:
                if list_code not in known:
                    problems.append(
                        f"Factor “{factor.get('code')}”: unknown country list “{list_code}”."
                    )
    if problems:
        raise ValidationError({"spec": [ValidationError(p, code="invalid_spec") for p in problems]})
    if not (name or "").strip():
        raise _invalid("name", _("Give the policy a name."), "required")
    with transaction.atomic():
        previous = RatingPolicy.objects.select_for_update().filter(is_active=True).first()
        version = (
            RatingPolicy.objects.order_by("-version").values_list("version", flat=True).first() or 0
        ) + 1
        RatingPolicy.objects.filter(is_active=True).update(is_active=False)
        policy = RatingPolicy.objects.create(
            version=version,
            name=name.strip(),
            spec=spec,
            is_active=True,
            created_by=None if is_system(actor) else actor,
        )
        audit_record(
            actor=actor,
            action="kyc.rating_policy_activate",
            target=policy,
            before={"version": previous.version if previous else None},
            after={"version": version, "name": policy.name},
        )
        event_record(
            type="compliance.rating_policy_activated",
            target=policy,
            payload={"version": version},
        )
    return policy


# --- Facts ---------------------------------------------------------------------------------


def _month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def _party_rows(ids: list[Any]) -> list[dict[str, Any]]:
    return list(
        Party.objects.filter(pk__in=ids).values(
            "pk",
            "kind",
            "customer_since",
            "person__nationality",
            "person__occupation",
            "organisation__industry",
            "organisation__legal_form",
            "kyc__pk",
            "kyc__pep_status",
            "kyc__pep_left_office_on",
            "kyc__screening_status",
            "kyc__adverse_media",
            "kyc__onboarding_channel",
            "kyc__residence_country",
            "kyc__expected_activity",
            "kyc__last_review_on",
            "kyc__risk_score",
            "kyc__risk_band",
            "kyc__risk_factors",
            "kyc__policy_id",
            "kyc__due_diligence",
            "kyc__next_review_on",
            "kyc__edd_until",
        )
    )


def _products(ids: list[Any]) -> dict[str, set[str]]:
    held: dict[str, set[str]] = {}
    rows = (
        AccountRole.objects.filter(party_id__in=ids, role__in=("owner", "joint_owner"))
        .exclude(account__status=Account.Status.CLOSED)
        .values_list("party_id", "account__product__category")
        .distinct()
    )
    for party_pk, category in rows:
        held.setdefault(str(party_pk), set()).add(category)
    return held


def _turnover(ids: list[Any], *, months: int, as_of: dt.date) -> dict[str, Decimal]:
    """Average monthly money in of each customer's accounts over the last complete months,
    in the base currency (one query and the exchange rates)."""
    until = _month_start(as_of)
    since = rating.add_months(until, -months)
    rows = list(
        AccountMonthlyFlow.objects.filter(
            account__roles__party_id__in=ids,
            account__roles__role__in=("owner", "joint_owner"),
            month__gte=since,
            month__lt=until,
        )
        .values_list("account__roles__party_id", "account__currency")
        .annotate(total=Sum("inflow"))
    )
    rates = fx_rates_latest({currency for _pk, currency, _total in rows}, on=as_of)
    totals: dict[str, Decimal] = {}
    for party_pk, currency, total in rows:
        amount = to_base(Decimal(total or 0), currency, rates)
        if amount is not None:
            totals[str(party_pk)] = totals.get(str(party_pk), Decimal(0)) + amount
    return {pk: (total / months).quantize(Decimal("0.01")) for pk, total in totals.items()}


def _expected_turnover(expected: Any, rates: Mapping[str, Decimal]) -> Decimal | None:
    if not isinstance(expected, Mapping):
        return None
    amount = rating._decimal(expected.get("monthly_turnover"))
    if amount is None:
        return None
    currency = str(expected.get("currency") or "").upper()
    if not currency:
        return amount
    return to_base(amount, currency, dict(rates))


class _OwnershipFacts:
    """Ownership complexity of organisations from one load of the ownership graph."""

    def __init__(
        self,
        owners_of: dict[str, list[tuple[str, Decimal]]],
        home: str,
        lists: Mapping[str, frozenset[str]],
        offshore_lists: Iterable[str],
    ) -> None:
        self.owners_of = owners_of
        self.home = home
        owner_ids = {owner for edges in owners_of.values() for owner, _pct in edges}
        self.country: dict[str, str] = {}
        for chunk_start in range(0, len(owner_ids), 5000):
            chunk = sorted(owner_ids)[chunk_start : chunk_start + 5000]
            for pk, nationality, residence in Party.objects.filter(pk__in=chunk).values_list(
                "pk", "person__nationality", "kyc__residence_country"
            ):
                self.country[str(pk)] = (residence or nationality or "").upper()
        self.offshore = frozenset().union(
            *(lists.get(code, frozenset()) for code in offshore_lists)
        )

    def of(self, party_pk: str) -> dict[str, Any]:
        shares, info = ubo.compute(party_pk, self.owners_of)
        countries = {self.country.get(owner, "") for owner in shares}
        countries.discard("")
        return {
            "depth": info["max_depth"],
            "owners_known": bool(shares),
            "foreign_owner": any(c != self.home for c in countries) if self.home else False,
            "offshore_owner": bool(countries & self.offshore),
            "has_cycle": info["has_cycle"],
        }


def _ownership_facts(
    spec: Mapping[str, Any],
    lists: Mapping[str, frozenset[str]],
    owners_of: dict[str, list[tuple[str, Decimal]]],
) -> _OwnershipFacts:
    return _OwnershipFacts(
        owners_of,
        str(spec.get("home_country") or "").upper(),
        lists,
        spec.get("offshore_lists") or ["offshore_centres"],
    )


def gather_facts(
    rows: list[dict[str, Any]],
    *,
    spec: Mapping[str, Any],
    lists: Mapping[str, frozenset[str]],
    ownership: _OwnershipFacts,
    as_of: dt.date,
) -> dict[str, dict[str, Any]]:
    """The rating facts of a batch of customers (``rows`` from one query of parties)."""
    ids = [row["pk"] for row in rows]
    products = _products(ids)
    turnover = _turnover(ids, months=int(spec.get("activity_months") or 6), as_of=as_of)
    currencies = {
        str((row["kyc__expected_activity"] or {}).get("currency") or "").upper()
        for row in rows
        if isinstance(row["kyc__expected_activity"], Mapping)
    }
    rates = fx_rates_latest(currencies, on=as_of)
    facts: dict[str, dict[str, Any]] = {}
    for row in rows:
        pk = str(row["pk"])
        is_person = row["kind"] == Party.Kind.PERSON
        residence = row["kyc__residence_country"] or ""
        facts[pk] = {
            "as_of": as_of,
            "customer_type": "person" if is_person else (row["organisation__legal_form"] or ""),
            "nationality": row["person__nationality"] if is_person else residence,
            "residence": residence or (row["person__nationality"] if is_person else ""),
            "occupation": row["person__occupation"] if is_person else row["organisation__industry"],
            "products": products.get(pk, set()),
            "channel": row["kyc__onboarding_channel"] or "",
            "pep_status": row["kyc__pep_status"] or "none",
            "pep_left_office_on": row["kyc__pep_left_office_on"],
            "screening_status": row["kyc__screening_status"] or "not_screened",
            "adverse_media": bool(row["kyc__adverse_media"]),
            "ownership": None if is_person else ownership.of(pk),
            "actual_monthly_turnover": turnover.get(pk, Decimal(0)),
            "expected_monthly_turnover": _expected_turnover(row["kyc__expected_activity"], rates),
        }
    return facts


def _next_review_on(row: Mapping[str, Any], months: int, as_of: dt.date) -> dt.date:
    """Months after the last review; never reviewed: after becoming a customer (else today)."""
    base = row.get("kyc__last_review_on") or row.get("customer_since") or as_of
    return rating.add_months(base, months)


def _rated_values(
    row: Mapping[str, Any], result: rating.RatingResult, policy: RatingPolicy, as_of: dt.date
) -> dict[str, Any]:
    due_diligence = result.due_diligence
    stored_edd_until = row.get("kyc__edd_until")
    # The stored end of the enhanced period (set with the PEP status) stays on record after
    # it has passed; while it runs, due diligence stays enhanced whatever the band.
    edd_until = (
        max(d for d in (result.edd_until, stored_edd_until) if d)
        if (result.edd_until or stored_edd_until)
        else None
    )
    if edd_until and edd_until >= as_of:
        due_diligence = KycProfile.DueDiligence.ENHANCED
    return {
        "risk_score": result.score,
        "risk_band": result.band,
        "risk_factors": result.factors,
        "policy_id": policy.pk,
        "due_diligence": due_diligence,
        "next_review_on": _next_review_on(row, result.review_months, as_of),
        "edd_until": edd_until,
    }


def _unchanged(row: Mapping[str, Any], values: Mapping[str, Any]) -> bool:
    return (
        row["kyc__pk"] is not None
        and row["kyc__risk_score"] is not None
        and Decimal(row["kyc__risk_score"]) == values["risk_score"]
        and row["kyc__risk_band"] == values["risk_band"]
        and row["kyc__policy_id"] == values["policy_id"]
        and row["kyc__due_diligence"] == values["due_diligence"]
        and row["kyc__next_review_on"] == values["next_review_on"]
        and row["kyc__edd_until"] == values["edd_until"]
        and row["kyc__risk_factors"] == values["risk_factors"]
    )


# --- Rating ----------------------------------------------------------------------------------


def _raised(before: str | None, after: str) -> bool:
    return rating.BAND_ORDER.get(after, 0) > rating.BAND_ORDER.get(before or "low", 0)


def party_rate(*, actor: Any, party: Party, trigger: str) -> KycProfile:
    """Rate one customer now under the active policy and store the result on the KYC profile.

    A rating that changed is written to the history, audited and announced
    (``compliance.risk_rating_changed``); a band that went up opens an event-driven review.
    """
    _require_perm(actor, "compliance.rate_party", party)
    policy = active_policy()
    spec = policy.spec
    as_of = bank_today()
    lists = country_lists()
    rows = _party_rows([party.pk])
    if not rows:
        raise Party.DoesNotExist(_("No such customer."))
    row = rows[0]
    owners_of = (
        ubo._upstream_edges(str(party.pk), as_of) if row["kind"] != Party.Kind.PERSON else {}
    )
    facts = gather_facts(
        rows,
        spec=spec,
        lists=lists,
        ownership=_ownership_facts(spec, lists, owners_of),
        as_of=as_of,
    )
    result = rating.evaluate(spec, facts[str(party.pk)], country_lists=lists)
    values = _rated_values(row, result, policy, as_of)
    with transaction.atomic():
        profile, _created = KycProfile.objects.select_for_update().get_or_create(party=party)
        if _unchanged(row, values):
            return profile
        before = {
            "risk_score": row["kyc__risk_score"],
            "risk_band": row["kyc__risk_band"],
            "due_diligence": row["kyc__due_diligence"],
        }
        now = timezone.now()
        for name, value in values.items():
            setattr(profile, name, value)
        profile.rated_at = now
        profile.save()
        RiskRatingHistory.objects.create(
            party=party,
            rated_at=now,
            score=result.score,
            band=result.band,
            factors=result.factors,
            policy=policy,
            trigger=trigger[:64],
        )
        audit_record(
            actor=actor,
            action="kyc.rate",
            target=profile,
            before={k: str(v) if v is not None else None for k, v in before.items()},
            after={
                "risk_score": str(result.score),
                "risk_band": result.band,
                "due_diligence": profile.due_diligence,
            },
            reason=trigger,
        )
        if before["risk_band"] != result.band:
            event_record(
                type="compliance.risk_rating_changed",
                target=profile,
                payload={
                    "party": str(party.pk),
                    "from": before["risk_band"] or "",
                    "to": result.band,
                    "score": str(result.score),
                    "trigger": trigger,
                },
            )
            if before["risk_band"] and _raised(before["risk_band"], result.band):
                _review_ensure_open(
                    actor=actor,
                    party=party,
                    kind=KycReview.Kind.TRIGGER,
                    reason=f"Risk band raised from {before['risk_band']} to {result.band}",
                    spec=spec,
                )
    return profile


def _rows_insert(model: Any, objects: list[Any]) -> None:
    """Insert many new rows. PostgreSQL: ``COPY`` (Django's ``bulk_create`` sends JSON through
    arrays that psycopg escapes in Python, ten times slower); elsewhere ``bulk_create``."""
    if connection.vendor != "postgresql":
        model.objects.bulk_create(objects, batch_size=1000)
        return
    now = timezone.now()
    fields = [
        field
        for field in model._meta.concrete_fields
        if not (field.primary_key and getattr(objects[0], field.attname) is None)
    ]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    with connection.cursor() as cursor:
        raw = cursor.cursor  # the psycopg cursor: its copy API
        with raw.copy(f"COPY {quote(model._meta.db_table)} ({columns}) FROM STDIN") as copy:
            for obj in objects:
                row: list[Any] = []
                for field in fields:
                    value: Any
                    if field.attname in ("created_at", "updated_at"):
                        value = now
                    else:
                        value = getattr(obj, field.attname)
                    if isinstance(field, JSONField):
                        value = json.dumps(value, cls=DjangoJSONEncoder)
                    row.append(value)
                copy.write_row(row)


def _profiles_update(profiles: list[KycProfile]) -> None:
    """Write the rated fields of many profiles. PostgreSQL: one ``UPDATE … FROM (VALUES …)``
    per thousand rows (Django's ``bulk_update`` builds a CASE per field and row, several times
    slower); elsewhere ``bulk_update``."""
    if connection.vendor != "postgresql":
        KycProfile.objects.bulk_update(profiles, fields=list(_RATED_FIELDS), batch_size=500)
        return
    now = timezone.now()
    table = connection.ops.quote_name(KycProfile._meta.db_table)
    row = (
        "(%s::bigint, %s::numeric, %s::varchar, %s::jsonb, %s::bigint, %s::timestamptz, "
        "%s::varchar, %s::date, %s::date)"
    )
    for start in range(0, len(profiles), 1000):
        chunk = profiles[start : start + 1000]
        params: list[Any] = []
        for profile in chunk:
            params.extend(
                [
                    profile.pk,
                    profile.risk_score,
                    profile.risk_band,
                    json.dumps(profile.risk_factors),
                    profile.policy_id,
                    profile.rated_at,
                    profile.due_diligence,
                    profile.next_review_on,
                    profile.edd_until,
                ]
            )
        params.append(now)
        # The table name comes from the model; every value is a parameter.
        sql = (
            f"UPDATE {table} AS k SET risk_score = v.score, risk_band = v.band, "  # noqa: S608  # nosec B608
            "risk_factors = v.factors, policy_id = v.policy_id, rated_at = v.rated_at, "
            "due_diligence = v.due_diligence, next_review_on = v.next_review_on, "
            "edd_until = v.edd_until, updated_at = %s "
            f"FROM (VALUES {', '.join([row] * len(chunk))}) AS v(id, score, band, factors, "
            "policy_id, rated_at, due_diligence, next_review_on, edd_until) WHERE k.id = v.id"
        )
        # updated_at's parameter comes first in the statement: move it to the front.
        params.insert(0, params.pop())
        with connection.cursor() as cursor:
            cursor.execute(sql, params)


def parties_rate_all(*, actor: Any, trigger: str = "nightly", batch_size: int = 2000) -> int:
    """Rate every customer (closed ones excepted) under the active policy, set-based.

    Facts are gathered with a fixed number of queries per batch of ``batch_size`` customers;
    only ratings that changed are written (profiles in bulk, one history row each); the run
    is audited once with its figures. Customers whose band went up get an event-driven review.
    Returns the number of customers rated.
    """
    _require_perm(actor, "compliance.rate_party")
    policy = active_policy()
    spec = policy.spec
    as_of = bank_today()
    lists = country_lists()
    started = time.monotonic()
    ownership = _ownership_facts(spec, lists, ubo.ownership_edges(as_of))
    rated = changed = created = 0
    raised: list[tuple[Any, str, str]] = []
    last_pk = None
    base = Party.objects.exclude(status=Party.Status.CLOSED).order_by("pk")
    while True:
        page = base.filter(pk__gt=last_pk) if last_pk is not None else base
        ids = list(page.values_list("pk", flat=True)[:batch_size])
        if not ids:
            break
        last_pk = ids[-1]
        rows = _party_rows(ids)
        facts = gather_facts(rows, spec=spec, lists=lists, ownership=ownership, as_of=as_of)
        now = timezone.now()
        updates: list[KycProfile] = []
        inserts: list[KycProfile] = []
        history: list[RiskRatingHistory] = []
        for row in rows:
            result = rating.evaluate(spec, facts[str(row["pk"])], country_lists=lists)
            values = _rated_values(row, result, policy, as_of)
            rated += 1
            if _unchanged(row, values):
                continue
            profile = KycProfile(pk=row["kyc__pk"], party_id=row["pk"], rated_at=now, **values)
            (updates if row["kyc__pk"] is not None else inserts).append(profile)
            history.append(
                RiskRatingHistory(
                    party_id=row["pk"],
                    rated_at=now,
                    score=result.score,
                    band=result.band,
                    factors=result.factors,
                    policy_id=policy.pk,
                    trigger=trigger[:64],
                )
            )
            if row["kyc__risk_band"] and _raised(row["kyc__risk_band"], result.band):
                raised.append((row["pk"], row["kyc__risk_band"], result.band))
        with transaction.atomic():
            if inserts:
                _rows_insert(KycProfile, inserts)
            if updates:
                _profiles_update(updates)
            if history:
                _rows_insert(RiskRatingHistory, history)
        changed += len(updates) + len(inserts)
        created += len(inserts)
    for party_pk, before, after in raised:
        party = Party.objects.get(pk=party_pk)
        _review_ensure_open(
            actor=actor,
            party=party,
            kind=KycReview.Kind.TRIGGER,
            reason=f"Risk band raised from {before} to {after}",
            spec=spec,
        )
    seconds = round(time.monotonic() - started, 3)
    audit_record(
        actor=actor,
        action="kyc.rate_all",
        object_type="compliance.ratingpolicy",
        object_pk=policy.pk,
        object_repr=str(policy),
        after={
            "rated": rated,
            "changed": changed,
            "profiles_created": created,
            "raised": len(raised),
            "seconds": seconds,
        },
        reason=trigger,
    )
    logger.info("kyc: rated %s customers (%s changed) in %.1f s", rated, changed, seconds)
    return rated


def kyc_profile_update(*, actor: Any, party: Party, changes: Mapping[str, Any]) -> KycProfile:
    """Change what the bank records for due diligence: onboarding channel, residence, expected
    activity, adverse media. The customer is re-rated at once."""
    _require_perm(actor, "compliance.change_kycprofile", party)
    allowed = {"onboarding_channel", "residence_country", "expected_activity", "adverse_media"}
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise ValidationError(
            {
                name: [ValidationError(_("This field cannot be changed here."), code="not_allowed")]
                for name in unknown
            }
        )
    errors: dict[str, list[ValidationError]] = {}
    if "residence_country" in changes:
        country = str(changes["residence_country"] or "").upper()
        if country and (len(country) != 2 or not country.isalpha()):
            errors["residence_country"] = [
                ValidationError(_("Enter a two-letter country code."), code="invalid")
            ]
    if "onboarding_channel" in changes and changes["onboarding_channel"] not in (
        "",
        "branch",
        "online",
        "agent",
    ):
        errors["onboarding_channel"] = [
            ValidationError(_("Choose branch, online or agent."), code="invalid")
        ]
    if "expected_activity" in changes:
        expected = changes["expected_activity"]
        if not isinstance(expected, Mapping) or (
            expected.get("monthly_turnover") not in (None, "")
            and (
                rating._decimal(expected.get("monthly_turnover")) is None
                or Decimal(str(expected["monthly_turnover"])) < 0
            )
        ):
            errors["expected_activity"] = [
                ValidationError(
                    _("Give the expected monthly turnover as an amount."), code="invalid"
                )
            ]
    if errors:
        raise ValidationError(errors)
    fields = sorted(changes)
    with transaction.atomic():
        profile, _created = KycProfile.objects.select_for_update().get_or_create(party=party)
        before = audit_snapshot(profile, fields)
        for name in fields:
            value = changes[name]
            if name == "residence_country":
                value = str(value or "").upper()
            elif name == "expected_activity":
                value = {k: str(v) if isinstance(v, Decimal) else v for k, v in dict(value).items()}
            elif name == "adverse_media":
                value = bool(value)
            setattr(profile, name, value)
        profile.save()
        audit_record(
            actor=actor,
            action="kyc.profile_update",
            target=profile,
            before=before,
            after=audit_snapshot(profile, fields),
        )
        event_record(
            type="compliance.kyc_profile_updated",
            target=profile,
            payload={"party": str(party.pk), "changed": fields},
        )
    party_rate(actor=actor, party=party, trigger="kyc.profile_update")
    return KycProfile.objects.get(pk=profile.pk)


def pep_status_set(
    *,
    actor: Any,
    party: Party,
    status: str,
    position: str = "",
    left_office_on: dt.date | None = None,
) -> KycProfile:
    """Record a customer's PEP status. A former PEP stays under enhanced due diligence for the
    policy's ``pep_enhanced_months`` after leaving office (``edd_until``)."""
    _require_perm(actor, "compliance.change_kycprofile", party)
    if status not in KycProfile.PepStatus.values:
        raise _invalid("status", _("Choose a PEP status."), "invalid")
    if status == KycProfile.PepStatus.FORMER and left_office_on is None:
        raise _invalid("left_office_on", _("Give the day the person left office."), "required")
    if status != KycProfile.PepStatus.FORMER and left_office_on is not None:
        raise _invalid("left_office_on", _("Only a former PEP has left office."), "not_applicable")
    if left_office_on is not None and left_office_on > bank_today():
        raise _invalid("left_office_on", _("The day is in the future."), "future")
    spec = active_policy().spec
    fields = ["pep_status", "pep_position", "pep_left_office_on", "edd_until"]
    with transaction.atomic():
        profile, _created = KycProfile.objects.select_for_update().get_or_create(party=party)
        before = audit_snapshot(profile, fields)
        previous = profile.pep_status
        profile.pep_status = status
        profile.pep_position = (position or "").strip()[:200]
        profile.pep_left_office_on = left_office_on
        if status == KycProfile.PepStatus.FORMER and left_office_on is not None:
            months = int(spec.get("pep_enhanced_months", rating.DEFAULT_PEP_ENHANCED_MONTHS))
            profile.edd_until = rating.add_months(left_office_on, months)
        elif status == KycProfile.PepStatus.NONE:
            profile.edd_until = None
        profile.save()
        audit_record(
            actor=actor,
            action="kyc.pep_status_set",
            target=profile,
            before=before,
            after=audit_snapshot(profile, fields),
        )
        event_record(
            type="compliance.pep_status_changed",
            target=profile,
            payload={"party": str(party.pk), "from": previous, "to": status},
        )
        if (
            status in (KycProfile.PepStatus.CURRENT, KycProfile.PepStatus.RELATIVE)
            and previous != status
        ):
            _review_ensure_open(
                actor=actor,
                party=party,
                kind=KycReview.Kind.EDD,
                reason=f"PEP status: {status}",
                spec=spec,
            )
    party_rate(actor=actor, party=party, trigger="kyc.pep_status_set")
    return KycProfile.objects.get(pk=profile.pk)


# --- Reviews ---------------------------------------------------------------------------------


def _checklist(spec: Mapping[str, Any], party: Party, enhanced: bool) -> list[dict[str, Any]]:
    items = []
    for item in spec.get("review_checklist") or []:
        when = item.get("when", "always")
        required = (
            when == "always"
            or (when == "organisation" and party.kind == Party.Kind.ORGANISATION)
            or (when == "person" and party.kind == Party.Kind.PERSON)
            or (when == "enhanced" and enhanced)
        )
        if not required and when in ("organisation", "person"):
            continue  # does not apply to this kind of customer
        items.append(
            {
                "code": item["code"],
                "label": item.get("label", item["code"]),
                "required": required,
                "done": False,
                "note": "",
                "by": "",
                "at": None,
            }
        )
    return items


def _review_ensure_open(
    *,
    actor: Any,
    party: Party,
    kind: str,
    reason: str,
    spec: Mapping[str, Any],
    due_on: dt.date | None = None,
) -> KycReview:
    existing = KycReview.objects.filter(party=party, completed_at__isnull=True).first()
    if existing is not None:
        return existing
    return _review_create(
        actor=actor, party=party, kind=kind, reason=reason, spec=spec, due_on=due_on
    )


def _review_create(
    *,
    actor: Any,
    party: Party,
    kind: str,
    reason: str,
    spec: Mapping[str, Any],
    due_on: dt.date | None,
    assigned_to: Any = None,
) -> KycReview:
    profile = KycProfile.objects.filter(party=party).first()
    enhanced = kind == KycReview.Kind.EDD or (
        profile is not None
        and (
            profile.due_diligence == KycProfile.DueDiligence.ENHANCED
            or profile.pep_status != KycProfile.PepStatus.NONE
        )
    )
    if due_on is None:
        due_on = bank_today() + dt.timedelta(days=int(spec.get("trigger_review_days") or 30))
    if assigned_to is None:
        assigned_to = _relationship_manager(party)
    with transaction.atomic():
        review = KycReview.objects.create(
            party=party,
            kind=kind,
            reason=reason[:300],
            due_on=due_on,
            risk_band_at_start=profile.risk_band if profile else "",
            checklist=_checklist(spec, party, enhanced),
            assigned_to=assigned_to,
        )
        audit_record(
            actor=actor,
            action="kyc.review_open",
            target=review,
            after=audit_snapshot(review, ["kind", "reason", "due_on", "risk_band_at_start"]),
        )
        workflow_start(actor=actor, subject=review, definition_key=WORKFLOW_KEY)
    return review


def kyc_review_open(
    *,
    actor: Any,
    party: Party,
    kind: str,
    reason: str = "",
    due_on: dt.date | None = None,
    assigned_to: Any = None,
) -> KycReview:
    """Open a review of a customer on the ``kyc_review`` workflow, with the evidence checklist
    of the policy (items required by the customer's kind and due-diligence level)."""
    _require_perm(actor, "compliance.add_kycreview", party)
    if kind not in KycReview.Kind.values:
        raise _invalid("kind", _("Choose the kind of review."), "invalid")
    if KycReview.objects.filter(party=party, completed_at__isnull=True).exists():
        raise _invalid("party", _("This customer already has a review in progress."), "review_open")
    if due_on is not None and due_on < bank_today():
        raise _invalid("due_on", _("The due date is in the past."), "past")
    return _review_create(
        actor=actor,
        party=party,
        kind=kind,
        reason=reason,
        spec=active_policy().spec,
        due_on=due_on,
        assigned_to=assigned_to,
    )


def _require_review_open(review: KycReview) -> None:
    if review.completed_at is not None:
        raise _invalid("review", _("This review is completed."), "review_completed")


def kyc_review_check_item(
    *, actor: Any, review: KycReview, code: str, done: bool = True, note: str = ""
) -> KycReview:
    """Tick (or untick) one item of a review's evidence checklist, with a note."""
    _require_perm(actor, "compliance.change_kycreview", review.party)
    with transaction.atomic():
        review = KycReview.objects.select_for_update().get(pk=review.pk)
        _require_review_open(review)
        items = list(review.checklist)
        item = next((i for i in items if i.get("code") == code), None)
        if item is None:
            raise _invalid(
                "code",
                _("This review has no checklist item “%(code)s”.") % {"code": code},
                "unknown_item",
            )
        item.update(
            {
                "done": bool(done),
                "note": (note or "").strip()[:500],
                "by": "" if is_system(actor) else actor.get_username(),
                "at": timezone.now().isoformat() if done else None,
            }
        )
        review.checklist = items
        review.save(update_fields=["checklist", "updated_at"])
        audit_record(
            actor=actor,
            action="kyc.review_check_item",
            target=review,
            after={"code": code, "done": bool(done)},
        )
    return review


def review_missing_items(review: KycReview) -> list[str]:
    """Codes of the required checklist items not yet done."""
    return [i["code"] for i in review.checklist if i.get("required") and not i.get("done")]


def kyc_review_transition(
    *, actor: Any, review: KycReview, transition: str, reason: str = ""
) -> KycReview:
    """Move a review along its workflow (``complete`` goes through :func:`kyc_review_complete`)."""
    _require_perm(actor, "compliance.change_kycreview", review.party)
    if transition == "complete":
        raise _invalid(
            "transition", _("Complete a review with its outcome and conclusion."), "use_complete"
        )
    _require_review_open(review)
    workflow_transition(actor=actor, subject=review, transition=transition, reason=reason)
    return review


def kyc_review_complete(
    *, actor: Any, review: KycReview, outcome: str, conclusion: str
) -> KycReview:
    """Complete a review: every required evidence item done, an outcome and a conclusion.

    The customer is re-rated first; the profile's last review becomes today and the next one
    falls due after the policy's months for the (new) band.
    """
    _require_perm(actor, "compliance.change_kycreview", review.party)
    _require_review_open(review)
    errors: dict[str, list[ValidationError]] = {}
    if outcome not in (
        KycReview.Outcome.CONFIRMED,
        KycReview.Outcome.CHANGED,
        KycReview.Outcome.EXIT,
    ):
        errors["outcome"] = [
            ValidationError(_("Choose the outcome of the review."), code="required")
        ]
    if not (conclusion or "").strip():
        errors["conclusion"] = [
            ValidationError(_("Write the conclusion of the review."), code="required")
        ]
    missing = review_missing_items(review)
    if missing:
        errors["checklist"] = [
            ValidationError(
                _("Required evidence is missing: %(items)s.") % {"items": ", ".join(missing)},
                code="evidence_missing",
            )
        ]
    if errors:
        raise ValidationError(errors)
    party = review.party
    today = bank_today()
    with transaction.atomic():
        review.outcome = outcome
        review.conclusion = conclusion.strip()
        review.save(update_fields=["outcome", "conclusion", "updated_at"])
        workflow_transition(actor=actor, subject=review, transition="complete")
        review.completed_at = timezone.now()
        review.save(update_fields=["completed_at", "updated_at"])
        profile, _created = KycProfile.objects.select_for_update().get_or_create(party=party)
        profile.last_review_on = today
        profile.save(update_fields=["last_review_on", "updated_at"])
        audit_record(
            actor=actor,
            action="kyc.review_complete",
            target=review,
            after={"outcome": outcome, "last_review_on": today.isoformat()},
            changed_secrets=["conclusion"],
        )
        event_record(
            type="compliance.kyc_review_completed",
            target=review,
            payload={"party": str(party.pk), "review": str(review.pk), "outcome": outcome},
        )
    # Rated as the system: the review's completer may not hold rate_party (a relationship
    # manager), and the review date must move forward in any case.
    from bankcrm.core.actor import SystemActor

    party_rate(actor=SystemActor("kyc.review"), party=party, trigger="kyc.review_complete")
    review.refresh_from_db()
    return review


def _active_users_with_role(code: str) -> Any:
    return (
        User.objects.filter(is_active=True, roles__code=code, roles__is_active=True)
        .select_related("org_unit")
        .order_by("pk")
        .distinct()
    )


def _branch_manager_of(party: Party) -> Any:
    """The branch manager of the party's unit or the nearest unit above it."""
    path = party.owning_unit.path
    candidates = [
        u
        for u in _active_users_with_role(Role.Code.BRANCH_MANAGER)
        if u.org_unit and path.startswith(u.org_unit.path)
    ]
    return max(candidates, key=lambda u: len(u.org_unit.path), default=None)


def _compliance_officer() -> Any:
    return _active_users_with_role(Role.Code.COMPLIANCE_OFFICER).first()


def _relationship_manager(party: Party) -> Any:
    portfolio = party.portfolio if party.portfolio_id else None
    if portfolio is not None and portfolio.manager.is_active:
        return portfolio.manager
    return None


def _task_create(
    *,
    actor: Any,
    owner: Any,
    party: Party,
    title: str,
    description: str,
    due_on: dt.date | None,
    priority: str,
) -> Any:
    from bankcrm.customers.services import task_create

    return task_create(
        actor=actor,
        title=title[:200],
        owner=owner,
        party=party,
        due_on=due_on,
        priority=priority,
        description=description,
    )


def kyc_reviews_escalate_overdue(*, actor: Any, today: dt.date | None = None) -> int:
    """Escalate each review past its due date once: stamp
    ``escalated_at`` and give the compliance officer and the branch manager a task.
    Returns the number of reviews escalated."""
    _require_perm(actor, "compliance.change_kycreview")
    today = today or bank_today()
    now = timezone.now()
    overdue = (
        KycReview.objects.filter(completed_at__isnull=True, escalated_at__isnull=True)
        .filter(due_on__lt=today)
        .select_related("party", "party__owning_unit", "party__portfolio__manager")
        .order_by("due_on", "pk")
    )
    officer = _compliance_officer()
    count = 0
    for review in overdue.iterator(chunk_size=500):
        owners = [u for u in (officer, _branch_manager_of(review.party)) if u is not None]
        with transaction.atomic():
            if not KycReview.objects.filter(pk=review.pk, escalated_at__isnull=True).update(
                escalated_at=now
            ):
                continue  # escalated by a run at the same time
            for owner in {u.pk: u for u in owners}.values():
                _task_create(
                    actor=actor,
                    owner=owner,
                    party=review.party,
                    title=_("Overdue KYC review of %(name)s (due %(date)s)")
                    % {"name": review.party.display_name, "date": review.due_on.isoformat()},
                    description=_(
                        "The %(kind)s review %(pk)s is overdue: see that it is completed."
                    )
                    % {"kind": review.get_kind_display(), "pk": review.pk},
                    due_on=today,
                    priority="urgent",
                )
            audit_record(
                actor=actor,
                action="kyc.review_escalate",
                target=review,
                after={"escalated_to": [u.pk for u in owners]},
            )
            event_record(
                type="compliance.kyc_review_escalated",
                target=review,
                payload={
                    "party": str(review.party_id),
                    "review": str(review.pk),
                    "due_on": review.due_on.isoformat(),
                },
            )
        count += 1
    return count


def documents_expiry_tasks(
    *, actor: Any, today: dt.date | None = None, days_ahead: int = 30
) -> int:
    """Give a task to renew each identity document (resident ID, passport, business licence)
    that expires within ``days_ahead`` days, once per document and expiry date (the audit
    trail records that the task was given). Returns the number of tasks created."""
    _require_perm(actor, "compliance.change_kycprofile")
    today = today or bank_today()
    horizon = today + dt.timedelta(days=days_ahead)
    documents = list(
        Identifier.objects.filter(
            type__in=EXPIRING_TYPES,
            expires_on__isnull=False,
            expires_on__lte=horizon,
            expires_on__gte=today,
        )
        .exclude(party__status=Party.Status.CLOSED)
        .select_related("party", "party__owning_unit", "party__portfolio__manager")
        .order_by("expires_on", "pk")
    )
    done: set[tuple[str, str]] = set()
    keys = [str(d.pk) for d in documents]
    for start in range(0, len(keys), 1000):
        for object_pk, after in AuditEvent.objects.filter(
            action=DOCUMENT_EXPIRY_ACTION,
            object_type="customers.identifier",
            object_pk__in=keys[start : start + 1000],
        ).values_list("object_pk", "after"):
            done.add((object_pk, str((after or {}).get("expires_on"))))
    officer = _compliance_officer()
    count = 0
    for document in documents:
        if (str(document.pk), document.expires_on.isoformat()) in done:
            continue
        party = document.party
        owner = _relationship_manager(party) or _branch_manager_of(party) or officer
        if owner is None:
            logger.warning("kyc: nobody to remind of document %s expiring", document.pk)
            continue
        with transaction.atomic():
            task = _task_create(
                actor=actor,
                owner=owner,
                party=party,
                title=_("%(document)s of %(name)s expires on %(date)s")
                % {
                    "document": document.get_type_display(),
                    "name": party.display_name,
                    "date": document.expires_on.isoformat(),
                },
                description=_(
                    "Ask the customer for the renewed document and record it before it lapses."
                ),
                due_on=document.expires_on,
                priority="high",
            )
            audit_record(
                actor=actor,
                action=DOCUMENT_EXPIRY_ACTION,
                object_type="customers.identifier",
                object_pk=document.pk,
                object_repr=f"{document.get_type_display()} of {party.pk}",
                after={"expires_on": document.expires_on.isoformat(), "task": task.pk},
            )
        count += 1
    return count


def periodic_reviews_open(*, actor: Any, today: dt.date | None = None) -> int:
    """Open a periodic review for each customer whose next review falls due within the policy's
    ``review_lead_days`` (at most ``max_reviews_per_night``, earliest first). Returns the count."""
    _require_perm(actor, "compliance.add_kycreview")
    spec = active_policy().spec
    today = today or bank_today()
    horizon = today + dt.timedelta(days=int(spec.get("review_lead_days") or 30))
    limit = int(spec.get("max_reviews_per_night") or 5000)
    due = (
        KycProfile.objects.filter(next_review_on__lte=horizon)
        .exclude(party__status=Party.Status.CLOSED)
        .exclude(
            party_id__in=KycReview.objects.filter(completed_at__isnull=True).values("party_id")
        )
        .select_related("party", "party__portfolio__manager")
        .order_by("next_review_on", "pk")[:limit]
    )
    count = 0
    for profile in due:
        _review_create(
            actor=actor,
            party=profile.party,
            kind=KycReview.Kind.PERIODIC,
            reason=f"Periodic review ({profile.risk_band or 'unrated'} risk)",
            spec=spec,
            due_on=max(profile.next_review_on or today, today),
        )
        count += 1
    return count


def trigger_review_open(*, actor: Any, party: Party, reason: str) -> KycReview:
    """An event-driven review (ownership changed, rating raised), unless one is in progress."""
    return _review_ensure_open(
        actor=actor,
        party=party,
        kind=KycReview.Kind.TRIGGER,
        reason=reason,
        spec=active_policy().spec,
    )


# --- Enhanced due diligence ------------------------------------------------------------------


def edd_submit(
    *, actor: Any, party: Party, source_of_wealth: str, source_of_funds: str, notes: str = ""
) -> EddRecord:
    """Record the source of wealth and of funds of a PEP or high-risk customer and ask senior
    management to approve it (maker-checker ``compliance.approve_edd``; never the maker)."""
    _require_perm(actor, "compliance.add_eddrecord", party)
    errors: dict[str, list[ValidationError]] = {}
    if not (source_of_wealth or "").strip():
        errors["source_of_wealth"] = [
            ValidationError(_("Describe the source of wealth."), code="required")
        ]
    if not (source_of_funds or "").strip():
        errors["source_of_funds"] = [
            ValidationError(_("Describe the source of funds."), code="required")
        ]
    if errors:
        raise ValidationError(errors)
    if EddRecord.objects.filter(party=party, status=EddRecord.Status.PENDING).exists():
        raise _invalid(
            "party", _("An enhanced due diligence record already awaits approval."), "edd_pending"
        )
    with transaction.atomic():
        record = EddRecord.objects.create(
            party=party,
            source_of_wealth=source_of_wealth.strip(),
            source_of_funds=source_of_funds.strip(),
            notes=(notes or "").strip(),
            requested_by=actor,
        )
        audit_record(
            actor=actor,
            action="kyc.edd_submit",
            target=record,
            after={"status": record.status},
            changed_secrets=["source_of_wealth", "source_of_funds", "notes"],
        )
        approval = approval_request(
            actor=actor,
            action=EDD_ACTION,
            payload={"edd_record": str(record.pk), "party": str(party.pk)},
            reason=_("Enhanced due diligence of %(name)s") % {"name": party.display_name},
            target=record,
        )
        record.approval = approval
        record.save(update_fields=["approval", "updated_at"])
    return record


def edd_approve_apply(*, actor: Any, payload: Mapping[str, Any], approval: Any) -> EddRecord:
    """The approval handler: the checker (holding ``compliance.approve_eddrecord``, never the
    maker) approves the record; the customer stays under enhanced due diligence."""
    with transaction.atomic():
        record = (
            EddRecord.objects.select_for_update()
            .select_related("party")
            .filter(pk=payload.get("edd_record"))
            .first()
        )
        if record is None:
            raise _invalid(
                "edd_record", _("The enhanced due diligence record no longer exists."), "not_found"
            )
        if record.status != EddRecord.Status.PENDING:
            raise _invalid("edd_record", _("This record is already decided."), "decided")
        if record.requested_by_id == getattr(actor, "pk", None):
            raise PermissionDenied(_("You cannot approve your own enhanced due diligence."))
        record.status = EddRecord.Status.APPROVED
        record.decided_by = actor
        record.decided_at = timezone.now()
        record.save(update_fields=["status", "decided_by", "decided_at", "updated_at"])
        profile, _created = KycProfile.objects.select_for_update().get_or_create(party=record.party)
        if profile.due_diligence != KycProfile.DueDiligence.ENHANCED:
            profile.due_diligence = KycProfile.DueDiligence.ENHANCED
            profile.save(update_fields=["due_diligence", "updated_at"])
        audit_record(
            actor=actor,
            action="kyc.edd_approve",
            target=record,
            before={"status": "pending"},
            after={"status": record.status},
        )
        event_record(
            type="compliance.edd_approved",
            target=record,
            payload={"party": str(record.party_id), "edd_record": str(record.pk)},
        )
    return record


def edd_reject_record(*, approval_pk: int, actor: Any) -> int:
    """Mark the EDD record of a rejected or cancelled approval as rejected (idempotent)."""
    with transaction.atomic():
        records = list(
            EddRecord.objects.select_for_update().filter(
                approval_id=approval_pk, status=EddRecord.Status.PENDING
            )
        )
        for record in records:
            record.status = EddRecord.Status.REJECTED
            record.decided_at = timezone.now()
            record.save(update_fields=["status", "decided_at", "updated_at"])
            audit_record(
                actor=actor,
                action="kyc.edd_reject",
                target=record,
                before={"status": "pending"},
                after={"status": record.status},
            )
    return len(records)
