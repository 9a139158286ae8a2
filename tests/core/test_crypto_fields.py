import base64
import datetime as dt
import uuid

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import given, settings
from hypothesis import strategies as st

from bankcrm.core.crypto import (
    DataKeyDestroyed,
    DecryptionError,
    EncryptedFieldUsageError,
    blind_index,
    preload_keys,
    reset_keyring_cache,
)
from bankcrm.core.crypto.fields import (
    Sealed,
    SealedToken,
    normalize_digits,
    normalize_email,
    normalize_identifier,
    normalize_phone,
    normalize_text,
)
from bankcrm.core.models import DataKey
from tests.testapp.models import PersonalRecord, SecretNote

pytestmark = pytest.mark.django_db

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def stored(pk, column):
    """The raw token in the database (a Sealed value, since no instance is involved)."""
    value = SecretNote.objects.filter(pk=pk).values_list(column, flat=True).get()
    return value.token if isinstance(value, Sealed) else value


def store(pk, model=SecretNote, **tokens):
    model.objects.filter(pk=pk).update(**{k: SealedToken(v) for k, v in tokens.items()})


@settings(max_examples=60, deadline=None)
@given(text=st.text(max_size=300))
def test_text_round_trip(text):
    note = SecretNote.objects.create(body=text)
    assert stored(note.pk, "body") != text
    assert SecretNote.objects.get(pk=note.pk).body == text


def test_text_round_trip_chinese_and_emoji():
    text = "客户李小龙：偏好上午来电 📞😀，地址见附件 𠀋"
    note = SecretNote.objects.create(body=text)
    assert SecretNote.objects.get(pk=note.pk).body == text


@settings(max_examples=60, deadline=None)
@given(day=st.dates())
def test_date_round_trip(day):
    note = SecretNote.objects.create(born_on=day)
    assert SecretNote.objects.get(pk=note.pk).born_on == day


@settings(max_examples=60, deadline=None)
@given(value=json_values)
def test_json_round_trip(value):
    note = SecretNote.objects.create(details=value)
    loaded = SecretNote.objects.get(pk=note.pk).details
    assert loaded == value


def test_none_is_stored_as_null_and_isnull_works():
    note = SecretNote.objects.create(body=None, born_on=None, details=None)
    assert stored(note.pk, "body") is None
    loaded = SecretNote.objects.get(pk=note.pk)
    assert (loaded.body, loaded.born_on, loaded.details) == (None, None, None)
    assert SecretNote.objects.filter(pk=note.pk, body__isnull=True).count() == 1
    SecretNote.objects.create(body="")
    assert SecretNote.objects.filter(body__isnull=False).count() == 1


def test_date_accepts_iso_text_and_gives_a_date():
    note = SecretNote(born_on="1985-03-15")
    note.save()
    assert note.born_on == dt.date(1985, 3, 15)
    assert SecretNote.objects.get(pk=note.pk).born_on == dt.date(1985, 3, 15)


def test_every_encryption_uses_a_fresh_nonce():
    tokens = [SecretNote.objects.create(body="same value").pk for _ in range(50)]
    raw = [base64.urlsafe_b64decode(stored(pk, "body") + "==") for pk in tokens]
    nonces = {r[17:29] for r in raw}
    ciphertexts = {r[29:] for r in raw}
    assert len(nonces) == 50
    assert len(ciphertexts) == 50
    assert {r[0] for r in raw} == {1}  # format version
    # All under the table's one data key, named in the header.
    key = DataKey.objects.get(scope="table:testapp_secretnote")
    assert {r[1:17] for r in raw} == {key.pk.bytes}


def test_ciphertext_copied_to_another_row_does_not_decrypt():
    a = SecretNote.objects.create(national_id="330102198503151234")
    b = SecretNote.objects.create(national_id="110101199001011111")
    store(b.pk, national_id=stored(a.pk, "national_id"))
    with pytest.raises(DecryptionError, match="belongs to another row or column"):
        SecretNote.objects.get(pk=b.pk).national_id
    assert SecretNote.objects.get(pk=a.pk).national_id == "330102198503151234"


def test_ciphertext_copied_to_another_column_does_not_decrypt():
    a = SecretNote.objects.create(national_id="330102198503151234", phone="13800138000")
    store(a.pk, phone=stored(a.pk, "national_id"))
    with pytest.raises(DecryptionError):
        SecretNote.objects.get(pk=a.pk).phone


def test_ciphertext_copied_between_tables_does_not_decrypt():
    note = SecretNote.objects.create(national_id="330102198503151234")
    record = PersonalRecord.objects.create(national_id="110101199001011111")
    store(record.pk, model=PersonalRecord, national_id=stored(note.pk, "national_id"))
    with pytest.raises(DecryptionError):
        PersonalRecord.objects.get(pk=record.pk).national_id


@pytest.mark.parametrize("position", [0, 5, 20, 40, -1])
def test_tampered_ciphertext_fails(position):
    note = SecretNote.objects.create(body="transfer limit 50000")
    raw = bytearray(base64.urlsafe_b64decode(stored(note.pk, "body") + "=="))
    raw[position] ^= 0x01
    store(note.pk, body=base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode())
    with pytest.raises(DecryptionError):
        SecretNote.objects.get(pk=note.pk).body


def test_truncated_or_garbage_ciphertext_fails():
    note = SecretNote.objects.create(body="x")
    store(note.pk, body=stored(note.pk, "body")[:30])
    with pytest.raises(DecryptionError, match="unknown or truncated"):
        SecretNote.objects.get(pk=note.pk).body
    store(note.pk, body="plaintext that was written around the ORM")
    with pytest.raises(DecryptionError):
        SecretNote.objects.get(pk=note.pk).body


def test_unchanged_value_keeps_its_ciphertext_and_a_change_re_encrypts():
    note = SecretNote.objects.create(body="first", title="a")
    token = stored(note.pk, "body")
    loaded = SecretNote.objects.get(pk=note.pk)
    loaded.title = "b"
    loaded.save()
    assert stored(note.pk, "body") == token  # never opened: kept as stored
    loaded.body  # opened, unchanged
    loaded.save()
    assert stored(note.pk, "body") == token
    loaded.body = "second"
    loaded.save()
    assert stored(note.pk, "body") != token
    assert SecretNote.objects.get(pk=note.pk).body == "second"


def test_json_changed_in_place_is_saved():
    note = SecretNote.objects.create(details={"city": "杭州"})
    loaded = SecretNote.objects.get(pk=note.pk)
    loaded.details["district"] = "西湖区"
    loaded.save()
    assert SecretNote.objects.get(pk=note.pk).details == {"city": "杭州", "district": "西湖区"}


def test_copy_saved_under_a_new_pk_is_re_encrypted_for_its_row():
    note = SecretNote.objects.create(body="copy me", born_on=dt.date(2000, 1, 2))
    loaded = SecretNote.objects.get(pk=note.pk)
    loaded.pk = uuid.uuid4()
    loaded._state.adding = True
    loaded.save()
    copy = SecretNote.objects.get(pk=loaded.pk)
    assert (copy.body, copy.born_on) == ("copy me", dt.date(2000, 1, 2))
    assert stored(copy.pk, "body") != stored(note.pk, "body")


def test_deferred_field_loads_and_decrypts():
    note = SecretNote.objects.create(body="deferred", title="t")
    loaded = SecretNote.objects.only("title").get(pk=note.pk)
    assert loaded.get_deferred_fields() >= {"body"}
    assert loaded.body == "deferred"
    loaded.title = "u"
    loaded.save()
    assert SecretNote.objects.get(pk=note.pk).body == "deferred"


def test_bulk_create_encrypts():
    notes = SecretNote.objects.bulk_create(
        [SecretNote(body=f"bulk {i}", phone=f"1380013800{i}") for i in range(5)]
    )
    assert [SecretNote.objects.get(pk=n.pk).body for n in notes] == [f"bulk {i}" for i in range(5)]
    assert all(stored(n.pk, "body").startswith("A") for n in notes)  # version byte 0x01
    found = SecretNote.objects.get(
        phone_index=blind_index(SecretNote, "phone_index", "138 0013 8003")
    )
    assert found.pk == notes[3].pk


def test_update_and_bulk_update_with_plaintext_are_refused():
    note = SecretNote.objects.create(body="kept")
    token = stored(note.pk, "body")
    # Raised while the statement is compiled: it spoils the surrounding transaction, as any
    # database error does, hence the savepoints.
    with pytest.raises(EncryptedFieldUsageError, match=r"QuerySet\.update"), transaction.atomic():
        SecretNote.objects.filter(pk=note.pk).update(body="plaintext")
    note.body = "changed"
    with pytest.raises(EncryptedFieldUsageError), transaction.atomic():
        SecretNote.objects.bulk_update([note], ["body"])
    assert stored(note.pk, "body") == token


@pytest.mark.parametrize(
    "lookup", ["body", "body__exact", "body__icontains", "body__in", "born_on__year"]
)
def test_lookups_other_than_isnull_are_refused(lookup):
    SecretNote.objects.create(body="secret", born_on=dt.date(1990, 1, 1))
    value = ["secret"] if lookup.endswith("__in") else "secret"
    with pytest.raises(EncryptedFieldUsageError, match="encrypted"):
        list(SecretNote.objects.filter(**{lookup: value}))


def test_full_clean_validates_plaintext():
    note = SecretNote(body="x", born_on=dt.date(2001, 2, 3), details={"a": 1})
    note.full_clean()
    assert note.born_on == dt.date(2001, 2, 3)


# --- Blind index ---------------------------------------------------------------------------


def test_blind_index_finds_by_normalised_value():
    note = SecretNote.objects.create(
        national_id="33010219850315123X",
        phone="+86 138-0013-8000",
        email="Li.Wei@Bank.CN ",
        name="  Li   WEI ",
    )

    def find(field, value):
        return list(
            SecretNote.objects.filter(**{field: blind_index(SecretNote, field, value)}).values_list(
                "pk", flat=True
            )
        )

    assert find("national_id_index", "３３０１０２１９８５０３１５１２３ｘ") == [note.pk]
    assert find("national_id_index", "330102-19850315-123x") == [note.pk]
    assert find("phone_index", "+8613800138000") == [note.pk]
    assert find("phone_index", "008613800138000") == [note.pk]
    assert find("phone_index", "＋８６ １３８ ００１３ ８０００") == [note.pk]
    assert find("email_index", "li.wei@bank.cn") == [note.pk]
    assert find("name_index", "li wei") == [note.pk]
    assert find("national_id_index", "330102198503151234") == []
    assert find("phone_index", "13800138000") == []  # national form: another number key


def test_blind_index_is_an_hmac_not_the_value_and_differs_per_field():
    note = SecretNote.objects.create(name="13800138000", phone="13800138000")
    assert len(note.phone_index) == 64
    assert "13800138000" not in note.phone_index
    assert note.phone_index != note.name_index  # same value, different field: unlinkable


def test_blind_index_differs_per_keyring(tmp_keyring, settings, tmp_path):
    first = blind_index(SecretNote, "phone_index", "13800138000")
    settings.KEYRING = str(tmp_path / "other" / "keyring.json")
    reset_keyring_cache()
    second = blind_index(SecretNote, "phone_index", "13800138000")
    assert len(first) == len(second) == 64
    assert first != second


def test_blind_index_follows_changes_and_empties():
    note = SecretNote.objects.create(phone="13800138000")
    first = note.phone_index
    note.phone = "13900139000"
    note.save()
    assert SecretNote.objects.get(pk=note.pk).phone_index not in (first, None)
    note.phone = None
    note.save()
    assert SecretNote.objects.get(pk=note.pk).phone_index is None
    note.phone = "  "
    note.save()
    assert SecretNote.objects.get(pk=note.pk).phone_index is None


def test_blind_index_of_unknown_field_is_refused():
    with pytest.raises(TypeError, match="not a BlindIndexField"):
        blind_index(SecretNote, "title", "x")


@pytest.mark.parametrize(
    ("normalizer", "value", "expected"),
    [
        (normalize_text, "  Li   WEI ", "li wei"),
        (normalize_text, "ＡＢＣ１２３", "abc123"),
        (normalize_text, "Straße", "strasse"),
        (normalize_digits, "6222 0２１2-3456 ٧٨", "62220212345678"),
        (normalize_email, " Li.Wei@BANK.cn ", "li.wei@bank.cn"),
        (normalize_phone, "+86 (138) 0013-8000", "+8613800138000"),
        (normalize_phone, "0086 138 0013 8000", "+8613800138000"),
        (normalize_phone, "138 0013 8000", "13800138000"),
        (normalize_identifier, "33010219850315123x", "33010219850315123x"),
        (normalize_identifier, "E 1234-5678", "e12345678"),
    ],
)
def test_normalizers(normalizer, value, expected):
    assert normalizer(value) == expected


# --- Per-record keys and crypto-shredding ---------------------------------------------------


def test_record_gets_its_own_data_key():
    a = PersonalRecord.objects.create(national_id="330102198503151234")
    b = PersonalRecord.objects.create(national_id="110101199001011111")
    assert a.data_key_id != b.data_key_id
    key = DataKey.objects.get(pk=a.data_key_id)
    assert key.scope == f"testapp.personalrecord:{a.pk}"
    assert key.destroyed_at is None
    assert base64.b64decode(key.wrapped_key)  # stored wrapped, 12 + 32 + 16 bytes
    assert len(base64.b64decode(key.wrapped_key)) == 60
    raw = PersonalRecord.objects.filter(pk=a.pk).values_list("national_id", flat=True).get()
    assert raw.data_key_id() == a.data_key_id


def test_bulk_created_records_get_their_own_keys():
    records = PersonalRecord.objects.bulk_create(
        [PersonalRecord(national_id=f"id-{i}") for i in range(3)]
    )
    assert len({r.data_key_id for r in records}) == 3
    assert [PersonalRecord.objects.get(pk=r.pk).national_id for r in records] == [
        "id-0",
        "id-1",
        "id-2",
    ]


def test_crypto_shred_makes_values_unreadable_while_the_row_remains():
    from bankcrm.audit.models import AuditEvent
    from bankcrm.core.actor import SystemActor
    from bankcrm.core.services import data_key_destroy

    kept = PersonalRecord.objects.create(national_id="110101199001011111")
    record = PersonalRecord.objects.create(
        label="erased customer",
        national_id="330102198503151234",
        born_on=dt.date(1985, 3, 15),
        address={"city": "杭州"},
    )
    data_key_destroy(actor=SystemActor("erasure"), data_key=record.data_key, reason="erasure")
    reset_keyring_cache()  # even a fresh process with the full keyring cannot read it
    loaded = PersonalRecord.objects.get(pk=record.pk)
    assert loaded.label == "erased customer"
    for name in ("national_id", "born_on", "address"):
        with pytest.raises(DataKeyDestroyed):
            getattr(loaded, name)
    key = DataKey.objects.get(pk=record.data_key_id)
    assert key.wrapped_key == ""
    assert key.destroyed_at is not None
    assert PersonalRecord.objects.get(pk=kept.pk).national_id == "110101199001011111"
    # The row can still be saved (non-personal fields) without reading the erased values.
    loaded.label = "erased"
    loaded.save()
    event = AuditEvent.objects.get(action="data_key.destroy")
    assert (event.actor, event.object_pk, event.reason) == (
        "system:erasure",
        str(key.pk),
        "erasure",
    )
    assert event.changed_secrets == ["wrapped_key"]


def test_crypto_shred_in_the_same_process_cache():
    from bankcrm.core.actor import SystemActor
    from bankcrm.core.services import data_key_destroy

    record = PersonalRecord.objects.create(national_id="330102198503151234")
    assert PersonalRecord.objects.get(pk=record.pk).national_id  # key now cached
    data_key_destroy(actor=SystemActor("erasure"), data_key=record.data_key)
    with pytest.raises(DataKeyDestroyed):
        PersonalRecord.objects.get(pk=record.pk).national_id
    record.national_id = "new value"
    with pytest.raises(DataKeyDestroyed):
        record.save()


def test_table_key_cannot_be_shredded():
    from django.core.exceptions import ValidationError

    from bankcrm.audit.models import AuditEvent
    from bankcrm.core.actor import SystemActor
    from bankcrm.core.services import data_key_destroy

    SecretNote.objects.create(body="x")
    key = DataKey.objects.get(scope="table:testapp_secretnote")
    with pytest.raises(ValidationError):
        data_key_destroy(actor=SystemActor("erasure"), data_key=key)
    key.refresh_from_db()
    assert key.destroyed_at is None and key.wrapped_key
    assert not AuditEvent.objects.filter(action="data_key.destroy").exists()


def test_preload_keys_unwraps_a_page_of_record_keys_in_one_query():
    pks = [PersonalRecord.objects.create(national_id=f"n{i}").pk for i in range(6)]
    reset_keyring_cache()
    records = list(PersonalRecord.objects.filter(pk__in=pks).order_by("label"))
    with CaptureQueriesContext(connection) as queries:
        preload_keys(records)
        values = sorted(r.national_id for r in records)
    assert len(queries) == 1
    assert values == [f"n{i}" for i in range(6)]
