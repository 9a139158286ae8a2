"""Segment rules: the JSON rule tree, the fields it may test, and its compilation to SQL."""
