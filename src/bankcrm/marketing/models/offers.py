"""Product offers, customers' propensity to take them and relationship managers' decisions
on the next best offer."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from bankcrm.access.querysets import RestrictedManager
from bankcrm.core.models import TimeStampedModel
from bankcrm.core.money import AmountField, CurrencyField


class ProductOffer(TimeStampedModel):
    """An offer of one product: its terms in both languages, how long it stands, what a new
    customer of it is worth to the bank and who is eligible (rules like a segment's)."""

    code = models.SlugField(_("code"), max_length=64, unique=True)
    product = models.ForeignKey(
        "banking.Product",
        verbose_name=_("product"),
        on_delete=models.PROTECT,
        related_name="marketing_offers",
    )
    name = models.CharField(_("name"), max_length=200)
    name_zh = models.CharField(_("name (Chinese)"), max_length=200, blank=True)
    terms_en = models.TextField(_("terms (English)"), blank=True)
    terms_zh = models.TextField(_("terms (Chinese)"), blank=True)
    valid_from = models.DateField(_("valid from"), null=True, blank=True)
    valid_until = models.DateField(_("valid until"), null=True, blank=True)
    # Expected value to the bank of one customer taking the product (margin over its life).
    value = AmountField(_("value of one acquisition"), default=0)
    currency = CurrencyField(_("currency"), default="CNY")
    # Who may be offered it: a rule tree in the segment rules' JSON form ({} = everyone).
    eligibility = models.JSONField(_("eligibility rules"), default=dict, blank=True)
    # Offered as a next best offer on the customer 360 page.
    is_next_best_offer = models.BooleanField(_("next best offer"), default=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("product offer")
        verbose_name_plural = _("product offers")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name

    def name_for(self, language: str | None) -> str:
        if language and language.lower().startswith("zh") and self.name_zh:
            return self.name_zh
        return self.name

    def terms_for(self, language: str | None) -> str:
        if language and language.lower().startswith("zh") and self.terms_zh:
            return self.terms_zh
        return self.terms_en


class PropensityScore(models.Model):
    """A customer's latest probability of taking a product, from a registered propensity
    model (one row per customer and product, replaced by each scoring run)."""

    id = models.BigAutoField(primary_key=True)
    party = models.ForeignKey(
        "customers.Party",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="propensity_scores",
    )
    product = models.ForeignKey(
        "banking.Product",
        verbose_name=_("product"),
        on_delete=models.CASCADE,
        related_name="propensity_scores",
    )
    model_version = models.ForeignKey(
        "risk.ModelVersion",
        verbose_name=_("model"),
        on_delete=models.PROTECT,
        related_name="propensity_scores",
    )
    probability = models.FloatField(_("probability"))
    scored_at = models.DateTimeField(_("scored at"))

    scope_unit_field = "party__owning_unit"
    scope_portfolio_field = "party__portfolio"

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("propensity score")
        verbose_name_plural = _("propensity scores")
        ordering = ["party", "-probability"]
        constraints = [
            models.UniqueConstraint(fields=["party", "product"], name="propensity_one_per_product"),
            models.CheckConstraint(
                condition=Q(probability__gte=0) & Q(probability__lte=1),
                name="propensity_is_probability",
            ),
        ]
        indexes = [
            models.Index(fields=["product", "probability"], name="propensity_product_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.party_id} {self.product_id} {self.probability:.3f}"


class OfferDecision(TimeStampedModel):
    """What a member of staff did with a next best offer shown for a customer: accepted it
    (a task or an application followed) or dismissed it, with the reason."""

    class Decision(models.TextChoices):
        ACCEPTED = "accepted", _("Accepted")
        DISMISSED = "dismissed", _("Dismissed")

    class Reason(models.TextChoices):
        NOT_INTERESTED = "not_interested", _("Customer not interested")
        HAS_ELSEWHERE = "has_elsewhere", _("Has it with another bank")
        NOT_SUITABLE = "not_suitable", _("Not suitable for the customer")
        BAD_TIMING = "bad_timing", _("Not the right time")
        RECENTLY_OFFERED = "recently_offered", _("Offered recently")
        OTHER = "other", _("Other")

    party = models.ForeignKey(
        "customers.Party",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="offer_decisions",
    )
    offer = models.ForeignKey(
        ProductOffer, verbose_name=_("offer"), on_delete=models.PROTECT, related_name="decisions"
    )
    decision = models.CharField(_("decision"), max_length=10, choices=Decision.choices)
    reason = models.CharField(_("reason"), max_length=20, choices=Reason.choices, blank=True)
    note = models.CharField(_("note"), max_length=500, blank=True)
    # What the offer scored when shown: propensity, value and their product.
    propensity = models.FloatField(_("propensity"), null=True, blank=True)
    expected_value = AmountField(_("expected value"), null=True, blank=True)
    # What acceptance created: a staff task or a loan application (its key).
    task = models.ForeignKey(
        "customers.Task",
        verbose_name=_("task"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    application_ref = models.CharField(_("application"), max_length=64, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("decided by"),
        on_delete=models.PROTECT,
        related_name="+",
    )

    scope_unit_field = "party__owning_unit"
    scope_portfolio_field = "party__portfolio"

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("offer decision")
        verbose_name_plural = _("offer decisions")
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["party", "offer", "created_at"], name="offerdecision_party_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(decision="accepted") | ~Q(reason=""),
                name="offerdecision_dismissal_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.offer_id} {self.decision}"
