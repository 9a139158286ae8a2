"""Writing customer records: parties, identifiers, contact points, relationships,
households, interactions and staff tasks.

Every service checks the actor's permission and data scope, runs in one transaction,
appends an audit event and, where other modules listen, records a domain event
(``customer.created``, ``customer.updated``, ``interaction.logged``, ``task.created``).
Encrypted values never reach the audit trail or an event: changed secret fields are named
only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from bankcrm.access.models import OrgUnit, Portfolio, Role
from bankcrm.access.permissions import actor_perm_scope, actor_unit_paths
from bankcrm.audit.services import (
    audit_record,
    audit_secret_state,
    audit_secrets_changed,
    audit_snapshot,
)
from bankcrm.core.actor import is_system
from bankcrm.core.crypto import blind_index
from bankcrm.customization.services import custom_fields_validate
from bankcrm.events.services import event_record

from .models import (
    ContactPoint,
    Household,
    Identifier,
    Interaction,
    OrganisationProfile,
    Party,
    PersonProfile,
    Relationship,
    Task,
)
from .naming import name_pinyin_syllables, search_name_of, search_pinyin_of
from .validators import (
    normalize_email_address,
    normalize_phone_e164,
    normalize_uscc,
    validate_country_code,
    validate_resident_id,
    validate_uscc,
)

PARTY_MODEL_LABEL = "customers.party"

_PARTY_FIELDS = ("display_name", "status", "segment", "owning_unit", "portfolio", "household")
_PARTY_UPDATABLE = (*_PARTY_FIELDS, "customer_since", "custom_fields")
_PERSON_UPDATABLE = (
    "family_name",
    "given_name",
    "native_name",
    "native_name_pinyin",
    "date_of_birth",
    "gender",
    "nationality",
    "occupation",
    "employer",
    "income_band",
)
_ORGANISATION_UPDATABLE = (
    "legal_name",
    "registration_number",
    "uscc",
    "industry",
    "legal_form",
    "incorporated_on",
)


# --- Permission and scope ----------------------------------------------------------------


def _scope_for(actor: Any, permission: str) -> str:
    scope = actor_perm_scope(actor, permission)
    if scope is None:
        raise PermissionDenied(_("You do not have permission to do this."))
    return scope


def _require_party_in_scope(actor: Any, party: Party, permission: str) -> None:
    """The actor holds ``permission`` and the party lies within its scope.

    A party outside the actor's reach is reported as not found (as a selector would),
    so that a service call cannot be used to learn that a record exists.
    """
    scope = _scope_for(actor, permission)
    if not Party.objects.filter(pk=party.pk).within_scope(actor, scope).exists():
        raise Party.DoesNotExist(_("No such customer."))


def _require_placement(
    actor: Any, permission: str, owning_unit: OrgUnit, portfolio: Portfolio | None
) -> None:
    """The actor may place a customer in this unit and portfolio."""
    scope = _scope_for(actor, permission)
    if scope == Role.DataScope.BANK:
        return
    if scope == Role.DataScope.UNIT:
        if any(owning_unit.path.startswith(path) for path in actor_unit_paths(actor)):
            return
        raise PermissionDenied(_("You may only place customers in your own unit."))
    if (
        scope == Role.DataScope.PORTFOLIO
        and portfolio is not None
        and portfolio.manager_id == getattr(actor, "pk", None)
    ):
        return
    raise PermissionDenied(_("You may only place customers in a portfolio you manage."))


def _clean_custom_fields(values: Any, *, partial: bool) -> dict[str, Any]:
    return custom_fields_validate(
        model_label=PARTY_MODEL_LABEL,
        values=values if values is not None else {},
        partial=partial,
        field_prefix="custom_fields",
    )


def _full_clean(instance: Any, exclude: list[str] | None = None) -> None:
    # Uniqueness is checked by the database (and by the services where it needs a clear
    # message): validate_unique would query once per constraint.
    instance.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)


def _set_search_columns(party: Party, *names: str) -> None:
    party.search_name = search_name_of(party.display_name)
    party.search_pinyin = search_pinyin_of(party.display_name, *names)


def _party_event_payload(party: Party) -> dict[str, Any]:
    # Events leave the bank through webhooks: identifiers only, no personal data.
    return {
        "party": str(party.pk),
        "kind": party.kind,
        "status": party.status,
        "segment": party.segment,
        "owning_unit": party.owning_unit_id,
        "portfolio": party.portfolio_id,
    }


def _full_snapshot(party: Party) -> dict[str, Any]:
    snapshot = audit_snapshot(party, fields=(*_PARTY_UPDATABLE, "kind"))
    person = getattr(party, "person", None) if party.is_person else None
    organisation = None if party.is_person else getattr(party, "organisation", None)
    if person is not None:
        snapshot.update(
            {
                f"person.{k}": v
                for k, v in audit_snapshot(person, (*_PERSON_UPDATABLE, "birth_year")).items()
            }
        )
    if organisation is not None:
        snapshot.update(
            {
                f"organisation.{k}": v
                for k, v in audit_snapshot(organisation, _ORGANISATION_UPDATABLE).items()
            }
        )
    return snapshot


def _birth_year(date_of_birth: dt.date | None) -> int | None:
    return date_of_birth.year if date_of_birth else None


def _audited_delete(
    *, actor: Any, target: Any, action: str, reason: str, object_repr: str = ""
) -> None:
    """Delete a record, recording its last state in the audit trail in the same transaction."""
    with transaction.atomic():
        audit_record(
            actor=actor,
            action=action,
            target=target,
            object_repr=object_repr,
            before=audit_snapshot(target),
            reason=reason,
        )
        target.delete()


def _unknown_fields(names: list[str]) -> ValidationError:
    return ValidationError(
        {
            name: [ValidationError(_("This field cannot be changed here."), code="unknown")]
            for name in names
        }
    )


# --- Parties -----------------------------------------------------------------------------


def party_create_person(
    *,
    actor: Any,
    owning_unit: OrgUnit,
    segment: str,
    family_name: str = "",
    given_name: str = "",
    native_name: str = "",
    native_name_pinyin: str = "",
    display_name: str = "",
    date_of_birth: dt.date | None = None,
    gender: str = PersonProfile.Gender.UNKNOWN,
    nationality: str = "",
    occupation: str = "",
    employer: str = "",
    income_band: str = "",
    portfolio: Portfolio | None = None,
    household: Household | None = None,
    status: str = Party.Status.PROSPECT,
    customer_since: dt.date | None = None,
    custom_fields: Mapping[str, Any] | None = None,
    source_system: str = "",
    source_id: str | None = None,
) -> Party:
    """Record a new customer who is a person.

    ``display_name`` defaults to the native-script name, else "given family".
    ``native_name_pinyin`` defaults to the toneless pinyin of a Chinese native name.
    """
    _require_placement(actor, "customers.add_party", owning_unit, portfolio)
    if not display_name:
        display_name = native_name or " ".join(p for p in (given_name, family_name) if p)
    if not native_name_pinyin and native_name:
        native_name_pinyin = " ".join(name_pinyin_syllables(native_name))
    party = Party(
        kind=Party.Kind.PERSON,
        display_name=display_name.strip(),
        status=status,
        segment=segment,
        owning_unit=owning_unit,
        portfolio=portfolio,
        household=household,
        customer_since=customer_since,
        source_system=source_system,
        source_id=source_id,
    )
    person = PersonProfile(
        party=party,
        family_name=family_name.strip(),
        given_name=given_name.strip(),
        native_name=native_name.strip(),
        native_name_pinyin=native_name_pinyin.strip(),
        date_of_birth=date_of_birth,
        birth_year=_birth_year(date_of_birth),
        gender=gender,
        nationality=nationality.upper(),
        occupation=occupation,
        employer=employer,
        income_band=income_band,
    )
    errors: dict[str, Any] = {}
    if not party.display_name:
        errors["display_name"] = [ValidationError(_("Give the customer's name."), code="required")]
    try:
        party.custom_fields = _clean_custom_fields(custom_fields, partial=False)
    except ValidationError as exc:
        errors.update(exc.error_dict)
    for instance, exclude in ((party, ["data_key"]), (person, ["party"])):
        try:
            _full_clean(instance, exclude=exclude)
        except ValidationError as exc:
            errors.update(exc.error_dict)
    if errors:
        raise ValidationError(errors)
    _set_search_columns(party, native_name)
    with transaction.atomic():
        party.save(force_insert=True)
        person.party = party
        person.save(force_insert=True)
        audit_record(
            actor=actor,
            action="customer.create",
            target=party,
            after=_full_snapshot(party),
            changed_secrets=["person.date_of_birth"] if date_of_birth else [],
        )
        event_record(type="customer.created", target=party, payload=_party_event_payload(party))
    return party


def party_create_organisation(
    *,
    actor: Any,
    owning_unit: OrgUnit,
    segment: str,
    legal_name: str,
    display_name: str = "",
    registration_number: str = "",
    uscc: str = "",
    industry: str = "",
    legal_form: str = "",
    incorporated_on: dt.date | None = None,
    portfolio: Portfolio | None = None,
    status: str = Party.Status.PROSPECT,
    customer_since: dt.date | None = None,
    custom_fields: Mapping[str, Any] | None = None,
    source_system: str = "",
    source_id: str | None = None,
) -> Party:
    """Record a new customer that is an organisation; ``uscc`` is checked (GB 32100-2015)."""
    _require_placement(actor, "customers.add_party", owning_unit, portfolio)
    party = Party(
        kind=Party.Kind.ORGANISATION,
        display_name=(display_name or legal_name).strip(),
        status=status,
        segment=segment,
        owning_unit=owning_unit,
        portfolio=portfolio,
        customer_since=customer_since,
        source_system=source_system,
        source_id=source_id,
    )
    organisation = OrganisationProfile(
        party=party,
        legal_name=legal_name.strip(),
        registration_number=registration_number.strip(),
        uscc=normalize_uscc(uscc) if uscc else "",
        industry=industry,
        legal_form=legal_form,
        incorporated_on=incorporated_on,
    )
    errors: dict[str, Any] = {}
    try:
        party.custom_fields = _clean_custom_fields(custom_fields, partial=False)
    except ValidationError as exc:
        errors.update(exc.error_dict)
    for instance, exclude in ((party, ["data_key"]), (organisation, ["party"])):
        try:
            _full_clean(instance, exclude=exclude)
        except ValidationError as exc:
            errors.update(exc.error_dict)
    if organisation.uscc and "uscc" not in errors and _uscc_taken(organisation.uscc, None):
        errors["uscc"] = [
            ValidationError(
                _("This Unified Social Credit Code belongs to another customer."),
                code="duplicate_uscc",
            )
        ]
    if errors:
        raise ValidationError(errors)
    _set_search_columns(party, legal_name)
    with transaction.atomic():
        party.save(force_insert=True)
        organisation.party = party
        organisation.save(force_insert=True)
        audit_record(
            actor=actor, action="customer.create", target=party, after=_full_snapshot(party)
        )
        event_record(type="customer.created", target=party, payload=_party_event_payload(party))
    return party


def _uscc_taken(uscc: str, party: Party | None) -> bool:
    others = OrganisationProfile.objects.filter(uscc=uscc)
    if party is not None:
        others = others.exclude(party=party)
    return others.exists()


def party_update(
    *, actor: Any, party: Party, changes: Mapping[str, Any], reason: str = ""
) -> Party:
    """Change a customer's details.

    ``changes`` names fields of the party (display_name, status, segment, owning_unit,
    portfolio, household, customer_since, custom_fields — merged, not replaced) and of its
    person or organisation profile (e.g. ``date_of_birth``, ``uscc``). Unknown names are an
    error. Moving a customer to another unit or portfolio needs the new place to be within
    the actor's reach too.
    """
    _require_party_in_scope(actor, party, "customers.change_party")
    profile_fields = _PERSON_UPDATABLE if party.is_person else _ORGANISATION_UPDATABLE
    unknown = sorted(set(changes) - set(_PARTY_UPDATABLE) - set(profile_fields))
    if unknown:
        raise _unknown_fields(unknown)
    profile: Any = party.person if party.is_person else party.organisation
    before = _full_snapshot(party)
    secrets_before = audit_secret_state(profile)
    errors: dict[str, Any] = {}
    for name, value in changes.items():
        if name == "custom_fields":
            try:
                cleaned = _clean_custom_fields(value, partial=True)
            except ValidationError as exc:
                errors.update(exc.error_dict)
                continue
            merged = {**party.custom_fields, **cleaned}
            party.custom_fields = {k: v for k, v in merged.items() if v is not None}
        elif name in _PARTY_UPDATABLE:
            setattr(party, name, value)
        else:
            if name == "uscc" and value:
                value = normalize_uscc(value)
            if name == "nationality" and value:
                value = value.upper()
            setattr(profile, name, value)
    if "date_of_birth" in changes and party.is_person:
        profile.birth_year = _birth_year(changes["date_of_birth"])
    if "owning_unit" in changes or "portfolio" in changes:
        _require_placement(actor, "customers.change_party", party.owning_unit, party.portfolio)
    for instance, exclude in ((party, ["data_key"]), (profile, ["party"])):
        try:
            _full_clean(instance, exclude=exclude)
        except ValidationError as exc:
            errors.update(exc.error_dict)
    if (
        not party.is_person
        and "uscc" in changes
        and profile.uscc
        and "uscc" not in errors
        and _uscc_taken(profile.uscc, party)
    ):
        errors["uscc"] = [
            ValidationError(
                _("This Unified Social Credit Code belongs to another customer."),
                code="duplicate_uscc",
            )
        ]
    if errors:
        raise ValidationError(errors)
    if party.is_person:
        _set_search_columns(party, profile.native_name)
    else:
        _set_search_columns(party, profile.legal_name)
    with transaction.atomic():
        party.save()
        profile.save()
        after = _full_snapshot(party)
        secrets = [
            f"person.{n}"
            for n in audit_secrets_changed(secrets_before, audit_secret_state(profile))
        ]
        if after != before or secrets:
            audit_record(
                actor=actor,
                action="customer.update",
                target=party,
                before=before,
                after=after,
                changed_secrets=secrets,
                reason=reason,
            )
            event_record(
                type="customer.updated",
                target=party,
                payload={**_party_event_payload(party), "changed": sorted(changes)},
            )
    return party


def party_close(*, actor: Any, party: Party, reason: str) -> Party:
    """Close a customer relationship (the record and its history stay)."""
    if not (reason or "").strip():
        raise ValidationError({"reason": [ValidationError(_("Give a reason."), code="required")]})
    return party_update(
        actor=actor, party=party, changes={"status": Party.Status.CLOSED}, reason=reason
    )


# --- Households --------------------------------------------------------------------------


def household_create(
    *,
    actor: Any,
    name: str,
    owning_unit: OrgUnit,
    members: list[Party] | tuple[Party, ...] = (),
    source_system: str = "",
    source_id: str | None = None,
) -> Household:
    """Group customers into a household; each member leaves any household they were in."""
    scope = _scope_for(actor, "customers.add_household")
    if scope != Role.DataScope.BANK and not any(
        owning_unit.path.startswith(path) for path in actor_unit_paths(actor)
    ):
        raise PermissionDenied(_("You may only create households in your own unit."))
    for member in members:
        _require_party_in_scope(actor, member, "customers.change_party")
    household = Household(
        name=name.strip(), owning_unit=owning_unit, source_system=source_system, source_id=source_id
    )
    _full_clean(household)
    with transaction.atomic():
        household.save()
        Party.objects.filter(pk__in=[m.pk for m in members]).update(household=household)
        for member in members:
            member.household = household
        audit_record(
            actor=actor,
            action="household.create",
            target=household,
            after={**audit_snapshot(household), "members": sorted(str(m.pk) for m in members)},
        )
    return household


def household_member_set(*, actor: Any, party: Party, household: Household | None) -> Party:
    """Put a customer in a household, or take them out of theirs (``household=None``)."""
    return party_update(actor=actor, party=party, changes={"household": household})


# --- Identifiers -------------------------------------------------------------------------


def _clean_identifier_number(identifier_type: str, number: str, party: Party) -> str:
    number = (number or "").strip()
    if not number:
        raise ValidationError(
            {"number": [ValidationError(_("Give the document number."), code="required")]}
        )
    try:
        if identifier_type == Identifier.Type.CN_RESIDENT_ID:
            date_of_birth = None
            if party.is_person and hasattr(party, "person"):
                date_of_birth = party.person.date_of_birth
            return validate_resident_id(number, date_of_birth=date_of_birth)
        if identifier_type == Identifier.Type.BUSINESS_LICENCE and len(number) == 18:
            return validate_uscc(number)
    except ValidationError as exc:
        raise ValidationError({"number": exc.error_list}) from None
    return " ".join(number.split())


def _require_unique_identifier(identifier: Identifier) -> None:
    index = blind_index(Identifier, "number_index", identifier.number)
    clash = Identifier.objects.filter(
        type=identifier.type, issuing_country=identifier.issuing_country, number_index=index
    ).exclude(pk=identifier.pk)
    if clash.exists():
        raise ValidationError(
            {
                "number": [
                    ValidationError(
                        _("This document number is already recorded for a customer of the bank."),
                        code="duplicate_identifier",
                    )
                ]
            }
        )


def identifier_add(
    *,
    actor: Any,
    party: Party,
    type: str,
    number: str,
    issuing_country: str = "CN",
    issued_on: dt.date | None = None,
    expires_on: dt.date | None = None,
    is_primary: bool = False,
) -> Identifier:
    """Record an identity document of a customer.

    A Chinese resident ID must have its check digit right, a plausible region and a birth
    date equal to the customer's date of birth when known. A number already recorded
    for any customer of the bank (found through the blind index) is refused.
    """
    _require_party_in_scope(actor, party, "customers.add_identifier")
    identifier = Identifier(
        party=party,
        type=type,
        issuing_country=(issuing_country or "").upper(),
        issued_on=issued_on,
        expires_on=expires_on,
        is_primary=is_primary,
    )
    identifier.number = _clean_identifier_number(type, number, party)
    _full_clean(identifier, exclude=["party"])
    _check_identifier_dates(identifier)
    _require_unique_identifier(identifier)
    with transaction.atomic():
        if is_primary:
            Identifier.objects.filter(party=party, is_primary=True).update(is_primary=False)
        try:
            with transaction.atomic():
                identifier.save(force_insert=True)
        except IntegrityError:
            # Another request recorded the same number between our check and the insert.
            _require_unique_identifier(identifier)
            raise
        audit_record(
            actor=actor,
            action="identifier.add",
            target=identifier,
            object_repr=f"{identifier.get_type_display()} of {party.pk}",
            after=audit_snapshot(identifier),
            changed_secrets=["number"],
        )
        _identifier_changed_event(identifier, "added")
    return identifier


def _identifier_changed_event(identifier: Identifier, change: str) -> None:
    # Screening and KYC react to document changes; the number itself never leaves.
    event_record(
        type="customer.identifier_changed",
        target=identifier.party,
        payload={
            "party": str(identifier.party_id),
            "identifier": str(identifier.pk),
            "type": identifier.type,
            "change": change,
        },
    )


def _check_identifier_dates(identifier: Identifier) -> None:
    if (
        identifier.issued_on
        and identifier.expires_on
        and (identifier.expires_on < identifier.issued_on)
    ):
        raise ValidationError(
            {
                "expires_on": [
                    ValidationError(
                        _("The expiry date is before the issue date."), code="expiry_before_issue"
                    )
                ]
            }
        )


def identifier_update(
    *, actor: Any, identifier: Identifier, changes: Mapping[str, Any]
) -> Identifier:
    """Correct an identity document: number, issuing country, dates, primary flag."""
    party = identifier.party
    _require_party_in_scope(actor, party, "customers.change_identifier")
    allowed = {"number", "issuing_country", "issued_on", "expires_on", "is_primary"}
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise _unknown_fields(unknown)
    before = audit_snapshot(identifier)
    secrets_before = audit_secret_state(identifier)
    for name, value in changes.items():
        if name == "number":
            identifier.number = _clean_identifier_number(identifier.type, value, party)
        elif name == "issuing_country":
            identifier.issuing_country = (value or "").upper()
        else:
            setattr(identifier, name, value)
    _full_clean(identifier, exclude=["party"])
    _check_identifier_dates(identifier)
    _require_unique_identifier(identifier)
    with transaction.atomic():
        if changes.get("is_primary"):
            Identifier.objects.filter(party=party, is_primary=True).exclude(
                pk=identifier.pk
            ).update(is_primary=False)
        identifier.save()
        audit_record(
            actor=actor,
            action="identifier.update",
            target=identifier,
            object_repr=f"{identifier.get_type_display()} of {party.pk}",
            before=before,
            after=audit_snapshot(identifier),
            changed_secrets=audit_secrets_changed(secrets_before, audit_secret_state(identifier)),
        )
        _identifier_changed_event(identifier, "updated")
    return identifier


def identifier_remove(*, actor: Any, identifier: Identifier, reason: str = "") -> None:
    """Delete an identity document recorded in error."""
    _require_party_in_scope(actor, identifier.party, "customers.delete_identifier")
    with transaction.atomic():
        _identifier_changed_event(identifier, "removed")
        _audited_delete(
            actor=actor,
            target=identifier,
            action="identifier.remove",
            reason=reason,
            object_repr=f"{identifier.get_type_display()} of {identifier.party_id}",
        )


# --- Contact points ----------------------------------------------------------------------

_ADDRESS_KEYS = ("lines", "city", "province", "postcode", "country")


def _clean_address(address: Any) -> dict[str, Any]:
    if not isinstance(address, Mapping):
        raise ValidationError(
            {"address": [ValidationError(_("Give the address parts."), code="invalid")]}
        )
    unknown = sorted(set(address) - set(_ADDRESS_KEYS))
    if unknown:
        raise ValidationError(
            {
                f"address.{k}": [
                    ValidationError(_("This is not a part of an address."), code="unknown")
                ]
                for k in unknown
            }
        )
    lines = address.get("lines") or []
    if isinstance(lines, str):
        lines = [lines]
    if not isinstance(lines, list) or not all(isinstance(x, str) for x in lines):
        raise ValidationError(
            {"address.lines": [ValidationError(_("Give the lines as text."), code="invalid")]}
        )
    cleaned: dict[str, Any] = {"lines": [x.strip() for x in lines if x.strip()]}
    for key in ("city", "province", "postcode"):
        value = address.get(key) or ""
        if not isinstance(value, str):
            raise ValidationError(
                {f"address.{key}": [ValidationError(_("Give text."), code="invalid")]}
            )
        cleaned[key] = value.strip()
    country = str(address.get("country") or "CN").upper()
    try:
        validate_country_code(country)
    except ValidationError as exc:
        raise ValidationError({"address.country": exc.error_list}) from None
    cleaned["country"] = country
    if not cleaned["lines"] and not cleaned["city"]:
        raise ValidationError(
            {"address.lines": [ValidationError(_("Give the street address."), code="required")]}
        )
    return cleaned


def _clean_contact_value(kind: str, value: Any) -> str:
    try:
        if kind == ContactPoint.Kind.PHONE:
            return normalize_phone_e164(str(value or ""))
        return normalize_email_address(str(value or ""))
    except ValidationError as exc:
        raise ValidationError({"value": exc.error_list}) from None


def contact_point_add(
    *,
    actor: Any,
    party: Party,
    kind: str,
    value: str | None = None,
    address: Mapping[str, Any] | None = None,
    purpose: str = "",
    is_primary: bool = False,
    is_verified: bool = False,
) -> ContactPoint:
    """Record a phone (stored in E.164), e-mail (lower-cased) or postal address.

    Making it primary takes the primary flag from the customer's other one of that kind.
    """
    _require_party_in_scope(actor, party, "customers.add_contactpoint")
    if kind not in ContactPoint.Kind.values:
        raise ValidationError(
            {
                "kind": [
                    ValidationError(_("Choose phone, e-mail or address."), code="invalid_choice")
                ]
            }
        )
    contact = ContactPoint(
        party=party, kind=kind, purpose=purpose, is_primary=is_primary, is_verified=is_verified
    )
    if kind == ContactPoint.Kind.ADDRESS:
        contact.address = _clean_address(address)
    else:
        contact.value = _clean_contact_value(kind, value)
    _full_clean(contact, exclude=["party"])
    with transaction.atomic():
        if is_primary:
            ContactPoint.objects.filter(party=party, kind=kind, is_primary=True).update(
                is_primary=False
            )
        contact.save(force_insert=True)
        audit_record(
            actor=actor,
            action="contact_point.add",
            target=contact,
            object_repr=f"{contact.get_kind_display()} of {party.pk}",
            after=audit_snapshot(contact),
            changed_secrets=["address" if kind == ContactPoint.Kind.ADDRESS else "value"],
        )
    return contact


def contact_point_update(
    *, actor: Any, contact_point: ContactPoint, changes: Mapping[str, Any]
) -> ContactPoint:
    """Change a contact point's value or address, purpose, primary or verified flag."""
    party = contact_point.party
    _require_party_in_scope(actor, party, "customers.change_contactpoint")
    allowed = {"value", "address", "purpose", "is_primary", "is_verified"}
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise _unknown_fields(unknown)
    before = audit_snapshot(contact_point)
    secrets_before = audit_secret_state(contact_point)
    is_address = contact_point.kind == ContactPoint.Kind.ADDRESS
    for name, new in changes.items():
        if name == "value":
            if is_address:
                raise ValidationError(
                    {
                        "value": [
                            ValidationError(
                                _("An address has no value; change the address."), code="invalid"
                            )
                        ]
                    }
                )
            contact_point.value = _clean_contact_value(contact_point.kind, new)
        elif name == "address":
            if not is_address:
                raise ValidationError(
                    {
                        "address": [
                            ValidationError(_("Only an address has address parts."), code="invalid")
                        ]
                    }
                )
            contact_point.address = _clean_address(new)
        else:
            setattr(contact_point, name, new)
    _full_clean(contact_point, exclude=["party"])
    with transaction.atomic():
        if changes.get("is_primary"):
            ContactPoint.objects.filter(
                party=party, kind=contact_point.kind, is_primary=True
            ).exclude(pk=contact_point.pk).update(is_primary=False)
        contact_point.save()
        audit_record(
            actor=actor,
            action="contact_point.update",
            target=contact_point,
            object_repr=f"{contact_point.get_kind_display()} of {party.pk}",
            before=before,
            after=audit_snapshot(contact_point),
            changed_secrets=audit_secrets_changed(
                secrets_before, audit_secret_state(contact_point)
            ),
        )
    return contact_point


def contact_point_remove(*, actor: Any, contact_point: ContactPoint, reason: str = "") -> None:
    """Delete a contact point that is wrong or no longer used."""
    _require_party_in_scope(actor, contact_point.party, "customers.delete_contactpoint")
    _audited_delete(
        actor=actor,
        target=contact_point,
        action="contact_point.remove",
        reason=reason,
        object_repr=f"{contact_point.get_kind_display()} of {contact_point.party_id}",
    )


def _check_period(start_on: dt.date | None, end_on: dt.date | None) -> None:
    if start_on and end_on and end_on < start_on:
        raise ValidationError(
            {
                "end_on": [
                    ValidationError(_("The end is before the start."), code="end_before_start")
                ]
            }
        )


# --- Relationships -----------------------------------------------------------------------


def _relationship_payload(relationship: Relationship) -> dict[str, Any]:
    # Ownership and control changes re-rate the organisation and open a KYC review.
    return {
        "relationship": relationship.pk,
        "party_from": str(relationship.party_from_id),
        "party_to": str(relationship.party_to_id),
        "type": relationship.type,
        "ownership_pct": (
            str(relationship.ownership_pct) if relationship.ownership_pct is not None else None
        ),
    }


def relationship_add(
    *,
    actor: Any,
    party_from: Party,
    party_to: Party,
    type: str,
    ownership_pct: Decimal | None = None,
    start_on: dt.date | None = None,
    end_on: dt.date | None = None,
    source_system: str = "",
    source_id: str | None = None,
) -> Relationship:
    """Record that ``party_from`` is the ``type`` of ``party_to`` (e.g. the beneficial owner
    of a company, with ``ownership_pct`` from 0 to 100)."""
    _require_party_in_scope(actor, party_from, "customers.add_relationship")
    _require_party_in_scope(actor, party_to, "customers.view_party")
    errors: dict[str, list[ValidationError]] = {}
    if party_from.pk == party_to.pk:
        errors["party_to"] = [
            ValidationError(_("A customer cannot be related to themselves."), code="self")
        ]
    if ownership_pct is not None and type != Relationship.Type.BENEFICIAL_OWNER:
        errors["ownership_pct"] = [
            ValidationError(
                _("Only a beneficial owner has an ownership share."), code="not_applicable"
            )
        ]
    if errors:
        raise ValidationError(errors)
    relationship = Relationship(
        party_from=party_from,
        party_to=party_to,
        type=type,
        ownership_pct=ownership_pct,
        start_on=start_on,
        end_on=end_on,
        source_system=source_system,
        source_id=source_id,
    )
    _full_clean(relationship)
    _check_period(start_on, end_on)
    if Relationship.objects.filter(party_from=party_from, party_to=party_to, type=type).exists():
        raise ValidationError(
            {
                "type": [
                    ValidationError(
                        _("This relationship is already recorded."), code="duplicate_relationship"
                    )
                ]
            }
        )
    with transaction.atomic():
        relationship.save(force_insert=True)
        audit_record(
            actor=actor,
            action="relationship.add",
            target=relationship,
            after=audit_snapshot(relationship),
        )
        event_record(
            type="relationship.added",
            target=relationship,
            payload=_relationship_payload(relationship),
        )
    return relationship


def relationship_update(
    *, actor: Any, relationship: Relationship, changes: Mapping[str, Any]
) -> Relationship:
    """Change a relationship's ownership share or its dates (end it by setting ``end_on``)."""
    _require_party_in_scope(actor, relationship.party_from, "customers.change_relationship")
    allowed = {"ownership_pct", "start_on", "end_on"}
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise _unknown_fields(unknown)
    if (
        changes.get("ownership_pct") is not None
        and relationship.type != Relationship.Type.BENEFICIAL_OWNER
    ):
        raise ValidationError(
            {
                "ownership_pct": [
                    ValidationError(
                        _("Only a beneficial owner has an ownership share."),
                        code="not_applicable",
                    )
                ]
            }
        )
    before = audit_snapshot(relationship)
    for name, value in changes.items():
        setattr(relationship, name, value)
    _full_clean(relationship)
    _check_period(relationship.start_on, relationship.end_on)
    with transaction.atomic():
        relationship.save()
        audit_record(
            actor=actor,
            action="relationship.update",
            target=relationship,
            before=before,
            after=audit_snapshot(relationship),
        )
        event_record(
            type="relationship.updated",
            target=relationship,
            payload=_relationship_payload(relationship),
        )
    return relationship


def relationship_remove(*, actor: Any, relationship: Relationship, reason: str = "") -> None:
    """Delete a relationship recorded in error (end a real one with ``end_on`` instead)."""
    _require_party_in_scope(actor, relationship.party_from, "customers.delete_relationship")
    with transaction.atomic():
        event_record(
            type="relationship.removed",
            target=relationship,
            payload=_relationship_payload(relationship),
        )
        _audited_delete(
            actor=actor, target=relationship, action="relationship.remove", reason=reason
        )


# --- Interactions ------------------------------------------------------------------------


def interaction_log(
    *,
    actor: Any,
    party: Party,
    kind: str,
    subject: str,
    body: str = "",
    direction: str = Interaction.Direction.OUTBOUND,
    channel: str = "",
    occurred_at: dt.datetime | None = None,
    outcome: str = "",
    follow_up_on: dt.date | None = None,
    staff: Any = None,
    source_system: str = "",
    source_id: str | None = None,
) -> Interaction:
    """Record a contact with a customer; ``staff`` defaults to the acting user.

    Keeps the customer's ``last_contacted_at`` (the latest interaction's time).
    """
    _require_party_in_scope(actor, party, "customers.add_interaction")
    if staff is None and not is_system(actor):
        staff = actor
    when = occurred_at or timezone.now()
    if timezone.is_naive(when):
        raise ValidationError(
            {"occurred_at": [ValidationError(_("Give the time with its time zone."), code="naive")]}
        )
    if when > timezone.now() + dt.timedelta(minutes=5):
        raise ValidationError(
            {"occurred_at": [ValidationError(_("This time is in the future."), code="future")]}
        )
    interaction = Interaction(
        party=party,
        kind=kind,
        direction=direction,
        channel=channel,
        staff=staff,
        occurred_at=when,
        subject=(subject or "").strip(),
        body=body or "",
        outcome=outcome,
        follow_up_on=follow_up_on,
        source_system=source_system,
        source_id=source_id,
    )
    _full_clean(interaction, exclude=["party"])
    with transaction.atomic():
        interaction.save(force_insert=True)
        # Only ever moves forward: logging an older call does not hide a newer one.
        updated = (
            Party.objects.filter(pk=party.pk)
            .filter(Q(last_contacted_at__isnull=True) | Q(last_contacted_at__lt=when))
            .update(last_contacted_at=when)
        )
        if updated:
            party.last_contacted_at = when
        audit_record(
            actor=actor,
            action="interaction.log",
            target=interaction,
            after=audit_snapshot(interaction),
            changed_secrets=["body"] if body else [],
        )
        event_record(
            type="interaction.logged",
            target=interaction,
            payload={
                "interaction": str(interaction.pk),
                "party": str(party.pk),
                "kind": kind,
                "direction": direction,
                "occurred_at": when.isoformat(),
                "staff": getattr(staff, "pk", None),
            },
        )
    return interaction


def interaction_update(
    *, actor: Any, interaction: Interaction, changes: Mapping[str, Any]
) -> Interaction:
    """Correct an interaction's subject, notes, outcome, channel or follow-up date."""
    _require_party_in_scope(actor, interaction.party, "customers.change_interaction")
    allowed = {"subject", "body", "outcome", "channel", "follow_up_on", "kind", "direction"}
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise _unknown_fields(unknown)
    before = audit_snapshot(interaction)
    secrets_before = audit_secret_state(interaction)
    for name, value in changes.items():
        setattr(interaction, name, value if value is not None else "")
    _full_clean(interaction, exclude=["party"])
    with transaction.atomic():
        interaction.save()
        audit_record(
            actor=actor,
            action="interaction.update",
            target=interaction,
            before=before,
            after=audit_snapshot(interaction),
            changed_secrets=audit_secrets_changed(secrets_before, audit_secret_state(interaction)),
        )
    return interaction


def interaction_remove(*, actor: Any, interaction: Interaction, reason: str) -> None:
    """Delete an interaction recorded against the wrong customer."""
    if not (reason or "").strip():
        raise ValidationError({"reason": [ValidationError(_("Give a reason."), code="required")]})
    _require_party_in_scope(actor, interaction.party, "customers.delete_interaction")
    _audited_delete(actor=actor, target=interaction, action="interaction.remove", reason=reason)


# --- Tasks -------------------------------------------------------------------------------


def task_create(
    *,
    actor: Any,
    title: str,
    owner: Any = None,
    party: Party | None = None,
    due_on: dt.date | None = None,
    priority: str = Task.Priority.NORMAL,
    description: str = "",
) -> Task:
    """Give a member of staff (the actor by default) a task, often about one customer."""
    owner = owner if owner is not None else (None if is_system(actor) else actor)
    if owner is None:
        raise ValidationError(
            {"owner": [ValidationError(_("Choose who does the task."), code="required")]}
        )
    if party is not None:
        _require_party_in_scope(actor, party, "customers.add_task")
        owning_unit = party.owning_unit
    else:
        _scope_for(actor, "customers.add_task")
        owning_unit = owner.org_unit
        if owning_unit is None:
            raise ValidationError(
                {"owner": [ValidationError(_("This person belongs to no unit."), code="no_unit")]}
            )
    task = Task(
        party=party,
        title=(title or "").strip(),
        description=description,
        due_on=due_on,
        owner=owner,
        owning_unit=owning_unit,
        priority=priority,
        created_by=None if is_system(actor) else actor,
    )
    _full_clean(task)
    with transaction.atomic():
        task.save()
        audit_record(actor=actor, action="task.create", target=task, after=audit_snapshot(task))
        event_record(
            type="task.created",
            target=task,
            payload={
                "task": task.pk,
                "party": str(party.pk) if party else None,
                "owner": owner.pk,
                "due_on": due_on.isoformat() if due_on else None,
                "priority": priority,
            },
        )
    return task


def _require_task_in_scope(actor: Any, task: Task, permission: str) -> None:
    scope = _scope_for(actor, permission)
    if task.owner_id == getattr(actor, "pk", None):
        return  # a member of staff may always close their own tasks
    if not Task.objects.filter(pk=task.pk).within_scope(actor, scope).exists():
        raise Task.DoesNotExist(_("No such task."))


def _task_set_status(actor: Any, task: Task, status: str, action: str) -> Task:
    _require_task_in_scope(actor, task, "customers.change_task")
    if task.status != Task.Status.OPEN:
        raise ValidationError(
            {"status": [ValidationError(_("This task is no longer open."), code="not_open")]}
        )
    before = audit_snapshot(task)
    task.status = status
    task.completed_at = timezone.now()
    with transaction.atomic():
        task.save(update_fields=["status", "completed_at", "updated_at"])
        audit_record(
            actor=actor, action=action, target=task, before=before, after=audit_snapshot(task)
        )
    return task


def task_complete(*, actor: Any, task: Task) -> Task:
    """Mark an open task done."""
    return _task_set_status(actor, task, Task.Status.DONE, "task.complete")


def task_cancel(*, actor: Any, task: Task) -> Task:
    """Cancel an open task."""
    return _task_set_status(actor, task, Task.Status.CANCELLED, "task.cancel")


def task_update(*, actor: Any, task: Task, changes: Mapping[str, Any]) -> Task:
    """Change an open task's title, description, due date, priority or owner."""
    _require_task_in_scope(actor, task, "customers.change_task")
    allowed = {"title", "description", "due_on", "priority", "owner"}
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise _unknown_fields(unknown)
    before = audit_snapshot(task)
    for name, value in changes.items():
        setattr(task, name, value)
    _full_clean(task)
    with transaction.atomic():
        task.save()
        audit_record(
            actor=actor,
            action="task.update",
            target=task,
            before=before,
            after=audit_snapshot(task),
        )
    return task


# --- Read-access records ------------------------------------------------------------------


def customer_search_record(*, actor: Any, query_kind: str, results: int) -> None:
    """Record a look-up of customers by personal data (phone, e-mail, ID, account number).

    The value searched for is itself personal data: the trail keeps its kind only.
    """
    audit_record(
        actor=actor,
        action="customer.search",
        object_type="customers.party",
        after={"query_kind": query_kind, "results": results},
    )


def list_export_record(
    *, actor: Any, action: str, object_type: str, filters: dict[str, Any], fmt: str, rows: int
) -> None:
    """Record an export of a list (before it is sent) with its filters, format and size."""
    audit_record(
        actor=actor,
        action=action,
        object_type=object_type,
        after={"filters": filters, "format": fmt, "rows": rows},
    )
