"""Conversions: what their detection and the campaign report need of the database."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("marketing", "0004_message_sending")]

    operations: list = []
