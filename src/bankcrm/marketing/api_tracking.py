"""REST API of marketing: delivery reports from e-mail and SMS providers.

``POST /api/v1/marketing/delivery-reports`` with ``{"provider_ref": "<Message-ID or gateway
id>", "status": "delivered" | "bounced" | "failed", "detail": "..."}`` applies the report to
the message the provider named (``services_sending.delivery_report``) and answers the
message's tracking state. The caller (a staff session, or the API token of the provider's
service account) needs ``marketing.change_campaignmessage``: without it 403; a reference
that names no message within the caller's reach is 404. Both change nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Router, Schema
from pydantic import Field

from bankcrm.access.permissions import actor_has_perm
from bankcrm.core import error_codes
from bankcrm.core.errors import ProblemError, field_errors_from_django
from bankcrm.core.schemas import InSchema

from . import services_sending
from .models import CampaignMessage

router = Router(tags=["marketing"])

CHANGE_MESSAGE = "marketing.change_campaignmessage"


class DeliveryReportIn(InSchema):
    provider_ref: str = Field(..., min_length=1, max_length=200)
    status: Literal["delivered", "bounced", "failed"]
    detail: str = Field("", max_length=300)


class MessageTrackingOut(Schema):
    id: int
    campaign: int
    channel: str
    status: str
    provider_ref: str
    detail: str
    sent_at: dt.datetime | None = None
    delivered_at: dt.datetime | None = None
    opened_at: dt.datetime | None = None
    clicked_at: dt.datetime | None = None
    bounced_at: dt.datetime | None = None
    unsubscribed_at: dt.datetime | None = None


def message_tracking_out(message: CampaignMessage) -> dict[str, Any]:
    return {
        "id": message.pk,
        "campaign": message.campaign_id,
        "channel": message.channel,
        "status": message.status,
        "provider_ref": message.provider_ref,
        "detail": message.detail,
        "sent_at": message.sent_at,
        "delivered_at": message.delivered_at,
        "opened_at": message.opened_at,
        "clicked_at": message.clicked_at,
        "bounced_at": message.bounced_at,
        "unsubscribed_at": message.unsubscribed_at,
    }


@router.post("/delivery-reports", response=MessageTrackingOut)
def delivery_report_post(request: HttpRequest, payload: DeliveryReportIn) -> Any:
    """Apply a provider's delivery report (delivered, bounced or failed) to its message."""
    actor = request.auth  # type: ignore[attr-defined]
    if not actor_has_perm(actor, CHANGE_MESSAGE):
        raise PermissionDenied(_("You do not have permission to do this."))
    try:
        message = services_sending.delivery_report(
            actor=actor,
            provider_ref=payload.provider_ref,
            status=payload.status,
            detail=payload.detail,
        )
    except CampaignMessage.DoesNotExist:
        raise ProblemError.of(
            error_codes.NOT_FOUND, detail=_("No message has this provider reference.")
        ) from None
    except ValidationError as exc:
        errors = field_errors_from_django(exc, prefix="body")
        raise ProblemError.of(error_codes.VALIDATION_ERROR, errors=errors) from None
    return message_tracking_out(message)
