"""Template helpers of the shell."""

from __future__ import annotations

from django import template

from ..navigation import NavEntry

register = template.Library()


@register.filter
def nav_is_current(entry: NavEntry, path: str) -> bool:
    """Whether ``path`` is the entry's page or a page below it (the home page only itself)."""
    url = entry.url
    if url == "/":
        return path == "/"
    return path == url or path.startswith(url.rstrip("/") + "/")


_ALERT_CLASSES = {
    "debug": "secondary",
    "info": "info",
    "success": "success",
    "warning": "warning",
    "error": "danger",
}


@register.filter
def message_alert_class(tags: str) -> str:
    """Bootstrap alert colour for a message's level (``error`` shows as ``danger``)."""
    for tag in (tags or "").split():
        if tag in _ALERT_CLASSES:
            return _ALERT_CLASSES[tag]
    return "info"


@register.filter
def approval_description(action_name: str) -> str:
    """What an approval action does, in the reader's language (its code if unregistered)."""
    from bankcrm.core.approvals import approval_action_get

    action = approval_action_get(action_name)
    return str(action.description) if action else action_name
