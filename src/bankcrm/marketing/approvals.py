"""Maker-checker of a campaign's launch (``marketing.campaign_launch``)."""
