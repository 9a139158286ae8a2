"""subscribers_aml of the compliance module (filled in by its owner)."""
