"""Campaigns: what the launch needs of the database."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("marketing", "0002_segment_rules")]

    operations: list = []
