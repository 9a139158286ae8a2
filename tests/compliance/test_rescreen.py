"""The full rescreen: chunks of customers, resumable after a crash or a killed worker, each
customer screened once per run and no duplicate hit."""

from __future__ import annotations

import datetime as dt
import itertools
from collections import Counter
from pathlib import Path

import pytest
from django.utils import timezone

from bankcrm.compliance import services_screening as screening
from bankcrm.compliance.models import KycProfile, RescreenChunk, RescreenRun, ScreeningHit
from bankcrm.compliance.screening import registry
from bankcrm.compliance.tasks_screening import rescreen_chunk
from bankcrm.core.actor import SYSTEM
from bankcrm.customers.models import Party
from tests.factories.customers import PersonFactory

pytestmark = pytest.mark.django_db

LIST = (
    "id,name,aliases,schema,birth_date,country,identifier,gender,program\n"
    "1,XI Jinping,,person,1953-06-15,CN,,male,PEP\n"
    "2,Kim Jong Un,,person,1984-01-08,KP,,male,DPRK\n"
)


class Killed(Exception):
    """Stands for a worker dying half way through a chunk."""


@pytest.fixture
def book(tmp_path: Path):
    registry.reset()
    path = tmp_path / "list.csv"
    path.write_text(LIST, encoding="utf-8")
    screening.watch_list_load(actor=SYSTEM, source="csv", path=path, code="t", rescreen=False)
    parties = [PersonFactory(display_name=f"Customer {n:02d} Zhou") for n in range(20)]
    for n in range(3):
        parties.append(
            PersonFactory(
                display_name="习近平",
                person__native_name="习近平",
                person__family_name="Xi",
                person__given_name="Jinping",
                person__date_of_birth=dt.date(1953, 6, 15),
            )
        )
    PersonFactory(display_name="Closed Customer", status=Party.Status.CLOSED)
    yield parties
    registry.reset()


def _run_chunks(run: RescreenRun) -> None:
    for chunk in run.chunks.order_by("number"):
        rescreen_chunk(chunk.pk)


def test_chunks_cover_every_open_customer(book) -> None:
    run = screening.rescreen_start(actor=SYSTEM, chunk_size=5, dispatch=False)
    assert run.customers == 23
    chunks = list(run.chunks.order_by("number"))
    assert [c.number for c in chunks] == [1, 2, 3, 4, 5]
    assert all(c.first_party <= c.last_party for c in chunks)
    assert all(a.last_party < b.first_party for a, b in itertools.pairwise(chunks))
    _run_chunks(run)
    run.refresh_from_db()
    assert (run.status, run.screened) == ("done", 23)
    assert ScreeningHit.objects.filter(status="open").count() == 3
    assert KycProfile.objects.filter(screening_status="clear").count() == 20
    # A chunk done is not done twice.
    assert screening.rescreen_chunk_process(chunk_id=chunks[0].pk) == 0


def test_rescreen_resumes_after_being_killed(book, monkeypatch) -> None:
    real = screening._screen_one
    committed: Counter = Counter()
    attempt: list = []
    state = {"screened": 0, "kill_after": 12}

    def screen(party, origin, index, **kwargs):
        state["screened"] += 1
        if state["screened"] == state["kill_after"]:
            raise Killed  # half way through the third chunk
        attempt.append(party.pk)
        return real(party, origin, index, **kwargs)

    monkeypatch.setattr(screening, "_screen_one", screen)
    real_process = screening.rescreen_chunk_process

    def process(*, chunk_id):
        attempt.clear()
        done = real_process(chunk_id=chunk_id)
        committed.update(attempt)  # only a chunk that committed counts
        return done

    monkeypatch.setattr(screening, "rescreen_chunk_process", process)
    run = screening.rescreen_start(actor=SYSTEM, chunk_size=5, dispatch=False)
    with pytest.raises(Killed):
        screening.rescreen_dispatch(run_pk=run.pk)
    run.refresh_from_db()
    assert run.status == "running"
    assert run.screened == 10
    statuses = dict(run.chunks.values_list("number", "status"))
    assert statuses == {1: "done", 2: "done", 3: "pending", 4: "pending", 5: "pending"}
    hits_before = ScreeningHit.objects.count()

    screening.rescreen_resume(actor=SYSTEM, run=run)
    run.refresh_from_db()
    assert (run.status, run.screened, run.customers) == ("done", 23, 23)
    open_ids = set(Party.objects.exclude(status="closed").values_list("pk", flat=True))
    assert set(committed) == open_ids
    assert set(committed.values()) == {1}  # each customer screened exactly once in the run
    assert ScreeningHit.objects.count() == 3 >= hits_before
    pairs = ScreeningHit.objects.values_list("party_id", "entry_id")
    assert len(set(pairs)) == len(pairs)


def test_a_chunk_held_by_a_dead_worker_is_taken_again(book, settings) -> None:
    settings.COMPLIANCE_RESCREEN_STALE_MINUTES = 10
    run = screening.rescreen_start(actor=SYSTEM, chunk_size=10, dispatch=False)
    first, second, _third = run.chunks.order_by("number")
    # Worker A claimed chunk 1 twenty minutes ago and died; worker B holds chunk 2 now.
    RescreenChunk.objects.filter(pk=first.pk).update(
        status="running", claimed_at=timezone.now() - dt.timedelta(minutes=20)
    )
    RescreenChunk.objects.filter(pk=second.pk).update(status="running", claimed_at=timezone.now())
    assert screening.rescreen_chunk_process(chunk_id=second.pk) == 0
    assert screening.rescreen_chunk_process(chunk_id=first.pk) == 10
    assert screening.rescreen_work(run_pk=run.pk) == 3
    run.refresh_from_db()
    assert run.status == "running"  # chunk 2 is still with its (live) worker
    RescreenChunk.objects.filter(pk=second.pk).update(
        claimed_at=timezone.now() - dt.timedelta(minutes=11)
    )
    assert screening.rescreen_work(run_pk=run.pk) == 10
    run.refresh_from_db()
    assert (run.status, run.screened) == ("done", 23)


def test_a_worker_taken_for_dead_does_not_commit_twice(book, monkeypatch) -> None:
    run = screening.rescreen_start(actor=SYSTEM, chunk_size=30, dispatch=False)
    chunk = run.chunks.get()
    real = screening._screen_one
    seen = {"n": 0}

    def slow(party, origin, index, **kwargs):
        seen["n"] += 1
        if seen["n"] == 5:
            # Meanwhile another worker took the chunk over.
            RescreenChunk.objects.filter(pk=chunk.pk).update(
                claimed_at=timezone.now() + dt.timedelta(seconds=1)
            )
        return real(party, origin, index, **kwargs)

    monkeypatch.setattr(screening, "_screen_one", slow)
    assert screening.rescreen_chunk_process(chunk_id=chunk.pk) == 0
    assert not ScreeningHit.objects.exists()
    run.refresh_from_db()
    assert run.screened == 0


def test_rescreen_after_a_load_checks_what_changed(book, tmp_path: Path) -> None:
    zhou = PersonFactory(display_name="Volodymyr Brankovic", person__native_name="")
    run = screening.rescreen_start(actor=SYSTEM, chunk_size=50, dispatch=False)
    screening.rescreen_work(run_pk=run.pk)
    assert ScreeningHit.objects.count() == 3
    path = tmp_path / "v2.csv"
    path.write_text(LIST + f"3,{zhou.display_name},,person,,,,,PEP\n", encoding="utf-8")
    snapshot = screening.watch_list_load(
        actor=SYSTEM, source="csv", path=path, code="t", rescreen=False
    )
    assert snapshot.added == 1
    assert len(snapshot.diff["rescreen_entries"]) == 1
    # A customer renamed behind the service's back is screened against every list.
    Party.objects.filter(pk=book[1].pk).update(display_name="Kim Jong Un")
    second = screening.rescreen_start(actor=SYSTEM, snapshot=snapshot, dispatch=False)
    screening.rescreen_work(run_pk=second.pk)
    second.refresh_from_db()
    assert (second.status, second.screened) == ("done", 24)
    new = ScreeningHit.objects.get(entry__entry_id="3")
    assert new.party_id == zhou.pk
    assert ScreeningHit.objects.get(entry__entry_id="2").party_id == book[1].pk
    assert ScreeningHit.objects.count() == 5
    assert KycProfile.objects.get(party=zhou).screening_status == "potential"
