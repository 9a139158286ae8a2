"""Four more indexes off service cases, so that rewriting open cases' SLA dues stays fast.

A due is an indexed column: moving it writes a new row version and an entry in every index
of the table. After 0006, four single-column indexes no page or job uses remained: the type,
the workflow, and the base classes' created_at and state_due_at.
"""

from django.db import migrations, models
from django.db.models import deletion


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0005_business_calendar_cn_2026"),
        ("support", "0006_case_foreign_key_indexes"),
    ]

    operations = [
        migrations.AlterField(
            model_name="servicecase",
            name="case_type",
            field=models.ForeignKey(
                db_index=False,
                on_delete=deletion.PROTECT,
                related_name="cases",
                to="support.casetype",
                verbose_name="type",
            ),
        ),
        migrations.AlterField(
            model_name="servicecase",
            name="created_at",
            field=models.DateTimeField(auto_now_add=True, verbose_name="created"),
        ),
        migrations.AlterField(
            model_name="servicecase",
            name="state_due_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="due"),
        ),
        migrations.AlterField(
            model_name="servicecase",
            name="workflow",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=deletion.PROTECT,
                related_name="+",
                to="core.workflowdefinition",
                verbose_name="workflow",
            ),
        ),
    ]
