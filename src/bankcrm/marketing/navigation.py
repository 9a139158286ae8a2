"""The marketing section of the navigation."""
