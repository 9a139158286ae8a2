"""The customer service section of the navigation: the agent's workspace, the cases, the
supervisor's view, the knowledge base, the complaints register and the queues.

Each entry shows to those holding its permission: agents see their workspace and cases;
branch managers (who supervise queues) also the supervisor's view, the complaints register
and the queue administration.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from bankcrm.web.navigation import register_nav

SECTION = _("Customer service")

for key, label, url_name, permission, order, icon in (
    ("support.workspace", _("Service workspace"), "support:workspace",
     "support.view_servicecase", 70, "chat"),
    ("support.cases", _("Service cases"), "support:case_list",
     "support.view_servicecase", 71, "list"),
    ("support.supervisor", _("Queue supervision"), "support:supervisor",
     "support.supervise_queue", 72, "chart"),
    ("support.knowledge", _("Knowledge base"), "support:knowledge_list",
     "support.view_knowledgearticle", 73, "file"),
    ("support.complaints", _("Complaints register"), "support:complaints_register",
     "support.export_complaints", 74, "flag"),
    # Administering queues needs supervision too: agents, who may change cases (and so
    # hold support.change_queue), do not rearrange teams.
    ("support.queues", _("Service queues"), "support:queue_list",
     "support.supervise_queue", 75, "settings"),
):  # fmt: skip
    register_nav(
        key, label, url_name, permission=permission, order=order, icon=icon, section=SECTION
    )
