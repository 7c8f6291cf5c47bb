"""`indexstudio bench decode` end to end at a tiny shape (format, not timing)."""
import re
import subprocess
import sys


def test_bench_decode_runs_and_ends_with_the_speedup() -> None:
    r = subprocess.run([sys.executable, "-m", "indexstudio", "bench", "decode", "--layers", "2", "--dim", "64",
                        "--heads", "4", "--segments", "3", "--tokens", "4", "--max-batch", "2", "--weights", "int8",
                        "--threads", "1"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert re.fullmatch(r"speedup \d+\.\d\d", lines[-1]), lines[-1]
    assert any(line.startswith("reference (HF GPT2Model") for line in lines)
    assert any("int8 codes equal to fp32's" in line for line in lines)
    assert any(re.match(r"ours int8, batch 1 \(one segment after another\): 12 codes in", line) for line in lines)


def test_bench_decode_times_a_compiled_step() -> None:
    r = subprocess.run([sys.executable, "-m", "indexstudio", "bench", "decode", "--layers", "2", "--dim", "64",
                        "--heads", "4", "--segments", "2", "--tokens", "4", "--max-batch", "2", "--compile",
                        "--threads", "1"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert any(re.match(r"ours fp32 compiled, continuous batching \(2 slots\): 8 codes in", line) for line in lines)
    assert "greedy codes equal to the reference's: 100.0%" in lines
    assert re.fullmatch(r"speedup \d+\.\d\d", lines[-1]), lines[-1]


def test_bench_decode_compiles_a_bf16_step_on_plain_copies() -> None:
    """torch.compile cannot trace the oneDNN-packed bf16 copies of eager CPU steps: a compiled step gets plain
    ones."""
    r = subprocess.run([sys.executable, "-m", "indexstudio", "bench", "decode", "--layers", "2", "--dim", "64",
                        "--heads", "4", "--segments", "2", "--tokens", "4", "--max-batch", "2", "--compile",
                        "--weights", "bf16", "--threads", "1"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert any(re.match(r"ours bf16 compiled, continuous batching \(2 slots\): 8 codes in", line) for line in lines)
    assert re.fullmatch(r"speedup \d+\.\d\d", lines[-1]), lines[-1]


def test_bench_decode_beam_search_against_the_reference_beam_loop() -> None:
    """--beams: HF's beam loop (cache reordered every step) against the runtime's beams, same codes."""
    args = [sys.executable, "-m", "indexstudio", "bench", "decode", "--layers", "2", "--dim", "64", "--heads", "4",
            "--segments", "3", "--tokens", "6", "--beams", "3", "--threads", "1"]
    r = subprocess.run([*args, "--max-batch", "6"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert "(beam search over 3 beams)" in lines[0]
    assert any(re.match(r"ours fp32, batch 1 \(one segment after another\): 18 codes in", line) for line in lines)
    assert any(re.match(r"ours fp32, continuous batching \(6 slots\): 18 codes in", line) for line in lines)
    assert "beam search over 3 beams codes equal to the reference's: 100.0%" in lines
    assert re.fullmatch(r"speedup \d+\.\d\d", lines[-1]), lines[-1]
    r = subprocess.run([*args, "--max-batch", "2"], capture_output=True, text=True, timeout=300)
    assert r.returncode != 0 and "--max-batch 2 cannot hold one segment's 3 beams" in r.stderr


def test_bench_decode_against_a_batched_reference() -> None:
    """--reference-batch: IndexTTS-1.5's infer_fast way (a bucket as one padded batch), the same beam codes."""
    r = subprocess.run([sys.executable, "-m", "indexstudio", "bench", "decode", "--model", "indextts1_5",
                        "--layers", "2", "--dim", "64", "--heads", "4", "--segments", "5", "--tokens", "6",
                        "--beams", "3", "--max-batch", "6", "--reference-batch", "2", "--threads", "1"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert any(re.match(r"reference \(decoding\.generate, 2 segments at a time as one left-padded batch.*\): "
                        r"30 codes \(5 segments\)", line) for line in lines), lines
    assert "beam search over 3 beams codes equal to the reference's: 100.0%" in lines
    assert re.fullmatch(r"speedup \d+\.\d\d", lines[-1]), lines[-1]


def test_the_references_keep_the_official_weight_layout() -> None:
    """The runtime's GPT stores its projections (out, in), as the loaders do; both references get the official
    (in, out) storage of the same values, so that they run the official kernels."""
    import torch

    from indexstudio.bench.decode import HFReference, Shape, build_gpt, with_official_layout
    from indexstudio.models.gpt2 import Conv1D, is_out_in
    gpt = build_gpt(Shape(layers=2, dim=64, heads=4, mel_codes=64, text_tokens=80))
    ours = [m.weight for m in gpt.gpt.modules() if isinstance(m, Conv1D)]
    assert len(ours) == 8 and all(is_out_in(w) for w in ours)
    official = [m.weight for m in with_official_layout(gpt).gpt.modules() if isinstance(m, Conv1D)]
    hf = [w for name, w in HFReference(gpt, 32).model.named_parameters() if name.endswith(("c_attn.weight",
          "c_proj.weight", "c_fc.weight"))]
    for weights in (official, hf):
        assert len(weights) == 8
        assert all(w.is_contiguous() and torch.equal(w, o) for w, o in zip(weights, ours))
