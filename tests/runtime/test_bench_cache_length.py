"""bench/bench_cache_length.py at a tiny shape: it times steps at each length, and the cache it reports
follows the rows' lengths and the mode's dtype (bf16 / int8 keep keys and values in bfloat16)."""
import sys

import torch
from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import bench_cache_length as bench  # noqa: E402


def test_the_cache_read_per_step_grows_with_the_length_and_halves_in_bf16(capsys) -> None:
    torch.set_num_threads(1)
    shape = bench.Shape(layers=1, dim=64, heads=1)
    gpt = bench.build_gpt(shape).eval()
    rows = bench.make_prompts(gpt, 3, shape.cond_rows)
    exact = bench.measure(gpt, rows, "fp32", [4, 12], steps=2)
    half = bench.measure(gpt, rows, "bf16", [4, 12], steps=2)
    assert all(ms > 0 for ms, _ in exact + half)
    prompts = sum(e.shape[0] for e, _ in rows)
    per_position = 2 * 64 * 4                           # one layer's keys and values, float32
    assert [read for _, read in exact] == [(prompts + 3 * n) * per_position for n in (4, 12)]
    assert [read for _, read in half] == [read // 2 for _, read in exact]
    assert bench.main(["--rows", "2", "--lengths", "3,6", "--steps", "1", "--threads", "1",
                       "--layers", "1", "--dim", "64", "--heads", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[2:5]] == ["fp32", "bf16", "int8"]
    assert "x" in lines[3].split()[-1] and lines[2].count("GiB") == 2
