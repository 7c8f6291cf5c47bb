"""The S2Mel stage of IndexTTS 2.x and its loader.

`s2mel.pth` holds {'net': {'cfm': ..., 'length_regulator': ..., 'gpt_layer': ...}}
('gpt_layer' only in IndexTTS-2; keys may carry a DDP 'module.' prefix).
Weight-norm pairs (weight_g, weight_v) are folded into plain weights at load
time, and parameters the inference path never touches (training-time
embeddings, the position buffer) are dropped by name before a strict load.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, TypeVar

import torch
from torch import nn

from indexstudio.models.folder import ModelFolder, ModelFolderError, as_float32, load_weights, read_checkpoint
from indexstudio.models.s2mel.dit import DiT, DiTConfig
from indexstudio.models.s2mel.length_regulator import LengthRegulator
from indexstudio.models.weight_norm import fold_weight_norm

# stored in the official checkpoints but unused at inference (discrete-content
# embeddings, CFG content mask, the unused x_embedder, RoPE position buffer)
_UNUSED_ESTIMATOR = ("input_pos", "x_embedder.", "cond_embedder.", "content_mask_embedder.")
_UNUSED_REGULATOR = ("mask_token", "embedding.")


class S2Mel(nn.Module):
    """Container of the S2Mel parts; sampling lives in `cfm.sample_euler_cfg`."""

    def __init__(self, estimator: DiT, length_regulator: LengthRegulator, gpt_layer: nn.Sequential | None):
        super().__init__()
        self.estimator = estimator
        self.length_regulator = length_regulator
        self.gpt_layer = gpt_layer

    def project_gpt_latent(self, latent: torch.Tensor) -> torch.Tensor:
        """IndexTTS-2: GPT latent (B, T, gpt.model_dim) -> semantic width (B, T, D)."""
        if self.gpt_layer is None:
            raise RuntimeError("this S2Mel checkpoint has no gpt_layer (IndexTTS-2.5 does not use GPT latents)")
        return self.gpt_layer(latent)


def _section(cfg: dict, *keys: str) -> dict:
    node = cfg
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            raise ModelFolderError(f"config.yaml: missing section {'.'.join(keys)}")
    return node


def _reject(path: str, value, expected) -> None:
    if value != expected:
        raise ModelFolderError(f"config.yaml: {path}={value!r} is not supported (IndexTTS 2.x uses {expected!r})")


def dit_config(cfg: dict, estimator_state: dict[str, torch.Tensor]) -> DiTConfig:
    """Estimator hyper-parameters from config.yaml's s2mel section; widths the official code
    fixes by formula (SwiGLU width, time sinusoid width) are read from the tensors."""
    s2mel = _section(cfg, "s2mel")
    dit, wavenet = _section(cfg, "s2mel", "DiT"), _section(cfg, "s2mel", "wavenet")
    _reject("s2mel.dit_type", s2mel.get("dit_type", "DiT"), "DiT")
    _reject("s2mel.DiT.final_layer_type", dit.get("final_layer_type"), "wavenet")
    for switch in ("time_as_token", "style_as_token", "is_causal", "zero_prompt_speech_token"):
        _reject(f"s2mel.DiT.{switch}", bool(dit.get(switch, False)), False)
    if bool(dit.get("style_condition", False)) != bool(wavenet.get("style_condition", False)):
        raise ModelFolderError("config.yaml: s2mel.DiT.style_condition and s2mel.wavenet.style_condition differ")
    try:
        ffn_hidden = estimator_state["transformer.layers.0.feed_forward.w1.weight"].shape[0]
        time_freq_dim = estimator_state["t_embedder.mlp.0.weight"].shape[1]
    except KeyError as exc:
        raise ModelFolderError(f"s2mel checkpoint: cfm state lacks estimator.{exc.args[0]}") from None
    return DiTConfig(
        mel_channels=int(dit["in_channels"]),
        hidden=int(dit["hidden_dim"]),
        heads=int(dit["num_heads"]),
        depth=int(dit["depth"]),
        ffn_hidden=int(ffn_hidden),
        content_dim=int(dit["content_dim"]),
        style_dim=int(_section(cfg, "s2mel", "style_encoder")["dim"]),
        style_condition=bool(dit.get("style_condition", False)),
        uvit_skip=bool(dit.get("uvit_skip_connection", False)),
        long_skip=bool(dit.get("long_skip_connection", False)),
        wavenet_hidden=int(wavenet["hidden_dim"]),
        wavenet_layers=int(wavenet["num_layers"]),
        wavenet_kernel=int(wavenet["kernel_size"]),
        wavenet_dilation_rate=int(wavenet["dilation_rate"]),
        time_freq_dim=int(time_freq_dim),
    )


def _length_regulator(cfg: dict) -> LengthRegulator:
    reg = _section(cfg, "s2mel", "length_regulator")
    _reject("s2mel.length_regulator.is_discrete", bool(reg.get("is_discrete", False)), False)
    _reject("s2mel.length_regulator.vector_quantize", bool(reg.get("vector_quantize", False)), False)
    _reject("s2mel.length_regulator.f0_condition", bool(reg.get("f0_condition", False)), False)
    _reject("s2mel.length_regulator.n_codebooks", int(reg.get("n_codebooks", 1)), 1)
    return LengthRegulator(int(reg["in_channels"]), int(reg["channels"]), len(reg.get("sampling_ratios") or []))


def _gpt_layer(state: dict[str, torch.Tensor], cfg: dict) -> nn.Sequential:
    """A chain of Linear layers whose widths are those of the stored tensors
    (official: model_dim -> 256 -> 128 -> semantic width)."""
    linears = []
    while f"{len(linears)}.weight" in state:
        out_dim, in_dim = state[f"{len(linears)}.weight"].shape
        linears.append(nn.Linear(in_dim, out_dim))
    if not linears:
        raise ModelFolderError("s2mel checkpoint: gpt_layer holds no Linear weights ('0.weight', ...)")
    model_dim = _section(cfg, "gpt").get("model_dim")
    semantic_dim = _section(cfg, "s2mel", "length_regulator").get("in_channels")
    if linears[0].in_features != model_dim or linears[-1].out_features != semantic_dim:
        raise ModelFolderError(
            f"s2mel checkpoint: gpt_layer maps {linears[0].in_features} -> {linears[-1].out_features}, "
            f"config.yaml expects gpt.model_dim {model_dim} -> s2mel.length_regulator.in_channels {semantic_dim}")
    return nn.Sequential(*linears)


def _strip(state: dict[str, torch.Tensor], prefix: str = "", drop: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in state.items():
        key = key.removeprefix("module.")
        if not key.startswith(prefix):
            raise ModelFolderError(f"s2mel checkpoint: unexpected key {key!r} (expected prefix {prefix!r})")
        key = key[len(prefix):]
        if not key.startswith(drop):
            out[key] = value
    return out


M = TypeVar("M", bound=nn.Module)


def _load_strict(build: Callable[[], M], state: dict[str, torch.Tensor], what: str, path: Path) -> M:
    return load_weights(build, fold_weight_norm(state), path, f"{what} weights do not match config.yaml")


def read_s2mel(path: str | Path, cfg: dict) -> S2Mel:
    """Build S2Mel from `s2mel.pth` and the folder's config dict; eval mode, float32, CPU."""
    path = Path(path)
    ckpt = read_checkpoint(path, "S2Mel checkpoint")
    net = ckpt.get("net") if isinstance(ckpt, dict) else None
    if not isinstance(net, dict) or "cfm" not in net or "length_regulator" not in net:
        found = sorted(net) if isinstance(net, dict) else sorted(ckpt) if isinstance(ckpt, dict) else type(ckpt).__name__
        raise ModelFolderError(f"{path}: not an S2Mel checkpoint (need net.cfm and net.length_regulator; found {found})")
    net = {part: as_float32(sd) for part, sd in net.items()}

    estimator_state = _strip(net["cfm"], "estimator.", _UNUSED_ESTIMATOR)
    estimator = _load_strict(lambda: DiT(dit_config(cfg, estimator_state)), estimator_state, "cfm estimator", path)
    regulator = _load_strict(lambda: _length_regulator(cfg), _strip(net["length_regulator"], drop=_UNUSED_REGULATOR),
                             "length_regulator", path)

    gpt_layer = None
    if "gpt_layer" in net:
        gpt_state = _strip(net["gpt_layer"])
        gpt_layer = _load_strict(lambda: _gpt_layer(gpt_state, cfg), gpt_state, "gpt_layer", path)
    return S2Mel(estimator, regulator, gpt_layer).eval()


def load_s2mel(folder: ModelFolder) -> S2Mel:
    """The folder's S2Mel model (IndexTTS-2 or 2.5), loaded once per folder."""
    return folder.component("s2mel", lambda: read_s2mel(folder.path("s2mel"), folder.config))
