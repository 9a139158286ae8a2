"""Placeholder: filled in by its owner."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("support", "0002_case_setup_seed")]
    operations: list = []
