"""`llmops serve` under cProfile with a per-thread CPU clock, so the profile shows where the event loop
thread spends CPU (waiting and the other threads' work do not count). Writes the stats on exit.

    python bench/profile_serve.py OUT.prof
"""

from __future__ import annotations

import cProfile
import signal
import sys
import time

from llmops.cli import app


def main(out: str) -> None:
    # uvicorn re-raises the SIGTERM it handled once it has shut down: exit through `finally` then.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    profiler = cProfile.Profile(time.thread_time)
    profiler.enable()
    try:
        app(["serve"])
    except SystemExit:
        pass
    finally:
        profiler.disable()
        profiler.dump_stats(out)


if __name__ == "__main__":
    main(sys.argv[1])
