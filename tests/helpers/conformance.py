"""Run the conformance command as users and CI run it (a subprocess: it sets MKL's reproducible mode)."""
import subprocess
import sys


def run_conformance(folder, *only):
    """(exit code, output lines): one line per case, then `N passed, M failed`."""
    r = subprocess.run([sys.executable, "-m", "indexstudio.conformance", str(folder), *(("--only", *only) if only else ())],
                       capture_output=True, text=True)
    return r.returncode, r.stdout.strip().splitlines()
