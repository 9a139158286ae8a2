import base64
import json
import os
import stat

import pytest

from bankcrm.core.crypto import keyring as keyring_module
from bankcrm.core.crypto.keyring import (
    EnvKeyring,
    FileKeyring,
    KeyringBackend,
    KeyringError,
    get_keyring,
    load_keyring,
    new_keyring_document,
    reset_keyring_cache,
)


class StaticKeyring(KeyringBackend):
    """A KMS adapter stand-in: fixed keys, as an adapter would fetch them."""

    description = "static test keyring"

    def current_version(self) -> int:
        return 7

    def versions(self) -> list[int]:
        return [7]

    def kek(self, version: int) -> bytes:
        if version != 7:
            raise KeyringError("no such version")
        return b"k" * 32

    def blind_index_key(self) -> bytes:
        return b"b" * 32


class NotABackend:
    pass


def test_file_keyring_is_created_on_first_use_with_mode_0600(tmp_path):
    path = tmp_path / "var" / "keyring.json"
    ring = FileKeyring(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    document = json.loads(path.read_text())
    assert document["format"] == "bankcrm-keyring/1"
    assert document["current"] == 1
    assert ring.versions() == [1]
    assert len(ring.kek(1)) == 32
    assert len(ring.blind_index_key()) == 32
    assert ring.kek(1) != ring.blind_index_key()
    # A second process reads the same keys instead of creating new ones.
    again = FileKeyring(path)
    assert again.kek(1) == ring.kek(1)
    assert again.blind_index_key() == ring.blind_index_key()
    assert [p.name for p in path.parent.iterdir()] == ["keyring.json"]


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
def test_file_keyring_readable_by_others_is_refused(tmp_path, mode):
    path = tmp_path / "keyring.json"
    FileKeyring(path)
    os.chmod(path, mode)
    with pytest.raises(KeyringError) as excinfo:
        FileKeyring(path)
    assert f"mode {mode:04o}" in str(excinfo.value)
    assert f"chmod 600 {path}" in str(excinfo.value)


def test_add_version_makes_a_new_current_key_and_keeps_the_old(tmp_path):
    path = tmp_path / "keyring.json"
    ring = FileKeyring(path)
    old = ring.kek(1)
    assert ring.add_version() == 2
    assert ring.current_version() == 2
    assert ring.kek(1) == old
    assert ring.kek(2) != old
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # Another process that loaded the keyring before sees the new version without restart.
    other = FileKeyring(path)
    other_before = FileKeyring(path)
    ring.add_version()
    assert other.current_version() == 3
    assert other_before.kek(3) == ring.kek(3)


def test_unknown_version_is_a_clear_error(tmp_path):
    ring = FileKeyring(tmp_path / "keyring.json")
    with pytest.raises(KeyringError, match="no key version 9"):
        ring.kek(9)


def test_damaged_keyring_files_are_refused(tmp_path):
    path = tmp_path / "keyring.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"{not json")
    os.close(fd)
    with pytest.raises(KeyringError, match="not valid JSON"):
        FileKeyring(path)
    document = new_keyring_document()
    document["keks"]["1"] = base64.b64encode(b"short").decode()
    path.write_text(json.dumps(document))
    with pytest.raises(KeyringError, match="must be 32 bytes, not 5"):
        FileKeyring(path)
    document = new_keyring_document()
    document["current"] = 2
    path.write_text(json.dumps(document))
    with pytest.raises(KeyringError, match="current version 2 is missing"):
        FileKeyring(path)


def test_env_keyring_reads_json_or_base64(monkeypatch):
    document = new_keyring_document()
    raw = json.dumps(document)
    monkeypatch.setenv("BANK_KEYS", raw)
    ring = load_keyring("env:BANK_KEYS")
    assert isinstance(ring, EnvKeyring)
    assert ring.kek(1) == base64.b64decode(document["keks"]["1"])
    monkeypatch.setenv("BANK_KEYS", base64.b64encode(raw.encode()).decode())
    assert load_keyring("env:BANK_KEYS").kek(1) == ring.kek(1)
    with pytest.raises(KeyringError, match="cannot create key versions"):
        ring.add_version()


def test_env_keyring_unset_or_garbage(monkeypatch):
    monkeypatch.delenv("BANK_KEYS_MISSING", raising=False)
    with pytest.raises(KeyringError, match="BANK_KEYS_MISSING is not set"):
        load_keyring("env:BANK_KEYS_MISSING")
    monkeypatch.setenv("BANK_KEYS_BAD", "%%%")
    with pytest.raises(KeyringError, match="neither JSON nor base64"):
        load_keyring("env:BANK_KEYS_BAD")


def test_kms_adapter_by_dotted_path():
    ring = load_keyring("tests.core.test_crypto_keyring.StaticKeyring")
    assert isinstance(ring, StaticKeyring)
    version, wrapped = ring.wrap_key(b"d" * 32, b"scope")
    assert version == 7
    assert ring.unwrap_key(7, wrapped, b"scope") == b"d" * 32
    with pytest.raises(KeyringError, match="not a KeyringBackend subclass"):
        load_keyring("tests.core.test_crypto_keyring.NotABackend")
    with pytest.raises(KeyringError, match="cannot be imported"):
        load_keyring("tests.core.no_such_module.Keyring")


def test_wrapped_key_does_not_open_under_another_scope(tmp_path):
    ring = FileKeyring(tmp_path / "keyring.json")
    version, wrapped = ring.wrap_key(b"d" * 32, b"table:a")
    with pytest.raises(keyring_module.UnwrapError):
        ring.unwrap_key(version, wrapped, b"table:b")


def test_get_keyring_is_cached_until_reset(tmp_keyring):
    first = get_keyring()
    assert get_keyring() is first
    assert tmp_keyring.exists()
    reset_keyring_cache()
    assert get_keyring() is not first
