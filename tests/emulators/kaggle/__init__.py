"""A fake Kaggle kernels API for tests: `KaggleEmulator(...).start()`, then point kagglesdk at
its `url` (see server.py)."""
from .server import KaggleEmulator

__all__ = ["KaggleEmulator"]
