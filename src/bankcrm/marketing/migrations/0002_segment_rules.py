"""Segments: what the rule engine needs of the database."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("marketing", "0001_segments_offers_campaigns")]

    operations: list = []
