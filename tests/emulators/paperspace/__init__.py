"""A fake Paperspace API v1 for tests: `PaperspaceEmulator(...).start()`, or
`python -m tests.emulators.paperspace --port N` for CLI tests in subprocesses."""
from .server import Delays, PaperspaceEmulator

__all__ = ["Delays", "PaperspaceEmulator"]
