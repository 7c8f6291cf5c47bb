"""bench/bench_step_overhead.py at a tiny shape: its counts, and what they say about the sampler.

A decode step's work outside the forward is eager work a GPU waits for (one
kernel launch per tensor operation); sampling more rows must not add whole
samplings per row, only each row's own random draw.
"""
import sys
from dataclasses import replace

import torch
from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import bench_step_overhead as bench  # noqa: E402


def test_step_work_is_counted_and_sampling_adds_at_most_two_operations_per_row() -> None:
    torch.set_num_threads(1)
    shape = bench.Shape(layers=1, dim=64, heads=1)
    gpt = bench.build_gpt(shape)
    params = bench.settings(12, gpt.cfg.stop_mel_token)
    assert set(params) == {"greedy", "sampled", "official: 3 beams, sampled"}
    ops = {}
    for name in ("greedy", "sampled"):
        for segments in (1, 16):
            rows = bench.make_prompts(gpt, segments, shape.cond_rows)
            engine = bench.DecodeEngine(gpt, max_batch=segments, max_len=200)
            step, forward, ops[name, segments] = bench.measure(engine, rows, params[name], torch.device("cpu"))
            assert step > forward > 0 and ops[name, segments] > 0
            assert engine.is_idle and engine.runner.decode.__func__ is type(engine.runner).decode
    per_row = ((ops["sampled", 16] - ops["greedy", 16]) - (ops["sampled", 1] - ops["greedy", 1])) / 15
    assert 0 < per_row <= 2, f"{per_row:.1f} sampling operations per extra row"
    official = params["official: 3 beams, sampled"]
    assert official.num_beams == 3 and official.do_sample and official == replace(
        params["sampled"], num_beams=3, length_penalty=0.0)
