"""approvals_kyc of the compliance module (filled in by its owner)."""
