"""The one error taxonomy: raised by providers, handled by the core, shown by the CLI.

Every error carries a message a person can act on. Exit codes: 0 ok, 1 the operation
failed, 2 bad input or something the chosen provider cannot do.
"""
from __future__ import annotations

from enum import Enum

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class Scope(str, Enum):
    """How far a capacity or quota problem reaches, which decides where failover goes next."""

    ZONE = "zone"
    REGION = "region"
    GLOBAL = "global"


class NbctlError(Exception):
    """Base of every error nbctl raises on purpose."""

    exit_code = EXIT_FAILED
    retryable = False

    def __init__(self, message: str, *, scope: Scope | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.scope = scope
        self.code = code  # the cloud's own error code, where there is one

    def __str__(self) -> str:
        return self.message


class UserError(NbctlError):
    """Bad input: says what was wrong and how to fix it."""

    exit_code = EXIT_USAGE


class CapabilityError(NbctlError):
    """The chosen provider cannot do this (spot on Paperspace, for one)."""

    exit_code = EXIT_USAGE


class AuthError(NbctlError):
    """Missing or refused credentials or permissions. Never retried."""

    exit_code = EXIT_USAGE


class QuotaError(NbctlError):
    """A quota is exhausted. Never retried; names the quota to raise."""


class CapacityError(NbctlError):
    """The cloud is out of this machine here. Not retried in place: fail over by scope."""


class TransientError(NbctlError):
    """Throttling, 5xx, timeouts: retried by the one retry policy."""

    retryable = True


class NotFound(NbctlError):
    """The named thing does not exist."""


class BusyError(NbctlError):
    """Another nbctl process is working on the same instance right now."""
