"""Readers for watch-list files: OFAC SDN (legacy CSV), UN consolidated XML, Canada SEMA XML
and a generic CSV for internal or PEP lists.

Every reader yields one plain dict per listed subject, in one shape whatever the source::

    {"entry_id": "2676", "schema": "person", "name": "Ayman AL ZAWAHIRI",
     "names": [{"name": "Ayman AL ZAWAHIRI", "kind": "primary"}, {"name": "...", "kind": "aka"}],
     "birth_dates": ["1951-06-19"], "countries": ["EG"],
     "identifiers": [{"type": "passport", "number": "1084010", "country": "EG"}],
     "gender": "male", "programs": ["SDGT"], "remarks": "..."}

``names`` lists the primary name first, then aliases (``aka``, ``fka``, ``weak`` for low
quality aliases, ``native`` for names in their original script). Dates are ``YYYY``,
``YYYY-MM`` or ``YYYY-MM-DD``; countries ISO 3166-1 alpha-2 upper case. No Django here.
"""

from __future__ import annotations

import csv
import functools
import gzip
import hashlib
import io
import json
import re
import xml.etree.ElementTree as ET  # nosec B405 - list files from known publishers
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

SOURCES = ("ofac", "un", "canada", "csv")

MONTHS = {
    m: i
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1
    )
}

# Document labels as OFAC writes them in Remarks, mapped to a short type.
_ID_LABELS: list[tuple[str, str]] = [
    ("Diplomatic Passport", "passport"),
    ("Passport No.", "passport"),
    ("Passport", "passport"),
    ("National ID No.", "national_id"),
    ("National Identification Number", "national_id"),
    ("Personal ID Card", "national_id"),
    ("Identification Number", "national_id"),
    ("Cedula No.", "national_id"),
    ("D.N.I.", "national_id"),
    ("C.U.R.P.", "national_id"),
    ("SSN", "national_id"),
    ("Tax ID No.", "tax_id"),
    ("R.F.C.", "tax_id"),
    ("RFC", "tax_id"),
    ("NIT #", "tax_id"),
    ("RUC #", "tax_id"),
    ("RIF #", "tax_id"),
    ("V.A.T. Number", "tax_id"),
    ("Italian Fiscal Code", "tax_id"),
    ("Unified Social Credit Code (USCC)", "uscc"),
    ("Legal Entity Number", "lei"),
    ("Registration ID", "registration"),
    ("Registration Number", "registration"),
    ("Business Registration Document #", "registration"),
    ("Business Registration Number", "registration"),
    ("Company Number", "registration"),
    ("UK Company Number", "registration"),
    ("Commercial Registry Number", "registration"),
    ("Chamber of Commerce Number", "registration"),
    ("Central Registration System Number", "registration"),
    ("Government Gazette Number", "registration"),
    ("Enterprise Number", "registration"),
    ("Trade License No.", "registration"),
    ("Folio Mercantil No.", "registration"),
    ("Matricula Mercantil No", "registration"),
    ("C.R. No.", "registration"),
    ("Economic Register Number (CBLS)", "registration"),
    ("D-U-N-S Number", "duns"),
    ("SWIFT/BIC", "swift"),
    ("Vessel Registration Identification IMO", "imo"),
    ("MMSI", "mmsi"),
    ("Aircraft Construction Number (also called L/N or S/N or F/N)", "aircraft_serial"),
    ("Aircraft Manufacturer's Serial Number (MSN)", "aircraft_serial"),
    ("Aircraft Tail Number", "aircraft_tail"),
    ("Birth Certificate Number", "birth_certificate"),
    ("Driver's License No.", "driving_licence"),
    ("Electoral Registry No.", "national_id"),
    ("Credencial electoral", "national_id"),
    ("Residency Number", "residence_permit"),
    ("Refugee ID Card", "national_id"),
    ("Travel Document Number", "passport"),
]
_ID_LABELS.sort(key=lambda item: -len(item[0]))
_ID_KIND = dict(_ID_LABELS)
_ID_LABEL_RE = re.compile("(" + "|".join(re.escape(label) for label, _k in _ID_LABELS) + ")[ :]")
_ID_TAIL = re.compile(
    r"^(?P<number>.+?)(?:\s*\((?P<country>[^()]*)\))?(?:\s+(?:issued|expires|valid)\b.*)?\.?$",
    re.IGNORECASE,
)
# A label ending in No./Number/ID/# not in the table above still reads as an identifier.
_ID_GENERIC = re.compile(
    r"^(?P<label>[A-Z][\w.'/ ()-]{1,60}?(?:No\.?|Number|ID|#))\s+(?P<rest>.*\d.*)$"
)
_ID_EXCLUDE = ("phone", "telephone", "fax", "email", "website", "digital currency", "date")

_AKA = re.compile(r"^(?:alt\.\s+)?(?P<kind>a\.k\.a\.|f\.k\.a\.|n\.k\.a\.)\s*'(?P<name>.+)'\.?$")
_ALIAS_KIND = {"a.k.a.": "aka", "f.k.a.": "fka", "n.k.a.": "aka"}


# ---------------------------------------------------------------------------- helpers


def _open_text(path: Path, encoding: str = "utf-8") -> io.TextIOBase:
    raw = gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")  # noqa: SIM115
    return io.TextIOWrapper(raw, encoding=encoding, errors="replace", newline="")


def _open_binary(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def _clean(value: str | None) -> str:
    if value is None:
        return ""
    value = value.strip()
    if value in ("-0-", "-0- "):
        return ""
    return re.sub(r"\s+", " ", value)


@lru_cache(maxsize=4096)
def country_code(value: str) -> str:
    """ISO alpha-2 (upper case) for a country name, code or nationality adjective, or ""."""
    value = _clean(value)
    if not value:
        return ""
    if re.fullmatch(r"[A-Za-z]{2}", value):
        return value.upper()
    try:
        from rigour.territories import lookup_territory
    except ImportError:  # pragma: no cover - rigour is a declared dependency
        return ""
    for candidate in (value, value.split(" / ")[0], value.split("(")[0], value.split(",")[-1]):
        candidate = candidate.strip(" .")
        if not candidate:
            continue
        territory = lookup_territory(candidate)
        if territory is not None:
            code = territory.code.split("-")[0]
            if len(code) == 2:
                return code.upper()
    return ""


def _add_country(countries: list[str], value: str) -> None:
    code = country_code(value)
    if code and code not in countries:
        countries.append(code)


def parse_date(text: str) -> list[str]:
    """Dates in a free-text date of birth: '19 Jun 1951', 'Jun 1951', 'circa 1955',
    '1960 to 1962', '1965-04-29', '1972'. A range gives each year (at most 12)."""
    text = _clean(text).lower().replace("circa", "").replace("approximately", "").strip(" .")
    if not text:
        return []
    out: list[str] = []
    for part in re.split(r"\s+(?:or|and)\s+|;|,\s*(?=\d)", text):
        part = part.strip(" .")
        m = re.fullmatch(r"(\d{4})\s*(?:to|-|–)\s*(\d{4})", part)
        if m:
            a, b = int(m.group(1)), int(m.group(2))
            if a <= b <= a + 12:
                out.extend(str(y) for y in range(a, b + 1))
            continue
        m = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", part)
        if m:
            out.append(f"{m.group(1)}-{int(m.group(2)):02d}-{int(m.group(3)):02d}")
            continue
        m = re.fullmatch(r"(\d{4})-(\d{1,2})", part)
        if m and 1 <= int(m.group(2)) <= 12:
            out.append(f"{m.group(1)}-{int(m.group(2)):02d}")
            continue
        m = re.fullmatch(r"(\d{1,2})\s+([a-z]{3})[a-z]*\.?\s+(\d{4})", part)
        if m and m.group(2) in MONTHS:
            out.append(f"{m.group(3)}-{MONTHS[m.group(2)]:02d}-{int(m.group(1)):02d}")
            continue
        m = re.fullmatch(r"([a-z]{3})[a-z]*\.?\s+(\d{4})", part)
        if m and m.group(1) in MONTHS:
            out.append(f"{m.group(2)}-{MONTHS[m.group(1)]:02d}")
            continue
        m = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", part)
        if m:
            out.append(f"{m.group(3)}-{int(m.group(2)):02d}-{int(m.group(1)):02d}")
            continue
        years = re.findall(r"\b(1[89]\d{2}|20\d{2})\b", part)
        out.extend(years)
    seen: list[str] = []
    for d in out:
        if d not in seen:
            seen.append(d)
    return seen


def _gender(value: str) -> str:
    value = _clean(value).lower()
    if value in ("male", "m", "man"):
        return "male"
    if value in ("female", "f", "woman"):
        return "female"
    return ""


def _schema(value: str) -> str:
    value = _clean(value).lower()
    if value in ("person", "individual", "natural person", "people", "p"):
        return "person"
    if value in (
        "organisation",
        "organization",
        "entity",
        "company",
        "legalentity",
        "legal entity",
        "o",
        "",
    ):
        return "organisation" if value else "unknown"
    if value in ("vessel", "ship"):
        return "vessel"
    if value in ("aircraft", "airplane"):
        return "aircraft"
    return "unknown"


def _is_latin(text: str) -> bool:
    return all(ord(ch) < 0x250 or not ch.isalpha() for ch in text)


class _Names:
    """Collects names in order, without duplicates (case-insensitive)."""

    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []
        self._seen: set[str] = set()

    def add(self, name: str, kind: str) -> None:
        name = _clean(name).strip(" ,;.")
        if len(name) < 2:
            return
        key = name.casefold()
        if key in self._seen:
            return
        self._seen.add(key)
        if kind != "primary" and not _is_latin(name):
            kind = "native"
        self.items.append({"name": name, "kind": kind})


def _record(
    *,
    entry_id: str,
    schema: str,
    names: _Names,
    birth_dates: Iterable[str] = (),
    countries: Iterable[str] = (),
    identifiers: Iterable[dict[str, str]] = (),
    gender: str = "",
    programs: Iterable[str] = (),
    remarks: str = "",
) -> dict[str, Any] | None:
    if not names.items:
        return None
    dates: list[str] = []
    for d in birth_dates:
        if d and d not in dates:
            dates.append(d)
    idents: list[dict[str, str]] = []
    seen_ids: set[tuple[str, str]] = set()
    for ident in identifiers:
        key = (ident["type"], ident["number"])
        if ident["number"] and key not in seen_ids:
            seen_ids.add(key)
            idents.append(ident)
    progs: list[str] = []
    for p in programs:
        p = _clean(p)
        if p and p not in progs:
            progs.append(p)
    return {
        "entry_id": str(entry_id),
        "schema": schema,
        "name": names.items[0]["name"],
        "names": names.items,
        "birth_dates": dates,
        "countries": list(dict.fromkeys(c for c in countries if c)),
        "identifiers": idents,
        "gender": gender,
        "programs": progs,
        "remarks": remarks,
    }


def content_hash(record: dict[str, Any]) -> str:
    """sha256 of a record's canonical content (what makes a list entry 'changed')."""
    canonical = {
        k: record.get(k)
        for k in (
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
    }
    data = json.dumps(canonical, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------- OFAC


def _ofac_person_name(name: str) -> str:
    """'AL ZAWAHIRI, Dr. Ayman' -> 'Dr. Ayman AL ZAWAHIRI' (given names first)."""
    if name.count(",") == 1:
        last, first = (p.strip() for p in name.split(","))
        if last and first:
            return f"{first} {last}"
    return name


def parse_identifier(segment: str) -> dict[str, str] | None:
    """One Remarks segment such as 'Passport 1084010 (Egypt) issued 1999' -> identifier."""
    segment = _clean(segment).removeprefix("alt. ").strip()
    label = kind = rest = ""
    known = _ID_LABEL_RE.match(segment)
    if known:
        label = known.group(1)
        kind, rest = _ID_KIND[label], segment[known.end() :].strip(" :")
    if not label:
        m = _ID_GENERIC.match(segment)
        if not m or any(x in m.group("label").lower() for x in _ID_EXCLUDE):
            return None
        label, rest = m.group("label"), m.group("rest")
        kind = re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")[:40] or "other"
    m = _ID_TAIL.match(rest)
    if not m:
        return None
    number = m.group("number").strip(" .;,")
    if not number or not any(ch.isdigit() for ch in number) or len(number) > 64:
        return None
    return {"type": kind, "number": number, "country": country_code(m.group("country") or "")}


def _split_remarks(remarks: str) -> list[str]:
    return [s.strip() for s in remarks.split(";") if s.strip()]


def _read_ofac_rows(path: Path, width: int) -> Iterator[list[str]]:
    with _open_text(path, encoding="cp1252") as handle:
        for row in csv.reader(handle):
            if not row or not row[0].strip().isdigit():
                continue  # the trailing \x1a line, or a header
            row = row + [""] * (width - len(row))
            yield [_clean(v) for v in row]


def ofac_files(path: Path) -> tuple[Path, Path | None, Path | None]:
    def pick(folder: Path, stem: str) -> Path | None:
        for name in (f"{stem}.csv", f"{stem}.csv.gz", f"{stem.upper()}.CSV", f"{stem}.CSV"):
            if (folder / name).exists():
                return folder / name
        return None

    if path.is_dir():
        sdn = pick(path, "sdn")
        if sdn is None:
            raise FileNotFoundError(f"no sdn.csv(.gz) in {path}")
        folder = path
    else:
        sdn, folder = path, path.parent
    return sdn, pick(folder, "alt"), pick(folder, "add")


def parse_ofac(path: Path) -> Iterator[dict[str, Any]]:
    """OFAC SDN legacy CSV: a folder or the sdn.csv(.gz), with alt/add files beside it if any."""
    sdn, alt, add = ofac_files(Path(path))
    aliases: dict[str, list[tuple[str, str]]] = {}
    if alt is not None:
        for row in _read_ofac_rows(alt, 5):
            kind = {"fka": "fka", "nka": "aka"}.get(row[2].lower(), "aka")
            aliases.setdefault(row[0], []).append((row[3], kind))
    address_countries: dict[str, list[str]] = {}
    if add is not None:
        for row in _read_ofac_rows(add, 6):
            if row[4]:
                address_countries.setdefault(row[0], []).append(row[4])

    for row in _read_ofac_rows(sdn, 12):
        ent_num, sdn_name, sdn_type, program, title = row[:5]
        vess_flag, remarks = row[9], row[11]
        schema = {"individual": "person", "vessel": "vessel", "aircraft": "aircraft"}.get(
            sdn_type.lower(), "organisation"
        )
        names = _Names()
        primary = _ofac_person_name(sdn_name) if schema == "person" else sdn_name
        names.add(primary, "primary")
        for alias, kind in aliases.get(ent_num, ()):
            names.add(_ofac_person_name(alias) if schema == "person" else alias, kind)
        births: list[str] = []
        countries: list[str] = []
        identifiers: list[dict[str, str]] = []
        gender = ""
        for segment in _split_remarks(remarks):
            bare = segment.removeprefix("alt. ").strip()
            m = _AKA.match(segment)
            if m:
                alias = m.group("name")
                names.add(
                    _ofac_person_name(alias) if schema == "person" else alias,
                    _ALIAS_KIND[m.group("kind")],
                )
                continue
            low = bare.lower()
            if low.startswith("dob "):
                births.extend(parse_date(bare[4:]))
            elif low.startswith(("nationality ", "citizen ")):
                _add_country(countries, bare.split(" ", 1)[1])
            elif low.startswith("pob "):
                _add_country(countries, bare[4:].split(",")[-1])
            elif low.startswith("gender "):
                gender = _gender(bare[7:].strip(" ."))
            else:
                ident = parse_identifier(bare)
                if ident is not None:
                    identifiers.append(ident)
        for value in address_countries.get(ent_num, ()):
            _add_country(countries, value)
        if vess_flag:
            _add_country(countries, vess_flag)
        programs = [p.strip(" []") for p in program.split("] [")] if program else []
        record = _record(
            entry_id=ent_num,
            schema=schema,
            names=names,
            birth_dates=births if schema == "person" else (),
            countries=countries,
            identifiers=identifiers,
            gender=gender,
            programs=programs,
            remarks="; ".join(x for x in (title, remarks) if x),
        )
        if record is not None:
            yield record


# ---------------------------------------------------------------------------- UN


def _text(element: ET.Element | None, tag: str) -> str:
    if element is None:
        return ""
    child = element.find(tag)
    return _clean(child.text) if child is not None and child.text else ""


def _un_record(element: ET.Element, schema: str) -> dict[str, Any] | None:
    prefix = "INDIVIDUAL" if schema == "person" else "ENTITY"
    names = _Names()
    parts = [_text(element, t) for t in ("FIRST_NAME", "SECOND_NAME", "THIRD_NAME", "FOURTH_NAME")]
    names.add(" ".join(p for p in parts if p), "primary")
    original = _text(element, "NAME_ORIGINAL_SCRIPT")
    if original:
        names.add(original, "native")
    for alias in element.findall(f"{prefix}_ALIAS"):
        alias_name = _text(alias, "ALIAS_NAME")
        quality = _text(alias, "QUALITY").lower()
        kind = {"low": "weak", "f.k.a.": "fka"}.get(quality, "aka")
        for piece in re.split(r";", alias_name):
            names.add(piece, kind)
    births: list[str] = []
    for dob in element.findall(f"{prefix}_DATE_OF_BIRTH"):
        date = _text(dob, "DATE")
        if date:
            births.extend(parse_date(date[:10]))
        year = _text(dob, "YEAR")
        if year:
            births.extend(parse_date(year))
        low, high = _text(dob, "FROM_YEAR"), _text(dob, "TO_YEAR")
        if low and high:
            births.extend(parse_date(f"{low} to {high}"))
    countries: list[str] = []
    nationality = element.find("NATIONALITY")
    if nationality is not None:
        for value in nationality.findall("VALUE"):
            _add_country(countries, value.text or "")
    for tag in (f"{prefix}_ADDRESS", f"{prefix}_PLACE_OF_BIRTH"):
        for place in element.findall(tag):
            _add_country(countries, _text(place, "COUNTRY"))
    identifiers: list[dict[str, str]] = []
    for doc in element.findall(f"{prefix}_DOCUMENT"):
        number = _text(doc, "NUMBER")
        if not number:
            continue
        doc_type = _text(doc, "TYPE_OF_DOCUMENT").lower()
        kind = (
            "passport"
            if "passport" in doc_type
            else "national_id"
            if "national" in doc_type or "identi" in doc_type
            else re.sub(r"[^a-z0-9]+", "_", doc_type).strip("_") or "other"
        )
        issuer = _text(doc, "ISSUING_COUNTRY") or _text(doc, "COUNTRY_OF_ISSUE")
        identifiers.append({"type": kind, "number": number, "country": country_code(issuer)})
    programs = [_text(element, "UN_LIST_TYPE"), _text(element, "REFERENCE_NUMBER")]
    gender = _gender(_text(element, "GENDER"))
    return _record(
        entry_id=_text(element, "DATAID"),
        schema=schema,
        names=names,
        birth_dates=births,
        countries=countries,
        identifiers=identifiers,
        gender=gender,
        programs=programs,
        remarks=_text(element, "COMMENTS1"),
    )


def parse_un(path: Path) -> Iterator[dict[str, Any]]:
    """UN Security Council consolidated list XML (INDIVIDUAL and ENTITY records)."""
    with _open_binary(Path(path)) as handle:
        for _event, element in ET.iterparse(handle, events=("end",)):  # noqa: S314  # nosec B314
            if element.tag in ("INDIVIDUAL", "ENTITY"):
                record = _un_record(
                    element, "person" if element.tag == "INDIVIDUAL" else "organisation"
                )
                element.clear()
                if record is not None:
                    yield record


# ---------------------------------------------------------------------------- Canada


def _paren_variants(name: str) -> tuple[str, list[str]]:
    """'Adanov (Adnuf)' -> ('Adanov', ['Adnuf']): the bracketed part is a variant."""
    inner = re.findall(r"\(([^()]+)\)", name)
    bare = re.sub(r"\s*\([^()]*\)", "", name).strip()
    return bare or name, [i.strip() for i in inner if i.strip()]


def _canada_regime(country: str) -> str:
    acronym = re.search(r"\(([A-Z]{3,})\)", country)
    if acronym:
        return acronym.group(1)
    code = country_code(country.split(" / ")[0])
    if code:
        return code
    words = re.findall(r"[A-Za-z]+", country.split(" / ")[0])
    return "".join(w[0] for w in words).upper()[:12] or "X"


def parse_canada(path: Path) -> Iterator[dict[str, Any]]:
    """Canada consolidated autonomous sanctions list (SEMA) XML.

    ``Country`` is the sanctions regime (e.g. 'Russia / Russie'), not a nationality: it goes
    into ``programs``. The entry id is '<regime>-<schedule>-<item>'."""
    seen: dict[str, int] = {}
    with _open_binary(Path(path)) as handle:
        for _event, element in ET.iterparse(handle, events=("end",)):  # noqa: S314  # nosec B314
            if element.tag != "record":
                continue
            get = functools.partial(_text, element)
            regime = get("Country")
            last, given, entity = get("LastName"), get("GivenName"), get("EntityOrShip")
            imo, title = get("ShipIMONumber"), get("TitleOrShip")
            names = _Names()
            identifiers: list[dict[str, str]] = []
            births: list[str] = []
            if last or given:
                schema = "person"
                last_bare, last_vars = _paren_variants(last)
                given_bare, given_vars = _paren_variants(given)
                names.add(f"{given_bare} {last_bare}".strip(), "primary")
                for variant in last_vars:
                    names.add(f"{given_bare} {variant}".strip(), "aka")
                for variant in given_vars:
                    names.add(f"{variant} {last_bare}".strip(), "aka")
                births = parse_date(get("DateOfBirthOrShipBuildDate"))
            else:
                schema = "vessel" if imo else "organisation"
                bare, variants = _paren_variants(entity)
                names.add(bare, "primary")
                for variant in variants:
                    if len(variant) > 3 or variant.isupper():
                        names.add(variant, "aka")
                if imo:
                    identifiers.append({"type": "imo", "number": imo, "country": ""})
            for alias in re.split(r"[,;]\s*", get("Aliases")):
                alias = re.sub(r"^[A-Za-z ]{3,20}:\s*", "", alias.strip())  # 'Russian: ...'
                bare_alias, _ = _paren_variants(alias)
                names.add(bare_alias, "aka")
            base = f"{_canada_regime(regime)}-{get('Schedule')}-{get('Item')}"
            base = re.sub(r"[^A-Za-z0-9.-]+", "", base.replace(",", "."))[:60]
            seen[base] = seen.get(base, 0) + 1
            entry_id = base if seen[base] == 1 else f"{base}~{seen[base]}"
            remarks = "; ".join(
                x
                for x in (
                    title,
                    f"Listed {get('DateOfListing')}" if get("DateOfListing") else "",
                    f"Built {get('DateOfBirthOrShipBuildDate')}" if schema != "person" else "",
                )
                if x and x != "Built "
            )
            record = _record(
                entry_id=entry_id,
                schema=schema,
                names=names,
                birth_dates=births,
                identifiers=identifiers,
                programs=[regime.split(" / ")[0]] if regime else [],
                remarks=remarks,
            )
            element.clear()
            if record is not None:
                yield record


# ---------------------------------------------------------------------------- CSV


def _many(row: dict[str, str], column: str) -> list[str]:
    return [v.strip() for v in row.get(column, "").split(";") if v.strip()]


def parse_csv(path: Path) -> Iterator[dict[str, Any]]:
    """Generic CSV: id,name,aliases,schema,birth_date,country,identifier,gender,program.

    Multi-valued columns (aliases, birth_date, country, identifier, program) are separated by
    ';'. An identifier may be written 'type:number' or 'type:number:CC'."""
    with _open_text(Path(path), encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        for row in reader:
            row = {(k or "").strip().lower(): (v or "") for k, v in row.items()}
            entry_id = _clean(row.get("id"))
            if not entry_id:
                continue

            many = functools.partial(_many, row)

            names = _Names()
            names.add(row.get("name", ""), "primary")
            for alias in many("aliases"):
                names.add(alias, "aka")
            births = [d for value in many("birth_date") for d in parse_date(value)]
            countries: list[str] = []
            for value in many("country"):
                _add_country(countries, value)
            identifiers = []
            for value in many("identifier"):
                parts = value.split(":")
                if len(parts) == 1:
                    identifiers.append({"type": "other", "number": parts[0], "country": ""})
                else:
                    identifiers.append(
                        {
                            "type": parts[0].strip().lower() or "other",
                            "number": parts[1].strip(),
                            "country": country_code(parts[2]) if len(parts) > 2 else "",
                        }
                    )
            record = _record(
                entry_id=entry_id,
                schema=_schema(row.get("schema", "")),
                names=names,
                birth_dates=births,
                countries=countries,
                identifiers=identifiers,
                gender=_gender(row.get("gender", "")),
                programs=many("program"),
                remarks=_clean(row.get("remarks")),
            )
            if record is not None:
                yield record


_PARSERS = {"ofac": parse_ofac, "un": parse_un, "canada": parse_canada, "csv": parse_csv}


def parse_list(source: str, path: Path) -> Iterator[dict[str, Any]]:
    """Records of a list file: ``source`` is one of ``ofac``, ``un``, ``canada``, ``csv``."""
    try:
        parser = _PARSERS[source]
    except KeyError:
        raise ValueError(f"unknown list source {source!r}; expected one of {SOURCES}") from None
    return parser(Path(path))
