"""python -m indexstudio.conformance DIR [--only PREFIX ...] [-v]

Checks every case of a golden folder (manifest.json + cases/) against our own
implementation and prints one line per case, then `N passed, M failed`.
Exits 1 when any case fails or cannot run.
"""
from __future__ import annotations

import argparse
import sys


from indexstudio.conformance.runner import run_folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m indexstudio.conformance", description=__doc__.splitlines()[2])
    parser.add_argument("folder", help="golden folder: an IndexTTS model folder with manifest.json and cases/")
    parser.add_argument("--only", nargs="*", help="run only cases whose names start with these prefixes")
    parser.add_argument("-v", "--verbose", action="store_true", help="print tracebacks of failing cases")
    args = parser.parse_args(argv)
    results = run_folder(args.folder, only=args.only, verbose=args.verbose)
    width = max((len(r.name) for r in results), default=10)
    for r in results:
        print(f"{r.name:<{width}}  {'PASS' if r.passed else 'FAIL'}  {r.seconds:6.2f}s  {r.worst}", flush=True)
    passed = sum(r.passed for r in results)
    failed = len(results) - passed
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or not results else 0


if __name__ == "__main__":
    sys.exit(main())
