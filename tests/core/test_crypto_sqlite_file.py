"""The database file alone reveals no PII: write through the ORM to a real SQLite file, then
search its raw bytes (and its write-ahead log) for every plaintext."""

import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

PII = {
    "name": "李小龙 Li Xiaolong",
    "national_id": "330102198503151234",
    "phone": "+8613800138000",
    "email": "li.xiaolong@bank.cn",
    "body": "客户偏好上午来电 prefers calls before noon",
    "born_on": "1985-03-15",
    "street": "西湖区文三路90号",
}
PARTS = ["李小龙", "Xiaolong", "文三路", "19850315", "13800138000", "上午来电"]
CONTROL = "plain-control-title-7f3a"

SCRIPT = textwrap.dedent(
    f"""
    import datetime as dt
    import django
    django.setup()
    from django.core.management import call_command
    call_command("migrate", verbosity=0)
    from tests.testapp.models import PersonalRecord, SecretNote
    note = SecretNote.objects.create(
        title={CONTROL!r},
        name={PII["name"]!r},
        national_id={PII["national_id"]!r},
        phone={PII["phone"]!r},
        email={PII["email"]!r},
        body={PII["body"]!r},
        born_on=dt.date.fromisoformat({PII["born_on"]!r}),
        details={{"street": {PII["street"]!r}}},
    )
    PersonalRecord.objects.create(
        national_id={PII["national_id"]!r},
        born_on=dt.date.fromisoformat({PII["born_on"]!r}),
        address={{"street": {PII["street"]!r}}},
    )
    assert SecretNote.objects.get(pk=note.pk).body == {PII["body"]!r}
    print(note.pk)
    """
)


def test_sqlite_file_holds_no_plaintext_pii(tmp_path):
    database = tmp_path / "bank.sqlite3"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bankcrm.config.test_settings",
        "BANKCRM_DATABASE_URL": f"sqlite:///{database}",
        "BANKCRM_TEST_KEYRING": str(tmp_path / "keyring.json"),
        "BANKCRM_VAR_DIR": str(tmp_path / "var"),
    }
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    note_pk = result.stdout.strip().splitlines()[-1].replace("-", "")

    files = [p for p in tmp_path.iterdir() if p.name.startswith("bank.sqlite3")]
    assert database in files
    raw = b"".join(p.read_bytes() for p in files)

    # The search works: a plain column and the stored ciphertext are both found.
    assert CONTROL.encode() in raw
    with sqlite3.connect(database) as db:
        token = db.execute(
            "SELECT body FROM testapp_secretnote WHERE id = ?", [note_pk]
        ).fetchone()[0]
    assert token and token not in PII.values()
    assert token.encode() in raw

    for label, value in PII.items():
        for encoding in ("utf-8", "utf-16-le", "utf-16-be"):
            assert value.encode(encoding) not in raw, f"{label} found as {encoding}"
    # Nor a distinctive part alone (the Chinese name, the street, the birth date's digits).
    for part in PARTS:
        for encoding in ("utf-8", "utf-16-le"):
            assert part.encode(encoding) not in raw, f"{part} found as {encoding}"
