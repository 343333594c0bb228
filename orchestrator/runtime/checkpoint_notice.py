"""The preemption notice inside a job: SIGTERM becomes a request to save and exit with
EXIT_PREEMPTED, with a grace exit for a loop that does not. Used by nbctl_cloud.runtime.checkpoint
(which re-exports EXIT_PREEMPTED); standard library only.
"""
from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from typing import NoReturn

EXIT_PREEMPTED = 85  # "preempted, resume me": the job exits with this after a preemption notice
DEFAULT_EXIT_GRACE = 25.0  # GCE gives 30 s of notice: leave time to exit after the final save

# The helper's one logger, whichever of its modules speaks.
log = logging.getLogger("nbctl_cloud.runtime.checkpoint")


class PreemptionNotice:
    """The notice half of a Checkpointer. The class using it provides `wait()` (the save in
    flight is done; raises its error) and `_finish_writing()` (the same, never raising)."""

    def _init_notice(self, exit_grace: float | None, handle_sigterm: bool) -> None:
        self.exit_grace = exit_grace
        self._notice = threading.Event()
        self._previous_handlers: dict[int, object] = {}
        self._exit_timer: threading.Timer | None = None
        if handle_sigterm and threading.current_thread() is threading.main_thread():
            self.install_signal_handlers()

    @property
    def preemption_requested(self) -> bool:
        """True once the preemption notice (SIGTERM) arrived."""
        return self._notice.is_set()

    def install_signal_handlers(self, signals=(signal.SIGTERM,)) -> None:
        """Turn `signals` into a preemption request instead of death. Main thread only.

        A handler that was installed before is still called after ours.
        """
        for sig in signals:
            previous = signal.signal(sig, self._on_notice)
            if previous is not self._on_notice:
                self._previous_handlers[sig] = previous

    def restore_signal_handlers(self) -> None:
        """Give each signal back to the handler found before (from the main thread)."""
        if threading.current_thread() is threading.main_thread():
            for sig, previous in self._previous_handlers.items():
                signal.signal(sig, previous)
        self._previous_handlers.clear()

    def request_preemption(self) -> None:
        """What SIGTERM does: mark the notice, and arm the grace exit if there is one."""
        if self._notice.is_set():
            return
        self._notice.set()
        if self.exit_grace is not None:
            self._exit_timer = threading.Timer(self.exit_grace, self._exit_after_grace)
            self._exit_timer.daemon = True
            self._exit_timer.start()

    def _on_notice(self, signum, frame) -> None:
        # runs between two bytecodes of the main thread: take no lock the loop may hold
        self.request_preemption()
        previous = self._previous_handlers.get(signum)
        if callable(previous):
            previous(signum, frame)

    def _exit_after_grace(self) -> None:
        log.warning("the training loop did not exit within %.0f s of the preemption notice; "
                    "exiting with %d after the save in progress", self.exit_grace, EXIT_PREEMPTED)
        self._finish_writing()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_PREEMPTED)

    def exit_preempted(self) -> NoReturn:
        """Wait for the save in flight, then exit with EXIT_PREEMPTED ("preempted, resume me").

        A save that failed is reported on stderr; the checkpoint before it still stands, so the
        exit code stays EXIT_PREEMPTED.
        """
        try:
            self.wait()
        except Exception as e:  # noqa: BLE001 - reported, not retried: the older checkpoint stands
            print(f"nbctl checkpoint: the last save failed ({e}); resuming from the one before",
                  file=sys.stderr)
        sys.stdout.flush()
        raise SystemExit(EXIT_PREEMPTED)
