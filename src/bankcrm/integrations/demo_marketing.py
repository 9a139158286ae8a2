"""The demo bank's marketing: consents, offers, segments, a propensity model, two campaigns
and a few next-best-offer decisions.

``seed_marketing(actor=, demo=)`` is a ``bankcrm demo`` seeder. As the bank's marketers would,
it:

* records the demo customers' consents on wording v1: e-mail and SMS marketing granted by
  about 70 per cent of those with an address or a phone, phone calls by about 40 per cent,
  profiling by about 80 per cent, from branch, online banking, app and paper forms over the
  past year; a few customers later withdraw one through their preference page, a few ask not
  to be contacted at all;
* puts three product offers in the catalogue (12-month term deposit, credit card, wealth
  product) with their values and eligibility rules, and three dynamic segments, evaluated;
* trains a term deposit propensity model on the demo bank's own customers (target: holds a
  term deposit), registers it and scores every customer, so the customer 360 page shows
  next best offers;
* runs an e-mail + SMS campaign for the term deposit that started five weeks before the
  demo's as-of date, approved by a second marketer: sent, partly opened, clicked and
  unsubscribed, with term deposits opened by more treatment than control customers within
  its window, so its report shows the uplift; and a running banner + call campaign for the
  wealth product in Shanghai Pudong, whose banners and call tasks reach the branch's
  relationship manager;
* has that relationship manager accept and dismiss a few next best offers.

The grants are written in bulk (one insert per table, one audit event with the counts, as the
customers themselves are); every other step goes through the module's services, so it is
audited as real work, and the campaign's history is dated back in one audited step. The same
seed gives the same choices. A second run adds nothing. Without demo customers nothing is done.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import tempfile
import time
import zoneinfo
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from bankcrm.access.models import Role, User
from bankcrm.audit.services import audit_record
from bankcrm.banking.models import Account, AccountRole, Product
from bankcrm.customers.models import (
    Consent,
    ConsentEvent,
    ConsentSource,
    ConsentText,
    ContactPoint,
    Party,
)

from .bulk import batched
from .demo import SOURCE
from .demo_staff import demo_user, staff_ensure

MAKER = "mm.huang"
CHECKER = ("mm.xie", "Lan", "Xie", "HO")
RM = "rm.zhang"
MODEL_NAME = "demo-term-deposit-propensity"
TD, CC, WM, SAVINGS = "TD-CNY", "CC-CNY", "WM-CNY", "SAV-CNY"
COMPLETED = "Term deposit spring offer (e-mail + SMS)"
RUNNING = "Pudong wealth review (banner + call)"
LAUNCH_DAYS_BEFORE = 35
# Seconds each step of the last run took (figures for the operator's guide).
TIMINGS: dict[str, float] = {}
CONVERSION_DAYS = 30

# (purpose, share of customers granting, contact kind or None)
GRANTS = (
    ("email_marketing", 0.70, ContactPoint.Kind.EMAIL),
    ("sms_marketing", 0.70, ContactPoint.Kind.PHONE),
    ("phone_marketing", 0.40, ContactPoint.Kind.PHONE),
    ("profiling", 0.80, None),
)
SOURCES = (
    ConsentSource.BRANCH,
    ConsentSource.ONLINE_BANKING,
    ConsentSource.MOBILE_APP,
    ConsentSource.PAPER_FORM,
)
WITHDRAW_SHARE = 0.04  # of the e-mail grants, withdrawn later on the preference page
DO_NOT_CONTACT_SHARE = 0.01

OFFERS: tuple[dict[str, Any], ...] = (
    {
        "code": "td-12m",
        "product": TD,
        "name": "12-month term deposit at 2.10 per cent",
        "name_zh": "12个月定期存款 年利率2.10%",
        "terms_en": "Fixed rate for 12 months from CNY 50,000; interest paid at maturity. "
        "Early withdrawal earns the demand rate.",
        "terms_zh": "起存金额5万元，12个月固定利率，到期付息；提前支取按活期利率计息。",
        "value": Decimal("1200.00"),
        "eligibility": {
            "all": [
                {"field": "party.kind", "op": "eq", "value": "person"},
                {"field": "person.age", "op": "gte", "value": 18},
            ]
        },
    },
    {
        "code": "cc-platinum",
        "product": CC,
        "name": "Platinum credit card, first year free",
        "name_zh": "白金信用卡 首年免年费",
        "terms_en": "No annual fee in the first year; 3 per cent back on dining for 6 months. "
        "Subject to credit approval.",
        "terms_zh": "首年免年费，6个月内餐饮消费返现3%。以审批结果为准。",
        "value": Decimal("900.00"),
        "eligibility": {
            "all": [
                {"field": "party.kind", "op": "eq", "value": "person"},
                {"field": "person.age", "op": "between", "value": [22, 65]},
                {"field": "person.income_band", "op": "ne", "value": "under_50k"},
            ]
        },
    },
    {
        "code": "wm-balanced",
        "product": WM,
        "name": "Balanced wealth portfolio",
        "name_zh": "稳健型理财组合",
        "terms_en": "A balanced portfolio from CNY 100,000, risk level R2; returns are not "
        "guaranteed.",
        "terms_zh": "起购金额10万元，风险等级R2，稳健型配置；收益不保证。",
        "value": Decimal("2500.00"),
        "eligibility": {
            "any": [
                {"field": "party.segment", "op": "in", "value": ["affluent", "private"]},
                {"field": "holdings.balance", "category": "savings", "op": "gte", "value": 100000},
            ]
        },
    },
)

SEGMENTS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    (
        "Salary customers without a term deposit",
        "Paid a salary into their account in at least two of the last three months and hold no "
        "term deposit.",
        {
            "all": [
                {
                    "field": "transactions.months_with",
                    "kind": "salary",
                    "direction": "credit",
                    "months": 3,
                    "op": "gte",
                    "value": 2,
                },
                {"not": {"field": "holdings.holds", "category": "term_deposit", "op": "is"}},
            ]
        },
    ),
    (
        "Affluent customers not contacted in 90 days",
        "Affluent and private banking customers nobody spoke to in the last 90 days.",
        {
            "all": [
                {"field": "party.segment", "op": "in", "value": ["affluent", "private"]},
                {"field": "party.days_since_contact", "op": "gte", "value": 90},
            ]
        },
    ),
    (
        "Branch Shanghai Pudong savers",
        "Customers of the Shanghai Pudong branch holding a savings account.",
        {
            "all": [
                {"field": "party.owning_unit", "op": "in", "value": ["SH-PD"]},
                {"field": "holdings.holds", "category": "savings", "op": "is"},
            ]
        },
    ),
)

# Model inputs: what the CRM knows before the outcome (the deposit balance includes the term
# deposit itself, so it is left out).
MODEL_FEATURES = (
    "age",
    "occupation_group",
    "holds_mortgage",
    "holds_other_loan",
    "loan_in_arrears",
    "contact_kind",
)

EMAIL_VARIANT = {
    "subject_en": "{{ name }}, lock in 2.10 per cent for 12 months",
    "subject_zh": "{{ name }}，12个月定期存款年利率2.10%",
    "html_en": "<p>Dear {{ name }},</p><p>{{ offer_name }}: {{ offer_terms }}</p>"
    '<p><a href="{{ click_url }}">Open a term deposit</a></p>'
    '<p><a href="{{ preference_url }}">Your preferences</a> · '
    '<a href="{{ unsubscribe_url }}">Unsubscribe</a></p>',
    "html_zh": "<p>尊敬的{{ name }}：</p><p>{{ offer_name }}：{{ offer_terms }}</p>"
    '<p><a href="{{ click_url }}">立即办理定期存款</a></p>'
    '<p><a href="{{ preference_url }}">偏好设置</a> · '
    '<a href="{{ unsubscribe_url }}">退订</a></p>',
    "text_en": "Dear {{ name }},\n{{ offer_name }}: {{ offer_terms }}\nOpen it: {{ click_url }}\n"
    "Unsubscribe: {{ unsubscribe_url }}",
    "text_zh": "尊敬的{{ name }}：\n{{ offer_name }}：{{ offer_terms }}\n办理：{{ click_url }}\n"
    "退订：{{ unsubscribe_url }}",
    # The sender adds the opt-out line with its signed link to every SMS.
    "sms_en": "Demo Bank: 12-month term deposit at 2.10 per cent. Details {{ click_url }}",
    "sms_zh": "【演示银行】12个月定期存款年利率2.10%，详情{{ click_url }}",
}
RUNNING_VARIANT = {
    "call_script": "Introduce the balanced wealth portfolio (R2, from CNY 100,000); check the "
    "customer's risk assessment is current before recommending it.",
    "banner_en": "Offer the balanced wealth portfolio: a savings customer of this branch.",
    "banner_zh": "推荐稳健型理财组合：本支行储蓄客户。",
}


def _draw(seed: int, *parts: Any) -> float:
    """A repeatable number in [0, 1) for ``parts`` under the demo's seed."""
    text = ":".join(str(part) for part in (seed, *parts))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") / 2**64


def _zone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(settings.BANK_TIMEZONE)


def _at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=_zone())


def seed_marketing(*, actor: Any, demo: Any) -> dict[str, int]:
    """Consents, offers, segments, a propensity model, two campaigns and offer decisions."""
    counts: Counter[str] = Counter()
    if not Party.objects.filter(source_system=SOURCE).exists():
        return {}
    seed = int(getattr(demo, "seed", 1) or 1)
    as_of = getattr(demo, "as_of", None) or timezone.localdate()
    maker = demo_user(MAKER)
    checkers = staff_ensure(
        actor=actor,
        demo=demo,
        role_code=Role.Code.MARKETING_MANAGER,
        people=[CHECKER],
        counts=counts,
        label="marketing managers",
    )
    if maker is None or not checkers:
        return dict(counts)
    clock = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        TIMINGS[step] = round(now - clock, 2)
        clock = now

    _consents(actor, demo, seed, as_of, counts)
    lap("consents")
    offers = _offers(maker, counts)
    segments = _segments(maker, counts)
    lap("offers and segments")
    _propensity(actor, as_of, counts)
    lap("propensity")
    _completed_campaign(actor, maker, checkers[0], offers["td-12m"], segments, seed, as_of, counts)
    lap("completed campaign")
    _running_campaign(maker, checkers[0], offers["wm-balanced"], segments, seed, counts)
    lap("running campaign")
    _decisions(offers, counts)
    lap("offer decisions")
    for label, number in sorted(counts.items()):
        if number:
            demo.note(f"{number} {label}")
    return {label: number for label, number in counts.items() if number}


# --- Consents ------------------------------------------------------------------------------


def _consents(actor: Any, demo: Any, seed: int, as_of: dt.date, counts: Counter[str]) -> None:
    from bankcrm.customers.services_consent import consent_withdraw, party_contact_flags_set

    texts = {text.purpose: text for text in ConsentText.objects.filter(version=1)}
    done = set(Consent.objects.values_list("party_id", flat=True).distinct())
    parties = list(
        Party.objects.filter(source_system=SOURCE)
        .order_by("source_id")
        .values_list("pk", flat=True)
    )
    points: dict[Any, dict[str, Any]] = {}
    for party_id, kind, pk in (
        ContactPoint.objects.filter(party__source_system=SOURCE, is_primary=True)
        .order_by("pk")
        .values_list("party_id", "kind", "pk")
    ):
        points.setdefault(party_id, {}).setdefault(kind, pk)
    zone = _zone()
    consents: list[Consent] = []
    for party_id in parties:
        if party_id in done:
            continue
        days_ago = 30 + int(_draw(seed, "consent-day", party_id) * 330)
        when = dt.datetime.combine(
            as_of - dt.timedelta(days=days_ago), dt.time(9 + days_ago % 8, days_ago % 60), zone
        )
        source = SOURCES[int(_draw(seed, "consent-source", party_id) * len(SOURCES))]
        for purpose, share, kind in GRANTS:
            point = points.get(party_id, {}).get(kind) if kind else None
            if kind and point is None:
                continue
            if _draw(seed, "consent", purpose, party_id) >= share:
                continue
            consents.append(
                Consent(
                    party_id=party_id,
                    purpose=purpose,
                    contact_point_id=point,
                    status=Consent.Status.GRANTED,
                    source=source,
                    text=texts.get(purpose),
                    granted_at=when,
                )
            )
    for batch in batched(consents, 1000):
        Consent.objects.bulk_create(batch)
    if consents:
        created = list(
            Consent.objects.filter(party_id__in={c.party_id for c in consents}).values_list(
                "pk", "party_id", "source", "text_id", "granted_at"
            )
        )
        events = [
            ConsentEvent(
                consent_id=pk,
                party_id=party_id,
                status=Consent.Status.GRANTED,
                lawful_basis="consent",
                source=source,
                text_id=text_id,
                occurred_at=granted_at,
                recorded_by_label="demo",
            )
            for pk, party_id, source, text_id, granted_at in created
        ]
        for batch in batched(events, 1000):
            ConsentEvent.objects.bulk_create(batch)
        audit_record(
            actor=actor,
            action="integrations.demo_seed",
            object_type="customers.consent",
            object_repr=f"{len(consents)} demo consents",
            after={
                "created": len(consents),
                "by_purpose": dict(Counter(c.purpose for c in consents)),
                "source_system": SOURCE,
            },
        )
        counts["consents granted"] += len(consents)
    # Later changes, each through the services: withdrawals on the preference page and
    # customers who asked not to be contacted at all.
    email_grants = Consent.objects.filter(
        party__source_system=SOURCE, purpose="email_marketing", status=Consent.Status.GRANTED
    ).select_related("party", "contact_point")
    for consent in email_grants.order_by("party__source_id"):
        if _draw(seed, "withdraw", consent.party_id) < WITHDRAW_SHARE:
            consent_withdraw(
                actor=actor,
                party=consent.party,
                purpose="email_marketing",
                source=ConsentSource.PREFERENCE_PAGE,
                contact_point=consent.contact_point,
                note="language=zh-hans",
            )
            counts["consents withdrawn"] += 1
    for party in Party.objects.filter(source_system=SOURCE, do_not_contact=False).order_by(
        "source_id"
    ):
        if _draw(seed, "do-not-contact", party.pk) < DO_NOT_CONTACT_SHARE:
            party_contact_flags_set(
                actor=actor,
                party=party,
                do_not_contact=True,
                reason="The customer asked by phone not to receive any marketing.",
            )
            counts["do-not-contact customers"] += 1


# --- Offers and segments -------------------------------------------------------------------


def _offers(maker: User, counts: Counter[str]) -> dict[str, Any]:
    from bankcrm.marketing.models import ProductOffer
    from bankcrm.marketing.services_offers import offer_create

    offers = {}
    for spec in OFFERS:
        offer = ProductOffer.objects.filter(code=spec["code"]).first()
        if offer is None:
            offer = offer_create(actor=maker, currency="CNY", **spec)
            counts["offers"] += 1
        offers[spec["code"]] = offer
    return offers


def _segments(maker: User, counts: Counter[str]) -> dict[str, Any]:
    from bankcrm.marketing.models import Segment
    from bankcrm.marketing.services_segments import segment_create, segment_evaluate

    segments = {}
    for name, description, definition in SEGMENTS:
        segment = Segment.objects.filter(name=name, is_archived=False).first()
        if segment is None:
            segment = segment_create(
                actor=maker,
                name=name,
                definition=definition,
                kind=Segment.Kind.DYNAMIC,
                owning_unit=maker.org_unit,
                description=description,
            )
            segment_evaluate(actor=maker, segment=segment)
            counts["segments"] += 1
        segments[name] = segment
    return segments


# --- Propensity ----------------------------------------------------------------------------


def _propensity(actor: Any, as_of: dt.date, counts: Counter[str]) -> None:
    from bankcrm.marketing.models import PropensityScore
    from bankcrm.marketing.propensity import features
    from bankcrm.marketing.propensity.registry import propensity_register
    from bankcrm.marketing.propensity.training import (
        PropensityDataError,
        PropensitySettings,
        load_learning_data,
        train,
    )
    from bankcrm.marketing.services_propensity import propensity_score_customers
    from bankcrm.risk.models import ModelVersion

    product = Product.objects.filter(code=TD).first()
    if product is None:
        return
    version = ModelVersion.objects.filter(name=MODEL_NAME).order_by("-version").first()
    if version is None:
        holders = set(
            AccountRole.objects.filter(
                account__product=product,
                role__in=features.HOLDER_ROLES,
            )
            .exclude(account__status=Account.Status.CLOSED)
            .values_list("party_id", flat=True)
        )
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "demo-term-deposit.csv"
            with path.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                writer.writerow([*MODEL_FEATURES, "holds_term_deposit"])
                rows = 0
                for frame in features.party_feature_batches(as_of=as_of):
                    for key, row in zip(frame.index, frame.itertuples(index=False), strict=True):
                        values = row._asdict()
                        writer.writerow(
                            [
                                *(
                                    "" if values[name] != values[name] else values[name]
                                    for name in MODEL_FEATURES
                                ),
                                "yes" if key in holders else "no",
                            ]
                        )
                        rows += 1
            try:
                data = load_learning_data(path, target="holds_term_deposit", positive="yes")
                trained = train(data, PropensitySettings(method="logistic", folds=3))
            except PropensityDataError:
                return  # too few customers of one outcome to learn from: no model
        version = propensity_register(
            actor=actor,
            name=MODEL_NAME,
            trained=trained,
            description="Term deposit propensity learnt from the demo bank's own customers.",
            product=TD,
        )
        counts["propensity models"] += 1
    if not PropensityScore.objects.filter(product=product).exists():
        counts["propensity scores"] += propensity_score_customers(
            model_version=version, product=product, actor=actor, as_of=as_of
        )


# --- Campaigns -----------------------------------------------------------------------------


def _approved(maker: User, checker: User, campaign: Any) -> Any:
    from bankcrm.core.services_approvals import approval_approve
    from bankcrm.marketing.services_campaigns import campaign_submit

    approval = campaign_submit(actor=maker, campaign=campaign, comment="Ready for launch.")
    approval_approve(
        actor=checker, approval_pk=approval.pk, comment="Content and audience checked."
    )
    campaign.refresh_from_db()
    return campaign


def _send_all(campaign: Any, now: dt.datetime | None) -> int:
    from bankcrm.marketing.services_sending import campaign_send_batch

    sent = 0
    for _round in range(10_000):
        figures = campaign_send_batch(campaign_id=campaign.pk, limit=1000, now=now)
        sent += int(figures["sent"])
        if not figures["remaining"] or not figures["claimed"]:
            break
    return sent


def _completed_campaign(
    actor: Any,
    maker: User,
    checker: User,
    offer: Any,
    segments: dict[str, Any],
    seed: int,
    as_of: dt.date,
    counts: Counter[str],
) -> None:
    from bankcrm.banking.services import account_open
    from bankcrm.marketing import tracking
    from bankcrm.marketing.models import Campaign, CampaignMessage, CampaignTarget
    from bankcrm.marketing.services_campaigns import (
        campaign_create,
        campaign_launch,
        campaign_variant_save,
    )
    from bankcrm.marketing.services_conversions import conversions_detect, conversions_detect_all
    from bankcrm.marketing.services_sending import message_event

    if Campaign.objects.filter(name=COMPLETED).exists():
        return
    launch_day = as_of - dt.timedelta(days=LAUNCH_DAYS_BEFORE)
    launched = _at(launch_day, 10)
    campaign = campaign_create(
        actor=maker,
        name=COMPLETED,
        objective=Campaign.Objective.CROSS_SELL,
        description="12-month term deposit to salaried customers, by e-mail and SMS.",
        offer=offer,
        segment=segments[SEGMENTS[0][0]],
        channels=["email", "sms"],
        owning_unit=maker.org_unit,
        starts_at=timezone.now() + dt.timedelta(hours=1),
        ends_at=timezone.now() + dt.timedelta(days=CONVERSION_DAYS),
        holdout_percent=Decimal("20"),
        holdout_seed=seed,
        conversion_days=CONVERSION_DAYS,
        cost_fixed=Decimal("5000"),
        cost_per_message={"email": "0.02", "sms": "0.06"},
        landing_url="https://www.demo-bank.example/deposits/12-months",
    )
    campaign_variant_save(actor=maker, campaign=campaign, code="A", weight=1, **EMAIL_VARIANT)
    campaign_variant_save(
        actor=maker,
        campaign=campaign,
        code="B",
        weight=1,
        **{
            **EMAIL_VARIANT,
            "subject_en": "{{ name }}, your savings could earn more",
            "subject_zh": "{{ name }}，让您的储蓄多赚一点",
        },
    )
    campaign = _approved(maker, checker, campaign)
    # The campaign ran five weeks ago: the audience is drawn and the messages sent then.
    campaign_launch(campaign=campaign, now=launched, actor=maker)
    counts["campaign messages sent"] += _send_all(campaign, launched)
    counts["campaigns"] += 1
    messages = list(
        CampaignMessage.objects.filter(campaign=campaign, status=CampaignMessage.Status.SENT)
        .order_by("pk")
        .values_list("pk", "channel", "party_id")
    )
    for pk, channel, party_id in messages:
        if channel != "email":
            continue
        roll = _draw(seed, "email", party_id)
        later = launched + dt.timedelta(hours=1 + int(roll * 96))
        if roll < 0.45:
            message_event(token=tracking.message_token(pk, tracking.OPEN), kind="open", now=later)
            counts["e-mails opened"] += 1
        if roll < 0.15:
            message_event(
                token=tracking.message_token(pk, tracking.CLICK),
                kind="click",
                now=later + dt.timedelta(minutes=3),
            )
            counts["e-mails clicked"] += 1
        elif roll > 0.97:
            message_event(
                token=tracking.message_token(pk, tracking.UNSUBSCRIBE),
                kind="unsubscribe",
                now=later,
            )
            counts["unsubscribes"] += 1
    campaign.refresh_from_db()
    # Term deposits opened within the window: more often by those who got the offer.
    product = offer.product
    targets = (
        CampaignTarget.objects.filter(
            campaign=campaign,
            group__in=[CampaignTarget.Group.TREATMENT, CampaignTarget.Group.CONTROL],
        )
        .select_related("party__owning_unit")
        .order_by("pk")
    )
    for target in targets:
        rate = 0.12 if target.group == CampaignTarget.Group.TREATMENT else 0.05
        roll = _draw(seed, "converts", target.party_id)
        if roll >= rate:
            continue
        opened_on = launch_day + dt.timedelta(days=1 + int(roll / rate * (CONVERSION_DAYS - 2)))
        key = f"mkt-{campaign.pk}-{target.party_id}"
        if Account.objects.filter(source_system=SOURCE, source_id=key).exists():
            continue
        amount = Decimal(50_000 + 10_000 * int(_draw(seed, "amount", target.party_id) * 20))
        # Opened in core banking and mirrored here, as the demo's other accounts are.
        account_open(
            actor=actor,
            product=product,
            number=f"6222 0{int(_draw(seed, 'number', target.party_id) * 10**10):010d}",
            owner=target.party,
            branch=target.party.owning_unit,
            opened_on=opened_on,
            balance=amount,
            available_balance=Decimal("0"),
            balance_as_of=as_of,
            source_system=SOURCE,
            source_id=key,
        )
        counts["term deposits opened"] += 1
    counts["conversions"] += conversions_detect(campaign=campaign, now=timezone.now())
    # The nightly job closes the campaign: its window has passed and nothing is queued.
    conversions_detect_all(now=timezone.now())
    _date_back(campaign, launched)


def _date_back(campaign: Any, launched: dt.datetime) -> None:
    """The campaign was drafted and approved in the days before its launch."""
    from bankcrm.marketing.models import Campaign

    drafted = launched - dt.timedelta(days=3)
    approved = launched - dt.timedelta(days=1)
    ends = launched + dt.timedelta(days=CONVERSION_DAYS)
    Campaign.objects.filter(pk=campaign.pk).update(
        created_at=drafted, starts_at=launched, ends_at=ends, approved_at=approved
    )
    audit_record(
        actor=campaign_actor(),
        action="integrations.demo_date_back",
        target=campaign,
        after={
            "created_at": drafted.isoformat(),
            "approved_at": approved.isoformat(),
            "starts_at": launched.isoformat(),
            "ends_at": ends.isoformat(),
        },
    )


def campaign_actor() -> Any:
    from bankcrm.core.actor import SystemActor

    return SystemActor("demo")


def _running_campaign(
    maker: User,
    checker: User,
    offer: Any,
    segments: dict[str, Any],
    seed: int,
    counts: Counter[str],
) -> None:
    from bankcrm.marketing.models import Campaign
    from bankcrm.marketing.services_campaigns import (
        campaign_create,
        campaign_launch,
        campaign_variant_save,
    )

    if Campaign.objects.filter(name=RUNNING).exists():
        return
    now = timezone.now()
    campaign = campaign_create(
        actor=maker,
        name=RUNNING,
        objective=Campaign.Objective.CROSS_SELL,
        description="Relationship managers offer the balanced portfolio to Pudong savers.",
        offer=offer,
        segment=segments[SEGMENTS[2][0]],
        channels=["banner", "call"],
        owning_unit=maker.org_unit,
        starts_at=now + dt.timedelta(minutes=5),
        ends_at=now + dt.timedelta(days=45),
        holdout_percent=Decimal("10"),
        holdout_seed=seed + 1,
        conversion_days=45,
        cost_per_message={"call": "5"},
    )
    campaign_variant_save(actor=maker, campaign=campaign, code="A", weight=1, **RUNNING_VARIANT)
    campaign = _approved(maker, checker, campaign)
    campaign_launch(campaign=campaign, now=now, actor=maker)
    counts["campaign messages sent"] += _send_all(campaign, now)
    counts["campaigns"] += 1


# --- Next best offer decisions -------------------------------------------------------------


def _decisions(offers: dict[str, Any], counts: Counter[str]) -> None:
    from bankcrm.marketing.models import OfferDecision
    from bankcrm.marketing.services_offers import offer_decide

    manager = demo_user(RM)
    if manager is None or OfferDecision.objects.filter(decided_by=manager).exists():
        return
    customers = list(
        Party.objects.filter(
            source_system=SOURCE,
            portfolio__manager=manager,
            kind=Party.Kind.PERSON,
            do_not_contact=False,
            consents__purpose="profiling",
            consents__status=Consent.Status.GRANTED,
        )
        .order_by("source_id")
        .distinct()[:8]
    )
    plan = (
        ("td-12m", "accepted", "", "Keen on a fixed rate; meeting booked."),
        ("wm-balanced", "dismissed", "not_suitable", "Risk assessment says conservative."),
        ("cc-platinum", "accepted", "", ""),
        ("td-12m", "dismissed", "has_elsewhere", "Holds term deposits with another bank."),
        ("cc-platinum", "dismissed", "not_interested", ""),
        ("wm-balanced", "accepted", "", "Will bring the risk questionnaire next week."),
        ("td-12m", "dismissed", "bad_timing", "Funds committed to a flat purchase."),
    )
    for party, (code, decision, reason, note) in zip(customers, plan, strict=False):
        offer_decide(
            actor=manager, party=party, offer=offers[code], decision=decision, reason=reason,
            note=note,
        )  # fmt: skip
        counts["offer decisions"] += 1
