"""Indexes of the agent's workspace: the unassigned open cases of a queue and an agent's
open cases, each in resolution due order, with the workspace's filters in the index."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("support", "0004_response_templates"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="servicecase",
            index=models.Index(
                condition=models.Q(("assigned_to__isnull", True), ("is_open", True)),
                fields=["queue", "resolution_due_at", "id", "priority", "state", "channel"],
                name="support_case_unassigned_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="servicecase",
            index=models.Index(
                condition=models.Q(("is_open", True)),
                fields=["assigned_to", "resolution_due_at", "id", "priority", "state", "channel"],
                name="support_case_mine_idx",
            ),
        ),
    ]
