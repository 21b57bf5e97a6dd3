"""Run a Python program with its garbage-collection pauses written down as they happen.

    python bench/gc_probe.py REPORT -m missions_mcp [ARGS...]
    python bench/gc_probe.py REPORT SCRIPT.py [ARGS...]

REPORT gets the process id on its first line, then one line per collection:
``<time.monotonic() at its end> <generation> <pause in ms> <CPU ms of the thread>`` (on a busy
machine the wall-clock pause includes time the process waited for a core; the CPU time does not).
The line is written after the pause is measured, so it does not count in it; ``time.monotonic`` is
the system-wide clock on Linux, so the benchmark keeps only the collections inside its window.
"""

from __future__ import annotations

import gc
import runpy
import sys
import time

_started = 0.0
_cpu = 0.0


def main() -> None:
    report_path, target, *rest = sys.argv[1:]
    report = open(report_path, "w", buffering=1)  # noqa: SIM115 - open for the life of the process
    report.write(f"{__import__('os').getpid()}\n")

    def on_gc(phase: str, info: dict[str, int]) -> None:
        global _started, _cpu
        now, cpu = time.monotonic(), time.thread_time()
        if phase == "start":
            _started, _cpu = now, cpu
        else:
            report.write(f"{now:.6f} {info['generation']} {(now - _started) * 1000:.3f} {(cpu - _cpu) * 1000:.3f}\n")

    gc.callbacks.append(on_gc)
    if target == "-m":
        module, *args = rest
        sys.argv = [module, *args]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    else:
        sys.argv = [target, *rest]
        runpy.run_path(target, run_name="__main__")


if __name__ == "__main__":
    main()
