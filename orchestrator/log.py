"""nbctl's own log: one line per action, in the data dir. Never log a secret or a URL token."""
from __future__ import annotations

import logging

_configured = False


def get(name: str = "nbctl") -> logging.Logger:
    """The logger, writing to <data dir>/nbctl.log (0600) once first used."""
    global _configured
    logger = logging.getLogger("nbctl")
    if not _configured:
        import os

        from .config import data_dir
        path = data_dir() / "nbctl.log"
        fd = os.open(path, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600)
        os.close(fd)
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(process)d %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
        _configured = True
    return logger if name == "nbctl" else logger.getChild(name)
