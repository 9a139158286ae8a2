"""Sanctions and PEP screening: loading watch lists, screening customers and payment
counterparties, deciding hits, and the full rescreen after each list update.

Hits at or above the hit floor (setting ``COMPLIANCE_SCREENING_HIT_FLOOR``, default the
matcher's ``DEFAULT_THRESHOLD``) are stored; new hits at or above ``DEFAULT_THRESHOLD`` raise
an alert for a compliance officer. One undecided hit exists per customer and list entry:
screening again refreshes its score and explanation.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from bankcrm.access.permissions import actor_has_perm
from bankcrm.audit.services import audit_record
from bankcrm.core.actor import is_system
from bankcrm.core.crypto.envelope import preload_data_keys
from bankcrm.customers.models import Party
from bankcrm.events.services import event_record

from .models import (
    Alert,
    KycProfile,
    ListEntry,
    ListSnapshot,
    RescreenChunk,
    RescreenRun,
    SanctionsList,
    ScreeningHit,
    ScreeningWhitelist,
)
from .screening import registry
from .screening.matcher import DEFAULT_THRESHOLD, REPORT_FLOOR, Match, Query
from .screening.sources import SOURCES, content_hash, parse_list

logger = logging.getLogger(__name__)

OPEN_STATUSES = (ScreeningHit.Status.OPEN, ScreeningHit.Status.TRUE_MATCH_PENDING)
DIFF_CAP = 500  # entry ids kept per kind in ListSnapshot.diff (the counts are exact)
ENTRY_FIELDS = (
    "schema",
    "name",
    "names",
    "birth_dates",
    "countries",
    "identifiers",
    "gender",
    "programs",
    "remarks",
)
DEFAULT_NAMES = {
    "ofac": ("ofac-sdn", _("OFAC SDN")),
    "un": ("un-consolidated", _("UN Security Council consolidated list")),
    "canada": ("canada-sema", _("Canada consolidated autonomous sanctions (SEMA)")),
}


def hit_floor() -> float:
    """The lowest score stored as a hit."""
    return float(getattr(settings, "COMPLIANCE_SCREENING_HIT_FLOOR", DEFAULT_THRESHOLD))


def stale_minutes() -> int:
    """After how long a claimed rescreen chunk counts as abandoned by a dead worker."""
    return int(getattr(settings, "COMPLIANCE_RESCREEN_STALE_MINUTES", 15))


def _require(actor: Any, permission: str) -> None:
    if is_system(actor):
        return
    if not actor_has_perm(actor, permission):
        raise PermissionDenied(_("You do not have the permission to do this."))


# ------------------------------------------------------------------------ watch lists


def _file_digest(source: str, path: Path) -> tuple[str, str]:
    """sha256 of the file(s) read for a load, and a name for the snapshot."""
    files = [path]
    if source == "ofac":
        from .screening.sources import ofac_files

        files = [p for p in ofac_files(path) if p is not None]
    digest = hashlib.sha256()
    for file in files:
        with open(file, "rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    return digest.hexdigest(), ", ".join(f.name for f in files)[:300]


def watch_list_load(
    *,
    actor: Any,
    source: str,
    path: Path | str,
    code: str | None = None,
    name: str | None = None,
    kind: str | None = None,
    rescreen: bool = True,
) -> ListSnapshot:
    """Load a list file as a new version of a watch list, with its diff to the last one.

    Entries are matched on the source's own number: new numbers are *added*, numbers no
    longer in the file are *removed* (their open hits close with a note), a different
    content hash is *changed*. Rows are written in bulk. Loading the same file again adds a
    version with an empty diff (a record that the list was checked), and no rescreen is
    started when nothing was added or changed; otherwise a full rescreen of the customers
    starts once the load has committed (``rescreen=False`` skips it).
    """
    _require(actor, "compliance.load_sanctionslist")
    if source not in SOURCES:
        raise ValidationError(
            {"source": _("Unknown list format “%(source)s”.") % {"source": source}}
        )
    path = Path(path)
    if not path.exists():
        raise ValidationError({"path": _("No such file or folder: %(path)s") % {"path": path}})
    if kind and kind not in SanctionsList.Kind.values:
        raise ValidationError({"kind": _("Unknown list kind “%(kind)s”.") % {"kind": kind}})
    default_code, default_name = DEFAULT_NAMES.get(source, (slugify(path.name.split(".")[0]), ""))
    code = slugify(code or default_code)[:48]
    if not code:
        raise ValidationError({"code": _("Give the list a code.")})
    try:
        records = list(parse_list(source, path))
        sha256, file_names = _file_digest(source, path)
    except (OSError, ValueError, SyntaxError) as exc:
        raise ValidationError(
            {"path": _("The file cannot be read: %(error)s") % {"error": exc}}
        ) from exc
    if not records:
        raise ValidationError({"path": _("The file holds no list entry.")})
    by_id: dict[str, dict[str, Any]] = {}
    for record in records:
        by_id.setdefault(record["entry_id"], record)
    hashes = {entry_id: content_hash(record) for entry_id, record in by_id.items()}

    with transaction.atomic():
        watch_list, created = SanctionsList.objects.select_for_update().get_or_create(
            code=code,
            defaults={
                "name": name or default_name or code,
                "source": source,
                "kind": kind
                or (
                    SanctionsList.Kind.INTERNAL if source == "csv" else SanctionsList.Kind.SANCTIONS
                ),
            },
        )
        if not created:
            changes = {"name": name, "kind": kind}
            dirty = [f for f, v in changes.items() if v and getattr(watch_list, f) != v]
            for field in dirty:
                setattr(watch_list, field, changes[field])
            if dirty:
                watch_list.save(update_fields=[*dirty, "updated_at"])
        last = watch_list.snapshots.order_by("-version").first()
        snapshot = ListSnapshot.objects.create(
            watch_list=watch_list,
            version=(last.version + 1) if last else 1,
            source_name=file_names,
            sha256=sha256,
            loaded_by=None if is_system(actor) else actor,
        )
        existing = {
            row[0]: row[1:]
            for row in ListEntry.objects.filter(watch_list=watch_list).values_list(
                "entry_id", "pk", "content_hash", "removed_in_id"
            )
        }
        added = [eid for eid in by_id if eid not in existing or existing[eid][2] is not None]
        changed = [
            eid
            for eid in by_id
            if eid in existing and existing[eid][2] is None and existing[eid][1] != hashes[eid]
        ]
        removed = [eid for eid, row in existing.items() if row[2] is None and eid not in by_id]

        removed_pks = [existing[eid][0] for eid in removed]
        for start in range(0, len(removed_pks), 500):
            ListEntry.objects.filter(pk__in=removed_pks[start : start + 500]).update(
                removed_in=snapshot, last_snapshot=snapshot
            )
        closed = _hits_close_removed(removed_pks, snapshot)
        ListEntry.objects.filter(watch_list=watch_list, removed_in__isnull=True).update(
            last_snapshot=snapshot
        )
        new_rows = [
            ListEntry(
                watch_list=watch_list,
                entry_id=eid,
                content_hash=hashes[eid],
                first_snapshot=snapshot,
                last_snapshot=snapshot,
                **{
                    f: by_id[eid].get(f) or ("" if f in ("gender", "remarks") else [])
                    for f in ENTRY_FIELDS
                },
            )
            for eid in added
            if eid not in existing
        ]
        for row in new_rows:
            row.name = row.name[:500]
        ListEntry.objects.bulk_create(new_rows, batch_size=1000)
        _entries_update(
            [(existing[eid][0], by_id[eid], hashes[eid]) for eid in changed]
            + [(existing[eid][0], by_id[eid], hashes[eid]) for eid in added if eid in existing],
            snapshot,
        )
        touched_ids = sorted([*added, *changed])
        rescreen_keys: list[int] = []
        for start in range(0, len(touched_ids), 500):
            rescreen_keys.extend(
                ListEntry.objects.filter(
                    watch_list=watch_list, entry_id__in=touched_ids[start : start + 500]
                ).values_list("pk", flat=True)
            )
        snapshot.entries = len(by_id)
        snapshot.names = sum(len(r["names"]) for r in by_id.values())
        snapshot.added, snapshot.changed, snapshot.removed = len(added), len(changed), len(removed)
        snapshot.diff = {
            "added": sorted(added)[:DIFF_CAP],
            "changed": sorted(changed)[:DIFF_CAP],
            "removed": sorted(removed)[:DIFF_CAP],
            "duplicates_in_file": len(records) - len(by_id),
            "hits_closed": closed,
            # ListEntry keys added or changed: a rescreen after this load screens the
            # customers already screened clear against these only.
            "rescreen_entries": sorted(rescreen_keys),
        }
        snapshot.save(update_fields=["entries", "names", "added", "changed", "removed", "diff"])
        figures = {
            "list": watch_list.code,
            "version": snapshot.version,
            "sha256": sha256,
            "entries": snapshot.entries,
            "names": snapshot.names,
            "added": snapshot.added,
            "changed": snapshot.changed,
            "removed": snapshot.removed,
            "hits_closed": closed,
        }
        audit_record(
            actor=actor, action="compliance.watch_list_load", target=snapshot, after=figures
        )
        event_record(type="compliance.list_loaded", target=snapshot, payload=figures)
        if rescreen and (snapshot.added or snapshot.changed):
            snapshot_pk = snapshot.pk
            transaction.on_commit(
                lambda: rescreen_start(
                    actor=actor, snapshot=ListSnapshot.objects.get(pk=snapshot_pk)
                )
            )
    return snapshot


JSON_FIELDS = ("names", "birth_dates", "countries", "identifiers", "programs")


def _entries_update(
    rows: Sequence[tuple[int, dict[str, Any], str]], snapshot: ListSnapshot
) -> None:
    """Rewrite changed (or re-listed) entries in place: one parametrised UPDATE run for all
    rows (``executemany``; Django's bulk_update builds a CASE per field and row, far slower)."""
    if not rows:
        return
    table = connection.ops.quote_name(ListEntry._meta.db_table)
    cast = "::jsonb" if connection.vendor == "postgresql" else ""
    assignments = ", ".join(
        f"{connection.ops.quote_name(field)} = %s{cast if field in JSON_FIELDS else ''}"
        for field in ENTRY_FIELDS
    )
    sql = (
        f"UPDATE {table} SET {assignments}, content_hash = %s, removed_in_id = NULL, "  # noqa: S608  # nosec B608
        f"last_snapshot_id = %s WHERE id = %s"
    )
    params = []
    for pk, record, digest in rows:
        values: list[Any] = []
        for field in ENTRY_FIELDS:
            value = record.get(field)
            if field in JSON_FIELDS:
                values.append(json.dumps(value or [], ensure_ascii=False))
            elif field == "name":
                values.append((value or "")[:500])
            else:
                values.append(value or "")
        params.append([*values, digest, snapshot.pk, pk])
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def _hits_close_removed(entry_pks: Sequence[int], snapshot: ListSnapshot) -> int:
    """Close the undecided hits on entries the list no longer holds, with a note."""
    if not entry_pks:
        return 0
    note = _("Closed: the entry was removed from %(list)s in version %(version)s.") % {
        "list": snapshot.watch_list.code,
        "version": snapshot.version,
    }
    now = timezone.now()
    parties: set[Any] = set()
    closed = 0
    for start in range(0, len(entry_pks), 500):
        hits = ScreeningHit.objects.filter(
            entry_id__in=entry_pks[start : start + 500], status__in=OPEN_STATUSES
        )
        parties.update(hits.exclude(party=None).values_list("party_id", flat=True))
        closed += hits.update(
            status=ScreeningHit.Status.CLOSED_REMOVED,
            decision_reason=note,
            decided_at=now,
            updated_at=now,
        )
    for party_id in parties:
        _profile_status_refresh(party_id)
    return closed


# ------------------------------------------------------------------------ queries


def _iso(value: Any) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value or "")


def party_query(party: Any) -> Query:
    """What is screened of a customer: names in every script, date of birth, nationality,
    document numbers and gender (a person); legal name, registration number, USCC and
    country (an organisation)."""
    identifiers: list[str] = []
    cache = getattr(party, "_prefetched_objects_cache", {})
    identifier_rows = cache["identifiers"] if "identifiers" in cache else party.identifiers.all()
    countries: list[str] = []
    for identifier in identifier_rows:
        number = str(identifier.number or "").strip()
        if number:
            identifiers.append(number)
    kyc = getattr(party, "kyc", None) if hasattr(party, "kyc") else None
    residence = getattr(kyc, "residence_country", "") if kyc is not None else ""
    if party.kind == "person":
        person = getattr(party, "person", None)
        aliases: list[str] = []
        birth = gender = ""
        if person is not None:
            full = " ".join(p for p in (person.given_name, person.family_name) if p)
            for alias in (full, person.native_name, person.native_name_pinyin):
                if alias and alias != party.display_name and alias not in aliases:
                    aliases.append(alias)
            birth = _iso(person.date_of_birth) or (str(person.birth_year or "") or "")
            gender = person.gender if person.gender in ("male", "female") else ""
            if person.nationality:
                countries.append(person.nationality.upper())
        if residence and residence.upper() not in countries:
            countries.append(residence.upper())
        return Query(
            name=party.display_name,
            aliases=tuple(aliases),
            schema="person",
            birth_date=birth,
            countries=tuple(countries),
            identifiers=tuple(identifiers),
            gender=gender,
        )
    organisation = getattr(party, "organisation", None)
    name = party.display_name
    aliases = []
    if organisation is not None:
        if organisation.legal_name:
            name = organisation.legal_name
            if party.display_name != name:
                aliases.append(party.display_name)
        for number in (organisation.registration_number, organisation.uscc):
            if number and number not in identifiers:
                identifiers.append(number)
    if residence:
        countries.append(residence.upper())
    return Query(
        name=name,
        aliases=tuple(aliases),
        schema="organisation",
        countries=tuple(countries),
        identifiers=tuple(identifiers),
    )


def query_fingerprint(query: Query) -> str:
    """A keyed hash of what was screened: a change means the customer is screened again."""
    data = json.dumps(
        [
            query.name,
            sorted(query.aliases),
            query.schema,
            query.birth_date,
            sorted(query.countries),
            sorted(query.identifiers),
            query.gender,
        ],
        ensure_ascii=False,
    )
    key = str(settings.SECRET_KEY).encode("utf-8")
    return hmac.new(key, data.encode("utf-8"), hashlib.sha256).hexdigest()


def _parties_for_screening(queryset: Any) -> Any:
    return queryset.select_related("person", "organisation", "kyc").prefetch_related("identifiers")


# ------------------------------------------------------------------------ screening


def _alert_raise(hit: ScreeningHit) -> None:
    try:
        from .services_alerts import alert_from_hit
    except ImportError:  # the alerts service is not installed in this build
        logger.warning("screening hit %s: no alert service to raise an alert", hit.pk)
        return
    alert_from_hit(hit)


def _profile_status_refresh(
    party_id: Any, *, fingerprint: str | None = None, screened: bool = False
) -> KycProfile:
    """Set the customer's screening status from their hits (and mark them screened)."""
    profile, _created = KycProfile.objects.get_or_create(party_id=party_id)
    statuses = set(ScreeningHit.objects.filter(party_id=party_id).values_list("status", flat=True))
    if ScreeningHit.Status.TRUE_MATCH in statuses:
        status = KycProfile.ScreeningStatus.CONFIRMED
    elif statuses & set(OPEN_STATUSES):
        status = KycProfile.ScreeningStatus.POTENTIAL
    elif screened or profile.screened_at is not None:
        status = KycProfile.ScreeningStatus.CLEAR
    else:
        status = KycProfile.ScreeningStatus.NOT_SCREENED
    fields = ["screening_status", "updated_at"]
    profile.screening_status = status
    if screened:
        profile.screened_at = timezone.now()
        fields.append("screened_at")
    if fingerprint is not None:
        profile.screened_fingerprint = fingerprint
        fields.append("screened_fingerprint")
    profile.save(update_fields=fields)
    return profile


def _record_matches(
    *,
    party: Any,
    matches: Iterable[Match],
    origin: str,
    fingerprint: str,
    subject_name: str,
    transaction_id: int | None = None,
    deferred_alerts: list[ScreeningHit] | None = None,
) -> tuple[list[ScreeningHit], list[ScreeningHit]]:
    """Store matches as hits of ``party``: returns (every hit touched, the new ones)."""
    matches = [m for m in matches if m.score >= hit_floor()]
    if not matches:
        return [], []
    keys = [m.candidate.key for m in matches]
    entries = {e.pk: e for e in ListEntry.objects.filter(pk__in=keys, removed_in__isnull=True)}
    open_hits = {
        h.entry_id: h
        for h in ScreeningHit.objects.filter(
            party=party, entry_id__in=keys, status__in=OPEN_STATUSES
        )
    }
    decided = ScreeningHit.objects.filter(party=party, entry_id__in=keys)
    confirmed = set(
        decided.filter(status=ScreeningHit.Status.TRUE_MATCH).values_list("entry_id", flat=True)
    )
    if origin == ScreeningHit.Origin.COUNTERPARTY:
        # A counterparty judged a false positive stays so for this name and account owner.
        cleared = set(
            decided.filter(
                status=ScreeningHit.Status.FALSE_POSITIVE,
                origin=origin,
                subject_name=subject_name,
            ).values_list("entry_id", flat=True)
        )
    else:
        cleared = {
            w.entry_id
            for w in ScreeningWhitelist.objects.filter(party=party, entry_id__in=keys)
            if w.party_fingerprint == fingerprint
            and entries.get(w.entry_id) is not None
            and w.entry_hash == entries[w.entry_id].content_hash
        }
    touched: list[ScreeningHit] = []
    new: list[ScreeningHit] = []
    for match in matches:
        entry = entries.get(match.candidate.key)
        if entry is None or entry.pk in confirmed or entry.pk in cleared:
            continue
        score = round(match.score, 4)
        hit = open_hits.get(entry.pk)
        if hit is not None:
            if origin == ScreeningHit.Origin.COUNTERPARTY and hit.origin != origin:
                continue  # the customer's own hit on this entry is already open
            if float(hit.score) != score or hit.explanation != match.explanation:
                hit.score = score  # type: ignore[assignment]
                hit.explanation = match.explanation
                hit.save(update_fields=["score", "explanation", "updated_at"])
            touched.append(hit)
            continue
        hit = ScreeningHit(
            party=party,
            subject_name=subject_name[:300],
            transaction_id=transaction_id,
            entry=entry,
            score=score,
            explanation=match.explanation,
            origin=origin,
        )
        try:
            with transaction.atomic():
                hit.save()
        except IntegrityError:  # another process raised it a moment ago
            continue
        touched.append(hit)
        new.append(hit)
    for hit in new:
        event_record(
            type="compliance.hit_raised",
            target=hit,
            payload={
                "hit": hit.pk,
                "party": str(hit.party_id),
                "entry": hit.entry_id,
                "score": str(hit.score),
                "origin": hit.origin,
            },
        )
        if float(hit.score) >= DEFAULT_THRESHOLD:
            if deferred_alerts is not None:
                deferred_alerts.append(hit)
            else:
                _alert_raise(hit)
    return touched, new


def _screen_one(
    party: Any,
    origin: str,
    index: Any,
    *,
    delta: Any = None,
    profile: bool = True,
    deferred_alerts: list[ScreeningHit] | None = None,
) -> tuple[list[ScreeningHit], list[ScreeningHit], str]:
    """Screen one customer: (hits touched, new hits, fingerprint of what was screened).

    ``index`` is the index or a callable returning it. With ``delta`` (an index of what a
    list load added or changed) a customer already screened with these very details is
    screened against the delta only: nothing else of the lists changed since."""
    query = party_query(party)
    fingerprint = query_fingerprint(query)
    kyc = getattr(party, "kyc", None) if hasattr(party, "kyc") else None
    if (
        delta is not None
        and kyc is not None
        and kyc.screened_at is not None
        and kyc.screened_fingerprint == fingerprint
    ):
        searched = delta
    else:
        searched = index() if callable(index) else index
    matches = searched.search(query, floor=hit_floor())
    touched, new = _record_matches(
        party=party,
        matches=matches,
        origin=origin,
        fingerprint=fingerprint,
        subject_name=query.name,
        deferred_alerts=deferred_alerts,
    )
    if profile:
        _profile_status_refresh(party.pk, fingerprint=fingerprint, screened=True)
    return touched, new, fingerprint


def _profiles_screened(fingerprints: dict[Any, str], existing: set[Any]) -> None:
    """Mark many customers screened now, their status set from their hits (a few queries
    for a whole chunk instead of three per customer)."""
    if not fingerprints:
        return
    ids = list(fingerprints)
    missing = [pk for pk in ids if pk not in existing]
    if missing:
        KycProfile.objects.bulk_create(
            [KycProfile(party_id=pk) for pk in missing], ignore_conflicts=True, batch_size=1000
        )
    statuses: dict[Any, set[str]] = {}
    for start in range(0, len(ids), 500):
        for party_id, status in (
            ScreeningHit.objects.filter(party_id__in=ids[start : start + 500])
            .values_list("party_id", "status")
            .distinct()
        ):
            statuses.setdefault(party_id, set()).add(status)
    now = timezone.now()
    rows = []
    for pk in ids:
        held = statuses.get(pk, set())
        if ScreeningHit.Status.TRUE_MATCH in held:
            status = KycProfile.ScreeningStatus.CONFIRMED
        elif held & set(OPEN_STATUSES):
            status = KycProfile.ScreeningStatus.POTENTIAL
        else:
            status = KycProfile.ScreeningStatus.CLEAR
        rows.append([str(status), now, fingerprints[pk], now, pk])
    table = connection.ops.quote_name(KycProfile._meta.db_table)
    sql = (
        f"UPDATE {table} SET screening_status = %s, screened_at = %s, "  # noqa: S608  # nosec B608
        "screened_fingerprint = %s, updated_at = %s WHERE party_id = %s"
    )
    field = KycProfile._meta.get_field("party").target_field
    with connection.cursor() as cursor:
        cursor.executemany(
            sql,
            [
                [*row[:4], field.get_db_prep_value(row[4], connection, prepared=False)]
                for row in rows
            ],
        )


def party_screen(*, actor: Any, party: Any, origin: str) -> list[ScreeningHit]:
    """Screen one customer against the loaded lists now; returns the hits found (new and
    refreshed). Pairs whitelisted as false positives are skipped while neither the customer's
    screened details nor the list entry changed."""
    _require(actor, "compliance.screen_party")
    if origin not in ScreeningHit.Origin.values:
        raise ValidationError({"origin": _("Unknown screening origin.")})
    index = registry.current_index()
    party = _parties_for_screening(Party.objects).get(pk=party.pk)
    with transaction.atomic():
        touched, new, _fingerprint = _screen_one(party, origin, index)
        audit_record(
            actor=actor,
            action="compliance.party_screen",
            target=party,
            after={
                "origin": origin,
                "hits": [h.pk for h in touched],
                "new_hits": [h.pk for h in new],
                "entries": len(index),
            },
        )
    return touched


def screening_check(
    *,
    actor: Any,
    name: str,
    birth_date: str = "",
    country: str = "",
    schema: str = "",
    floor: float = REPORT_FLOOR,
    limit: int = 20,
) -> list[Match]:
    """Screen a name typed by a compliance officer (nothing is stored but the audit)."""
    _require(actor, "compliance.screen_party")
    if not (name or "").strip():
        raise ValidationError({"name": _("Give a name to screen.")})
    if schema and schema not in ("person", "organisation"):
        raise ValidationError({"schema": _("Use person or organisation.")})
    query = Query(
        name=name.strip(),
        schema=schema,
        birth_date=(birth_date or "").strip(),
        countries=(country.strip().upper(),) if country and country.strip() else (),
    )
    matches = registry.current_index().search(query, floor=floor, limit=limit)
    audit_record(
        actor=actor,
        action="compliance.screening_check",
        object_type="compliance.screeninghit",
        object_repr=_("Name check"),
        after={"results": len(matches), "schema": schema, "country": country},
    )
    return matches


def match_json(match: Match) -> dict[str, Any]:
    """A match as plain JSON (the CLI's and the API's shape)."""
    candidate = match.candidate
    return {
        "list": candidate.list_code,
        "entry_id": candidate.entry_id,
        "entry": candidate.key,
        "name": candidate.names[0] if candidate.names else "",
        "schema": candidate.schema,
        "score": round(match.score, 4),
        "is_alert": match.score >= DEFAULT_THRESHOLD,
        "explanation": match.explanation,
    }


def screening_batch(
    *, actor: Any, in_path: Path | str, out_path: Path | str, floor: float = REPORT_FLOOR
) -> dict[str, Any]:
    """Screen a CSV of names (columns id, name, optional dob and country) and write one row
    per hit at or above ``floor``: id, entry_id, score, explanation (JSON)."""
    _require(actor, "compliance.screen_party")
    in_path, out_path = Path(in_path), Path(out_path)
    if not in_path.exists():
        raise ValidationError({"in_path": _("No such file: %(path)s") % {"path": in_path}})
    if not 0 <= floor <= 1:
        raise ValidationError({"floor": _("The floor is a score between 0 and 1.")})
    index = registry.current_index()
    rows = hits = 0
    started = time.perf_counter()
    with (
        open(in_path, encoding="utf-8-sig", newline="") as source,
        open(out_path, "w", encoding="utf-8", newline="") as target,
    ):
        reader = csv.DictReader(source)
        columns = {(c or "").strip().lower() for c in reader.fieldnames or ()}
        if not {"id", "name"} <= columns:
            raise ValidationError({"in_path": _("The file needs the columns id and name.")})
        writer = csv.writer(target)
        writer.writerow(["id", "entry_id", "score", "explanation"])
        for raw in reader:
            row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
            rows += 1
            if not row.get("name"):
                continue
            country = row.get("country", "")
            query = Query(
                name=row["name"],
                birth_date=row.get("dob", "") or row.get("birth_date", ""),
                countries=(country.upper(),) if country else (),
                schema=row.get("schema", ""),
            )
            for match in index.search(query, floor=floor, limit=50):
                hits += 1
                writer.writerow(
                    [
                        row.get("id", ""),
                        match.candidate.entry_id,
                        f"{match.score:.4f}",
                        json.dumps(match.explanation, ensure_ascii=False, separators=(",", ":")),
                    ]
                )
    seconds = time.perf_counter() - started
    figures = {
        "rows": rows,
        "hits": hits,
        "floor": floor,
        "seconds": round(seconds, 3),
        "names_per_second": round(rows / seconds, 1) if seconds else None,
    }
    audit_record(
        actor=actor,
        action="compliance.screening_batch",
        object_type="compliance.screeninghit",
        object_repr=in_path.name[:200],
        after=figures,
    )
    return figures


# ------------------------------------------------------------------------ decisions


def _hit_decided_event(hit: ScreeningHit, decision: str) -> None:
    event_record(
        type="compliance.hit_decided",
        target=hit,
        payload={
            "hit": hit.pk,
            "party": str(hit.party_id) if hit.party_id else None,
            "entry": hit.entry_id,
            "decision": decision,
            "status": hit.status,
        },
    )


def _hit_alerts_close(actor: Any, hit: ScreeningHit, reason: str) -> None:
    """A false positive closes the alerts its hit raised (those outside a case: a case is
    decided as a whole)."""
    from .services_alerts import alert_close

    for alert in hit.alerts.filter(status__in=Alert.OPEN_STATUSES, case=None):
        alert_close(
            actor=actor,
            alert=alert,
            reason=_("Screening hit decided a false positive: %(reason)s") % {"reason": reason},
        )


def hit_decide(*, actor: Any, hit: ScreeningHit, decision: str, reason: str) -> ScreeningHit:
    """Decide an open hit: ``false_positive`` (whitelists the customer and entry as they are
    now) or ``true_match`` (asks a second person to confirm: maker-checker action
    ``compliance.confirm_true_match``). A reason is required either way."""
    from bankcrm.core.services_approvals import approval_request

    _require(actor, "compliance.decide_screeninghit")
    if is_system(actor):
        raise PermissionDenied(_("A person decides screening hits."))
    if decision not in ("false_positive", "true_match"):
        raise ValidationError({"decision": _("Decide false_positive or true_match.")})
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Give the reason for the decision.")})
    with transaction.atomic():
        hit = ScreeningHit.objects.select_for_update().get(pk=hit.pk)
        if hit.status != ScreeningHit.Status.OPEN:
            raise ValidationError({"decision": _("This hit is not awaiting a decision.")})
        before = {"status": hit.status}
        hit.decided_by = actor
        hit.decided_at = timezone.now()
        hit.decision_reason = reason
        if decision == "false_positive":
            hit.status = ScreeningHit.Status.FALSE_POSITIVE
            hit.save(
                update_fields=[
                    "status",
                    "decided_by",
                    "decided_at",
                    "decision_reason",
                    "updated_at",
                ]
            )
            if hit.party_id and hit.origin != ScreeningHit.Origin.COUNTERPARTY:
                party = _parties_for_screening(Party.objects).get(pk=hit.party_id)
                ScreeningWhitelist.objects.update_or_create(
                    party=party,
                    entry=hit.entry,
                    defaults={
                        "party_fingerprint": query_fingerprint(party_query(party)),
                        "entry_hash": hit.entry.content_hash,
                        "reason": reason,
                        "created_by": actor,
                        "hit": hit,
                    },
                )
            _hit_alerts_close(actor, hit, reason)
        else:
            approval = approval_request(
                actor=actor,
                action="compliance.confirm_true_match",
                payload={"hit": hit.pk},
                reason=reason,
                target=hit,
            )
            hit.status = ScreeningHit.Status.TRUE_MATCH_PENDING
            hit.approval = approval
            hit.save(
                update_fields=[
                    "status",
                    "decided_by",
                    "decided_at",
                    "decision_reason",
                    "approval",
                    "updated_at",
                ]
            )
        audit_record(
            actor=actor,
            action="compliance.hit_decide",
            target=hit,
            before=before,
            after={"status": hit.status, "decision": decision},
            reason=reason,
        )
        _hit_decided_event(hit, decision)
        if hit.party_id:
            _profile_status_refresh(hit.party_id)
    return hit


def hit_true_match_confirm(*, actor: Any, hit_pk: int, approval: Any = None) -> ScreeningHit:
    """The second person's confirmation of a true match (the approval handler)."""
    with transaction.atomic():
        hit = ScreeningHit.objects.select_for_update().get(pk=hit_pk)
        if hit.status != ScreeningHit.Status.TRUE_MATCH_PENDING:
            raise ValidationError(_("This hit no longer awaits confirmation."))
        if hit.decided_by_id == getattr(actor, "pk", None):
            raise PermissionDenied(_("A second person must confirm a true match."))
        hit.status = ScreeningHit.Status.TRUE_MATCH
        hit.confirmed_by = actor
        hit.save(update_fields=["status", "confirmed_by", "updated_at"])
        audit_record(
            actor=actor,
            action="compliance.hit_confirm",
            target=hit,
            before={"status": ScreeningHit.Status.TRUE_MATCH_PENDING},
            after={"status": hit.status},
            reason=getattr(approval, "decision_comment", "") or "",
        )
        _hit_decided_event(hit, "true_match")
        if hit.party_id:
            _profile_status_refresh(hit.party_id)
    return hit


def hit_true_match_withdraw(*, actor: Any, approval_pk: int) -> int:
    """Put hits back to open when their confirmation request was rejected or cancelled."""
    with transaction.atomic():
        hits = list(
            ScreeningHit.objects.select_for_update().filter(
                approval_id=approval_pk, status=ScreeningHit.Status.TRUE_MATCH_PENDING
            )
        )
        for hit in hits:
            hit.status = ScreeningHit.Status.OPEN
            hit.save(update_fields=["status", "updated_at"])
            audit_record(
                actor=actor,
                action="compliance.hit_reopen",
                target=hit,
                before={"status": ScreeningHit.Status.TRUE_MATCH_PENDING},
                after={"status": hit.status},
            )
            _hit_decided_event(hit, "reopened")
    return len(hits)


# ------------------------------------------------------------------------ counterparties


def counterparties_screen(*, actor: Any, transactions: Iterable[Any]) -> int:
    """Screen the distinct counterparty names of ``transactions`` (banking.Transaction);
    each match becomes a hit of the account's owner with origin ``counterparty``. Returns the
    number of new hits."""
    _require(actor, "compliance.screen_party")
    by_name: dict[str, dict[str, Any]] = {}
    for tx in transactions:
        name = " ".join((tx.counterparty_name or "").split())
        if not name:
            continue
        group = by_name.setdefault(name.casefold(), {"name": name, "country": "", "owners": {}})
        group["country"] = group["country"] or (tx.counterparty_country or "")
        owner_id = tx.account.owner_id if hasattr(tx, "account") else None
        if owner_id is not None:
            group["owners"].setdefault(owner_id, tx.pk)
    if not by_name:
        return 0
    index = registry.current_index()
    new_total: list[ScreeningHit] = []
    owners_cache: dict[Any, Any] = {}
    with transaction.atomic():
        for group in by_name.values():
            query = Query(
                name=group["name"],
                countries=(group["country"].upper(),) if group["country"] else (),
            )
            matches = index.search(query, floor=hit_floor())
            if not matches:
                continue
            for owner_id, tx_pk in group["owners"].items():
                owner = owners_cache.get(owner_id)
                if owner is None:
                    owner = owners_cache[owner_id] = Party.objects.get(pk=owner_id)
                _touched, new = _record_matches(
                    party=owner,
                    matches=matches,
                    origin=ScreeningHit.Origin.COUNTERPARTY,
                    fingerprint="",
                    subject_name=group["name"],
                    transaction_id=tx_pk,
                )
                if new:
                    _profile_status_refresh(owner_id)
                new_total.extend(new)
        audit_record(
            actor=actor,
            action="compliance.counterparties_screen",
            object_type="banking.transaction",
            object_repr=_("%(count)s counterparty names") % {"count": len(by_name)},
            after={"names": len(by_name), "new_hits": [h.pk for h in new_total][:200]},
        )
    return len(new_total)


# ------------------------------------------------------------------------ rescreen


def rescreen_start(
    *,
    actor: Any,
    snapshot: ListSnapshot | None = None,
    chunk_size: int = 1000,
    dispatch: bool = True,
) -> RescreenRun:
    """Start a full rescreen of every customer (not closed) in chunks of ``chunk_size``
    parties by id; one Celery task per chunk, queued once the run is committed (with no
    broker the chunks run at once, one after the other). ``dispatch=False`` leaves the
    chunks for :func:`rescreen_work` (``bankcrm screening rescreen --workers N``)."""
    _require(actor, "compliance.screen_party")
    chunk_size = max(1, int(chunk_size))
    with transaction.atomic():
        run = RescreenRun.objects.create(snapshot=snapshot)
        chunks: list[RescreenChunk] = []
        ids = (
            Party.objects.exclude(status=Party.Status.CLOSED)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        first: Any = None
        last: Any = None
        count = total = 0
        for pk in ids.iterator(chunk_size=10_000):
            if first is None:
                first = pk
            last = pk
            count += 1
            total += 1
            if count == chunk_size:
                chunks.append(
                    RescreenChunk(
                        run=run, number=len(chunks) + 1, first_party=first, last_party=last
                    )
                )
                first, count = None, 0
        if first is not None:
            chunks.append(
                RescreenChunk(run=run, number=len(chunks) + 1, first_party=first, last_party=last)
            )
        RescreenChunk.objects.bulk_create(chunks, batch_size=1000)
        run.customers = total
        if not chunks:
            run.status = RescreenRun.Status.DONE
            run.finished_at = timezone.now()
        run.save(update_fields=["customers", "status", "finished_at", "updated_at"])
        audit_record(
            actor=actor,
            action="compliance.rescreen_start",
            target=run,
            after={
                "snapshot": snapshot.pk if snapshot else None,
                "customers": total,
                "chunks": len(chunks),
            },
        )
        if dispatch and chunks:
            run_pk = run.pk
            transaction.on_commit(lambda: rescreen_dispatch(run_pk=run_pk))
    return run


def rescreen_dispatch(*, run_pk: int) -> int:
    """Queue a task for every chunk of the run not done yet."""
    from .tasks_screening import rescreen_chunk

    pks = list(
        RescreenChunk.objects.filter(run_id=run_pk)
        .exclude(status=RescreenChunk.Status.DONE)
        .order_by("number")
        .values_list("pk", flat=True)
    )
    for pk in pks:
        rescreen_chunk.delay(pk)
    return len(pks)


def _claimable() -> Q:
    stale = timezone.now() - dt.timedelta(minutes=stale_minutes())
    return Q(status=RescreenChunk.Status.PENDING) | Q(
        status=RescreenChunk.Status.RUNNING, claimed_at__lt=stale
    )


def _claim(chunk_id: int) -> RescreenChunk | None:
    with transaction.atomic():
        queryset = RescreenChunk.objects.filter(pk=chunk_id).filter(_claimable())
        if connection.features.has_select_for_update_skip_locked:
            queryset = queryset.select_for_update(skip_locked=True)
        chunk = queryset.first()
        if chunk is None:
            return None
        chunk.status = RescreenChunk.Status.RUNNING
        chunk.claimed_at = timezone.now()
        chunk.save(update_fields=["status", "claimed_at"])
        return chunk


def rescreen_chunk_process(*, chunk_id: int) -> int:
    """Screen the customers of one chunk; returns how many were screened (0 when the chunk
    is done or held by a live worker). The chunk's hits, profiles and its 'done' mark commit
    together, so a worker killed half way leaves nothing behind and the chunk is taken again
    (at once after an error, after ``COMPLIANCE_RESCREEN_STALE_MINUTES`` after a kill)."""
    from .tasks_screening import SYSTEM_RESCREEN

    chunk = _claim(chunk_id)
    if chunk is None:
        return 0
    claimed_at = chunk.claimed_at
    try:
        run = RescreenRun.objects.select_related("snapshot").get(pk=chunk.run_id)
        delta = registry.delta_index(run.snapshot) if run.snapshot is not None else None
        with transaction.atomic():
            parties = list(
                _parties_for_screening(
                    Party.objects.filter(pk__gte=chunk.first_party, pk__lte=chunk.last_party)
                    .exclude(status=Party.Status.CLOSED)
                    .order_by("pk")
                )
            )
            preload_data_keys({p.data_key_id for p in parties if p.data_key_id})
            screened = 0
            new_hits: list[int] = []
            hits = 0
            fingerprints: dict[Any, str] = {}
            existing = {p.pk for p in parties if hasattr(p, "kyc")}
            alerts: list[ScreeningHit] = []
            for party in parties:
                touched, new, fingerprint = _screen_one(
                    party,
                    ScreeningHit.Origin.RESCREEN,
                    registry.current_index,
                    delta=delta,
                    profile=False,
                    deferred_alerts=alerts,
                )
                fingerprints[party.pk] = fingerprint
                screened += 1
                hits += len(touched)
                new_hits.extend(h.pk for h in new)
            _profiles_screened(fingerprints, existing)
            mine = (
                RescreenChunk.objects.select_for_update()
                .filter(pk=chunk.pk, status=RescreenChunk.Status.RUNNING, claimed_at=claimed_at)
                .update(
                    status=RescreenChunk.Status.DONE,
                    screened=screened,
                    hits=hits,
                    finished_at=timezone.now(),
                )
            )
            if not mine:
                # Another worker took the chunk over (we were taken for dead): undo ours.
                transaction.set_rollback(True)
                return 0
            # Alerts and the audit trail (a chain every writer appends to, one at a time)
            # come last, then the run's shared counters: every worker takes these locks in
            # the same order and holds them only for the end of its chunk.
            for hit in alerts:
                _alert_raise(hit)
            audit_record(
                actor=SYSTEM_RESCREEN,
                action="compliance.rescreen_chunk",
                target=chunk,
                after={
                    "run": chunk.run_id,
                    "number": chunk.number,
                    "screened": screened,
                    "hits": hits,
                    "new_hits": new_hits[:200],
                },
            )
            RescreenRun.objects.filter(pk=chunk.run_id).update(
                screened=F("screened") + screened, hits=F("hits") + hits
            )
            if (
                not RescreenChunk.objects.filter(run_id=chunk.run_id)
                .exclude(status=RescreenChunk.Status.DONE)
                .exists()
            ):
                RescreenRun.objects.filter(pk=chunk.run_id).update(
                    status=RescreenRun.Status.DONE, finished_at=timezone.now()
                )
    except BaseException:
        # An error (not a kill): release the chunk so a retry or a resume takes it at once.
        RescreenChunk.objects.filter(
            pk=chunk.pk, status=RescreenChunk.Status.RUNNING, claimed_at=claimed_at
        ).update(status=RescreenChunk.Status.PENDING, claimed_at=None)
        raise
    return screened


def rescreen_work(*, run_pk: int) -> int:
    """Take and process chunks of a run until none is left to take (a worker's loop)."""
    total = 0
    while True:
        pks = list(
            RescreenChunk.objects.filter(run_id=run_pk)
            .filter(_claimable())
            .order_by("number")
            .values_list("pk", flat=True)[:8]
        )
        if not pks:
            return total
        progressed = False
        for pk in pks:
            done = rescreen_chunk_process(chunk_id=pk)
            total += done
            progressed = progressed or done > 0
        if (
            not progressed
            and not RescreenChunk.objects.filter(
                run_id=run_pk, status=RescreenChunk.Status.PENDING
            ).exists()
        ):
            return total


def rescreen_resume(*, actor: Any, run: RescreenRun, dispatch: bool = True) -> RescreenRun:
    """Resume a run that stopped (a crash, a killed worker): its chunks not done are queued
    again; a chunk still claimed is taken only once its claim is stale."""
    _require(actor, "compliance.screen_party")
    audit_record(
        actor=actor,
        action="compliance.rescreen_resume",
        target=run,
        after={
            "pending": RescreenChunk.objects.filter(run=run)
            .exclude(status=RescreenChunk.Status.DONE)
            .count()
        },
    )
    if dispatch:
        rescreen_dispatch(run_pk=run.pk)
    run.refresh_from_db()
    return run
