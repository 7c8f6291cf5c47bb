"""Peak memory of a book render must not grow with the book's length."""
import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import ROOT

SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[3])
    from helpers.synthetic_engine import SyntheticEngine
    from indexstudio.books.reader import Book, Chapter
    from indexstudio.pipeline.job import render_book
    from indexstudio.pipeline.plan import make_plan

    n = int(sys.argv[1])
    sentence = "This sentence is long enough to make about one second of test tone audio, more or less. "
    chapters = [Chapter(f"Part {c}", sentence * (n // 10)) for c in range(10)]
    engine = SyntheticEngine()
    plan = make_plan(Book("Memory", chapters), engine, "tone", read_titles=False)
    assert len(plan.segments) == n, len(plan.segments)
    render_book(plan, engine, "tone", sys.argv[2] + "/book.wav", sys.argv[2] + "/work")
    # VmHWM: this process's own peak (ru_maxrss would also count the parent's peak before exec)
    print(next(l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM:")))
""")


def _peak_rss_kib(n: int, folder: Path) -> int:
    folder.mkdir()
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(n), str(folder), str(Path(__file__).parent)],
                         capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1])


def test_peak_rss_is_flat_from_100_to_2000_segments(tmp_path):
    small = _peak_rss_kib(100, tmp_path / "small")
    large = _peak_rss_kib(2000, tmp_path / "large")
    # 2000 segments are ~30 min of audio (~110 MB as float32): holding it would blow the ratio.
    assert large <= 1.1 * small, (small, large)


def test_indextts2_book_peak_rss_does_not_grow_with_its_length():
    """The real engine (reduced golden IndexTTS-2, the book's calls of 6 segments, 3 beams): a 15k-character book
    peaks where a 1k one does.  Every call decodes on an engine of its own; when those were freed only by the
    garbage collector, the 15k book peaked 1.11x higher (and a 100k one 1.25x)."""
    sys.path.insert(0, str(ROOT / "bench"))
    import bench_e2e

    options = {"max_mel_tokens": 10, "diffusion_steps": 2}
    small = bench_e2e.measure_book_memory(1_000, options=options, timeout=600)
    large = bench_e2e.measure_book_memory(15_000, options=options, timeout=600)
    assert large["segments"] >= 10 * small["segments"]
    assert large["peak_rss_kib"] <= 1.05 * small["peak_rss_kib"], (small, large)
