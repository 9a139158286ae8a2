"""The credit risk section of the navigation."""
