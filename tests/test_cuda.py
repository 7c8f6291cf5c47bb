"""What only a CUDA GPU runs: the IndexTTS-2 stack against the golden data on the GPU, CUDA-graph decoding,
half-precision GPT and flow matching, compiled flow matching replayed from CUDA graphs, flat GPU memory.
Skipped where torch sees no CUDA device (CI); BENCHMARKS.md says where they last ran.  The runtime's own
tests (tests/runtime) also run on CUDA there."""
from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from conftest import GOLDEN
from indexstudio.conformance.recorder import Recorder
from indexstudio.conformance.runner import check, load_case
from indexstudio.conformance.v2.e2e import official_options
from indexstudio.engines.indextts2 import IndexTTS2
from indexstudio.engines.indextts_common import RuntimeSettings
from indexstudio.models.folder import ModelFolder
from indexstudio.runtime.decode_engine import DecodeEngine
from indexstudio.runtime.sequence import SamplingParams

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

V2 = GOLDEN / "indextts2"


@pytest.fixture
def exact_float32():
    """Plain float32 convolutions and matmuls (no TF32), so the GPU computes what the golden data holds."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def _e2e(dtype: torch.dtype, recorded_noise: bool = True, runtime: RuntimeSettings = RuntimeSettings()):
    """The golden end-to-end case run on CUDA, its text ids taken from the case: (case, recorded outputs).

    Half precision may decode other codes, so other lengths than the recorded noise has: it draws its own."""
    entry = next(c for c in json.loads((V2 / "manifest.json").read_text())["cases"] if c["name"] == "i1_e2e_emo_audio")
    case = load_case(V2, entry)
    model = IndexTTS2(ModelFolder(V2), device="cuda", gpt_dtype=dtype, runtime=runtime)
    ids = [case.expected[f"gpt_inference_speech#{k}.text_tokens"][0].tolist()
           for k in range(sum(key.endswith(".codes_raw") for key in case.expected))]
    model.parts = lambda text, opts: [(row, None) for row in ids]     # the front-end is tested on the CPU
    opts = official_options(case.args)
    opts = dataclasses.replace(opts, emo_audio=str(case.file(opts.emo_audio)))
    recorder = Recorder({k: v.cuda() for k, v in case.inputs.items()})
    with torch.inference_mode():
        model.infer(case.file(case.args["spk_audio_prompt"]), case.args["text"], opts, seed=0,
                    noise=recorder.noise if recorded_noise else None, trace=recorder)
    return case, recorder.outputs


def test_golden_end_to_end_case_passes_on_cuda(exact_float32) -> None:
    case, outputs = _e2e(torch.float32)
    passed, worst = check(case, outputs)
    assert passed, worst


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_gpt_renders(dtype) -> None:
    case, outputs = _e2e(dtype, recorded_noise=False)
    final = outputs["final.wav_int16"]
    assert final.dtype == torch.int16 and final.shape[0] > 0 and final.abs().max() > 0
    for k in range(2):
        codes = outputs[f"gpt_inference_speech#{k}.codes_raw"]
        assert codes.numel() > 0 and int(codes.max()) < 8194
        assert torch.isfinite(outputs[f"bigvgan#{k}.out"]).all()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_flow_matching_stays_close_to_float32(exact_float32, dtype) -> None:
    _, exact = _e2e(torch.float32)
    _, half = _e2e(torch.float32, runtime=RuntimeSettings(s2mel_dtype=dtype))
    for k in range(2):
        assert torch.equal(exact[f"gpt_inference_speech#{k}.codes_raw"], half[f"gpt_inference_speech#{k}.codes_raw"])
        a, b = exact[f"cfm_inference#{k}.out"], half[f"cfm_inference#{k}.out"]
        assert b.dtype == torch.float32 and float((a - b).norm() / a.norm()) < 0.05


def test_compiled_flow_matching_replays_cuda_graphs_and_stays_close(exact_float32) -> None:
    """`--compile` on CUDA: one graph per padded width (64-frame steps), replayed as CUDA graphs; the valid
    frames equal the eager ones within float32 reordering, the padding comes back zero."""
    _, exact = _e2e(torch.float32)
    _, compiled = _e2e(torch.float32, runtime=RuntimeSettings(compile_s2mel=True))
    for k in range(2):
        codes = f"gpt_inference_speech#{k}.codes_raw"
        assert torch.equal(exact[codes], compiled[codes])
        a, b = exact[f"cfm_inference#{k}.out"], compiled[f"cfm_inference#{k}.out"]
        assert b.shape[-1] % 64 == 0 and b.shape[-1] - a.shape[-1] < 64
        assert float((a - b[..., :a.shape[-1]]).norm() / a.norm()) < 1e-3
        assert b[..., a.shape[-1]:].abs().max().item() == 0.0


def _gpt_and_rows(count: int, device: str = "cuda"):
    from indexstudio.bench.decode import make_prompts
    from indexstudio.models.unified_voice import load_unified_voice_v2
    gpt = load_unified_voice_v2(ModelFolder(V2)).to(device)
    rows = [(e.to(device), ids.to(device)) for e, ids in make_prompts(gpt, count, cond_rows=34)]
    return gpt, rows


@pytest.mark.parametrize("cache_block", [256, 16])
def test_cuda_graph_decoding_equals_eager_decoding(cache_block: int) -> None:
    """Also while the cache grows block by block: new cache tensors make the graphs be captured again."""
    gpt, rows = _gpt_and_rows(6)
    params = SamplingParams(40, gpt.cfg.stop_mel_token, repetition_penalty=10.0)
    eager = DecodeEngine(gpt, max_batch=4, max_len=160, cuda_graphs=False).generate(rows, params)
    engine = DecodeEngine(gpt, max_batch=4, max_len=160, cache_block=cache_block)
    graphed = engine.generate(rows, params)
    assert engine.runner.graphs is not None and engine.runner.graphs.graphs      # steps were replayed from graphs
    assert engine.runner.graphs.cache_version == engine.cache.version
    assert [g.tolist() for g in graphed] == [e.tolist() for e in eager]


def test_gpu_memory_does_not_grow_with_the_number_of_segments() -> None:
    gpt, rows = _gpt_and_rows(8)
    engine = DecodeEngine(gpt, max_batch=4, max_len=160)
    params = SamplingParams(30, gpt.cfg.stop_mel_token, ignore_stop=True)
    peaks = []
    for repeat in (1, 8):           # 8 then 64 segments through the same engine
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        engine.generate(rows * repeat, params)
        torch.cuda.synchronize()
        peaks.append(torch.cuda.max_memory_allocated())
    assert peaks[1] <= 1.05 * peaks[0], peaks


def test_the_model_keeps_one_decode_engine_on_cuda() -> None:
    from indexstudio.runtime.decode_engine import engine_for
    gpt, rows = _gpt_and_rows(3)
    engine = engine_for(gpt, 4, 160, sequences=1)
    params = SamplingParams(20, gpt.cfg.stop_mel_token, ignore_stop=True)
    engine.generate(rows, params)
    captured = dict(engine.runner.graphs.graphs)
    assert captured and engine_for(gpt, 2, 100) is engine and engine.runner.graphs.graphs == captured


SAMPLED = {"do_sample": True, "temperature": 0.8, "top_k": 30, "top_p": 0.8, "repetition_penalty": 10.0}


@pytest.mark.parametrize("mixed", [False, True], ids=["greedy", "greedy-and-sampled"])
def test_overlapped_decode_steps_never_wait_for_the_gpu(mixed) -> None:
    """While the batch stays the same, an overlapped step queues the next forward and sampling, then waits only
    for the previous step's codes, on an event: no stream synchronisation (a copy from pageable memory,
    `.item()`, `.tolist()` of a device tensor), which torch's sync debug mode turns into an error.  Mixed
    settings sample row groups through index tensors copied to the GPU.  The codes are those of the
    step-by-step engine."""
    gpt, rows = _gpt_and_rows(4)
    greedy = SamplingParams(30, gpt.cfg.stop_mel_token, ignore_stop=True)
    params = [dataclasses.replace(greedy, **SAMPLED) if mixed and i % 2 else greedy for i in range(len(rows))]
    seeds = [11, 12, 13, 14]
    expected = DecodeEngine(gpt, max_batch=4, max_len=160, overlap=False).generate(rows, params, seeds)
    engine = DecodeEngine(gpt, max_batch=4, max_len=160)
    assert engine.overlap
    engine.generate(rows, params, seeds)        # captures the graphs (capturing synchronises)
    stream = engine.stream(rows, params, seeds)
    engine.step()                               # the prefill: its host-to-device copies may wait
    engine.step()                               # the first decode step, queued
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(20):
            engine.step()
            assert engine._ahead is not None
    finally:
        torch.cuda.set_sync_debug_mode("default")
    got = dict(stream)
    assert [got[i].tolist() for i in range(len(rows))] == [e.tolist() for e in expected]
