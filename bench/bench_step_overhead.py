"""The decode runtime's own work per step: what a step costs besides the GPT's forward pass.

On a GPU the forward replays from CUDA graphs, while the rest of a step (the
sampling, the beam bookkeeping and moves, the scheduling) runs eagerly and the
GPU waits for it: host Python plus one kernel launch per tensor operation (the
runtime's overlap, on by default on CUDA, hides it behind the next step's forward
as long as it is shorter; this bench runs the steps one by one, overlap off). This
bench makes that work visible on any machine: a narrow GPT (2 layers x 256 by
default; the full 8194-code vocabulary, so the sampling works on rows of the
real size) whose forward costs little, decoding with the official IndexTTS-2
settings (sampling: top-k 30, top-p 0.8, temperature 0.8, repetition penalty
10; 3 beams, or 1) and greedily, 1 and 16 segments at a time.

Printed per setting: ms per decode step, the forward's share (the baseline,
measured in the same steps), the rest, and the tensor operations per step
outside the forward (counted at torch's dispatcher: on a GPU each is a kernel
launch or a host-side operation).

    python bench/bench_step_overhead.py [--tokens 100] [--layers 2] [--dim 256] [--device cpu] [--threads 1]
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode, _disable_current_modes

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from indexstudio.bench.decode import Shape, build_gpt, make_prompts  # noqa: E402
from indexstudio.engines.indextts_common import DecodingOptions  # noqa: E402
from indexstudio.runtime.decode_engine import DecodeEngine  # noqa: E402
from indexstudio.runtime.device import pick_device  # noqa: E402
from indexstudio.runtime.sequence import SamplingParams  # noqa: E402


class OpCounter(TorchDispatchMode):
    """Counts the tensor operations that reach torch's dispatcher."""

    def __init__(self):
        super().__init__()
        self.ops: collections.Counter[str] = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops[str(func.overloadpacket)] += 1
        return func(*args, **(kwargs or {}))


def settings(tokens: int, stop: int) -> dict[str, SamplingParams]:
    """The official decoding and its variants, the stop token never chosen (fixed-length segments)."""
    official = DecodingOptions()
    sampled = SamplingParams(tokens, stop, do_sample=True, temperature=official.temperature, top_k=official.top_k,
                             top_p=official.top_p, repetition_penalty=official.repetition_penalty, ignore_stop=True)
    return {"greedy": SamplingParams(tokens, stop, ignore_stop=True),
            "sampled": sampled,
            f"official: {official.num_beams} beams, sampled": replace(
                sampled, num_beams=official.num_beams, length_penalty=official.length_penalty)}


def measure(engine: DecodeEngine, rows, params: SamplingParams, device: torch.device) -> tuple[float, float, float]:
    """(ms per decode step, ms of it in the forward, tensor operations per step outside the forward): a timed
    pass over `rows`, then a counted one (counting costs time itself); prefill steps are left out."""
    forward = engine.runner.decode
    spent = {"forward": 0.0, "steps": 0}

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    def timed_forward(seqs, tokens=None):
        with _disable_current_modes():        # the forward's own operations are not counted
            sync()
            start = time.perf_counter()
            logits = forward(seqs, tokens)
            sync()
        spent["forward"] += time.perf_counter() - start
        spent["steps"] += 1
        return logits

    def run(count: bool) -> tuple[float, int]:
        """Seconds in decode steps and, when counting, their operations (prefill steps left out)."""
        spent.update(forward=0.0, steps=0)
        seconds, ops = 0.0, 0
        stream = engine.stream(rows, params, seeds=list(range(len(rows))))
        while not engine.is_idle:
            steps = spent["steps"]
            counter = OpCounter() if count else contextlib.nullcontext()
            sync()
            start = time.perf_counter()
            with counter:
                engine.step()
            sync()
            if spent["steps"] > steps:
                seconds += time.perf_counter() - start
                ops += sum(counter.ops.values()) if count else 0
        list(stream)
        return seconds, ops

    engine.runner.decode = timed_forward
    try:
        seconds, _ = run(count=False)
        step_ms, forward_ms = seconds / spent["steps"] * 1e3, spent["forward"] / spent["steps"] * 1e3
        _, ops = run(count=True)
    finally:
        engine.runner.decode = forward
    return step_ms, forward_ms, ops / spent["steps"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench_step_overhead.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--tokens", type=int, default=100, help="codes per segment (default 100)")
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--dim", type=int, default=256)
    p.add_argument("--device", help="cpu, cuda, ... (default: best available)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    shape = Shape(layers=args.layers, dim=args.dim, heads=max(args.dim // 64, 1))
    gpt = build_gpt(shape).to(device)
    print(f"GPT {shape.layers} x {shape.dim}, {shape.mel_codes} codes, {device}, {torch.get_num_threads()} threads, "
          f"{args.tokens} codes per segment")
    print(f"{'setting':32s} {'segments':>8s} {'step ms':>8s} {'forward':>8s} {'rest':>8s} {'ops/step':>9s}")
    for name, params in settings(args.tokens, gpt.cfg.stop_mel_token).items():
        for segments in (1, 16):
            rows = make_prompts(gpt, segments, shape.cond_rows)
            engine = DecodeEngine(gpt, max_batch=segments * params.num_beams,
                                  max_len=max(e.shape[0] for e, _ in rows) + args.tokens, overlap=False)
            engine.generate(rows, replace(params, max_new_tokens=4), seeds=list(range(segments)))     # warm-up
            step, forward, ops = measure(engine, rows, params, device)
            print(f"{name:32s} {segments:8d} {step:8.2f} {forward:8.2f} {step - forward:8.2f} {ops:9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
