"""`python -m tests.emulators.gcp --port N`: serve the GCP emulator until interrupted.

Prints one line, `listening on http://127.0.0.1:PORT`, once it accepts requests.
"""
from __future__ import annotations

import argparse
import signal
import sys

from . import Delays, GcpEmulator


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.emulators.gcp")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--project", default="test-project")
    ap.add_argument("--provision-delay", type=float, default=0.3)
    ap.add_argument("--operation-delay", type=float, default=0.1)
    ap.add_argument("--stop-delay", type=float, default=0.2)
    ap.add_argument("--preempt-notice", type=float, default=1.0,
                    help="seconds of preemption notice (GCE gives 30)")
    ap.add_argument("--latency", type=float, default=0.0,
                    help="seconds added to every API answer (a network's round trip)")
    ap.add_argument("--run-vms", action="store_true",
                    help="booted VMs run their startup-script as local processes")
    args = ap.parse_args(argv)
    delays = Delays(operation=args.operation_delay, provision=args.provision_delay,
                    stop=args.stop_delay, delete=args.stop_delay, notice=args.preempt_notice)
    emu = GcpEmulator(args.project, delays, port=args.port, run_vms=args.run_vms).start()
    emu.latency = args.latency
    print(f"listening on {emu.url}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        signal.pause()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        emu.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
