"""Run the fake Paperspace API until interrupted; prints its URL on the first line."""
from __future__ import annotations

import argparse
import signal
import sys
import threading

from .server import Delays, PaperspaceEmulator


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m tests.emulators.paperspace")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--key", default="ps-test-key", help="the one valid Bearer key")
    p.add_argument("--provision-delay", type=float, default=0.3)
    p.add_argument("--transition-delay", type=float, default=0.2,
                   help="seconds for start, stop and delete")
    p.add_argument("--hour-seconds", type=float, default=3600.0,
                   help="seconds one hour of autoShutdownTimeout lasts")
    p.add_argument("--latency", type=float, default=0.0,
                   help="seconds added to every API answer (a network's round trip)")
    p.add_argument("--run-machines", action="store_true",
                   help="booted machines run their startup script as local processes")
    args = p.parse_args()
    d = args.transition_delay
    emu = PaperspaceEmulator(key=args.key, port=args.port,
                             delays=Delays(provision=args.provision_delay, start=d, stop=d, delete=d),
                             hour_seconds=args.hour_seconds, run_machines=args.run_machines,
                             latency=args.latency)
    emu.start()
    print(emu.url, flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    emu.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
