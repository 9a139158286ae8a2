"""REST API of customers: parties, identifiers, contact points, relationships,
interactions, tasks and the customer 360 summary.

Every read is scoped to the caller (another branch's customer answers 404). Personal data
(identity numbers, phones, e-mails, addresses, dates of birth, interaction notes) is masked
unless the caller's role may unmask and the request says ``?unmask=true&reason=…``: each
value shown in clear is then recorded in the audit trail.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Query, Router, Schema, Status

from bankcrm.access.models import OrgUnit, Portfolio, User
from bankcrm.core.crypto import preload_keys
from bankcrm.core.masking import mask
from bankcrm.core.services import pii_unmask

from . import selectors, services
from .models import ContactPoint, Identifier, Interaction, Party, Task
from .schemas import (
    ContactPointIn,
    ContactPointOut,
    ContactPointPatch,
    Customer360Out,
    IdentifierIn,
    IdentifierOut,
    IdentifierPatch,
    InteractionIn,
    InteractionOut,
    InteractionPatch,
    PartyIn,
    PartyOut,
    PartyPageOut,
    PartyPatch,
    RelationshipIn,
    RelationshipOut,
    RelationshipPatch,
    TaskIn,
    TaskOut,
    TaskPatch,
)

router = Router(tags=["customers"])


def _actor(request: HttpRequest) -> Any:
    return request.auth  # type: ignore[attr-defined]


class Unmask(Schema):
    """Show personal data in clear (needs a role that may unmask, and a reason)."""

    unmask: bool = False
    reason: str = ""


class _Revealer:
    """Masks a personal-data value, or reveals it through the audited ``pii_unmask``."""

    def __init__(self, actor: Any, options: Unmask) -> None:
        self.actor = actor
        self.unmask = options.unmask
        self.reason = options.reason
        if self.unmask and not self.reason.strip():
            raise ValidationError(
                {"reason": [ValidationError(_("Give a reason to unmask."), code="required")]}
            )

    def text(self, obj: Any, field: str, kind: str) -> str:
        value = getattr(obj, field)
        if value in (None, ""):
            return ""
        if self.unmask:
            return pii_unmask(actor=self.actor, target=obj, field=field, reason=self.reason)
        return mask(value, kind)

    def address(self, obj: Any) -> dict[str, Any] | None:
        value = obj.address
        if value is None:
            return None
        if self.unmask:
            pii_unmask(actor=self.actor, target=obj, field="address", reason=self.reason)
            return dict(value)
        # City, province and country stay: a street address and postcode do not.
        return {
            "lines": [mask(line, "text") for line in value.get("lines", [])],
            "city": value.get("city", ""),
            "province": value.get("province", ""),
            "postcode": mask(value.get("postcode", ""), "text") if value.get("postcode") else "",
            "country": value.get("country", ""),
        }


# --- Conversions -------------------------------------------------------------------------


def party_out(party: Party, revealer: _Revealer | None = None) -> dict[str, Any]:
    manager = party.portfolio.manager if party.portfolio_id else None
    data: dict[str, Any] = {
        "id": party.pk,
        "kind": party.kind,
        "display_name": party.display_name,
        "status": party.status,
        "segment": party.segment,
        "owning_unit": party.owning_unit_id,
        "owning_unit_name": party.owning_unit.name,
        "portfolio": party.portfolio_id,
        "relationship_manager": manager.get_full_name() or manager.username if manager else None,
        "household": party.household_id,
        "customer_since": party.customer_since,
        "last_contacted_at": party.last_contacted_at,
        "custom_fields": party.custom_fields,
        "created_at": party.created_at,
        "updated_at": party.updated_at,
        "person": None,
        "organisation": None,
    }
    if revealer is None:
        return data
    if party.is_person:
        person = getattr(party, "person", None)
        if person is not None:
            data["person"] = {
                "family_name": person.family_name,
                "given_name": person.given_name,
                "native_name": person.native_name,
                "native_name_pinyin": person.native_name_pinyin,
                "date_of_birth": revealer.text(person, "date_of_birth", "date"),
                "birth_year": person.birth_year,
                "gender": person.gender,
                "nationality": person.nationality,
                "occupation": person.occupation,
                "employer": person.employer,
                "income_band": person.income_band,
            }
    else:
        organisation = getattr(party, "organisation", None)
        if organisation is not None:
            data["organisation"] = {
                "legal_name": organisation.legal_name,
                "registration_number": organisation.registration_number,
                "uscc": organisation.uscc,
                "industry": organisation.industry,
                "legal_form": organisation.legal_form,
                "incorporated_on": organisation.incorporated_on,
            }
    return data


def identifier_out(identifier: Identifier, revealer: _Revealer) -> dict[str, Any]:
    return {
        "id": identifier.pk,
        "party": identifier.party_id,
        "type": identifier.type,
        "number": revealer.text(identifier, "number", "id"),
        "is_masked": not revealer.unmask,
        "issuing_country": identifier.issuing_country,
        "issued_on": identifier.issued_on,
        "expires_on": identifier.expires_on,
        "is_primary": identifier.is_primary,
    }


def contact_point_out(contact: ContactPoint, revealer: _Revealer) -> dict[str, Any]:
    kind = "phone" if contact.kind == ContactPoint.Kind.PHONE else "email"
    return {
        "id": contact.pk,
        "party": contact.party_id,
        "kind": contact.kind,
        "value": revealer.text(contact, "value", kind) if contact.value is not None else None,
        "address": revealer.address(contact),
        "is_masked": not revealer.unmask,
        "purpose": contact.purpose,
        "is_primary": contact.is_primary,
        "is_verified": contact.is_verified,
    }


def _staff_name(user: Any) -> str | None:
    return (user.get_full_name() or user.username) if user is not None else None


def interaction_out(interaction: Interaction, revealer: _Revealer) -> dict[str, Any]:
    return {
        "id": interaction.pk,
        "party": interaction.party_id,
        "kind": interaction.kind,
        "direction": interaction.direction,
        "channel": interaction.channel,
        "staff": _staff_name(interaction.staff),
        "occurred_at": interaction.occurred_at,
        "subject": interaction.subject,
        "body": revealer.text(interaction, "body", "text"),
        "is_masked": not revealer.unmask,
        "outcome": interaction.outcome,
        "follow_up_on": interaction.follow_up_on,
    }


def task_out(task: Task) -> dict[str, Any]:
    return {
        "id": task.pk,
        "party": task.party_id,
        "title": task.title,
        "description": task.description,
        "due_on": task.due_on,
        "owner": task.owner_id,
        "owner_name": _staff_name(task.owner),
        "status": task.status,
        "priority": task.priority,
        "completed_at": task.completed_at,
    }


# --- Look-ups of referenced records ------------------------------------------------------


def _unit(pk: int, field: str) -> OrgUnit:
    unit = OrgUnit.objects.filter(pk=pk).first()
    if unit is None:
        raise ValidationError({field: [ValidationError(_("No such unit."), code="invalid")]})
    return unit


def _portfolio(pk: int | None, field: str = "portfolio") -> Portfolio | None:
    if pk is None:
        return None
    portfolio = Portfolio.objects.filter(pk=pk).first()
    if portfolio is None:
        raise ValidationError({field: [ValidationError(_("No such portfolio."), code="invalid")]})
    return portfolio


def _user(pk: int | None, field: str = "owner") -> User | None:
    if pk is None:
        return None
    user = User.objects.filter(pk=pk, is_active=True).first()
    if user is None:
        raise ValidationError({field: [ValidationError(_("No such colleague."), code="invalid")]})
    return user


# --- Parties -----------------------------------------------------------------------------


def _encode(values: list[str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def _decode(cursor: str) -> list[str]:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if isinstance(values, list) and len(values) == 2:
            return [str(v) for v in values]
    except (binascii.Error, ValueError):
        pass
    raise ValidationError(
        {"cursor": [ValidationError(_("This page cursor is not valid."), code="invalid")]}
    )


class PartyFilter(Schema):
    status: str | None = None
    segment: str | None = None
    kind: str | None = None
    owning_unit: int | None = None
    portfolio: int | None = None
    name: str | None = None
    cursor: str | None = None
    limit: int = 50


@router.get("", response=PartyPageOut)
def party_list(request: HttpRequest, filters: Query[PartyFilter]) -> Any:
    """Customers the caller may see, by name, a page at a time (``next_cursor``)."""
    queryset = selectors.party_list(
        actor=_actor(request),
        status=filters.status,
        segment=filters.segment,
        kind=filters.kind,
        owning_unit=filters.owning_unit,
        portfolio=filters.portfolio,
        name_prefix=filters.name,
    )
    if filters.cursor:
        name, pk = _decode(filters.cursor)
        queryset = queryset.filter(Q(display_name__gt=name) | Q(display_name=name, id__gt=pk))
    limit = max(1, min(filters.limit, 200))
    items = list(queryset[: limit + 1])
    next_cursor = None
    if len(items) > limit:
        items = items[:limit]
        next_cursor = _encode([items[-1].display_name, str(items[-1].pk)])
    return {"items": [party_out(p) for p in items], "next_cursor": next_cursor}


@router.post("", response={201: PartyOut})
def party_create(request: HttpRequest, payload: PartyIn) -> Any:
    """Record a new customer (a person or an organisation)."""
    actor = _actor(request)
    common = {
        "actor": actor,
        "owning_unit": _unit(payload.owning_unit, "owning_unit"),
        "portfolio": _portfolio(payload.portfolio),
        "segment": payload.segment,
        "status": payload.status,
        "customer_since": payload.customer_since,
        "custom_fields": payload.custom_fields,
        "display_name": payload.display_name,
    }
    if payload.kind == "person":
        details = payload.person.model_dump() if payload.person else {}
        party = services.party_create_person(**common, **details)
    else:
        if payload.organisation is None:
            raise ValidationError(
                {
                    "organisation": [
                        ValidationError(_("Give the organisation's details."), code="required")
                    ]
                }
            )
        party = services.party_create_organisation(**common, **payload.organisation.model_dump())
    party = selectors.party_get(actor=actor, pk=party.pk)
    return Status(201, party_out(party, _Revealer(actor, Unmask())))


@router.get("/{uuid:pk}", response=PartyOut)
def party_get(request: HttpRequest, pk: uuid.UUID, options: Query[Unmask]) -> Any:
    """One customer; the date of birth is masked unless unmasked with a reason."""
    actor = _actor(request)
    revealer = _Revealer(actor, options)
    party = selectors.party_get(actor=actor, pk=pk)
    return party_out(party, revealer)


@router.patch("/{uuid:pk}", response=PartyOut)
def party_update(request: HttpRequest, pk: uuid.UUID, payload: PartyPatch) -> Any:
    """Change a customer's details (only the fields sent)."""
    actor = _actor(request)
    party = selectors.party_get(actor=actor, pk=pk)
    changes = payload.model_dump(exclude_unset=True)
    if "owning_unit" in changes:
        changes["owning_unit"] = _unit(changes["owning_unit"], "owning_unit")
    if "portfolio" in changes:
        changes["portfolio"] = _portfolio(changes["portfolio"])
    services.party_update(actor=actor, party=party, changes=changes)
    return party_out(selectors.party_get(actor=actor, pk=pk), _Revealer(actor, Unmask()))


class CloseIn(Schema):
    reason: str


@router.delete("/{uuid:pk}", response=PartyOut)
def party_close(request: HttpRequest, pk: uuid.UUID, options: Query[CloseIn]) -> Any:
    """Close the customer relationship (records are kept; the status becomes closed)."""
    actor = _actor(request)
    party = selectors.party_get(actor=actor, pk=pk)
    services.party_close(actor=actor, party=party, reason=options.reason)
    return party_out(selectors.party_get(actor=actor, pk=pk), _Revealer(actor, Unmask()))


@router.get("/{uuid:pk}/360", response=Customer360Out)
def customer_360(request: HttpRequest, pk: uuid.UUID) -> Any:
    """The customer page's summary: holdings and totals in the base currency, household,
    recent transactions, 12-month flows, interactions, open tasks, relationships."""
    actor = _actor(request)
    summary = selectors.customer_360(actor=actor, pk=pk)
    household = summary.household
    return {
        "party": party_out(summary.party, _Revealer(actor, Unmask())),
        "primary_contacts": summary.primary_contacts,
        "base_currency": summary.base_currency,
        "holdings": [
            {
                "account": h.account.pk,
                "number": f"**** {h.account.number_last4}",
                "product_code": h.account.product.code,
                "product_name": h.account.product.name,
                "category": h.account.product.category,
                "role": h.role,
                "currency": h.account.currency,
                "balance": h.account.balance,
                "available_balance": h.account.available_balance,
                "balance_as_of": h.account.balance_as_of,
                "balance_base": h.balance_base,
                "status": h.account.status,
            }
            for h in summary.holdings
        ],
        "holdings_by_product": [
            {
                "product_code": e["product"].code,
                "product_name": e["product"].name,
                "category": e["product"].category,
                "accounts": e["accounts"],
                "balances": e["balances"],
                "balance_base": e["balance_base"],
            }
            for e in summary.holdings_by_product
        ],
        "total_assets_base": summary.total_assets_base,
        "total_liabilities_base": summary.total_liabilities_base,
        "missing_rates": summary.missing_rates,
        "household": None
        if household is None
        else {
            "id": household["pk"],
            "name": household["name"],
            "members": [
                {
                    "party": m["party_id"],
                    "display_name": m["display_name"],
                    "assets_base": m["assets_base"],
                    "liabilities_base": m["liabilities_base"],
                }
                for m in household["members"]
            ],
            "assets_base": household["assets_base"],
            "liabilities_base": household["liabilities_base"],
        },
        "recent_transactions": [
            {
                "id": t.pk,
                "account": t.account_id,
                "booking_date": t.booking_date,
                "amount": t.amount,
                "currency": t.currency,
                "direction": t.direction,
                "kind": t.kind,
                "description": t.description,
                "counterparty_name": t.counterparty_name,
            }
            for t in summary.recent_transactions
        ],
        "transactions_next_cursor": summary.transactions_next_cursor,
        "monthly_flows": summary.monthly_flows,
        "recent_interactions": [
            {
                "id": i.pk,
                "kind": i.kind,
                "direction": i.direction,
                "staff": _staff_name(i.staff),
                "occurred_at": i.occurred_at,
                "subject": i.subject,
                "outcome": i.outcome,
                "follow_up_on": i.follow_up_on,
            }
            for i in summary.recent_interactions
        ],
        "open_tasks": [task_out(t) for t in summary.open_tasks],
        "relationships": [
            {
                "id": r["relationship"].pk,
                "type": r["type"],
                "outgoing": r["outgoing"],
                "other_party": r["other_pk"],
                "other_name": r["other_name"],
                "ownership_pct": r["ownership_pct"],
                "is_current": r["is_current"],
            }
            for r in summary.relationships
        ],
    }


# --- Identifiers -------------------------------------------------------------------------


@router.get("/{uuid:pk}/identifiers", response=list[IdentifierOut])
def identifier_list(request: HttpRequest, pk: uuid.UUID, options: Query[Unmask]) -> Any:
    actor = _actor(request)
    revealer = _Revealer(actor, options)
    party = selectors.party_get(actor=actor, pk=pk)
    return [
        identifier_out(i, revealer) for i in selectors.identifier_list(actor=actor, party=party)
    ]


@router.post("/{uuid:pk}/identifiers", response={201: IdentifierOut})
def identifier_add(request: HttpRequest, pk: uuid.UUID, payload: IdentifierIn) -> Any:
    """Record an identity document (checked; a number already on file is refused)."""
    actor = _actor(request)
    party = selectors.party_get(actor=actor, pk=pk)
    identifier = services.identifier_add(actor=actor, party=party, **payload.model_dump())
    return Status(201, identifier_out(identifier, _Revealer(actor, Unmask())))


@router.patch("/identifiers/{uuid:pk}", response=IdentifierOut)
def identifier_update(request: HttpRequest, pk: uuid.UUID, payload: IdentifierPatch) -> Any:
    actor = _actor(request)
    identifier = selectors.identifier_get(actor=actor, pk=pk)
    identifier = services.identifier_update(
        actor=actor, identifier=identifier, changes=payload.model_dump(exclude_unset=True)
    )
    return identifier_out(identifier, _Revealer(actor, Unmask()))


@router.delete("/identifiers/{uuid:pk}", response={204: None})
def identifier_remove(request: HttpRequest, pk: uuid.UUID, reason: str = "") -> Any:
    actor = _actor(request)
    identifier = selectors.identifier_get(actor=actor, pk=pk)
    services.identifier_remove(actor=actor, identifier=identifier, reason=reason)
    return Status(204, None)


# --- Contact points ----------------------------------------------------------------------


@router.get("/{uuid:pk}/contact-points", response=list[ContactPointOut])
def contact_point_list(request: HttpRequest, pk: uuid.UUID, options: Query[Unmask]) -> Any:
    actor = _actor(request)
    revealer = _Revealer(actor, options)
    party = selectors.party_get(actor=actor, pk=pk)
    items = selectors.contact_point_list(actor=actor, party=party)
    return [contact_point_out(c, revealer) for c in items]


@router.post("/{uuid:pk}/contact-points", response={201: ContactPointOut})
def contact_point_add(request: HttpRequest, pk: uuid.UUID, payload: ContactPointIn) -> Any:
    actor = _actor(request)
    party = selectors.party_get(actor=actor, pk=pk)
    data = payload.model_dump()
    contact = services.contact_point_add(actor=actor, party=party, **data)
    return Status(201, contact_point_out(contact, _Revealer(actor, Unmask())))


@router.patch("/contact-points/{uuid:pk}", response=ContactPointOut)
def contact_point_update(request: HttpRequest, pk: uuid.UUID, payload: ContactPointPatch) -> Any:
    actor = _actor(request)
    contact = selectors.contact_point_get(actor=actor, pk=pk)
    contact = services.contact_point_update(
        actor=actor, contact_point=contact, changes=payload.model_dump(exclude_unset=True)
    )
    return contact_point_out(contact, _Revealer(actor, Unmask()))


@router.delete("/contact-points/{uuid:pk}", response={204: None})
def contact_point_remove(request: HttpRequest, pk: uuid.UUID, reason: str = "") -> Any:
    actor = _actor(request)
    contact = selectors.contact_point_get(actor=actor, pk=pk)
    services.contact_point_remove(actor=actor, contact_point=contact, reason=reason)
    return Status(204, None)


# --- Relationships -----------------------------------------------------------------------


@router.get("/{uuid:pk}/relationships", response=list[RelationshipOut])
def relationship_list(request: HttpRequest, pk: uuid.UUID) -> Any:
    actor = _actor(request)
    party = selectors.party_get(actor=actor, pk=pk)
    return [
        {
            "id": r.pk,
            "party_from": r.party_from_id,
            "party_to": r.party_to_id,
            "type": r.type,
            "ownership_pct": r.ownership_pct,
            "start_on": r.start_on,
            "end_on": r.end_on,
        }
        for r in selectors.relationship_list(actor=actor, party=party)
    ]


def _relationship_out(r: Any) -> dict[str, Any]:
    return {
        "id": r.pk,
        "party_from": r.party_from_id,
        "party_to": r.party_to_id,
        "type": r.type,
        "ownership_pct": r.ownership_pct,
        "start_on": r.start_on,
        "end_on": r.end_on,
    }


@router.post("/{uuid:pk}/relationships", response={201: RelationshipOut})
def relationship_add(request: HttpRequest, pk: uuid.UUID, payload: RelationshipIn) -> Any:
    """Record that this customer is the ``type`` of ``party_to``."""
    actor = _actor(request)
    party = selectors.party_get(actor=actor, pk=pk)
    other = selectors.party_get(actor=actor, pk=payload.party_to)
    data = payload.model_dump()
    data.pop("party_to")
    relationship = services.relationship_add(actor=actor, party_from=party, party_to=other, **data)
    return Status(201, _relationship_out(relationship))


@router.patch("/relationships/{int:pk}", response=RelationshipOut)
def relationship_update(request: HttpRequest, pk: int, payload: RelationshipPatch) -> Any:
    actor = _actor(request)
    relationship = selectors.relationship_get(actor=actor, pk=pk)
    relationship = services.relationship_update(
        actor=actor, relationship=relationship, changes=payload.model_dump(exclude_unset=True)
    )
    return _relationship_out(relationship)


@router.delete("/relationships/{int:pk}", response={204: None})
def relationship_remove(request: HttpRequest, pk: int, reason: str = "") -> Any:
    actor = _actor(request)
    relationship = selectors.relationship_get(actor=actor, pk=pk)
    services.relationship_remove(actor=actor, relationship=relationship, reason=reason)
    return Status(204, None)


# --- Interactions ------------------------------------------------------------------------


@router.get("/{uuid:pk}/interactions", response=list[InteractionOut])
def interaction_list(request: HttpRequest, pk: uuid.UUID, options: Query[Unmask]) -> Any:
    """A customer's interactions, newest first; notes masked unless unmasked."""
    actor = _actor(request)
    revealer = _Revealer(actor, options)
    party = selectors.party_get(actor=actor, pk=pk)
    items = selectors.interaction_list(actor=actor, party=party)
    preload_keys(items)
    return [interaction_out(i, revealer) for i in items]


@router.post("/{uuid:pk}/interactions", response={201: InteractionOut})
def interaction_log(request: HttpRequest, pk: uuid.UUID, payload: InteractionIn) -> Any:
    actor = _actor(request)
    party = selectors.party_get(actor=actor, pk=pk)
    interaction = services.interaction_log(actor=actor, party=party, **payload.model_dump())
    return Status(201, interaction_out(interaction, _Revealer(actor, Unmask())))


@router.get("/interactions/{uuid:pk}", response=InteractionOut)
def interaction_get(request: HttpRequest, pk: uuid.UUID, options: Query[Unmask]) -> Any:
    actor = _actor(request)
    revealer = _Revealer(actor, options)
    return interaction_out(selectors.interaction_get(actor=actor, pk=pk), revealer)


@router.patch("/interactions/{uuid:pk}", response=InteractionOut)
def interaction_update(request: HttpRequest, pk: uuid.UUID, payload: InteractionPatch) -> Any:
    actor = _actor(request)
    interaction = selectors.interaction_get(actor=actor, pk=pk)
    interaction = services.interaction_update(
        actor=actor, interaction=interaction, changes=payload.model_dump(exclude_unset=True)
    )
    return interaction_out(interaction, _Revealer(actor, Unmask()))


@router.delete("/interactions/{uuid:pk}", response={204: None})
def interaction_remove(request: HttpRequest, pk: uuid.UUID, reason: str = "") -> Any:
    actor = _actor(request)
    interaction = selectors.interaction_get(actor=actor, pk=pk)
    services.interaction_remove(actor=actor, interaction=interaction, reason=reason)
    return Status(204, None)


# --- Tasks -------------------------------------------------------------------------------


class TaskFilter(Schema):
    party: uuid.UUID | None = None
    mine: bool = False
    status: str | None = None


@router.get("/tasks", response=list[TaskOut])
def task_list(request: HttpRequest, filters: Query[TaskFilter]) -> Any:
    actor = _actor(request)
    party = selectors.party_get(actor=actor, pk=filters.party) if filters.party else None
    queryset = selectors.task_list(
        actor=actor, party=party, owner=actor if filters.mine else None, status=filters.status
    )
    return [task_out(t) for t in queryset[:500]]


@router.post("/tasks", response={201: TaskOut})
def task_create(request: HttpRequest, payload: TaskIn) -> Any:
    actor = _actor(request)
    party = selectors.party_get(actor=actor, pk=payload.party) if payload.party else None
    task = services.task_create(
        actor=actor,
        title=payload.title,
        owner=_user(payload.owner),
        party=party,
        due_on=payload.due_on,
        priority=payload.priority,
        description=payload.description,
    )
    return Status(201, task_out(task))


@router.get("/tasks/{int:pk}", response=TaskOut)
def task_get(request: HttpRequest, pk: int) -> Any:
    return task_out(selectors.task_get(actor=_actor(request), pk=pk))


@router.patch("/tasks/{int:pk}", response=TaskOut)
def task_update(request: HttpRequest, pk: int, payload: TaskPatch) -> Any:
    actor = _actor(request)
    task = selectors.task_get(actor=actor, pk=pk)
    changes = payload.model_dump(exclude_unset=True)
    if "owner" in changes:
        changes["owner"] = _user(changes["owner"])
    return task_out(services.task_update(actor=actor, task=task, changes=changes))


@router.post("/tasks/{int:pk}/complete", response=TaskOut)
def task_complete(request: HttpRequest, pk: int) -> Any:
    actor = _actor(request)
    return task_out(
        services.task_complete(actor=actor, task=selectors.task_get(actor=actor, pk=pk))
    )


@router.post("/tasks/{int:pk}/cancel", response=TaskOut)
def task_cancel(request: HttpRequest, pk: int) -> Any:
    actor = _actor(request)
    return task_out(services.task_cancel(actor=actor, task=selectors.task_get(actor=actor, pk=pk)))


# Consents have their own router (bankcrm.customers.api_consent).
from . import api_consent  # noqa: E402

router.add_router("", api_consent.router)
