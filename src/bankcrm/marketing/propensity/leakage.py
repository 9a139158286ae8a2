"""The leakage guard: columns known only after the outcome they would predict.

A propensity model scores customers *before* they are contacted, so a column recorded during
or after the contact describes the outcome rather than predicts it: a model that learns from
it looks excellent in evaluation and is useless in use. Such columns are declared here by
name (matched without regard to case) with the reason, and training always leaves them out
and reports them.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.utils.translation import gettext_lazy as _

# Column name (lower case) → why it is known only after the outcome.
POST_OUTCOME_COLUMNS: dict[str, object] = {
    # UCI bank marketing (Moro et al. 2014): the length of the call that made the offer.
    "duration": _(
        "known only after the outcome: the length of the last call, which ends once the"
        " customer has said yes or no (the UCI notes say to leave it out of a realistic model)"
    ),
}


def post_outcome_columns(columns: Iterable[str]) -> list[dict[str, str]]:
    """The declared post-outcome columns among ``columns``: ``[{"column", "reason"}]``."""
    found = []
    for column in columns:
        reason = POST_OUTCOME_COLUMNS.get(str(column).strip().lower())
        if reason is not None:
            found.append({"column": str(column), "reason": str(reason)})
    return found
