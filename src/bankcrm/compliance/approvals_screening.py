"""approvals_screening of the compliance module (filled in by its owner)."""
