"""Count the loan application workflow's SLA hours on the mainland China business calendar.

Only a definition without a calendar is changed: a bank that chose another calendar keeps it.
"""

from django.db import migrations


def use_cn_calendar(apps, schema_editor):
    Definition = apps.get_model("core", "WorkflowDefinition")
    Calendar = apps.get_model("core", "BusinessCalendar")
    calendar = Calendar.objects.filter(code="CN").first()
    if calendar is not None:
        Definition.objects.filter(key="loan_application", calendar__isnull=True).update(
            calendar=calendar
        )


class Migration(migrations.Migration):
    dependencies = [
        ("lending", "0002_loan_application_workflow"),
        ("core", "0005_business_calendar_cn_2026"),
    ]

    operations = [migrations.RunPython(use_cn_calendar, migrations.RunPython.noop)]
