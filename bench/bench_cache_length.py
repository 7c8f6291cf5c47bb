"""Decode step time against a segment's length, per weight mode: where the KV cache outgrows the weights.

A decode step reads the GPT weights once and every row's keys and values. The
`indexstudio bench decode` runs stop at 32-64 codes, where the weights dominate;
a book segment of IndexTTS-2 runs to several hundred codes (50 per second of
speech), and a book's engine call decodes 6 segments x 3 beams = 18 rows, so
there the cache reads catch up with the weights. This bench decodes `--rows`
full-size segments greedily (random weights, the stop token never chosen) and
times `--steps` decode steps after each of `--lengths` generated codes, for
each weight mode in the same run; fp32 is the baseline of the printed ratios.
It runs on the CPU, whose modes these are (a GPU takes --dtype instead).

    python bench/bench_cache_length.py [--rows 18] [--lengths 50,200,400,600] [--weights fp32,bf16,int8]
                                       [--steps 5] [--threads 2]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from indexstudio.bench.decode import SHAPES, Shape, build_gpt, make_prompts  # noqa: E402
from indexstudio.models.unified_voice import MelCodeGPT  # noqa: E402
from indexstudio.runtime.decode_engine import DecodeEngine, PromptRow  # noqa: E402
from indexstudio.runtime.sequence import SamplingParams, Sequence  # noqa: E402
from indexstudio.runtime.weights import WEIGHT_MODES  # noqa: E402


def measure(gpt: MelCodeGPT, rows: list[PromptRow], weights: str, lengths: list[int],
            steps: int) -> list[tuple[float, int]]:
    """For each length: (ms per decode step, bytes of keys/values the step reads) once the rows have
    generated that many codes."""
    longest = max(e.shape[0] for e, _ in rows)
    params = SamplingParams(max(lengths) + steps + 1, gpt.cfg.stop_mel_token, ignore_stop=True)
    engine = DecodeEngine(gpt, max_batch=len(rows), max_len=longest + params.max_new_tokens, weights=weights)
    for embeds, ids in rows:
        engine.add(Sequence(embeds, ids, params))
    while engine.scheduler.waiting:                     # the prefills
        engine.step()
    cfg, layer = gpt.gpt.cfg, engine.cache.layers[0]
    per_position = cfg.layers * 2 * cfg.dim * layer.element_size()
    out = []
    for length in lengths:
        while engine.scheduler.running[0].generated < length:
            engine.step()
        read = sum(s.cached_len + 1 for s in engine.scheduler.running) * per_position
        start = time.perf_counter()
        for _ in range(steps):
            engine.step()
        out.append(((time.perf_counter() - start) / steps * 1e3, read))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=18, help="segments decoding together (default 18: a book's call)")
    p.add_argument("--lengths", default="50,200,400,600", help="generated codes at which steps are timed")
    p.add_argument("--weights", default=",".join(WEIGHT_MODES), help="weight modes, fp32 first as the baseline")
    p.add_argument("--steps", type=int, default=5, help="decode steps timed at each length")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--layers", type=int, help=argparse.SUPPRESS)      # a smaller shape, for the tests
    p.add_argument("--dim", type=int, help=argparse.SUPPRESS)
    p.add_argument("--heads", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    lengths = [int(n) for n in args.lengths.split(",")]
    modes = args.weights.split(",")
    if unknown := set(modes) - set(WEIGHT_MODES):
        raise SystemExit(f"unknown weight modes {sorted(unknown)}; choose from {', '.join(WEIGHT_MODES)}")
    if args.rows < 1 or args.steps < 1 or min(lengths) < 1:
        raise SystemExit("--rows, --steps and every length must be at least 1")
    torch.set_num_threads(args.threads)
    base = SHAPES["indextts2"]
    shape = Shape(layers=args.layers or base.layers, dim=args.dim or base.dim, heads=args.heads or base.heads)
    gpt = build_gpt(shape).eval()
    rows = make_prompts(gpt, args.rows, shape.cond_rows)
    print(f"GPT {shape.layers} x {shape.dim}, {args.rows} rows, prompts of {min(e.shape[0] for e, _ in rows)}-"
          f"{max(e.shape[0] for e, _ in rows)} positions, {torch.get_num_threads()} threads; ms per decode step")
    print(f"{'mode':<6}" + "".join(f"{f'{n} codes':>26}" for n in lengths))
    baseline = None
    for mode in modes:
        results = measure(gpt, rows, mode, lengths, args.steps)
        baseline = baseline or (results if mode == "fp32" else None)
        cells = [f"{ms:.1f} ({read / 2**30:.2f} GiB)" + (f" {baseline[i][0] / ms:.2f}x" if baseline else "")
                 for i, (ms, read) in enumerate(results)]
        print(f"{mode:<6}" + "".join(f"{c:>26}" for c in cells))
    print("(GiB: keys and values read per step; Nx: speed against fp32 in this run)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
