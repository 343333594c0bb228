"""The `nbctl` command line: `app` holds the group and the entry point, and registers the
command modules (instances, run, policies); `common` holds what they share."""
from .app import cli, main

__all__ = ["cli", "main"]
