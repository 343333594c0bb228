"""`python -m tests.emulators.colab --port N`: serve the Colab Enterprise fake until
interrupted. Prints one line, `listening on http://127.0.0.1:PORT`, once it accepts requests.
"""
from __future__ import annotations

import argparse
import signal
import sys

from . import ColabEmulator, Delays


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.emulators.colab")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--project", default="test-project")
    ap.add_argument("--operation-delay", type=float, default=0.05)
    ap.add_argument("--start-delay", type=float, default=0.3)
    ap.add_argument("--stop-delay", type=float, default=0.2)
    ap.add_argument("--idle-seconds-per-minute", type=float, default=60.0,
                    help="how long one minute of a template's idle timeout lasts")
    args = ap.parse_args(argv)
    delays = Delays(operation=args.operation_delay, start=args.start_delay,
                    stop=args.stop_delay, idle_seconds_per_minute=args.idle_seconds_per_minute)
    emu = ColabEmulator(args.project, delays, port=args.port).start()
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
