"""What the lending module plugs into the kernel when Django starts: workflow conditions,
maker-checker actions and event subscribers."""

from . import guards, subscribers  # noqa: F401
