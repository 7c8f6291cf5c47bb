"""Benchmark the embedded Kokoro engine on this machine.

1. Speed: RTF (wall seconds per audio second) and characters per second on a
   fixed English passage (12 segments in one call, as a book hands them over),
   after one warm-up segment: one session using every core (the baseline), then
   the engine's default of one single-threaded session per core speaking
   segments side by side; the ratio of the two is printed.
2. Memory: peak RSS of a whole `render_book` run (rendering + M4B encoding) for
   books of increasing length, each in a fresh subprocess; the ratio of the
   longest to the shortest is what must stay near 1.

Usage: python bench/bench_kokoro.py [--voice af_heart] [--lengths 10 40 160]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

PASSAGE = ("On the night of the storm the wind came in from the north and did not stop. "
           "Mara had kept the lighthouse for twelve years, and she knew every sound the old tower could make. "
           "This one was new: a slow, patient ticking from somewhere beneath the stairs. "
           "She lit a lamp and followed it down, one careful step at a time.")

# peak RSS as VmHWM: getrusage's ru_maxrss of a child keeps the parent's peak from before the exec
RSS_SCRIPT = """
import sys, tempfile
from indexstudio.books.reader import Book, Chapter
from indexstudio.engines import get_engine
from indexstudio.pipeline.job import render_book
from indexstudio.pipeline.plan import make_plan
n, voice = int(sys.argv[1]), sys.argv[2]
engine = get_engine("kokoro")
sentence = "The keeper climbed the stairs and lit the lamp again. "
book = Book("Bench", [Chapter(f"Part {c}", sentence * (n // 4)) for c in range(4)])
plan = make_plan(book, engine, voice, read_titles=False)
with tempfile.TemporaryDirectory() as tmp:
    render_book(plan, engine, voice, tmp + "/b.m4b", tmp + "/w")
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(len(plan.segments), int(hwm.split()[1]))
"""


def hardware() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voice", default="af_heart")
    parser.add_argument("--lengths", type=int, nargs="+", default=[10, 40, 160])
    args = parser.parse_args()
    from indexstudio.engines import get_engine
    from indexstudio.engines.kokoro import KokoroEngine
    from indexstudio.text.segment import segment_text

    passage = " ".join([PASSAGE] * 3)
    result = {"hardware": hardware(), "voice": args.voice, "rss": []}
    for label, engine in (("one session", KokoroEngine(workers=1)), ("side by side", get_engine("kokoro"))):
        segments = segment_text(engine.normalize(passage, "en-us"))
        next(engine.synthesize(["Warm up."], args.voice))
        start = time.perf_counter()
        samples = sum(r.audio.size for r in engine.synthesize(segments, args.voice))
        wall = time.perf_counter() - start
        audio = samples / engine.sample_rate
        result[label] = {"workers": engine.workers, "segments": len(segments), "audio_s": round(audio, 2),
                         "wall_s": round(wall, 2), "rtf": round(wall / audio, 3),
                         "chars_per_s": round(len(passage) / wall, 1)}
        print(f"speed, {label} ({engine.workers} session(s), {len(segments)} segments): {audio:.1f} s of audio in "
              f"{wall:.1f} s: RTF {wall / audio:.3f}, {len(passage) / wall:.0f} chars/s")
    speedup = result["one session"]["rtf"] / result["side by side"]["rtf"]
    result["speedup"] = round(speedup, 2)
    print(f"speedup {speedup:.2f}")
    for n in args.lengths:
        out = subprocess.run([sys.executable, "-c", RSS_SCRIPT, str(n), args.voice], capture_output=True, text=True, check=True)
        segs, kib = map(int, out.stdout.split()[-2:])
        result["rss"].append({"segments": segs, "peak_rss_mib": round(kib / 1024, 1)})
        print(f"memory: {segs:4d} segments -> peak RSS {kib / 1024:.1f} MiB")
    ratio = result["rss"][-1]["peak_rss_mib"] / result["rss"][0]["peak_rss_mib"]
    result["rss_ratio_longest_to_shortest"] = round(ratio, 3)
    print(f"memory ratio longest/shortest: {ratio:.3f}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
