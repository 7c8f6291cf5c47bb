"""Which CPU kernel multiplies the GPT's projections fastest on this machine (`INDEXSTUDIO_CPU_GEMM`).

A CPU decode step is one pass over the GPT's weights, and which library does
that pass decides most of its time: MKL's kernels were the fast ones on the
Intel Xeon of the early benchmarks, oneDNN's linear is much faster on an AMD
EPYC. This bench times one pass over the four projections of every block of the
full-size IndexTTS-2 GPT (random weights stored (out, in), as the loaders keep
them) through `Conv1D.project` with each kernel choice, at decode batch sizes
(1 row = greedy batch 1, 3 = one segment's beams, 18 = a book's call) and at a
prompt's size, float32; the memory-read floor (a sum over the same bytes) is the
baseline of the printed ratios. Set `INDEXSTUDIO_CPU_GEMM` to the faster kernel
where the default (oneDNN where torch has it) is not.

    python bench/bench_cpu_gemm.py [--rows 1,3,8,18,48,100] [--threads 2] [--repeats 3]
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from indexstudio.bench.decode import SHAPES  # noqa: E402
from indexstudio.models import gpt2  # noqa: E402
from indexstudio.models.gpt2 import Conv1D, store_out_in  # noqa: E402


def projections(dim: int, layers: int) -> list[Conv1D]:
    """The (in, out) projections of `layers` GPT-2 blocks of width `dim`, N(0, 0.02), stored (out, in)."""
    convs = [Conv1D(n_in, n_out) for _ in range(layers)
             for n_in, n_out in ((dim, 3 * dim), (dim, dim), (dim, 4 * dim), (4 * dim, dim))]
    for conv in convs:
        with torch.no_grad():
            conv.weight.normal_(0, 0.02)
        store_out_in(conv)
    return convs


def cpu_name() -> str:
    """The CPU's model name (Linux), else what the platform module knows."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def best_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) * 1e3


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", default="1,3,8,18,48,100", help="rows per product (comma-separated)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    p.add_argument("--repeats", type=int, default=3, help="timed passes per measure; the best counts")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    shape = SHAPES["indextts2"]
    convs = projections(shape.dim, shape.layers)
    weight_bytes = sum(c.weight.numel() * c.weight.element_size() for c in convs)
    flat = torch.randn(weight_bytes // 4)
    floor = best_ms(flat.sum, args.repeats)
    kernels = ["mkl"] + (["onednn"] if gpt2.onednn_linear_available() else [])
    print(f"{cpu_name()}, torch {torch.__version__}, {torch.get_num_threads()} "
          f"threads; {len(convs)} projections, {weight_bytes / 1e9:.2f} GB float32; default kernel "
          f"{gpt2.CPU_GEMM}")
    print(f"memory-read floor (sum over the same bytes): {floor:.1f} ms = {weight_bytes / floor / 1e6:.1f} GB/s")
    print("rows | " + " | ".join(f"{k} ms (x floor)" for k in kernels))
    saved = gpt2.CPU_GEMM
    try:
        for rows in map(int, args.rows.split(",")):
            inputs = {n: torch.randn(rows, n) for n in {c.weight.shape[0] for c in convs}}
            cells = []
            for kernel in kernels:
                gpt2.CPU_GEMM = kernel
                with torch.inference_mode():
                    ms = best_ms(lambda: [c.project(inputs[c.weight.shape[0]]) for c in convs], args.repeats)
                cells.append(f"{ms:.1f} ({ms / floor:.2f}x)")
            print(f"{rows} | " + " | ".join(cells), flush=True)
    finally:
        gpt2.CPU_GEMM = saved


if __name__ == "__main__":
    main()
