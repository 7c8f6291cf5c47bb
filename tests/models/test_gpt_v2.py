"""UnifiedVoice v2 (conditioning, emotion vectors, prompt, latents) and KV-cached decoding."""
from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from indexstudio.conformance.runner import run_folder
from indexstudio.models import gpt2
from indexstudio.models.codes import remove_long_silence
from indexstudio.models.folder import ModelFolder, ModelFolderError
from indexstudio.models.gpt2 import TRANSPOSED_ROWS, Conv1D, KVCache, is_out_in, store_out_in
from indexstudio.models.unified_voice import MelPrompt, load_unified_voice_v2, read_gpt_state
from indexstudio.runtime.decoding import DecodingConfig, generate, logits_processors

GOLDEN = Path(__file__).resolve().parents[2].parent / "shared" / "golden"
V2 = GOLDEN / "indextts2"


@pytest.fixture(scope="module")
def v2_model():
    return load_unified_voice_v2(ModelFolder(V2))


@pytest.fixture(scope="module")
def d5_prompt(v2_model):
    t = load_file(V2 / "cases" / "d5_gpt_inference_speech.safetensors")
    spk = t["in.spk_cond_emb"]
    with torch.inference_mode():
        latent = v2_model.get_conditioning(spk, torch.tensor([spk.shape[-1]]))
        conds = v2_model.conditioning_prefix(latent, t["in.emo_vec"])
    return conds, t["in.text_tokens"]


def test_golden_gpt_cases_v2() -> None:
    expected = {"d1_gpt_get_conditioning", "d2_gpt_emovec", "d3_emotion_vector_mixing", "d4_gpt_prepare_inputs",
                "d5_gpt_inference_speech", "d6_gpt_forward_latent", "e1_remove_long_silence"}
    results = run_folder(V2, only=["d", "e1"])
    assert {r.name for r in results} == expected
    failed = [f"{r.name}: {r.worst}" for r in results if not r.passed]
    assert not failed, failed


def test_golden_remove_long_silence_v1_5() -> None:
    results = run_folder(GOLDEN / "indextts1_5", only=["e1"])
    assert [r.name for r in results] == ["e1_remove_long_silence"]
    assert results[0].passed, results[0].worst


def test_cached_steps_agree_with_full_recompute(v2_model, d5_prompt) -> None:
    """Each greedy code must also be the argmax of a cache-free pass over the whole sequence."""
    conds, text = d5_prompt
    stop = v2_model.cfg.stop_mel_token
    cfg = DecodingConfig(max_new_tokens=20, stop_token=stop, repetition_penalty=10.0)
    with torch.inference_mode():
        prompt = v2_model.prepare_gpt_inputs(conds, text)
        codes = generate(v2_model, prompt, cfg)[0]
        assert codes.numel() > 3
        fed = [v2_model.embed_generated(codes[i:i + 1], i + 1) for i in range(codes.numel() - 1)]
        hidden = v2_model.gpt(torch.cat([prompt.embeds, *fed], dim=1))
        logits = v2_model.mel_head(v2_model.final_norm(hidden[0, prompt.embeds.shape[1] - 1:]))
        procs = logits_processors(cfg)
        for i, code in enumerate(codes.tolist()):
            seen = torch.cat((prompt.input_ids[0], codes[:i])).unsqueeze(0)
            assert int(procs(seen, logits[i:i + 1]).argmax()) == code, f"step {i}"


def test_left_padded_batch_decodes_like_single_rows(v2_model, d5_prompt) -> None:
    conds, text = d5_prompt
    stop = v2_model.cfg.stop_mel_token
    short = torch.cat((text[:, :9], torch.full((1, text.shape[1] - 9), 1, dtype=text.dtype)), dim=1)
    cfg = DecodingConfig(max_new_tokens=16, stop_token=stop, repetition_penalty=10.0)
    with torch.inference_mode():
        batch = generate(v2_model, v2_model.prepare_gpt_inputs(conds, torch.cat((text, short))), cfg)
        alone = [generate(v2_model, v2_model.prepare_gpt_inputs(conds, row), cfg)[0] for row in (text, text[:, :9])]
    assert batch.shape[0] == 2
    for row, single in zip(batch, alone):
        assert torch.equal(row[:single.numel()], single)
        assert bool((row[single.numel():] == stop).all())


class _HFTokenLM:
    """StepLM over a tiny HF GPT-2 whose "cache" slots hold token ids; logits recomputed in full."""

    def __init__(self, model):
        self.model = model

    def new_cache(self, batch: int, max_len: int) -> KVCache:
        return KVCache([torch.zeros(batch, 2, 1, max_len, 1)])

    def next_logits(self, embeds, cache, input_pos, mask):
        cache.layers[0][:, 0, 0, input_pos, 0] = embeds[..., 0]      # the keys of head 0
        ids = cache.layers[0][:, 0, 0, :int(input_pos[-1]) + 1, 0].long()
        return self.model(ids).logits[:, -1].float()

    def embed_generated(self, tokens, generated):
        return tokens.float()[:, None, None]


@pytest.mark.parametrize("settings", [
    {"repetition_penalty": 1.3},
    {"num_beams": 3, "length_penalty": 0.0, "repetition_penalty": 2.0},
    {"num_beams": 4, "length_penalty": 1.0, "num_return_sequences": 2},
    {"num_beams": 3, "length_penalty": 1.5, "early_stopping": True},
    {"num_beams": 3, "length_penalty": -0.5, "early_stopping": "never", "num_return_sequences": 3},
    {"do_sample": True, "temperature": 0.7, "top_k": 5, "top_p": 0.9, "num_return_sequences": 2},
    {"do_sample": True, "num_beams": 3, "top_k": 4, "top_p": 0.95, "repetition_penalty": 1.5},
])
def test_search_matches_transformers_generate(settings: dict) -> None:
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    vocab, stop = 24, 7
    model = transformers.GPT2LMHeadModel(transformers.GPT2Config(
        vocab_size=vocab, n_positions=64, n_embd=16, n_layer=1, n_head=2, bos_token_id=stop, eos_token_id=stop)).eval()
    with torch.no_grad():
        model.lm_head.weight.mul_(40)            # peaked distributions: stop tokens do get chosen
    ids = torch.randint(0, vocab, (2, 5))
    prompt = MelPrompt(ids.float()[..., None], ids, torch.ones_like(ids))
    torch.manual_seed(1)
    mine = generate(_HFTokenLM(model), prompt, DecodingConfig(max_new_tokens=12, stop_token=stop, **settings))
    hf_kw = {"top_k": 50, "top_p": 1.0, "temperature": 1.0, "do_sample": False, **settings}
    torch.manual_seed(1)
    with torch.no_grad():
        ref = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=12, eos_token_id=stop,
                             pad_token_id=stop, **hf_kw)[:, ids.shape[1]:]
    assert mine.shape == ref.shape and torch.equal(mine, ref), (mine, ref)


def test_loaded_gpt_keeps_its_projections_out_in_with_the_checkpoint_values(v2_model) -> None:
    convs = {name: m for name, m in v2_model.named_modules() if isinstance(m, Conv1D)}
    assert len(convs) == 4 * v2_model.cfg.layers
    assert all(is_out_in(conv.weight) for conv in convs.values())
    state = read_gpt_state(ModelFolder(V2).path("gpt"))
    for name, conv in convs.items():
        stored = state[f"{name}.weight"]
        assert conv.weight.shape == stored.shape            # the checkpoint's (in, out) shape and values
        assert torch.equal(conv.weight, stored)
        assert v2_model.state_dict()[f"{name}.weight"].shape == stored.shape


CPU_KERNELS = ["mkl"] + (["onednn"] if gpt2.onednn_linear_available() else [])


@pytest.mark.parametrize("kernel", CPU_KERNELS)
@pytest.mark.parametrize("rows", [1, 3, TRANSPOSED_ROWS[0], 16, TRANSPOSED_ROWS[1], TRANSPOSED_ROWS[1] + 1, 100])
def test_out_in_projection_computes_the_in_out_product(rows: int, kernel: str, monkeypatch) -> None:
    """Each kernel an (out, in) Conv1D picks by CPU_GEMM and row count gives x @ W + b in the input's shape,
    contiguous, in float32 and bfloat16, for strided inputs too, and with autograd on (the plain product)."""
    monkeypatch.setattr(gpt2, "CPU_GEMM", kernel)
    torch.manual_seed(0)
    plain = Conv1D(48, 144)
    with torch.no_grad():
        plain.weight.normal_()
        plain.bias.normal_()
    out_in = Conv1D(48, 144)
    out_in.load_state_dict(plain.state_dict())
    store_out_in(out_in)
    assert is_out_in(out_in.weight) and not is_out_in(plain.weight)
    x = torch.randn(rows, 1, 48)
    expected = x @ plain.weight + plain.bias
    with torch.no_grad():
        got = out_in(x)
        assert got.shape == (rows, 1, 144) and got.is_contiguous()
        torch.testing.assert_close(got, plain(x), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
        strided = torch.randn(48, rows).t()
        torch.testing.assert_close(out_in.project(strided), strided @ plain.weight + plain.bias, rtol=1e-5, atol=1e-5)
        half = copy.deepcopy(out_in).to(torch.bfloat16)
        assert is_out_in(half.weight)
        torch.testing.assert_close(half(x.bfloat16()).float(), expected, rtol=0.05, atol=0.3)
    with_grad = out_in(x)
    with_grad.sum().backward()
    assert out_in.weight.grad is not None
    torch.testing.assert_close(with_grad.detach(), expected, rtol=1e-5, atol=1e-5)


def test_the_cpu_kernel_is_chosen_by_the_environment(monkeypatch) -> None:
    """$INDEXSTUDIO_CPU_GEMM picks the CPU kernel; a misspelt one is refused by name."""
    monkeypatch.setenv("INDEXSTUDIO_CPU_GEMM", "mkl")
    assert gpt2._cpu_gemm() == "mkl"
    monkeypatch.setenv("INDEXSTUDIO_CPU_GEMM", "openblas")
    with pytest.raises(ValueError, match="INDEXSTUDIO_CPU_GEMM must be onednn or mkl; got 'openblas'"):
        gpt2._cpu_gemm()
    monkeypatch.delenv("INDEXSTUDIO_CPU_GEMM")
    assert gpt2._cpu_gemm() == ("onednn" if "onednn" in CPU_KERNELS else "mkl")


def test_remove_long_silence_keeps_short_runs() -> None:
    silent, stop = 52, 257
    row = torch.tensor([[5] + [silent] * 31 + [6, 7, stop, 9]])
    codes, lens = remove_long_silence(row, stop_token=stop)
    assert lens.tolist() == [13]
    assert codes.tolist() == [[5] + [silent] * 10 + [6, 7]]
    untouched, lens = remove_long_silence(torch.tensor([[1, silent, 2, stop, 3]]), stop_token=stop)
    assert untouched.tolist() == [[1, silent, 2]] and lens.tolist() == [3]


def test_decoding_config_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="num_return_sequences"):
        DecodingConfig(max_new_tokens=4, stop_token=1, num_beams=2, num_return_sequences=3)
    with pytest.raises(ValueError, match="max_new_tokens"):
        DecodingConfig(max_new_tokens=0, stop_token=1)


def test_kv_cache_overflow_is_reported(v2_model) -> None:
    cache = v2_model.new_cache(1, 4)
    x = torch.zeros(1, 5, v2_model.cfg.model_dim)
    with pytest.raises(ValueError, match="exceeds the KV cache"):
        v2_model.gpt(x, cache, torch.arange(5), None)


def test_kv_cache_grows_by_blocks_and_keeps_what_was_written(v2_model) -> None:
    gpt = v2_model.gpt
    grown, whole = KVCache.allocate(gpt.cfg, 2, 40, block=8), KVCache.allocate(gpt.cfg, 2, 40, block=40)
    assert grown.capacity == 0 and whole.capacity == 0
    x = torch.randn(2, 13, v2_model.cfg.model_dim, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        for cache in (grown, whole):
            first = gpt(x[:, :5], cache, torch.arange(5), None)            # prompt
            steps = [gpt(x[:, i:i + 1], cache, torch.tensor([i]), None) for i in range(5, 13)]   # one at a time
        assert (grown.capacity, whole.capacity) == (16, 40)               # 13 positions: two blocks of 8
        expected = gpt(x)                                                  # no cache at all
    assert torch.allclose(first, expected[:, :5], atol=1e-5)
    assert torch.allclose(torch.cat(steps, dim=1), expected[:, 5:], atol=1e-5)
    assert all(torch.equal(a[:, :, :, :13], b[:, :, :, :13]) for a, b in zip(grown.layers, whole.layers))


def test_beam_search_cache_follows_the_decoded_length(v2_model, d5_prompt) -> None:
    caches = []
    new_cache = v2_model.new_cache

    class Spy:          # the model, recording the caches its searches allocate
        def __getattr__(self, name):
            return getattr(v2_model, name)

        def new_cache(self, batch, max_len):
            caches.append(new_cache(batch, max_len))
            return caches[-1]
    conds, text = d5_prompt
    cfg = DecodingConfig(max_new_tokens=1500, stop_token=v2_model.cfg.stop_mel_token, num_beams=3,
                         repetition_penalty=10.0, length_penalty=0.0)
    with torch.inference_mode():
        prompt = v2_model.prepare_gpt_inputs(conds, text)
        codes = generate(Spy(), prompt, cfg)
    length = prompt.embeds.shape[1]
    assert caches[0].max_len == length + 1500 and caches[0].batch_size == 3
    assert caches[0].capacity <= -(-(length + codes.shape[1]) // 256) * 256 < caches[0].max_len


def _folder(root: Path, gpt_state: object | None) -> ModelFolder:
    root.mkdir()
    shutil.copy(V2 / "config.yaml", root / "config.yaml")
    if gpt_state is not None:
        torch.save(gpt_state, root / "gpt.pth")
    return ModelFolder(root)


def test_bad_gpt_checkpoints_are_reported(tmp_path: Path) -> None:
    with pytest.raises(ModelFolderError, match="not a UnifiedVoice state dict"):
        load_unified_voice_v2(_folder(tmp_path / "foreign", {"weight": torch.zeros(2)}))
    state = torch.load(V2 / "gpt.pth", map_location="cpu", weights_only=True)
    state["mel_head.bias"] = torch.zeros(3)
    with pytest.raises(ModelFolderError, match="do not match"):
        load_unified_voice_v2(_folder(tmp_path / "wrong_shape", {"model": state}))
    with pytest.raises(ModelFolderError, match="gpt.pth"):
        load_unified_voice_v2(_folder(tmp_path / "missing", None))
