"""A campaign's audience at launch, drawn and queued in SQL.

* Every customer of the target segment (a dynamic segment evaluated at launch within the
  campaign's unit; a static one as snapshotted) becomes one :class:`CampaignTarget`.
* Suppressed first, with the first reason that applies, in this order: closed customer,
  deceased, do not contact, sanctions screening hit, open complaint, already holds the
  offered product, no consent for any of the campaign's channels, contact limit reached.
* The rest are drawn: ``draw = int.from_bytes(sha256(f"{seed}:{party_pk}").digest()[:8]) / 2**64``;
  below the control share the customer is held back (control), otherwise treated, with the
  variant chosen by a second draw (``f"{seed}:variant:{party_pk}"``) over the variants'
  weights in code order. The draw is recorded on every target, so the groups can be
  recomputed by anyone holding the seed (:func:`party_draw`).
* One queued :class:`CampaignMessage` per treatment customer and channel on which the customer
  may be reached (a granted consent of the channel's purpose on a contact point of its kind;
  the banner needs none).

Targets and messages are written by ``INSERT … SELECT``: the database computes the reasons,
the draws and the contact points (PostgreSQL hashes with ``sha256()``; SQLite, the embedded
default, through a registered function), so a million customers never pass through Python.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import (
    Case,
    CharField,
    Count,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)

from bankcrm.banking.models import Account, AccountRole
from bankcrm.compliance.selectors_contact import sanctions_hit_party_ids
from bankcrm.customers.models import Consent, ContactPoint, Party
from bankcrm.customers.selectors_consent import consent_granted_exists
from bankcrm.support.selectors_contact import open_complaint_party_ids

from .language import customer_language_expression
from .models import (
    Campaign,
    CampaignMessage,
    CampaignTarget,
    CampaignVariant,
    Segment,
    SegmentMember,
)
from .models.campaigns import Channel
from .segments.compiler import segment_parties

Suppression = CampaignTarget.Suppression

# The order in which suppression reasons are tested: the first that applies is recorded.
SUPPRESSION_ORDER: tuple[str, ...] = (
    Suppression.INACTIVE,
    Suppression.DECEASED,
    Suppression.DO_NOT_CONTACT,
    Suppression.SANCTIONS_HIT,
    Suppression.OPEN_COMPLAINT,
    Suppression.HOLDS_PRODUCT,
    Suppression.NO_CONSENT,
    Suppression.FREQUENCY_CAP,
)

# Each channel's consent purpose and the kind of contact point it is given on.
CHANNEL_CONSENT: dict[str, tuple[str, str] | None] = {
    Channel.EMAIL: ("email_marketing", ContactPoint.Kind.EMAIL),
    Channel.SMS: ("sms_marketing", ContactPoint.Kind.PHONE),
    Channel.CALL: ("phone_marketing", ContactPoint.Kind.PHONE),
    Channel.BANNER: None,
}

_TWO_64 = 2**64
_SQLITE_DRAW = "bankcrm_marketing_draw"


# --- The draw --------------------------------------------------------------------------------


def draw_fraction(key: str) -> float:
    """The position in [0, 1) of ``key`` in the seeded draw (first 8 bytes of its SHA-256)."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / _TWO_64


def party_draw(seed: int, party_pk: Any) -> float:
    """A customer's control-group draw for a campaign's seed."""
    return draw_fraction(f"{seed}:{party_pk}")


def party_variant_draw(seed: int, party_pk: Any) -> float:
    """A customer's variant draw for a campaign's seed."""
    return draw_fraction(f"{seed}:variant:{party_pk}")


def holdout_share(campaign: Campaign) -> float:
    """The control group's share as a fraction (10 per cent: 0.1)."""
    return float(Decimal(str(campaign.holdout_percent)) / 100)


def variant_thresholds(variants: list[CampaignVariant]) -> list[tuple[float, int]]:
    """(upper bound of the variant draw, variant pk) in code order; zero weights left out."""
    weighted = [variant for variant in sorted(variants, key=lambda v: v.code) if variant.weight]
    total = sum(variant.weight for variant in weighted)
    bounds: list[tuple[float, int]] = []
    running = 0
    for variant in weighted:
        running += variant.weight
        bounds.append((running / total, variant.pk))
    return bounds


def expected_group(
    *, campaign: Campaign, party_pk: Any, variants: list[CampaignVariant]
) -> tuple[str, int | None]:
    """The group and variant a not-suppressed customer is drawn into (the reference of the
    SQL draw)."""
    if party_draw(campaign.holdout_seed, party_pk) < holdout_share(campaign):
        return CampaignTarget.Group.CONTROL, None
    second = party_variant_draw(campaign.holdout_seed, party_pk)
    bounds = variant_thresholds(variants)
    for bound, variant_pk in bounds:
        if second < bound:
            return CampaignTarget.Group.TREATMENT, variant_pk
    return CampaignTarget.Group.TREATMENT, bounds[-1][1] if bounds else None


def _sqlite_draw(prefix: str, party_key: str) -> float:
    return draw_fraction(f"{prefix}{uuid.UUID(str(party_key))}")


def _register_sqlite_draw() -> None:
    connection.ensure_connection()
    raw = connection.connection
    raw.create_function(_SQLITE_DRAW, 2, _sqlite_draw, deterministic=True)


def _hex_fraction(column: str) -> str:
    """PostgreSQL: the first 16 hex digits of ``column`` as an unsigned fraction of 2**64,
    equal to Python's ``int / 2**64``: the two 32-bit halves are exact in float8, their sum
    is rounded once (as Python rounds the integer), and dividing by 2**64 is exact."""
    high = f"('x' || substr({column}, 1, 8))::bit(32)::bigint::float8"
    low = f"('x' || substr({column}, 9, 8))::bit(32)::bigint::float8"
    return f"(({high} * 4294967296::float8 + {low}) / {_TWO_64}::float8)"


# --- Who: the segment's customers and why some are suppressed --------------------------------


def segment_party_ids(campaign: Campaign) -> QuerySet[Any]:
    """Primary keys of the customers of the campaign's segment within its unit: a dynamic
    segment evaluated now, a static one as snapshotted."""
    segment = campaign.segment
    if segment.kind == Segment.Kind.DYNAMIC:
        parties = segment_parties(
            definition=segment.definition, scope_unit=campaign.owning_unit, segment_pk=segment.pk
        )
        return parties.order_by().values("pk")
    return (
        SegmentMember.objects.filter(
            segment_id=segment.pk, party__owning_unit__path__startswith=campaign.owning_unit.path
        )
        .order_by()
        .values("party_id")
    )


def _holders_of(campaign: Campaign) -> Q | None:
    offer = campaign.offer
    if offer is None:
        return None
    product_id = offer.product_id
    open_accounts = Account.objects.filter(product_id=product_id).exclude(
        status=Account.Status.CLOSED
    )
    owners = open_accounts.order_by().values("owner_id")
    holders = AccountRole.objects.filter(account__in=open_accounts.values("pk")).order_by()
    return Q(pk__in=owners) | Q(pk__in=holders.values("party_id"))


def _reachable_on_any(channels: list[str]) -> Q | None:
    """Customers reachable on at least one channel; None when one channel needs no consent."""
    condition = Q(pk__in=[])
    for channel in channels:
        rule = CHANNEL_CONSENT.get(channel)
        if rule is None:
            return None
        condition |= Q(consent_granted_exists(rule[0]))
    return condition


def _capped(now: dt.datetime) -> Q | None:
    """Customers at the contact limit; None when the limit is off (0)."""
    if int(settings.MARKETING_FREQUENCY_CAP) <= 0:
        return None
    since = now - dt.timedelta(days=settings.MARKETING_FREQUENCY_DAYS)
    capped = (
        CampaignMessage.objects.filter(sent_at__gte=since, sent_at__lte=now)
        # Banners wait on the 360 page for a visit: like the sender, the limit counts the
        # messages that reach out (e-mail, SMS, calls).
        .exclude(channel=Channel.BANNER)
        .order_by()
        .values("party_id")
        .annotate(sent=Count("id"))
        .filter(sent__gte=settings.MARKETING_FREQUENCY_CAP)
        .values("party_id")
    )
    return Q(pk__in=capped)


def suppression_expression(campaign: Campaign, now: dt.datetime) -> Case:
    """The first suppression reason of a customer (Party row), or "" when none applies."""
    reasons: list[tuple[str, Q | None]] = [
        (Suppression.INACTIVE, Q(status=Party.Status.CLOSED)),
        (Suppression.DECEASED, Q(deceased_on__isnull=False)),
        (Suppression.DO_NOT_CONTACT, Q(do_not_contact=True)),
        (Suppression.SANCTIONS_HIT, Q(pk__in=sanctions_hit_party_ids())),
        (Suppression.OPEN_COMPLAINT, Q(pk__in=open_complaint_party_ids())),
        (Suppression.HOLDS_PRODUCT, _holders_of(campaign)),
    ]
    reachable = _reachable_on_any(list(campaign.channels))
    reasons.append((Suppression.NO_CONSENT, None if reachable is None else ~reachable))
    reasons.append((Suppression.FREQUENCY_CAP, _capped(now)))
    whens = [
        When(condition, then=Value(str(reason)))
        for reason, condition in reasons
        if condition is not None
    ]
    return Case(*whens, default=Value(""), output_field=CharField())


def audience_candidates(campaign: Campaign, now: dt.datetime) -> QuerySet[Any]:
    """(party pk, suppression reason, language) of every customer of the audience."""
    segment = campaign.segment
    if segment.kind == Segment.Kind.DYNAMIC:
        # The segment's own query, annotated: no second pass over the customers to find
        # those it selected.
        parties = segment_parties(
            definition=segment.definition, scope_unit=campaign.owning_unit, segment_pk=segment.pk
        )
    else:
        parties = Party.objects.filter(pk__in=segment_party_ids(campaign))
    return (
        parties.annotate(
            m_suppression=suppression_expression(campaign, now),
            m_language=customer_language_expression(),
        )
        .order_by()
        .values_list("pk", "m_suppression", "m_language")
    )


# --- Writing the audience and the messages ---------------------------------------------------


def _column(model: Any, name: str) -> str:
    return connection.ops.quote_name(model._meta.get_field(name).column)


def _table(model: Any) -> str:
    return connection.ops.quote_name(model._meta.db_table)


# Memory PostgreSQL may give each sort and hash of the launch (its transaction only). The
# suppression sets (holders of the product, consents, recent messages) of a million-customer
# audience exceed the default 4 MB; below this they are probed once per customer instead of
# hashed once, and the launch takes minutes instead of seconds.
LAUNCH_WORK_MEM = "256MB"


def _launch_memory() -> None:
    if connection.vendor == "postgresql" and connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('work_mem', %s, true)", [LAUNCH_WORK_MEM])


def audience_draw(*, campaign: Campaign, now: dt.datetime) -> int:
    """Insert the campaign's targets (suppressed, control, treatment with their variant) in
    one statement; returns the number of targets."""
    _launch_memory()
    candidates_sql, candidates_params = audience_candidates(campaign, now).query.sql_with_params()
    variants = list(CampaignVariant.objects.filter(campaign_id=campaign.pk))
    bounds = variant_thresholds(variants)
    share = holdout_share(campaign)
    prefix = f"{campaign.holdout_seed}:"
    variant_prefix = f"{campaign.holdout_seed}:variant:"
    if connection.vendor == "postgresql":
        draws_sql = (
            # Each step MATERIALIZED: inlined, PostgreSQL would evaluate the suppression
            # reasons and the hashes once per reference to them (several per row).
            "hashed AS MATERIALIZED (SELECT party_id, suppression, language,"  # noqa: S608  # nosec B608
            " encode(sha256(convert_to(%s || party_id::text, 'UTF8')), 'hex') AS h1,"
            " encode(sha256(convert_to(%s || party_id::text, 'UTF8')), 'hex') AS h2"
            " FROM candidates),"
            " drawn AS MATERIALIZED (SELECT party_id, suppression, language,"
            f" {_hex_fraction('h1')} AS draw, {_hex_fraction('h2')} AS vdraw FROM hashed)"
        )
    else:
        _register_sqlite_draw()
        draws_sql = (
            "drawn AS (SELECT party_id, suppression, language,"  # noqa: S608  # nosec B608
            f" {_SQLITE_DRAW}(%s, party_id) AS draw, {_SQLITE_DRAW}(%s, party_id) AS vdraw"
            " FROM candidates)"
        )
    variant_params: list[Any] = []
    variant_sql = "NULL"
    if len(bounds) == 1:
        variant_sql = "%s"
        variant_params.append(bounds[0][1])
    elif bounds:
        parts = []
        for bound, variant_pk in bounds[:-1]:
            parts.append("WHEN vdraw < %s THEN %s")
            variant_params += [bound, variant_pk]
        parts.append("ELSE %s")
        variant_params.append(bounds[-1][1])
        variant_sql = "CASE " + " ".join(parts) + " END"
    # Without variants the column takes a bare NULL (typed by the column, not by a CASE).
    variant_case = "NULL"
    if bounds:
        variant_case = f"CASE WHEN suppression <> '' OR draw < %s THEN NULL ELSE {variant_sql} END"
        variant_params = [share, *variant_params]
    materialized = "MATERIALIZED " if connection.vendor == "postgresql" else ""
    target = CampaignTarget
    columns = ", ".join(
        _column(target, name)
        for name in (
            "campaign",
            "party",
            "group",
            "variant",
            "suppression",
            "draw",
            "language",
            "conversion_ref",
        )
    )
    sql = (
        f"WITH candidates(party_id, suppression, language) AS {materialized}({candidates_sql}), "  # noqa: S608  # nosec B608
        f"{draws_sql} "
        f"INSERT INTO {_table(target)} ({columns}) "
        "SELECT %s, party_id, "
        "CASE WHEN suppression <> '' THEN 'suppressed' WHEN draw < %s THEN 'control' "
        "ELSE 'treatment' END, "
        f"{variant_case}, "
        "suppression, draw, language, '' FROM drawn"
    )
    params = [
        *candidates_params,
        prefix,
        variant_prefix,
        campaign.pk,
        share,
        *variant_params,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)


def audience_analyze() -> None:
    """PostgreSQL: refresh the planner's figures of the targets just written (in the launch's
    transaction), so that queueing joins a million targets to their contact points with
    hashes, not one index probe per target."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {_table(CampaignTarget)}")  # nosec B608


def _channel_sources_postgresql(campaign: Campaign, purpose: str, kind: str) -> tuple[str, list]:
    """The same rows as :func:`_channel_sources` as one join with ``DISTINCT ON``: PostgreSQL
    hashes the contact points and consents once instead of probing them per customer."""
    target, point, consent = CampaignTarget, ContactPoint, Consent
    sql = (
        f"SELECT DISTINCT ON (t.id) t.id, t.{_column(target, 'party')},"  # noqa: S608  # nosec B608
        f" t.{_column(target, 'variant')}, cp.id"
        f" FROM {_table(target)} t"
        f" JOIN {_table(point)} cp ON cp.{_column(point, 'party')} = t.{_column(target, 'party')}"
        f" AND cp.{_column(point, 'kind')} = %s"
        f" JOIN {_table(consent)} k ON k.{_column(consent, 'contact_point')} = cp.id"
        f" AND k.{_column(consent, 'purpose')} = %s AND k.{_column(consent, 'status')} = %s"
        f" WHERE t.{_column(target, 'campaign')} = %s AND t.{_column(target, 'group')} = %s"
        f" ORDER BY t.id, cp.{_column(point, 'is_primary')} DESC, cp.id"
    )
    return sql, [kind, purpose, Consent.Status.GRANTED, campaign.pk, CampaignTarget.Group.TREATMENT]


def _channel_sources(campaign: Campaign, channel: str) -> QuerySet[Any]:
    """(target, party, variant, contact point) of each treatment customer reachable on
    ``channel``."""
    treated = CampaignTarget.objects.filter(
        campaign_id=campaign.pk, group=CampaignTarget.Group.TREATMENT
    ).order_by()
    rule = CHANNEL_CONSENT.get(channel)
    if rule is None:
        return treated.values_list("pk", "party_id", "variant_id")
    purpose, kind = rule
    points = (
        ContactPoint.objects.filter(party_id=OuterRef("party_id"), kind=kind)
        .filter(consent_granted_exists(purpose, party_ref="party_id", contact_point_ref="pk"))
        .order_by("-is_primary", "pk")
        .values("pk")[:1]
    )
    return (
        treated.annotate(m_point=Subquery(points))
        .filter(m_point__isnull=False)
        .values_list("pk", "party_id", "variant_id", "m_point")
    )


def messages_queue(*, campaign: Campaign, now: dt.datetime) -> dict[str, int]:
    """Queue one message per treatment customer and reachable channel; the count per
    channel."""
    message = CampaignMessage
    columns = ", ".join(
        _column(message, name)
        for name in (
            "target",
            "party",
            "variant",
            "contact_point",
            "campaign",
            "channel",
            "status",
            "detail",
            "attempts",
            "queued_at",
            "provider_ref",
        )
    )
    queued_at = connection.ops.adapt_datetimefield_value(now)
    counts: dict[str, int] = {}
    audience_analyze()
    with connection.cursor() as cursor:
        for channel in campaign.channels:
            rule = CHANNEL_CONSENT.get(channel)
            if connection.vendor == "postgresql" and rule is not None:
                source_sql, source_params = _channel_sources_postgresql(campaign, *rule)
            else:
                query = _channel_sources(campaign, channel).query
                source_sql, source_params = query.sql_with_params()
            # The banner needs no contact point: NULL typed by the column it goes into.
            with_point = CHANNEL_CONSENT.get(channel) is not None
            point = "contact_point_id" if with_point else "NULL"
            names = "target_id, party_id, variant_id" + (", contact_point_id" if with_point else "")
            sql = (
                f"WITH source({names}) AS ({source_sql}) "  # noqa: S608  # nosec B608
                f"INSERT INTO {_table(message)} ({columns}) "
                f"SELECT target_id, party_id, variant_id, {point}, %s, %s, %s, '', 0, %s, ''"
                " FROM source"
            )
            cursor.execute(
                sql,
                [
                    *source_params,
                    campaign.pk,
                    channel,
                    CampaignMessage.Status.QUEUED,
                    queued_at,
                ],
            )
            counts[channel] = int(cursor.rowcount)
    return counts


# --- Figures ---------------------------------------------------------------------------------


def audience_figures(campaign: Campaign) -> dict[str, Any]:
    """Counts of the drawn audience: per group, per suppression reason (every reason, in
    order), per variant (treatment and control share none), and queued messages per channel."""
    groups = {value: 0 for value in CampaignTarget.Group.values}
    reasons = {str(reason): 0 for reason in SUPPRESSION_ORDER}
    rows = (
        CampaignTarget.objects.filter(campaign_id=campaign.pk)
        .order_by()
        .values_list("group", "suppression")
        .annotate(n=Count("id"))
    )
    for group, reason, count in rows:
        groups[group] = groups.get(group, 0) + count
        if group == CampaignTarget.Group.SUPPRESSED:
            reasons[reason] = reasons.get(reason, 0) + count
    variants: dict[str, int] = {
        code: 0
        for code in CampaignVariant.objects.filter(campaign_id=campaign.pk)
        .order_by("code")
        .values_list("code", flat=True)
    }
    per_variant = (
        CampaignTarget.objects.filter(
            campaign_id=campaign.pk, group=CampaignTarget.Group.TREATMENT, variant__isnull=False
        )
        .order_by()
        .values_list("variant__code")
        .annotate(n=Count("id"))
    )
    for code, count in per_variant:
        variants[code] = count
    queued = {str(channel): 0 for channel in campaign.channels}
    per_channel = (
        CampaignMessage.objects.filter(campaign_id=campaign.pk)
        .order_by()
        .values_list("channel")
        .annotate(n=Count("id"))
    )
    for channel, count in per_channel:
        queued[channel] = count
    return {
        "audience": sum(groups.values()),
        "treatment": groups[CampaignTarget.Group.TREATMENT],
        "control": groups[CampaignTarget.Group.CONTROL],
        "suppressed": groups[CampaignTarget.Group.SUPPRESSED],
        "suppression": reasons,
        "variants": variants,
        "queued": queued,
        "messages": sum(queued.values()),
    }
