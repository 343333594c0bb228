"""nbctl's own log: one line per action, in the data dir. Never log a secret or a URL token."""
from __future__ import annotations

import logging
import os

_handler: logging.FileHandler | None = None


def get() -> logging.Logger:
    """The logger, writing to <data dir>/nbctl.log (mode 0600)."""
    global _handler
    from .config import data_dir

    logger = logging.getLogger("nbctl")
    path = str(data_dir() / "nbctl.log")
    if _handler is None or _handler.baseFilename != os.path.abspath(path):
        if _handler is not None:  # the data dir changed (NBCTL_HOME): follow it
            logger.removeHandler(_handler)
            _handler.close()
        os.close(os.open(path, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600))
        _handler = logging.FileHandler(path, encoding="utf-8")
        _handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(process)d %(message)s"))
        logger.addHandler(_handler)
        logger.setLevel(logging.INFO)
    return logger
