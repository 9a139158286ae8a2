"""What imports bring in that the customer and account records have no column for.

* :class:`StandingOrder`: a permanent payment order on an account (Berka ``order.asc``).
* :class:`SourceRecord`: the attributes a source system keeps about a record the bank holds
  elsewhere (a card's type, a loan contract's terms and outcome, a district's demographics),
  kept as they came so that nothing of the source is lost and re-imports can compare.

Both are keyed by ``(source_system, source_id)``: importing the same file again adds nothing.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from bankcrm.access.querysets import RestrictedManager
from bankcrm.core.models import TimeStampedModel
from bankcrm.core.money import AmountField, CurrencyField


class StandingOrder(TimeStampedModel):
    """A permanent order to pay a fixed amount from an account to an account at another bank."""

    class Purpose(models.TextChoices):
        INSURANCE = "insurance", _("Insurance")
        HOUSEHOLD = "household", _("Household payment")
        LOAN_PAYMENT = "loan_payment", _("Loan payment")
        LEASING = "leasing", _("Leasing")
        STATEMENT_FEE = "statement_fee", _("Statement fee")
        PENSION = "pension", _("Pension")
        INTEREST = "interest", _("Interest")
        PENALTY_INTEREST = "penalty_interest", _("Penalty interest")
        OTHER = "other", _("Other")

    account = models.ForeignKey(
        "banking.Account",
        verbose_name=_("account"),
        on_delete=models.CASCADE,
        related_name="standing_orders",
    )
    beneficiary_bank = models.CharField(_("beneficiary bank"), max_length=64, blank=True)
    beneficiary_account = models.CharField(_("beneficiary account"), max_length=64, blank=True)
    amount = AmountField(_("amount"))
    currency = CurrencyField(_("currency"))
    purpose = models.CharField(
        _("purpose"), max_length=20, choices=Purpose.choices, default=Purpose.OTHER
    )
    source_system = models.CharField(_("source system"), max_length=32)
    source_id = models.CharField(_("source id"), max_length=64)

    scope_unit_field = "account__branch"
    scope_portfolio_field = "account__owner__portfolio"

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("standing order")
        verbose_name_plural = _("standing orders")
        ordering = ["account", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["source_system", "source_id"], name="standingorder_source_unique"
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="standingorder_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.amount} {self.currency} → {self.beneficiary_bank} {self.beneficiary_account}"


class SourceRecord(TimeStampedModel):
    """A source system's own data about a card, loan contract or branch, kept as it came."""

    source_system = models.CharField(_("source system"), max_length=32)
    # What the source calls the record: "card", "loan", "district" …
    kind = models.CharField(_("kind"), max_length=32)
    source_id = models.CharField(_("source id"), max_length=64)
    # The unit the record belongs to (an account's branch, the branch itself): scoped by it.
    owning_unit = models.ForeignKey(
        "access.OrgUnit",
        verbose_name=_("owning unit"),
        on_delete=models.PROTECT,
        related_name="source_records",
    )
    account = models.ForeignKey(
        "banking.Account",
        verbose_name=_("account"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="source_records",
    )
    data = models.JSONField(_("data"), default=dict, blank=True)

    scope_unit_field = "owning_unit"

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("source record")
        verbose_name_plural = _("source records")
        ordering = ["source_system", "kind", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["source_system", "kind", "source_id"], name="sourcerecord_source_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source_system} {self.kind} {self.source_id}"
