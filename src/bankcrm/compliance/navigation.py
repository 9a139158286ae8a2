"""navigation of the compliance module (filled in by its owner)."""
