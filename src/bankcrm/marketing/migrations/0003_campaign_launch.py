"""Campaigns: what the launch needs of the database.

Nothing to add: the launch writes targets and messages with ``INSERT … SELECT`` and reads
segment members, consents, contact points, accounts, open cases and screening hits through
indexes that came with their models. The migration stays so that the numbering holds.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("marketing", "0002_segment_rules")]

    operations: list = []
