"""Who may read the audit trail. The roles granting these are seeded by the access module."""

from __future__ import annotations

from typing import Any

from bankcrm.access.permissions import actor_has_perm

# Read the trail (list, detail, API) and run the chain check: auditor, compliance officer,
# administrator.
VIEW_PERMISSION = "audit.view_auditevent"
# Download the trail as CSV: auditor.
EXPORT_PERMISSION = "audit.export_auditevent"


def actor_may(actor: Any, permission: str) -> bool:
    return actor_has_perm(actor, permission)
