"""Credit risk: the model registry, the scores its models gave, and their monitoring.

A model version holds everything needed to score without the training libraries: a
scorecard is a JSON points table, a gradient-boosting challenger a LightGBM model text
with its encoders (``spec``). Versions move draft → validated → approved → production →
retired; at most one production version per purpose, and at most one shadow challenger
per purpose scoring beside it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from bankcrm.core.models import TimeStampedModel

PD_DIGITS = {"max_digits": 9, "decimal_places": 6}


class Purpose(models.TextChoices):
    """What a model is used for: one production model each."""

    APPLICATION = "application", _("Application score")
    BEHAVIOUR = "behaviour", _("Behaviour score")
    PROPENSITY = "propensity", _("Propensity")
    CHURN = "churn", _("Churn")
    OTHER = "other", _("Other")


class Method(models.TextChoices):
    SCORECARD = "scorecard", _("WoE scorecard (logistic regression)")
    GBM = "gbm", _("Gradient boosting (LightGBM)")
    # Propensity models only (bankcrm.marketing.propensity): scored by its own engine.
    LOGISTIC = "logistic", _("Logistic regression (one-hot, standardised, calibrated)")


class ModelVersion(TimeStampedModel):
    """One trained version of a named model, with its artefact, evaluation and model card."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        VALIDATED = "validated", _("Validated")
        APPROVED = "approved", _("Approved")
        PRODUCTION = "production", _("Production")
        RETIRED = "retired", _("Retired")

    name = models.SlugField(_("name"), max_length=64)
    version = models.PositiveIntegerField(_("version"))
    purpose = models.CharField(
        _("purpose"), max_length=20, choices=Purpose.choices, default=Purpose.APPLICATION
    )
    method = models.CharField(_("method"), max_length=12, choices=Method.choices)
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.DRAFT
    )
    # A challenger scoring in shadow: its results are stored beside the production model's.
    shadow = models.BooleanField(_("shadow challenger"), default=False)
    description = models.TextField(_("description"), blank=True)
    # The scoring artefact (bankcrm.risk.engine reads it): points table or booster + encoders.
    spec = models.JSONField(_("model specification"))
    # Evaluation: cross-validated AUC, Gini, KS, Brier (mean, std, per fold), calibration.
    metrics = models.JSONField(_("evaluation"), default=dict)
    # Everything the model card shows (binning tables, IV, exclusions, settings).
    card = models.JSONField(_("model card data"), default=dict)
    card_html = models.TextField(_("model card (HTML)"), blank=True)
    card_pdf = models.BinaryField(_("model card (PDF)"), blank=True, default=b"")
    # Hash, rows, columns and bad rate of the data it learnt from.
    fingerprint = models.JSONField(_("learning data fingerprint"), default=dict)
    dataset_name = models.CharField(_("learning data"), max_length=255, blank=True)
    training_settings = models.JSONField(_("training settings"), default=dict)
    # Risk grades: [{"grade": "A", "min_score": 700, "recommendation": "approve"}, …],
    # highest first; the lowest band's min_score is null.
    grade_bands = models.JSONField(_("risk grades"), default=list)
    # Model feature → CRM feature (bankcrm.risk.features) when the names differ.
    feature_map = models.JSONField(_("feature mapping"), default=dict)
    # Development-sample distributions for stability monitoring (bankcrm.risk.stability):
    # {"score": {"edges", "bins", "shares"},
    #  "features": {name: {"kind", "edges" | "categories", "bins", "shares"}}}
    baseline = models.JSONField(_("development distribution"), default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("developed by"),
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    validated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("validated by"),
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    validated_at = models.DateTimeField(_("validated at"), null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("approved by"),
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    approved_at = models.DateTimeField(_("approved at"), null=True, blank=True)
    promoted_at = models.DateTimeField(_("in production since"), null=True, blank=True)
    retired_at = models.DateTimeField(_("retired at"), null=True, blank=True)
    status_note = models.TextField(_("note on the last status change"), blank=True)

    class Meta:
        verbose_name = _("model version")
        verbose_name_plural = _("model versions")
        ordering = ["name", "-version"]
        permissions = [
            ("train_modelversion", _("Can train credit models")),
            ("validate_modelversion", _("Can validate credit models")),
            ("approve_modelversion", _("Can approve credit models for production")),
            ("score_modelversion", _("Can score with credit models")),
        ]
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="risk_model_version_unique"),
            models.UniqueConstraint(
                fields=["purpose"],
                condition=Q(status="production"),
                name="risk_one_production_per_purpose",
            ),
            models.UniqueConstraint(
                fields=["purpose"],
                condition=Q(shadow=True),
                name="risk_one_shadow_per_purpose",
            ),
            models.CheckConstraint(
                condition=~Q(shadow=True) | Q(status="approved"),
                name="risk_shadow_is_approved",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version}"


class ScoreRun(TimeStampedModel):
    """A batch of scores: the nightly behaviour job or a file scored on demand."""

    class Kind(models.TextChoices):
        NIGHTLY = "nightly", _("Nightly behaviour scores")
        FILE = "file", _("File")

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    model_version = models.ForeignKey(
        ModelVersion, verbose_name=_("model"), on_delete=models.PROTECT, related_name="runs"
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.RUNNING
    )
    as_of = models.DateField(_("as of"), null=True, blank=True)
    rows = models.PositiveIntegerField(_("rows"), default=0)
    seconds = models.FloatField(_("seconds"), default=0)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("score run")
        verbose_name_plural = _("score runs")
        ordering = ["-created_at"]


class Score(models.Model):
    """One score a model gave a subject (an application, a customer), with its reasons.

    Shadow scores (a challenger's) are stored beside the production model's for comparison
    and never drive a decision.
    """

    class Subject(models.TextChoices):
        APPLICATION = "application", _("Loan application")
        PARTY = "party", _("Customer")
        RECORD = "record", _("Record")

    id = models.BigAutoField(primary_key=True)
    model_version = models.ForeignKey(
        ModelVersion, verbose_name=_("model"), on_delete=models.PROTECT, related_name="scores"
    )
    run = models.ForeignKey(
        ScoreRun,
        verbose_name=_("run"),
        on_delete=models.CASCADE,
        related_name="scores",
        null=True,
        blank=True,
    )
    subject_kind = models.CharField(_("subject"), max_length=12, choices=Subject.choices)
    subject_id = models.CharField(_("subject id"), max_length=64)
    score = models.IntegerField(_("score"))
    probability_of_default = models.DecimalField(_("probability of default"), **PD_DIGITS)
    grade = models.CharField(_("grade"), max_length=8, blank=True)
    # [{"code": "R03", "feature": "...", "points_lost": 21.5, "text": "..."}]; codes in order.
    reasons = models.JSONField(_("reasons"), default=list)
    # The feature values the model saw (derived figures, not identities).
    inputs = models.JSONField(_("inputs"), default=dict)
    shadow = models.BooleanField(_("shadow"), default=False)
    scored_at = models.DateTimeField(_("scored at"), auto_now_add=True)
    # Set once the outcome is known (back-testing): 1 bad, 0 good.
    outcome_bad = models.BooleanField(_("turned bad"), null=True, blank=True)

    class Meta:
        verbose_name = _("score")
        verbose_name_plural = _("scores")
        ordering = ["-scored_at", "-id"]
        indexes = [
            models.Index(
                fields=["subject_kind", "subject_id", "scored_at"], name="risk_score_subject_idx"
            ),
            models.Index(fields=["model_version", "scored_at"], name="risk_score_model_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.subject_kind} {self.subject_id}: {self.score}"


class MonitoringReport(TimeStampedModel):
    """Stability and back-testing of one model over a period, with the level it raised."""

    class Level(models.TextChoices):
        OK = "ok", _("Stable")
        WATCH = "watch", _("Watch")
        ACT = "act", _("Act")

    model_version = models.ForeignKey(
        ModelVersion,
        verbose_name=_("model"),
        on_delete=models.PROTECT,
        related_name="monitoring_reports",
    )
    period_start = models.DateField(_("from"))
    period_end = models.DateField(_("until"))
    scored = models.PositiveIntegerField(_("scores in the period"), default=0)
    psi = models.FloatField(_("population stability index"), null=True, blank=True)
    level = models.CharField(_("level"), max_length=6, choices=Level.choices, default=Level.OK)
    # {"score": {...bins, expected, actual, psi}, "features": {name: {..., "csi": x, "level": ..}},
    #  "backtest": [...bands], "overrides": {"by_officer": [...], "by_branch": [...]}}
    details = models.JSONField(_("details"), default=dict)
    pdf = models.BinaryField(_("PDF report"), blank=True, default=b"")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("run by"),
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )

    class Meta:
        verbose_name = _("monitoring report")
        verbose_name_plural = _("monitoring reports")
        ordering = ["-period_end", "-created_at"]
