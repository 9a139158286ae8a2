"""Priming the envelope's key caches with data keys created in bulk."""

from __future__ import annotations

import uuid

import pytest

from bankcrm.core.crypto import envelope
from bankcrm.core.crypto.errors import CryptoError
from bankcrm.core.models import DataKey

pytestmark = pytest.mark.django_db


def _stored_key() -> tuple[DataKey, bytes]:
    scope = f"customers.party:{uuid.uuid4()}"
    dek, wrapped, version = envelope.wrap_new_data_key(scope)
    key = DataKey.objects.create(scope=scope, wrapped_key=wrapped, kek_version=version)
    return key, dek


def test_primed_keys_are_used_by_key_and_by_scope_without_a_query(django_assert_num_queries):
    first, first_dek = _stored_key()
    second, second_dek = _stored_key()
    envelope.clear_caches()
    envelope.data_keys_prime(
        [(first.pk, first.scope, first_dek), (second.pk, second.scope, second_dek)]
    )
    with django_assert_num_queries(0):
        assert envelope.data_key_for_scope(first.scope) == (first.pk, first_dek)
        assert envelope.dek_by_pk(second.pk) == second_dek
    # The primed key is the stored one: read back and unwrapped, it is the same.
    envelope.clear_caches()
    with django_assert_num_queries(1):
        assert envelope.dek_by_pk(first.pk) == first_dek


def test_a_key_of_the_wrong_size_is_refused_and_nothing_is_primed(django_assert_num_queries):
    key, dek = _stored_key()
    envelope.clear_caches()
    with pytest.raises(CryptoError):
        envelope.data_keys_prime([(key.pk, key.scope, dek[:16])])
    with django_assert_num_queries(1):
        assert envelope.dek_by_pk(key.pk) == dek


def test_bulk_data_keys_primes_each_new_key():
    from bankcrm.integrations.bulk import bulk_data_keys, keyed_batch
    from tests.factories.customers import PartyFactory

    parties = PartyFactory.build_batch(3, data_key=None)
    for party in parties:
        party.pk = uuid.uuid4()
    envelope.clear_caches()
    with keyed_batch():
        bulk_data_keys(parties)
    stored = {
        key.pk: key for key in DataKey.objects.filter(pk__in=[p.data_key_id for p in parties])
    }
    assert len(stored) == 3
    for party in parties:
        key = stored[party.data_key_id]
        assert key.scope == envelope.record_scope(party)
        # Primed: the cache gives the key without unwrapping the stored row again.
        assert envelope._dek_cache.get(key.pk) == envelope.unwrap_data_key(key)
        assert envelope._scope_cache.get(key.scope) == key.pk
