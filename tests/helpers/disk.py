import errno
from pathlib import Path


def fill(disk: Path) -> None:
    """Write into `disk` until it is full."""
    with open(disk / "filler", "wb", buffering=0) as filler:
        try:
            while True:
                filler.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
