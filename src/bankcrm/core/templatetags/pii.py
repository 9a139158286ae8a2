"""Template helpers that show personal data masked.

``{{ value|masked:"phone" }}`` always masks. ``{% pii obj "national_id" "id" %}`` masks too,
unless the viewer may unmask and has just unmasked this very value: the view that called
``bankcrm.core.services.pii_unmask`` (audited, with a reason) puts
``pii_reveal_key(obj, field)`` into the context set ``pii_revealed``.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.translation import gettext as _

from bankcrm.core.crypto.errors import DataKeyDestroyed
from bankcrm.core.masking import actor_may_unmask, clear_text, mask, pii_reveal_key

register = template.Library()


@register.filter(name="masked")
def masked(value: Any, kind: str = "text") -> str:
    """The value masked as personal data of ``kind`` (id, phone, email, name, date …)."""
    return mask(value, kind)


@register.simple_tag(takes_context=True)
def pii(context: template.Context, obj: Any, field: str, kind: str = "text") -> str:
    """One personal-data field of ``obj``: masked unless revealed to this viewer."""
    try:
        value = getattr(obj, field)
    except DataKeyDestroyed:
        return _("(erased)")
    revealed = context.get("pii_revealed") or ()
    request = context.get("request")
    viewer = getattr(request, "user", None) if request is not None else context.get("user")
    if pii_reveal_key(obj, field) in revealed and actor_may_unmask(viewer):
        return clear_text(value)
    return mask(value, kind)
