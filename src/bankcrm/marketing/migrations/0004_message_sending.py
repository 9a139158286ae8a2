"""Messages: what the sender and the tracking links need of the database."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("marketing", "0003_campaign_launch")]

    operations: list = []
