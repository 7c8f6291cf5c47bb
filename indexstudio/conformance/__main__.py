"""python -m indexstudio.conformance DIR [--only PREFIX ...] [-v]

Checks every case of a golden folder (manifest.json + cases/) against our own
implementation and prints one line per case, then `N passed, M failed`.
Exits 1 when any case fails or cannot run.
"""
from __future__ import annotations

import argparse
import os
import sys

# The golden data come from MKL's reproducible ("compatible") code path: its float32 FFTs round
# differently from the AVX2 / AVX-512 kernels, which matters where a mel bin holds almost no
# energy (IndexTTS-1.5 prompt mels near Nyquist).  Ask MKL for that path before torch loads it.
os.environ.setdefault("MKL_CBWR", "COMPATIBLE")

from indexstudio.conformance.runner import run_folder  # noqa: E402  (after the MKL setting)


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
