"""subscribers_screening of the compliance module (filled in by its owner)."""
