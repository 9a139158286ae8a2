"""Campaigns: drafting, approval by a second person, launch (audience drawn, messages queued),
pause, resume and cancellation.

* A campaign is edited only as a draft. Submitting it checks that it can be sent (content of
  every chosen channel in both languages, a start in the future) and asks for the
  maker-checker action ``marketing.campaign_launch``; a second person holding
  ``marketing.approve_campaign`` approves it (scheduled) or rejects it (back to draft).
* At its start the campaign is launched (:func:`campaign_launch`, the job
  :func:`campaigns_start_due`): the audience is drawn and the messages queued in SQL
  (``bankcrm.marketing.audience``), then the sender is started after commit.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from bankcrm.access.models import OrgUnit
from bankcrm.access.permissions import actor_has_perm, actor_perm_scope
from bankcrm.audit.services import audit_record, audit_snapshot
from bankcrm.core.actor import SYSTEM, SystemActor, is_system
from bankcrm.core.currencies import CURRENCIES
from bankcrm.core.models.approvals import PendingApproval
from bankcrm.events.services import event_record

from . import audience
from .channels.content import content_errors
from .models import Campaign, CampaignMessage, CampaignVariant, ProductOffer, Segment
from .models.campaigns import Channel

LAUNCH_ACTION = "marketing.campaign_launch"
APPROVE_CAMPAIGN = "marketing.approve_campaign"
LAUNCH_CAMPAIGN = "marketing.launch_campaign"
ADD_CAMPAIGN = "marketing.add_campaign"
CHANGE_CAMPAIGN = "marketing.change_campaign"
START_ACTOR = SystemActor("marketing.campaigns_start_due")
DECISION_ACTOR = SystemActor("marketing.campaign_approval")

EDITABLE_FIELDS = (
    "name",
    "objective",
    "description",
    "offer",
    "segment",
    "channels",
    "owning_unit",
    "starts_at",
    "ends_at",
    "holdout_percent",
    "throttle_per_minute",
    "success_event",
    "conversion_days",
    "currency",
    "cost_fixed",
    "cost_per_message",
    "value_per_conversion",
    "landing_url",
)
VARIANT_FIELDS = (
    "weight",
    "subject_en",
    "subject_zh",
    "html_en",
    "html_zh",
    "text_en",
    "text_zh",
    "sms_en",
    "sms_zh",
    "call_script",
    "banner_en",
    "banner_zh",
)
# What a variant must hold, in both languages, for each channel the campaign uses.
CHANNEL_CONTENT: dict[str, tuple[str, ...]] = {
    Channel.EMAIL: ("subject_en", "subject_zh", "html_en", "html_zh", "text_en", "text_zh"),
    Channel.SMS: ("sms_en", "sms_zh"),
    Channel.CALL: ("call_script",),
    Channel.BANNER: ("banner_en", "banner_zh"),
}
_AUDITED = (
    *EDITABLE_FIELDS,
    "status",
    "holdout_seed",
    "approval",
    "approved_by",
    "approved_at",
    "launched_at",
    "completed_at",
)
_MAX_AMOUNT = Decimal("1000000000000")


# --- Helpers ---------------------------------------------------------------------------------


def _invalid(problems: dict[str, Any], code: str = "campaign_invalid") -> ValidationError:
    """A refusal naming each bad field, each message carrying the stable ``code``."""
    return ValidationError(
        {
            name: [ValidationError(str(item), code=code) for item in messages]
            if isinstance(messages, list)
            else ValidationError(str(messages), code=code)
            for name, messages in problems.items()
        }
    )


def _require_perm(actor: Any, permission: str) -> None:
    if not actor_has_perm(actor, permission):
        raise PermissionDenied(_("You do not have permission to do this."))


def _snapshot(campaign: Campaign) -> dict[str, Any]:
    return audit_snapshot(campaign, _AUDITED)


def _locked(actor: Any, campaign: Campaign | int) -> Campaign:
    """The campaign locked for a change, if the actor may change it (else DoesNotExist)."""
    pk = campaign.pk if isinstance(campaign, Campaign) else campaign
    queryset = (
        Campaign.objects.all() if is_system(actor) else Campaign.objects.restrict(actor, "change")
    )
    locked = queryset.select_for_update(of=("self",)).filter(pk=pk).first()
    if locked is None:
        raise Campaign.DoesNotExist(_("No such campaign."))
    return locked


def _event_payload(campaign: Campaign, **extra: Any) -> dict[str, Any]:
    return {
        "campaign": campaign.pk,
        "name": campaign.name,
        "status": campaign.status,
        "owning_unit": campaign.owning_unit_id,
        **extra,
    }


def _pk_of(value: Any) -> Any:
    return getattr(value, "pk", value)


def _decimal(value: Any, field: str, problems: dict[str, Any], *, allow_none: bool) -> Any:
    if value is None or value == "":
        if allow_none:
            return None
        problems[field] = _("Enter an amount.")
        return None
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        problems[field] = _("“%(value)s” is not a number.") % {"value": value}
        return None
    if not number.is_finite() or number < 0 or number >= _MAX_AMOUNT:
        problems[field] = _("Enter an amount from 0 up to a trillion.")
        return None
    return number


def _unit_in_reach(actor: Any, unit: Any, permission: str) -> bool:
    if is_system(actor):
        return True
    scope = actor_perm_scope(actor, permission)
    if scope is None:
        return False
    return OrgUnit.objects.all().within_scope(actor, scope).filter(pk=_pk_of(unit)).exists()


def _clean_values(
    actor: Any, values: dict[str, Any], problems: dict[str, Any], permission: str
) -> None:
    """Check and normalise ``values`` in place (only the keys present); problems by field."""
    if "name" in values:
        values["name"] = str(values["name"] or "").strip()
        if not values["name"]:
            problems["name"] = _("Give the campaign a name.")
        elif len(values["name"]) > 200:
            problems["name"] = _("Keep the name within 200 characters.")
    if "objective" in values and values["objective"] not in Campaign.Objective.values:
        problems["objective"] = _("Choose one of the objectives.")
    if "description" in values:
        values["description"] = str(values["description"] or "")
    if "channels" in values:
        raw = values["channels"]
        channels = [raw] if isinstance(raw, str) else list(raw or [])
        unknown = [str(item) for item in channels if item not in Channel.values]
        if unknown:
            problems["channels"] = _("Unknown channel: %(names)s.") % {"names": ", ".join(unknown)}
        elif not channels:
            problems["channels"] = _("Choose at least one channel.")
        # Kept in the channels' own order, once each.
        values["channels"] = [channel for channel in Channel.values if channel in channels]
    if "segment" in values:
        segment = values["segment"]
        visible = Segment.objects.all() if is_system(actor) else Segment.objects.visible_to(actor)
        found = visible.filter(pk=_pk_of(segment), is_archived=False).first() if segment else None
        if found is None:
            problems["segment"] = _("Choose a segment within your reach.")
        values["segment"] = found
    if "offer" in values:
        offer = values["offer"]
        if offer in (None, ""):
            values["offer"] = None
        else:
            found_offer = ProductOffer.objects.filter(pk=_pk_of(offer)).first()
            if found_offer is None:
                problems["offer"] = _("No such offer.")
            elif not found_offer.is_active:
                problems["offer"] = _("The offer “%(name)s” is not active.") % {
                    "name": found_offer.name
                }
            values["offer"] = found_offer
    if "owning_unit" in values:
        unit = values["owning_unit"]
        found_unit = OrgUnit.objects.filter(pk=_pk_of(unit)).first() if unit else None
        if found_unit is None or not _unit_in_reach(actor, found_unit, permission):
            problems["owning_unit"] = _("Choose a unit within your reach.")
        values["owning_unit"] = found_unit
    for field in ("starts_at", "ends_at"):
        if field in values:
            moment = values[field]
            if isinstance(moment, str) and moment.strip():
                try:
                    moment = dt.datetime.fromisoformat(moment.strip())
                except ValueError:
                    problems[field] = _("“%(value)s” is not a date and time.") % {"value": moment}
                    continue
            if moment in (None, ""):
                if field == "starts_at":
                    problems[field] = _("Give the start date and time.")
                values[field] = None
                continue
            if not isinstance(moment, dt.datetime) or timezone.is_naive(moment):
                problems[field] = _("Give the date and time with its time zone.")
                continue
            values[field] = moment
    starts, ends = values.get("starts_at"), values.get("ends_at")
    if starts and ends and ends <= starts and "ends_at" not in problems:
        problems["ends_at"] = _("The campaign must end after it starts.")
    if "holdout_percent" in values:
        share = _decimal(values["holdout_percent"], "holdout_percent", problems, allow_none=False)
        if share is not None and not Decimal(0) <= share <= Decimal(50):
            problems["holdout_percent"] = _("The control group is 0 to 50 per cent.")
        elif share is not None and share != share.quantize(Decimal("0.01")):
            problems["holdout_percent"] = _("Give the control group with two decimals at most.")
        values["holdout_percent"] = share
    for field in ("throttle_per_minute", "conversion_days"):
        if field in values:
            try:
                number = int(values[field])
            except (TypeError, ValueError):
                problems[field] = _("Enter a whole number.")
                continue
            if number < 0 or number > 10_000_000:
                problems[field] = _("Enter a whole number from 0 to 10,000,000.")
            values[field] = number
    if "success_event" in values and values["success_event"] not in Campaign.SuccessEvent.values:
        problems["success_event"] = _("Choose one of the success events.")
    if "currency" in values:
        values["currency"] = str(values["currency"] or "").strip().upper()
        if values["currency"] not in CURRENCIES:
            problems["currency"] = _("“%(code)s” is not a currency code.") % {
                "code": values["currency"]
            }
    if "cost_fixed" in values:
        values["cost_fixed"] = _decimal(
            values["cost_fixed"], "cost_fixed", problems, allow_none=False
        )
    if "value_per_conversion" in values:
        values["value_per_conversion"] = _decimal(
            values["value_per_conversion"], "value_per_conversion", problems, allow_none=True
        )
    if "cost_per_message" in values:
        costs = values["cost_per_message"] or {}
        clean: dict[str, str] = {}
        if not isinstance(costs, dict):
            problems["cost_per_message"] = _("Give the cost per message by channel.")
        else:
            for channel, cost in costs.items():
                if channel not in Channel.values:
                    problems["cost_per_message"] = _("Unknown channel: %(names)s.") % {
                        "names": channel
                    }
                    break
                if cost in (None, ""):
                    continue
                amount = _decimal(cost, "cost_per_message", problems, allow_none=False)
                if amount is not None:
                    clean[channel] = str(amount)
        values["cost_per_message"] = clean
    if "landing_url" in values:
        url = str(values["landing_url"] or "").strip()
        if url:
            try:
                URLValidator(schemes=["http", "https"])(url)
            except ValidationError:
                problems["landing_url"] = _("Enter a web address starting with https://.")
        values["landing_url"] = url


# --- Drafting --------------------------------------------------------------------------------


def campaign_create(*, actor: Any, **fields: Any) -> Campaign:
    """Draft a campaign; ``holdout_seed`` is drawn with ``secrets.randbits(62)`` unless given.

    Fields: name, objective, segment, starts_at (required), offer, channels (default e-mail),
    owning_unit (default the actor's unit), description, ends_at, holdout_percent,
    throttle_per_minute, success_event, conversion_days, currency, cost_fixed,
    cost_per_message, value_per_conversion, landing_url.
    """
    _require_perm(actor, ADD_CAMPAIGN)
    unknown = set(fields) - set(EDITABLE_FIELDS) - {"holdout_seed"}
    if unknown:
        raise _invalid({name: _("Unknown field.") for name in sorted(unknown)})
    values: dict[str, Any] = {
        "name": "",
        "objective": Campaign.Objective.CROSS_SELL,
        "channels": [Channel.EMAIL],
        "segment": None,
        "starts_at": None,
        "owning_unit": getattr(actor, "org_unit_id", None),
    }
    values.update(fields)
    seed = values.pop("holdout_seed", None)
    problems: dict[str, Any] = {}
    if seed is None:
        seed = secrets.randbits(62)
    elif not isinstance(seed, int) or not 0 <= seed < 2**63:
        problems["holdout_seed"] = _("The seed is a whole number from 0 to 2**63 - 1.")
    _clean_values(actor, values, problems, ADD_CAMPAIGN)
    if problems:
        raise _invalid(problems)
    with transaction.atomic():
        campaign = Campaign(
            holdout_seed=seed, created_by=None if is_system(actor) else actor, **values
        )
        campaign.save()
        audit_record(
            actor=actor, action="campaign.create", target=campaign, after=_snapshot(campaign)
        )
        event_record(type="campaign.created", target=campaign, payload=_event_payload(campaign))
    return campaign


def _require_draft(campaign: Campaign) -> None:
    if campaign.status != Campaign.Status.DRAFT:
        raise _invalid(
            {
                "status": _("Only a draft can be changed; this campaign is %(status)s.")
                % {"status": campaign.get_status_display().lower()}
            },
            "campaign_not_draft",
        )


def campaign_update(*, actor: Any, campaign: Campaign, **changes: Any) -> Campaign:
    """Change a draft's fields (those of :func:`campaign_create` except the seed)."""
    _require_perm(actor, CHANGE_CAMPAIGN)
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise _invalid({name: _("Unknown field.") for name in sorted(unknown)})
    with transaction.atomic():
        locked = _locked(actor, campaign)
        _require_draft(locked)
        values = dict(changes)
        problems: dict[str, Any] = {}
        if "ends_at" in values and "starts_at" not in values:
            values["starts_at"] = locked.starts_at
        _clean_values(actor, values, problems, CHANGE_CAMPAIGN)
        if problems:
            raise _invalid(problems)
        before = _snapshot(locked)
        for name, value in values.items():
            setattr(locked, name, value)
        locked.save()
        audit_record(
            actor=actor,
            action="campaign.update",
            target=locked,
            before=before,
            after=_snapshot(locked),
        )
        event_record(type="campaign.updated", target=locked, payload=_event_payload(locked))
    return locked


def campaign_variant_save(
    *, actor: Any, campaign: Campaign, code: str, **fields: Any
) -> CampaignVariant:
    """Create or change a draft's variant ``code`` (1 to 8 letters or digits)."""
    _require_perm(actor, CHANGE_CAMPAIGN)
    code = str(code or "").strip().upper()
    problems: dict[str, Any] = {}
    if not code or len(code) > 8 or not code.isalnum():
        problems["code"] = _("The variant code is 1 to 8 letters or digits.")
    unknown = set(fields) - set(VARIANT_FIELDS)
    for name in sorted(unknown):
        problems[name] = _("Unknown field.")
    values: dict[str, Any] = {}
    for name, value in fields.items():
        if name in unknown:
            continue
        if name == "weight":
            try:
                values[name] = int(value)
            except (TypeError, ValueError):
                problems[name] = _("Enter a whole number.")
                continue
            if not 0 < values[name] <= 1000:
                problems[name] = _("The weight is a whole number from 1 to 1,000.")
            continue
        text = str(value or "")
        limit = getattr(CampaignVariant._meta.get_field(name), "max_length", None)
        if limit and len(text) > limit:
            problems[name] = _("Keep it within %(limit)s characters.") % {"limit": limit}
        elif name != "call_script" and (error := content_errors(text)):
            problems[name] = _("The template cannot be read: %(error)s") % {"error": error}
        values[name] = text
    if problems:
        raise _invalid(problems, "campaign_variant_invalid")
    with transaction.atomic():
        locked = _locked(actor, campaign)
        _require_draft(locked)
        variant = CampaignVariant.objects.filter(campaign=locked, code=code).first()
        before = audit_snapshot(variant) if variant is not None else None
        if variant is None:
            variant = CampaignVariant(campaign=locked, code=code)
        for name, value in values.items():
            setattr(variant, name, value)
        variant.save()
        audit_record(
            actor=actor,
            action="campaign.variant_save",
            target=variant,
            before=before,
            after=audit_snapshot(variant),
        )
    return variant


def campaign_variant_delete(*, actor: Any, campaign: Campaign, code: str) -> None:
    """Remove a draft's variant."""
    _require_perm(actor, CHANGE_CAMPAIGN)
    with transaction.atomic():
        locked = _locked(actor, campaign)
        _require_draft(locked)
        variant = CampaignVariant.objects.filter(campaign=locked, code=str(code).upper()).first()
        if variant is None:
            raise CampaignVariant.DoesNotExist(_("No such variant."))
        before = audit_snapshot(variant)
        audit_record(actor=actor, action="campaign.variant_delete", target=variant, before=before)
        variant.delete()


# --- Approval --------------------------------------------------------------------------------


def campaign_send_problems(campaign: Campaign, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """What stops a campaign being submitted: missing content per channel and language, a
    start already past, an inactive offer or an archived segment (empty when ready)."""
    now = now or timezone.now()
    problems: dict[str, Any] = {}
    variants = list(campaign.variants.order_by("code"))
    if not campaign.channels:
        problems["channels"] = _("Choose at least one channel.")
    if not variants:
        problems["variants"] = [_("Add at least one variant with the campaign's content.")]
    missing: list[str] = []
    for variant in variants:
        for channel in campaign.channels:
            for field in CHANNEL_CONTENT.get(channel, ()):
                if not str(getattr(variant, field) or "").strip():
                    missing.append(
                        _("Variant %(code)s: %(field)s is missing.")
                        % {
                            "code": variant.code,
                            "field": getattr(
                                CampaignVariant._meta.get_field(field), "verbose_name", field
                            ),
                        }
                    )
    if missing:
        problems["variants"] = missing
    if variants and not any(variant.weight for variant in variants):
        problems.setdefault("variants", []).append(_("At least one variant needs a weight."))
    if campaign.starts_at <= now:
        problems["starts_at"] = _("The start must be in the future.")
    offer = campaign.offer
    if offer is not None and not offer.is_active:
        problems["offer"] = _("The offer “%(name)s” is not active.") % {"name": offer.name}
    if campaign.segment.is_archived:
        problems["segment"] = _("The segment is archived.")
    return problems


def campaign_submit(*, actor: Any, campaign: Campaign, comment: str = "") -> PendingApproval:
    """Ask a second person to approve the draft's launch (``marketing.campaign_launch``)."""
    from bankcrm.core.services_approvals import approval_request

    _require_perm(actor, CHANGE_CAMPAIGN)
    with transaction.atomic():
        locked = _locked(actor, campaign)
        _require_draft(locked)
        problems = campaign_send_problems(locked)
        if problems:
            raise _invalid(problems, "campaign_not_ready")
        reason = comment.strip() or _("Launch of the campaign “%(name)s”") % {"name": locked.name}
        approval = approval_request(
            actor=actor,
            action=LAUNCH_ACTION,
            payload={
                "campaign": locked.pk,
                "name": locked.name,
                "starts_at": locked.starts_at.isoformat(),
                "segment": locked.segment_id,
                "channels": list(locked.channels),
                "holdout_percent": str(locked.holdout_percent),
            },
            reason=reason,
            target=locked,
        )
        before = _snapshot(locked)
        locked.status = Campaign.Status.PENDING_APPROVAL
        locked.approval = approval
        locked.approved_by = None
        locked.approved_at = None
        locked.save(
            update_fields=["status", "approval", "approved_by", "approved_at", "updated_at"]
        )
        audit_record(
            actor=actor,
            action="campaign.submit",
            target=locked,
            before=before,
            after=_snapshot(locked),
            reason=reason,
        )
        event_record(
            type="campaign.submitted",
            target=locked,
            payload=_event_payload(locked, approval=approval.pk),
        )
    return approval


def campaign_launch_payload_check(payload: dict[str, Any]) -> None:
    """The maker-checker request names an existing campaign."""
    if not Campaign.objects.filter(pk=payload.get("campaign")).exists():
        raise _invalid({"campaign": _("The campaign does not exist.")})


def campaign_launch_approve_apply(
    *, actor: Any, payload: dict[str, Any], approval: PendingApproval
) -> Campaign:
    """The approval handler, run as the checker (never the maker: the kernel sees to it):
    the campaign becomes scheduled. A checker out of reach gets "not found" and the request
    stays pending; a campaign changed since the request makes it fail."""
    if approval.maker_id == getattr(actor, "pk", None):
        raise PermissionDenied(_("You cannot approve your own campaign: a second person must."))
    try:
        locked = _locked(actor, int(payload.get("campaign") or 0))
    except (Campaign.DoesNotExist, TypeError, ValueError):
        raise Http404(_("No such campaign.")) from None
    if locked.status != Campaign.Status.PENDING_APPROVAL or locked.approval_id != approval.pk:
        raise _invalid(
            {"campaign": _("The campaign has changed since this request; it no longer applies.")},
            "campaign_changed",
        )
    before = _snapshot(locked)
    locked.status = Campaign.Status.SCHEDULED
    locked.approved_by = actor
    locked.approved_at = timezone.now()
    locked.save(update_fields=["status", "approved_by", "approved_at", "updated_at"])
    audit_record(
        actor=actor,
        action="campaign.approve",
        target=locked,
        before=before,
        after={**_snapshot(locked), "approval": approval.pk},
        reason=approval.decision_comment,
    )
    event_record(
        type="campaign.approved",
        target=locked,
        payload=_event_payload(locked, approval=approval.pk),
    )
    return locked


def campaign_approval_closed(*, approval_pk: Any, actor: Any = None) -> int:
    """After the launch request was rejected, withdrawn or could not be applied, the campaign
    returns to draft. Idempotent; returns the number of campaigns changed."""
    actor = actor or DECISION_ACTOR
    approval = PendingApproval.objects.filter(pk=approval_pk, action=LAUNCH_ACTION).first()
    if approval is None or approval.status in (
        PendingApproval.Status.PENDING,
        PendingApproval.Status.APPROVED,
    ):
        return 0
    changed = 0
    with transaction.atomic():
        rows = Campaign.objects.select_for_update().filter(
            approval_id=approval.pk, status=Campaign.Status.PENDING_APPROVAL
        )
        for campaign in rows:
            before = _snapshot(campaign)
            campaign.status = Campaign.Status.DRAFT
            campaign.save(update_fields=["status", "updated_at"])
            audit_record(
                actor=actor,
                action="campaign.return_to_draft",
                target=campaign,
                before=before,
                after={**_snapshot(campaign), "approval_status": approval.status},
                reason=approval.decision_comment or approval.failure_reason,
            )
            event_record(
                type="campaign.returned_to_draft",
                target=campaign,
                payload=_event_payload(
                    campaign, approval=approval.pk, approval_status=approval.status
                ),
            )
            changed += 1
    return changed


# --- Running ---------------------------------------------------------------------------------


def _send_after_commit(campaign_pk: int) -> None:
    def start() -> None:
        from bankcrm.marketing.tasks_sending import campaign_send

        campaign_send.delay(campaign_pk)

    transaction.on_commit(start, robust=True)


def campaign_cancel(*, actor: Any, campaign: Campaign, reason: str = "") -> Campaign:
    """Stop a campaign for good (draft, awaiting approval, scheduled, running or paused);
    its messages still queued are marked suppressed. A pending launch request of the actor
    is withdrawn; another's fails if approved later."""
    from bankcrm.core.services_approvals import approval_cancel

    _require_perm(actor, CHANGE_CAMPAIGN)
    with transaction.atomic():
        locked = _locked(actor, campaign)
        if locked.status in (Campaign.Status.COMPLETED, Campaign.Status.CANCELLED):
            raise _invalid(
                {
                    "status": _("This campaign is already %(status)s.")
                    % {"status": locked.get_status_display().lower()}
                },
                "campaign_closed",
            )
        before = _snapshot(locked)
        pending = locked.status == Campaign.Status.PENDING_APPROVAL
        locked.status = Campaign.Status.CANCELLED
        locked.completed_at = timezone.now()
        locked.save(update_fields=["status", "completed_at", "updated_at"])
        withdrawn = CampaignMessage.objects.filter(
            campaign_id=locked.pk, status=CampaignMessage.Status.QUEUED
        ).update(status=CampaignMessage.Status.SUPPRESSED, detail="campaign cancelled")
        request = locked.approval if pending else None
        if (
            request is not None
            and request.maker_id == getattr(actor, "pk", None)
            and request.status == PendingApproval.Status.PENDING
        ):
            approval_cancel(actor=actor, approval_pk=request.pk, reason=reason)
        audit_record(
            actor=actor,
            action="campaign.cancel",
            target=locked,
            before=before,
            after={**_snapshot(locked), "messages_withdrawn": withdrawn},
            reason=reason,
        )
        event_record(type="campaign.cancelled", target=locked, payload=_event_payload(locked))
    return locked


def campaign_pause(*, actor: Any, campaign: Campaign, reason: str = "") -> Campaign:
    """Hold a scheduled or running campaign: nothing is launched or sent until resumed."""
    _require_perm(actor, LAUNCH_CAMPAIGN)
    with transaction.atomic():
        locked = _locked(actor, campaign)
        if locked.status not in (Campaign.Status.SCHEDULED, Campaign.Status.RUNNING):
            raise _invalid(
                {"status": _("Only a scheduled or running campaign can be paused.")},
                "campaign_not_running",
            )
        before = _snapshot(locked)
        locked.status = Campaign.Status.PAUSED
        locked.save(update_fields=["status", "updated_at"])
        audit_record(
            actor=actor,
            action="campaign.pause",
            target=locked,
            before=before,
            after=_snapshot(locked),
            reason=reason,
        )
        event_record(type="campaign.paused", target=locked, payload=_event_payload(locked))
    return locked


def campaign_resume(*, actor: Any, campaign: Campaign, reason: str = "") -> Campaign:
    """Resume a paused campaign: running again (sending restarts) if it was launched, else
    scheduled (launched at its start, or at once if the start has passed)."""
    _require_perm(actor, LAUNCH_CAMPAIGN)
    with transaction.atomic():
        locked = _locked(actor, campaign)
        if locked.status != Campaign.Status.PAUSED:
            raise _invalid(
                {"status": _("Only a paused campaign can be resumed.")}, "campaign_not_paused"
            )
        before = _snapshot(locked)
        launched = locked.launched_at is not None
        locked.status = Campaign.Status.RUNNING if launched else Campaign.Status.SCHEDULED
        locked.save(update_fields=["status", "updated_at"])
        audit_record(
            actor=actor,
            action="campaign.resume",
            target=locked,
            before=before,
            after=_snapshot(locked),
            reason=reason,
        )
        event_record(type="campaign.resumed", target=locked, payload=_event_payload(locked))
        if launched:
            _send_after_commit(locked.pk)
    return locked


def campaign_launch(
    *, campaign: Campaign, now: dt.datetime | None = None, actor: Any = SYSTEM
) -> dict[str, Any]:
    """Draw the audience of a scheduled campaign and queue its messages, then start sending
    after commit. Idempotent: a campaign already launched is left as it is (its figures are
    returned with ``"launched": False``). Returns the figures stored in ``campaign.stats``."""
    now = now or timezone.now()
    if not is_system(actor):
        _require_perm(actor, LAUNCH_CAMPAIGN)
    with transaction.atomic():
        locked = _locked(actor, campaign)
        if locked.launched_at is not None:
            return {**locked.stats, "launched": False}
        if locked.status != Campaign.Status.SCHEDULED:
            raise _invalid(
                {"status": _("Only an approved, scheduled campaign can be launched.")},
                "campaign_not_scheduled",
            )
        before = _snapshot(locked)
        started = time.perf_counter()
        targets = audience.audience_draw(campaign=locked, now=now)
        drawn = time.perf_counter()
        audience.messages_queue(campaign=locked, now=now)
        queued = time.perf_counter()
        figures = audience.audience_figures(locked)
        figures["seconds"] = {
            "draw": round(drawn - started, 3),
            "queue": round(queued - drawn, 3),
        }
        figures["targets"] = targets
        locked.stats = {**locked.stats, **figures}
        locked.status = Campaign.Status.RUNNING
        locked.launched_at = now
        locked.save(update_fields=["stats", "status", "launched_at", "updated_at"])
        audit_record(
            actor=actor,
            action="campaign.launch",
            target=locked,
            before=before,
            after={**_snapshot(locked), "stats": figures},
        )
        event_record(
            type="campaign.launched",
            target=locked,
            payload=_event_payload(
                locked,
                treatment=figures["treatment"],
                control=figures["control"],
                suppressed=figures["suppressed"],
                messages=figures["messages"],
            ),
        )
        _send_after_commit(locked.pk)
    return {**figures, "launched": True}


def campaigns_start_due(*, now: dt.datetime | None = None) -> int:
    """Launch every scheduled campaign whose start has come; the number launched. One
    campaign's failure does not stop the others (it stays scheduled for the next run)."""
    now = now or timezone.now()
    due = list(
        Campaign.objects.filter(
            status=Campaign.Status.SCHEDULED, starts_at__lte=now, launched_at__isnull=True
        )
        .order_by("starts_at", "pk")
        .values_list("pk", flat=True)
    )
    launched = 0
    for pk in due:
        try:
            result = campaign_launch(campaign=Campaign(pk=pk), now=now, actor=START_ACTOR)
        except (ValidationError, Campaign.DoesNotExist):
            continue
        launched += 1 if result.get("launched") else 0
    return launched
