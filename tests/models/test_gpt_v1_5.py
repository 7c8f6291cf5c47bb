"""UnifiedVoice of IndexTTS-1.5: mel conditioning, cache-free decoding semantics, teacher-forced latents."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from indexstudio.conformance.runner import run_folder
from indexstudio.models.folder import ModelFolder, ModelFolderError
from indexstudio.models.unified_voice_v1_5 import load_unified_voice_v1_5
from indexstudio.runtime.decoding import DecodingConfig, generate, logits_processors

GOLDEN = Path(__file__).resolve().parents[2].parent / "shared" / "golden"
V15 = GOLDEN / "indextts1_5"


@pytest.fixture(scope="module")
def model():
    return load_unified_voice_v1_5(ModelFolder(V15))


@pytest.fixture(scope="module")
def d3_inputs(model):
    t = load_file(V15 / "cases" / "d3_gpt_forward_latent.safetensors")
    with torch.inference_mode():
        conds = model.get_conditioning(t["in.cond_mel"], t["in.cond_mel_lengths"])
    return conds, t["in.text_tokens"], t["in.codes"]


def test_golden_gpt_cases_v1_5() -> None:
    results = run_folder(V15, only=["d1", "d2", "d3"])
    assert sorted(r.name for r in results) == ["d1_gpt_get_conditioning", "d2_gpt_inference_speech",
                                               "d3_gpt_forward_latent"]
    failed = [f"{r.name}: {r.worst}" for r in results if not r.passed]
    assert not failed, failed


def test_decoding_matches_cache_free_pass_with_contiguous_mel_positions(model, d3_inputs) -> None:
    """1.5 re-embeds [start_mel, codes...] at mel positions 0, 1, 2, ... every step (no cache)."""
    conds, text, _ = d3_inputs
    cfg = DecodingConfig(max_new_tokens=12, stop_token=model.cfg.stop_mel_token, repetition_penalty=10.0)
    with torch.inference_mode():
        prompt = model.prepare_gpt_inputs(conds, text)
        codes = generate(model, prompt, cfg)[0]
        assert codes.numel() > 3
        mel = torch.cat((torch.tensor([model.cfg.start_mel_token]), codes[:-1]))
        mel_emb = model.mel_embedding(mel) + model.mel_pos_embedding(mel.numel())
        hidden = model.gpt(torch.cat((prompt.embeds[:, :-1], mel_emb.unsqueeze(0)), dim=1))
        logits = model.mel_head(model.final_norm(hidden[0, -mel.numel():]))
    procs = logits_processors(cfg)
    for i, code in enumerate(codes.tolist()):
        seen = torch.cat((prompt.input_ids[0], codes[:i])).unsqueeze(0)
        assert int(procs(seen, logits[i:i + 1]).argmax()) == code, f"step {i}"


def test_latent_pass_keeps_one_code_past_code_lens(model, d3_inputs) -> None:
    """Official wav_lengths = code_lens * 1024 keep code `code_lens`; later ones become stop tokens."""
    conds, text, codes = d3_inputs
    stop = model.cfg.stop_mel_token
    n = codes.shape[1] - 3
    lens = torch.tensor([n])
    noisy = codes.clone()
    noisy[0, n + 1:] = torch.tensor([3, 4])
    kept = codes.clone()
    kept[0, n + 1:] = stop
    with torch.inference_mode():
        got = model(conds, text, noisy, lens)
        assert got.shape == (1, codes.shape[1], model.cfg.model_dim)
        assert torch.allclose(got, model(conds, text, kept, lens), atol=1e-6)
        cut = codes.clone()
        cut[0, n:] = stop
        assert not torch.allclose(got, model(conds, text, cut, lens), atol=1e-4)


def test_bad_prompt_mel_is_reported(model) -> None:
    with pytest.raises(ValueError, match="prompt mel must be"):
        model.get_conditioning(torch.zeros(1, model.mel_bins + 1, 40))


def _folder(root: Path, gpt: dict, state: object | None = None) -> ModelFolder:
    root.mkdir()
    config = yaml.safe_load((V15 / "config.yaml").read_text())
    config["gpt"].update(gpt)
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    if state is None:
        shutil.copy(V15 / "gpt.pth", root / "gpt.pth")
    else:
        torch.save(state, root / "gpt.pth")
    return ModelFolder(root)


def test_bad_configs_and_checkpoints_are_reported(tmp_path: Path) -> None:
    with pytest.raises(ModelFolderError, match="condition_type"):
        load_unified_voice_v1_5(_folder(tmp_path / "gst", {"condition_type": "gst"}))
    with pytest.raises(ModelFolderError, match="do not match"):
        load_unified_voice_v1_5(_folder(tmp_path / "layers", {"layers": 4}))
    with pytest.raises(ModelFolderError, match="not a UnifiedVoice state dict"):
        load_unified_voice_v1_5(_folder(tmp_path / "foreign", {}, {"weight": torch.zeros(2)}))
