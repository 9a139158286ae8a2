"""What the risk module registers with the kernel and lending when Django starts."""
