"""S2Mel: GPT-latent projection, length rule and regulator, DiT estimator, CFM sampler, loader."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from indexstudio.conformance.runner import run_folder
from indexstudio.models.folder import ModelFolder, ModelFolderError
from indexstudio.models.s2mel import load_s2mel, read_s2mel, sample_euler_cfg, v2_5_target_length
from indexstudio.models.s2mel.wavenet import reflect_pad_per_item

GOLDEN = Path(__file__).resolve().parents[2].parent / "shared" / "golden"
V2 = GOLDEN / "indextts2"
V2_5 = GOLDEN / "indextts2_5"


def test_golden_s2mel_cases() -> None:
    results = run_folder(V2, only=["f1", "f2", "f3", "f4"])
    assert {r.name for r in results} == {
        "f1_s2mel_gpt_layer_and_regulator", "f2_target_length_rule",
        "f3_cfm_estimator_single_call", "f4_cfm_inference",
    }
    failed = [f"{r.name}: {r.worst}" for r in results if not r.passed]
    assert not failed, failed


def test_v2_5_checkpoint_serves_the_same_modules() -> None:
    """2.5 has no gpt_layer; its regulator, length rule and sampler are the 2.x ones."""
    s2mel = load_s2mel(ModelFolder(V2_5))
    assert s2mel.gpt_layer is None
    with pytest.raises(RuntimeError, match="no gpt_layer"):
        s2mel.project_gpt_latent(torch.zeros(1, 2, 128))

    table = load_file(str(V2_5 / "cases" / "f1_target_length_rule.safetensors"))
    for factor in (0.5, 0.8, 1.0, 1.25, 1.5):
        ref = table[f"out.target_lengths_df{factor}"]
        assert [v2_5_target_length(n, factor) for n in range(len(ref))] == ref.tolist()

    case = load_file(str(V2_5 / "cases" / "f2_codec_decode_and_length_regulator.safetensors"))
    with torch.inference_mode():
        prompt = s2mel.length_regulator(case["in.spk_cond_emb"], case["in.ref_mel_len"])
        cond = s2mel.length_regulator(case["out.S_infer"], case["out.target_lengths_df1.25"])
    torch.testing.assert_close(prompt, case["out.prompt_condition"], atol=2e-5, rtol=1e-4)
    torch.testing.assert_close(cond, case["out.cond_df1.25"], atol=1e-4, rtol=1e-4)

    case = load_file(str(V2_5 / "cases" / "f3_cfm_inference.safetensors"))
    mel = sample_euler_cfg(s2mel.estimator, case["in.noise"], case["in.mu"], case["in.prompt"], case["in.style"],
                           x_lens=case["in.x_lens"], n_steps=25, cfg_rate=0.7)
    torch.testing.assert_close(mel, case["out.mel_full"], atol=1e-4, rtol=1e-4)


def test_padded_batch_matches_items_sampled_alone() -> None:
    """Items of different prompt and total lengths, padded with junk, come out as when sampled one by one."""
    estimator = load_s2mel(ModelFolder(V2)).estimator
    width, mel = estimator.cfg.content_dim, estimator.cfg.mel_channels
    gen = torch.Generator().manual_seed(0)
    shapes = [(30, 50), (17, 90), (3, 5)]                                     # (prompt, target) frames
    items = [dict(noise=torch.randn(1, mel, p + t, generator=gen), cond=torch.randn(1, p + t, width, generator=gen),
                  prompt=torch.randn(1, mel, p, generator=gen), style=torch.randn(1, estimator.cfg.style_dim, generator=gen))
             for p, t in shapes]
    alone = [sample_euler_cfg(estimator, **item, n_steps=4) for item in items]

    frames, prompt_frames = max(p + t for p, t in shapes), max(p for p, _ in shapes)
    noise = torch.full((len(shapes), mel, frames), 7.0)
    cond = torch.full((len(shapes), frames, width), 3.0)
    prompt = torch.full((len(shapes), mel, prompt_frames), 5.0)
    for b, item in enumerate(items):
        n, p = item["noise"].shape[-1], item["prompt"].shape[-1]
        noise[b, :, :n], cond[b, :n], prompt[b, :, :p] = item["noise"][0], item["cond"][0], item["prompt"][0]
    batched = sample_euler_cfg(
        estimator, noise, cond, prompt, torch.cat([item["style"] for item in items]),
        x_lens=torch.tensor([p + t for p, t in shapes]), prompt_lens=torch.tensor([p for p, _ in shapes]), n_steps=4)

    for b, single in enumerate(alone):
        n, p = single.shape[-1], shapes[b][0]
        torch.testing.assert_close(batched[b, :, :n], single[0], atol=1e-5, rtol=1e-4)
        if n < frames:
            assert batched[b, :, n:].abs().max().item() == 0.0      # padding comes back zeroed
        assert single[0, :, :p].abs().max().item() == 0.0          # prompt frames stay zero
        assert single[0, :, p:].abs().max().item() > 0.0


def test_estimator_is_one_graph_and_unpadded_batches_skip_the_mask() -> None:
    """No tensor is read back to the host inside a step (a compiled estimator has no graph break, so CUDA
    graphs can replay it), and the sampler asks for the masked path only when a batch is padded."""
    estimator = load_s2mel(ModelFolder(V2)).estimator
    width, mel, style_dim = estimator.cfg.content_dim, estimator.cfg.mel_channels, estimator.cfg.style_dim
    x, cond, style = torch.randn(2, mel, 40), torch.randn(2, 40, width), torch.randn(2, style_dim)
    for x_lens in (None, torch.tensor([40, 23])):
        explained = torch._dynamo.explain(estimator)(x, torch.zeros_like(x), x_lens, torch.rand(2), style, cond)
        assert explained.graph_break_count == 0, explained.break_reasons

    seen: list[torch.Tensor | None] = []

    def recording(*args):
        seen.append(args[2])
        return estimator(*args)

    prompt = torch.randn(2, mel, 10)
    sample_euler_cfg(recording, x, cond, prompt, style, n_steps=2)
    sample_euler_cfg(recording, x, cond, prompt, style, x_lens=torch.tensor([40, 40]), n_steps=2)
    assert seen == [None] * 4
    sample_euler_cfg(recording, x, cond, prompt, style, x_lens=torch.tensor([40, 23]), n_steps=2)
    assert [lens.tolist() for lens in seen[4:]] == [[40, 23, 40, 23]] * 2      # conditional and null halves


def test_compiled_estimator_serves_every_batch_and_width_without_recompiling() -> None:
    """A book brings many widths and batch sizes: one dynamic graph takes them all (a graph per shape would
    hit dynamo's recompile limit, a hard error with fullgraph), each within float reordering of eager."""
    from indexstudio.engines.indextts_common import RuntimeSettings
    estimator = load_s2mel(ModelFolder(V2)).estimator
    compiled = RuntimeSettings(compile_s2mel=True).s2mel_estimator(estimator, torch.device("cpu"))
    width, mel, style_dim = estimator.cfg.content_dim, estimator.cfg.mel_channels, estimator.cfg.style_dim
    gen = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        for batch, frames in [(2, 40), (2, 41), (4, 57), (2, 90), (6, 33), (2, 128), (4, 75), (2, 66), (4, 99),
                              (2, 140), (6, 47), (4, 150)]:
            x = torch.randn(batch, mel, frames, generator=gen)
            lens = torch.randint(frames // 2, frames + 1, (batch,), generator=gen) if batch > 2 else None
            args = (x, torch.zeros_like(x), lens, torch.rand(batch, generator=gen),
                    torch.randn(batch, style_dim, generator=gen), torch.randn(batch, frames, width, generator=gen))
            torch.testing.assert_close(compiled(*args), estimator(*args), atol=1e-4, rtol=1e-4)


def test_per_item_reflection_matches_reflect_padding() -> None:
    for length in range(1, 8):
        x = torch.randn(2, 3, length)
        for left, right in ((1, 0), (2, 2), (4, 4)):
            # the official rule: sequences not longer than the pad are zero-extended first
            extra = max(0, max(left, right) + 1 - length)
            want = F.pad(F.pad(x, (0, extra)), (left, right), mode="reflect")[..., : length + left + right]
            assert torch.equal(reflect_pad_per_item(x, left, right, None), want)
            padded = torch.cat([x, torch.full((2, 3, 4), 9.0)], dim=-1)
            got = reflect_pad_per_item(padded, left, right, torch.tensor([length, length]))
            assert torch.equal(got[..., : length + left + right], want)


def _folder_copy(tmp_path: Path) -> Path:
    root = tmp_path / "model"
    root.mkdir()
    shutil.copy(V2 / "config.yaml", root / "config.yaml")
    return root


def test_bad_checkpoints_and_configs_are_named(tmp_path: Path) -> None:
    root = _folder_copy(tmp_path)
    cfg = ModelFolder(V2).config
    with pytest.raises(ModelFolderError, match="S2Mel flow-matching checkpoint"):
        load_s2mel(ModelFolder(root))

    torch.save({"model": {}}, root / "s2mel.pth")
    with pytest.raises(ModelFolderError, match="not an S2Mel checkpoint"):
        read_s2mel(root / "s2mel.pth", cfg)

    ckpt = torch.load(V2 / "s2mel.pth", map_location="cpu", weights_only=True)
    ckpt["net"]["cfm"] = {"module." + k: v for k, v in ckpt["net"]["cfm"].items()}   # DDP prefix is accepted
    torch.save(ckpt, root / "s2mel.pth")
    assert read_s2mel(root / "s2mel.pth", cfg).gpt_layer is not None

    wrong_depth = {**cfg, "s2mel": {**cfg["s2mel"], "DiT": {**cfg["s2mel"]["DiT"], "depth": cfg["s2mel"]["DiT"]["depth"] + 1}}}
    with pytest.raises(ModelFolderError, match="cfm estimator weights do not match"):
        read_s2mel(root / "s2mel.pth", wrong_depth)

    causal = {**cfg, "s2mel": {**cfg["s2mel"], "DiT": {**cfg["s2mel"]["DiT"], "is_causal": True}}}
    with pytest.raises(ModelFolderError, match="is_causal"):
        read_s2mel(root / "s2mel.pth", causal)

    wrong_gpt = {**cfg, "gpt": {**cfg["gpt"], "model_dim": cfg["gpt"]["model_dim"] * 2}}
    with pytest.raises(ModelFolderError, match="gpt_layer maps"):
        read_s2mel(root / "s2mel.pth", wrong_gpt)


def test_sampler_rejects_inconsistent_shapes() -> None:
    estimator = load_s2mel(ModelFolder(V2)).estimator
    mel, width = estimator.cfg.mel_channels, estimator.cfg.content_dim
    with pytest.raises(ValueError, match="inconsistent shapes"):
        sample_euler_cfg(estimator, torch.zeros(1, mel, 10), torch.zeros(1, 9, width), torch.zeros(1, mel, 2), torch.zeros(1, 192))
    with pytest.raises(ValueError, match="longer than the sequence"):
        sample_euler_cfg(estimator, torch.zeros(1, mel, 10), torch.zeros(1, 10, width), torch.zeros(1, mel, 12), torch.zeros(1, 192))
