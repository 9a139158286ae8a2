"""Watch-list readers: OFAC SDN (with and without its alias and address files), UN XML,
Canada SEMA XML and the generic CSV, on hand-made samples and on the shipped files."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from django.conf import settings

from bankcrm.compliance.screening.sources import (
    content_hash,
    parse_date,
    parse_identifier,
    parse_list,
)

SANCTIONS = Path(settings.DATA_DIR) / "sanctions"

SDN = (
    '2676,"AL ZAWAHIRI, Dr. Ayman","individual","SDGT","Leader",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,'
    '"DOB 19 Jun 1951; POB Giza, Egypt; Passport 1084010 (Egypt); alt. Passport 19820215; '
    "a.k.a. 'AL-ZAWAHIRI, Ayman'; Gender Male.\"\r\n"
    '4243,"EBANO","vessel","CUBA",-0- ,-0- ,"General Cargo","2595","1865","Panama",-0- ,'
    "\"Vessel Registration Identification IMO 7406784; f.k.a. 'ANA I'.\"\r\n"
    '306,"BANCO NACIONAL DE CUBA",-0- ,"CUBA] [SDGT",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,'
    '"Unified Social Credit Code (USCC) 91110000MA00000X1 (China); Tax ID No. 123-45 (Cuba)."'
    "\r\n\x1a\r\n"
)
ALT = '306,220,"aka","NATIONAL BANK OF CUBA",-0- \r\n2676,9,"fka","ZAWAHRI, Aiman",-0- \r\n\x1a'
ADD = '306,199,"Zweierstrasse 35","Zurich CH-8022","Switzerland",-0- \r\n\x1a'

UN = """<?xml version='1.0' encoding='UTF-8'?>
<CONSOLIDATED_LIST><INDIVIDUALS><INDIVIDUAL>
<DATAID>110447</DATAID><FIRST_NAME>MUHAMMAD</FIRST_NAME><SECOND_NAME>TAHER</SECOND_NAME>
<THIRD_NAME>ANWARI</THIRD_NAME><UN_LIST_TYPE>Taliban</UN_LIST_TYPE>
<REFERENCE_NUMBER>TAi.005</REFERENCE_NUMBER>
<NAME_ORIGINAL_SCRIPT>محمد طاهر أنوري</NAME_ORIGINAL_SCRIPT><GENDER>Male</GENDER>
<NATIONALITY><VALUE>Afghanistan</VALUE></NATIONALITY>
<INDIVIDUAL_ALIAS><QUALITY>Good</QUALITY><ALIAS_NAME>Mohammad Taher Anwari</ALIAS_NAME>
</INDIVIDUAL_ALIAS><INDIVIDUAL_ALIAS><QUALITY>Low</QUALITY><ALIAS_NAME>Haji Mudir</ALIAS_NAME>
</INDIVIDUAL_ALIAS>
<INDIVIDUAL_DATE_OF_BIRTH><TYPE_OF_DATE>BETWEEN</TYPE_OF_DATE><FROM_YEAR>1960</FROM_YEAR>
<TO_YEAR>1962</TO_YEAR></INDIVIDUAL_DATE_OF_BIRTH>
<INDIVIDUAL_DOCUMENT><TYPE_OF_DOCUMENT>Passport</TYPE_OF_DOCUMENT><NUMBER>OA 454044</NUMBER>
<COUNTRY_OF_ISSUE>Afghanistan</COUNTRY_OF_ISSUE></INDIVIDUAL_DOCUMENT>
</INDIVIDUAL></INDIVIDUALS><ENTITIES><ENTITY><DATAID>113226</DATAID>
<FIRST_NAME>AFGHAN SUPPORT COMMITTEE (ASC)</FIRST_NAME><UN_LIST_TYPE>Al-Qaida</UN_LIST_TYPE>
<ENTITY_ALIAS><QUALITY>a.k.a.</QUALITY><ALIAS_NAME>Lajnat ul Masa Eidatul Afghania</ALIAS_NAME>
</ENTITY_ALIAS><ENTITY_ADDRESS><COUNTRY>Pakistan</COUNTRY></ENTITY_ADDRESS>
</ENTITY></ENTITIES></CONSOLIDATED_LIST>"""

CANADA = """<?xml version="1.0" encoding="UTF-8"?><data-set>
<record><Country>Belarus / Bélarus</Country><LastName>Adanov (Adnuf)</LastName>
<GivenName>Ivan</GivenName><DateOfBirthOrShipBuildDate>1965-04-29</DateOfBirthOrShipBuildDate>
<Aliases>Ivan ADANAU, Belarusian: Іван Аданаў</Aliases>
<Schedule>1, Part 1</Schedule><Item>3</Item></record>
<record><Country>Russia / Russie</Country><EntityOrShip>Musa Jalil</EntityOrShip>
<TitleOrShip>General Cargo</TitleOrShip><ShipIMONumber>8846814</ShipIMONumber>
<DateOfBirthOrShipBuildDate>1989</DateOfBirthOrShipBuildDate><Schedule>1.1</Schedule>
<Item>2</Item></record>
<record><Country>Belarus / Bélarus</Country>
<EntityOrShip>Minski Avtomobilnyi Zavod MAZ (Minsk Automobile Plant)</EntityOrShip>
<Schedule>2</Schedule><Item>7</Item></record>
</data-set>"""


def _names(record: dict) -> list[tuple[str, str]]:
    return [(n["name"], n["kind"]) for n in record["names"]]


def test_ofac_folder_with_alias_and_address_files(tmp_path: Path) -> None:
    (tmp_path / "sdn.csv").write_bytes(SDN.encode("cp1252"))
    with gzip.open(tmp_path / "alt.csv.gz", "wb") as handle:
        handle.write(ALT.encode("cp1252"))
    (tmp_path / "add.csv").write_bytes(ADD.encode("cp1252"))
    records = {r["entry_id"]: r for r in parse_list("ofac", tmp_path)}
    assert sorted(records) == ["2676", "306", "4243"]
    person = records["2676"]
    assert person["schema"] == "person"
    assert _names(person) == [
        ("Dr. Ayman AL ZAWAHIRI", "primary"),
        ("Aiman ZAWAHRI", "fka"),
        ("Ayman AL-ZAWAHIRI", "aka"),
    ]
    assert person["birth_dates"] == ["1951-06-19"]
    assert person["countries"] == ["EG"]
    assert person["gender"] == "male"
    assert person["identifiers"] == [
        {"type": "passport", "number": "1084010", "country": "EG"},
        {"type": "passport", "number": "19820215", "country": ""},
    ]
    assert person["programs"] == ["SDGT"]
    vessel = records["4243"]
    assert vessel["schema"] == "vessel"
    assert vessel["countries"] == ["PA"]
    assert vessel["identifiers"] == [{"type": "imo", "number": "7406784", "country": ""}]
    assert _names(vessel)[1] == ("ANA I", "fka")
    bank = records["306"]
    assert bank["schema"] == "organisation"
    assert bank["programs"] == ["CUBA", "SDGT"]
    assert bank["countries"] == ["CH"]
    assert _names(bank)[1] == ("NATIONAL BANK OF CUBA", "aka")
    assert {"type": "uscc", "number": "91110000MA00000X1", "country": "CN"} in bank["identifiers"]


def test_ofac_sdn_file_alone(tmp_path: Path) -> None:
    (tmp_path / "sdn.csv").write_bytes(SDN.encode("cp1252"))
    records = list(parse_list("ofac", tmp_path / "sdn.csv"))
    assert len(records) == 3
    assert records[2]["countries"] == []  # no address file


def test_un_xml(tmp_path: Path) -> None:
    path = tmp_path / "un.xml"
    path.write_text(UN, encoding="utf-8")
    person, entity = list(parse_list("un", path))
    assert person["entry_id"] == "110447"
    assert _names(person) == [
        ("MUHAMMAD TAHER ANWARI", "primary"),
        ("محمد طاهر أنوري", "native"),
        ("Mohammad Taher Anwari", "aka"),
        ("Haji Mudir", "weak"),
    ]
    assert person["birth_dates"] == ["1960", "1961", "1962"]
    assert person["countries"] == ["AF"]
    assert person["gender"] == "male"
    assert person["identifiers"] == [{"type": "passport", "number": "OA 454044", "country": "AF"}]
    assert person["programs"] == ["Taliban", "TAi.005"]
    assert entity["schema"] == "organisation"
    assert entity["countries"] == ["PK"]


def test_canada_xml(tmp_path: Path) -> None:
    path = tmp_path / "sema.xml.gz"
    with gzip.open(path, "wb") as handle:
        handle.write(CANADA.encode("utf-8"))
    person, ship, company = list(parse_list("canada", path))
    assert person["entry_id"] == "BY-1.Part1-3"
    assert _names(person) == [
        ("Ivan Adanov", "primary"),
        ("Ivan Adnuf", "aka"),
        ("Ivan ADANAU", "aka"),
        ("Іван Аданаў", "native"),
    ]
    assert person["birth_dates"] == ["1965-04-29"]
    assert person["programs"] == ["Belarus"]
    assert ship["schema"] == "vessel"
    assert ship["birth_dates"] == []  # a build date is no birth date
    assert ship["identifiers"] == [{"type": "imo", "number": "8846814", "country": ""}]
    assert _names(company) == [
        ("Minski Avtomobilnyi Zavod MAZ", "primary"),
        ("Minsk Automobile Plant", "aka"),
    ]


def test_generic_csv(tmp_path: Path) -> None:
    path = tmp_path / "pep.csv"
    path.write_text(
        "id,name,aliases,schema,birth_date,country,identifier,gender,program\n"
        "P1,XI Jinping,习近平;Xi Jin Ping,person,1953-06-15,China,passport:E123:CN,M,PEP\n"
        "P2,Acme Ltd,,company,,,,,\n",
        encoding="utf-8",
    )
    first, second = list(parse_list("csv", path))
    assert _names(first) == [
        ("XI Jinping", "primary"),
        ("习近平", "native"),
        ("Xi Jin Ping", "aka"),
    ]
    assert first["countries"] == ["CN"]
    assert first["gender"] == "male"
    assert first["identifiers"] == [{"type": "passport", "number": "E123", "country": "CN"}]
    assert second["schema"] == "organisation"


def test_dates_and_identifiers() -> None:
    assert parse_date("circa 1955") == ["1955"]
    assert parse_date("Jun 1951") == ["1951-06"]
    assert parse_date("1965-04-29 or 1966-04-29") == ["1965-04-29", "1966-04-29"]
    assert parse_date("unknown") == []
    assert parse_identifier("National ID No. 216040 (Yemen)") == {
        "type": "national_id",
        "number": "216040",
        "country": "YE",
    }
    assert parse_identifier("Website www.example.com") is None
    assert parse_identifier("Phone Number 982188526300") is None


def test_content_hash_ignores_the_entry_id_only() -> None:
    record = {"entry_id": "1", "schema": "person", "name": "A B", "names": []}
    assert content_hash(record) == content_hash({**record, "entry_id": "2"})
    assert content_hash(record) != content_hash({**record, "name": "A C"})


def test_unknown_source() -> None:
    with pytest.raises(ValueError, match="unknown list source"):
        parse_list("eu", Path("x"))


@pytest.mark.parametrize(
    ("source", "folder", "entries", "minimum_names"),
    [
        ("ofac", "ofac-sdn-2024-05-03", 14965, 18000),
        ("ofac", "ofac-sdn-alt-add-2021-04", 8890, 20000),
        ("un", "un-consolidated-2025-04-19/consolidated.xml.gz", 877, 3500),
        ("canada", "canada-sema-2025/sema.xml.gz", 4759, 8000),
    ],
)
def test_shipped_lists(source: str, folder: str, entries: int, minimum_names: int) -> None:
    path = SANCTIONS / folder
    if not path.exists():
        pytest.skip(f"the sanctions files are not in {SANCTIONS} (set BANKCRM_DATA_DIR)")
    records = list(parse_list(source, path))
    assert len(records) == entries
    assert len({r["entry_id"] for r in records}) == entries
    assert sum(len(r["names"]) for r in records) >= minimum_names
    assert all(r["names"][0] == {"name": r["name"], "kind": "primary"} for r in records)
