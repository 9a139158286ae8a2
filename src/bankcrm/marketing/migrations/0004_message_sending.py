"""Messages: what the sender and the tracking links need of the database.

Nothing to add: the indexes the sender relies on came with the model (the partial index of
queued messages by campaign and id for the claim, (party, sent_at) for the contact limit,
provider_ref for delivery reports). The migration stays so that the numbering holds.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("marketing", "0003_campaign_launch")]

    operations: list = []
