"""Sanctions and PEP lists, their versioned snapshots, and the hits of screening against them."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from bankcrm.access.querysets import RestrictedManager
from bankcrm.core.models import TimeStampedModel
from bankcrm.customers.models import Party

SCORE = {"max_digits": 5, "decimal_places": 4}


class SanctionsList(TimeStampedModel):
    """A watch list the bank screens against: OFAC SDN, UN, Canada SEMA, an internal PEP list."""

    class Source(models.TextChoices):
        OFAC = "ofac", _("OFAC SDN")
        UN = "un", _("UN Security Council consolidated list")
        CANADA = "canada", _("Canada consolidated autonomous sanctions (SEMA)")
        CSV = "csv", _("CSV file (internal or PEP list)")

    class Kind(models.TextChoices):
        SANCTIONS = "sanctions", _("Sanctions")
        PEP = "pep", _("Politically exposed persons")
        INTERNAL = "internal", _("Internal watch list")

    code = models.SlugField(_("code"), max_length=48, unique=True)
    name = models.CharField(_("name"), max_length=200)
    source = models.CharField(_("source format"), max_length=10, choices=Source.choices)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.SANCTIONS)
    is_active = models.BooleanField(_("screened against"), default=True)

    class Meta:
        verbose_name = _("watch list")
        verbose_name_plural = _("watch lists")
        permissions = [
            ("load_sanctionslist", _("Can load watch list files")),
        ]
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class ListSnapshot(TimeStampedModel):
    """One load of a list file: a version, with what it added, removed and changed."""

    watch_list = models.ForeignKey(
        SanctionsList, verbose_name=_("list"), on_delete=models.CASCADE, related_name="snapshots"
    )
    version = models.PositiveIntegerField(_("version"))
    source_name = models.CharField(_("file"), max_length=300)
    sha256 = models.CharField(_("sha256"), max_length=64)
    entries = models.PositiveIntegerField(_("entries"), default=0)
    names = models.PositiveIntegerField(_("names"), default=0)
    added = models.PositiveIntegerField(_("added"), default=0)
    removed = models.PositiveIntegerField(_("removed"), default=0)
    changed = models.PositiveIntegerField(_("changed"), default=0)
    # {"added": [entry ids], "removed": [...], "changed": [...]} (capped lists, for the page).
    diff = models.JSONField(_("changes"), default=dict)
    loaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("loaded by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("list version")
        verbose_name_plural = _("list versions")
        ordering = ["watch_list", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["watch_list", "version"], name="list_snapshot_version")
        ]

    def __str__(self) -> str:
        return f"{self.watch_list.code} v{self.version}"


class ListEntry(models.Model):
    """A listed person, organisation, vessel or aircraft, as the list's source numbers it."""

    class Schema(models.TextChoices):
        PERSON = "person", _("Person")
        ORGANISATION = "organisation", _("Organisation")
        VESSEL = "vessel", _("Vessel")
        AIRCRAFT = "aircraft", _("Aircraft")
        UNKNOWN = "unknown", _("Unknown")

    id = models.BigAutoField(primary_key=True)
    watch_list = models.ForeignKey(
        SanctionsList, verbose_name=_("list"), on_delete=models.CASCADE, related_name="entries"
    )
    # The source's own number: OFAC ent_num, UN DATAID, the CSV's id.
    entry_id = models.CharField(_("entry id"), max_length=64)
    schema = models.CharField(_("type"), max_length=14, choices=Schema.choices)
    name = models.CharField(_("name"), max_length=500)
    # Every name with its kind: [{"name": "...", "kind": "primary|aka|fka|weak|native"}].
    names = models.JSONField(_("names"), default=list)
    birth_dates = models.JSONField(_("dates of birth"), default=list)  # "YYYY", "YYYY-MM-DD"
    countries = models.JSONField(_("countries"), default=list)  # ISO alpha-2
    identifiers = models.JSONField(_("identifiers"), default=list)  # [{"type","number","country"}]
    gender = models.CharField(_("gender"), max_length=10, blank=True)
    programs = models.JSONField(_("programmes"), default=list)
    remarks = models.TextField(_("remarks"), blank=True)
    # sha256 of the canonical content: a different hash in a new load is a change.
    content_hash = models.CharField(max_length=64)
    first_snapshot = models.ForeignKey(
        ListSnapshot, on_delete=models.CASCADE, related_name="+", verbose_name=_("added in")
    )
    last_snapshot = models.ForeignKey(
        ListSnapshot, on_delete=models.CASCADE, related_name="+", verbose_name=_("last seen in")
    )
    removed_in = models.ForeignKey(
        ListSnapshot,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("removed in"),
    )

    class Meta:
        verbose_name = _("list entry")
        verbose_name_plural = _("list entries")
        ordering = ["watch_list", "entry_id"]
        constraints = [
            models.UniqueConstraint(fields=["watch_list", "entry_id"], name="list_entry_unique")
        ]
        indexes = [models.Index(fields=["watch_list", "removed_in"], name="list_entry_live_idx")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.removed_in_id is None


class ScreeningHit(TimeStampedModel):
    """A possible match between a customer (or a counterparty) and a list entry."""

    class Status(models.TextChoices):
        OPEN = "open", _("Awaiting decision")
        FALSE_POSITIVE = "false_positive", _("False positive")
        TRUE_MATCH_PENDING = "true_match_pending", _("True match awaiting second approval")
        TRUE_MATCH = "true_match", _("True match")
        CLOSED_REMOVED = "closed_removed", _("Closed: entry removed from the list")

    class Origin(models.TextChoices):
        ONBOARDING = "onboarding", _("Customer created")
        CHANGE = "change", _("Name or identifier changed")
        RESCREEN = "rescreen", _("Rescreen after a list update")
        COUNTERPARTY = "counterparty", _("Payment counterparty")
        MANUAL = "manual", _("Manual screening")

    party = models.ForeignKey(
        Party,
        verbose_name=_("customer"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="screening_hits",
    )
    # For a counterparty hit: the name as the transaction gave it, and the transaction's id.
    subject_name = models.CharField(_("screened name"), max_length=300)
    transaction_id = models.BigIntegerField(_("transaction"), null=True, blank=True)
    entry = models.ForeignKey(
        ListEntry, verbose_name=_("list entry"), on_delete=models.PROTECT, related_name="hits"
    )
    score = models.DecimalField(_("score"), **SCORE)
    # {"name": {...matched parts...}, "attributes": [{"field","result","detail"}], "summary"}.
    explanation = models.JSONField(_("explanation"), default=dict)
    origin = models.CharField(_("origin"), max_length=14, choices=Origin.choices)
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.OPEN, db_index=True
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("decided by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_reason = models.TextField(_("reason"), blank=True)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("confirmed by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    approval = models.ForeignKey(
        "core.PendingApproval", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    scope_unit_field = "party__owning_unit"
    scope_portfolio_field = "party__portfolio"

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("screening hit")
        verbose_name_plural = _("screening hits")
        permissions = [
            ("decide_screeninghit", _("Can decide screening hits")),
            ("screen_party", _("Can screen names")),
        ]
        ordering = ["-created_at"]
        constraints = [
            # One undecided hit per customer and entry: screening again updates it.
            models.UniqueConstraint(
                fields=["party", "entry"],
                condition=Q(status__in=["open", "true_match_pending"]),
                name="screening_one_open_hit",
            )
        ]


class ScreeningWhitelist(TimeStampedModel):
    """A confirmed false positive: this customer is not this entry, while neither changes."""

    party = models.ForeignKey(
        Party, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="+"
    )
    entry = models.ForeignKey(
        ListEntry, verbose_name=_("list entry"), on_delete=models.CASCADE, related_name="+"
    )
    # What both sides looked like when decided: a change on either side re-opens screening.
    party_fingerprint = models.CharField(max_length=64)
    entry_hash = models.CharField(max_length=64)
    reason = models.TextField(_("reason"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    hit = models.ForeignKey(ScreeningHit, null=True, on_delete=models.SET_NULL, related_name="+")

    scope_unit_field = "party__owning_unit"
    scope_portfolio_field = "party__portfolio"

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("screening whitelist entry")
        verbose_name_plural = _("screening whitelist")
        constraints = [
            models.UniqueConstraint(fields=["party", "entry"], name="screening_whitelist_pair")
        ]


class RescreenRun(TimeStampedModel):
    """A full rescreen of every customer after a list update, in resumable chunks."""

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    snapshot = models.ForeignKey(
        ListSnapshot, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    customers = models.PositiveIntegerField(default=0)
    screened = models.PositiveIntegerField(default=0)
    hits = models.PositiveIntegerField(default=0)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("rescreen run")
        verbose_name_plural = _("rescreen runs")
        ordering = ["-created_at"]


class RescreenChunk(models.Model):
    """A range of customers (by id) of a rescreen run; a chunk is done once, whatever crashes."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")

    run = models.ForeignKey(RescreenRun, on_delete=models.CASCADE, related_name="chunks")
    number = models.PositiveIntegerField()
    first_party = models.UUIDField()
    last_party = models.UUIDField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    screened = models.PositiveIntegerField(default=0)
    hits = models.PositiveIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "number"], name="rescreen_chunk_number")
        ]

    def __str__(self) -> str:
        return f"rescreen {self.run_id} chunk {self.number}"
