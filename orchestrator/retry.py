"""The one retry policy, used by every provider: only TransientError is retried.

Exponential backoff with full jitter, bounded both in attempts and in total time. Tests and
emulator runs shrink the waits through NBCTL_RETRY_SCALE (a float multiplier, default 1).
"""
from __future__ import annotations

import os
from typing import Callable, TypeVar

from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from .errors import TransientError

T = TypeVar("T")

MAX_ATTEMPTS = 6
MAX_TOTAL_SECONDS = 120.0
INITIAL_WAIT = 1.0
MAX_WAIT = 30.0


def _scale() -> float:
    try:
        return max(0.0, float(os.environ.get("NBCTL_RETRY_SCALE", "1")))
    except ValueError:
        return 1.0


def policy(attempts: int = MAX_ATTEMPTS, total_seconds: float = MAX_TOTAL_SECONDS) -> Retrying:
    """A fresh tenacity Retrying object implementing the policy."""
    scale = _scale()
    return Retrying(
        retry=retry_if_exception_type(TransientError),
        wait=wait_random_exponential(multiplier=INITIAL_WAIT * scale, max=MAX_WAIT * scale),
        stop=stop_after_attempt(attempts) | stop_after_delay(total_seconds),
        reraise=True,
    )


def call(fn: Callable[..., T], *args, **kwargs) -> T:
    """Run fn under the policy; the last TransientError is re-raised when it gives up."""
    return policy()(fn, *args, **kwargs)
