"""Run benchmarks and print one JSON object per figure: `python -m bench [NAME…]`."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time

from bench import BENCHMARKS


def main(argv: list[str] | None = None) -> int:
    """Run the named benchmarks (all when none are named); exit 1 if any failed."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "names", nargs="*", help=f"benchmarks to run (default: {' '.join(BENCHMARKS)})"
    )
    args = parser.parse_args(argv)
    failed = False
    for name in args.names or BENCHMARKS:
        try:
            module = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError:
            print(json.dumps({"name": name, "error": "no such benchmark"}), flush=True)
            failed = True
            continue
        started = time.perf_counter()
        try:
            for figure in module.run():
                print(json.dumps(figure, ensure_ascii=False), flush=True)
        except Exception as exc:  # the runner's one boundary: report and go on with the rest
            print(json.dumps({"name": name, "error": f"{type(exc).__name__}: {exc}"}), flush=True)
            failed = True
        print(
            json.dumps(
                {
                    "name": f"{name}.wall_time",
                    "value": round(time.perf_counter() - started, 2),
                    "unit": "s",
                }
            ),
            file=sys.stderr,
            flush=True,
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
