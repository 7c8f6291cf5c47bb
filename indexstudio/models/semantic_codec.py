"""Semantic codecs of IndexTTS-2 (RepCodec) and IndexTTS-2.5 (EnhancedCodec).

w2v-BERT features (B, T, D) pass a Vocos (ConvNeXt) encoder and a residual
stack of factorised vector quantisers: each projects its residual to a tiny
codebook space (weight-normed 1x1 conv), picks the nearest code by cosine
similarity (both sides L2-normalised), looks the code up and projects it back
to D.  IndexTTS-2 uses the codes as the GPT's mel tokens and the embedding
`vq2emb(codes)` as the S2Mel content input; its decoder half is only needed
for training, but its weights are in the checkpoint and load with it.

IndexTTS-2.5's EnhancedCodec is the same codec at half the frame rate: a
stride-2 conv (+ GELU) before the encoder, and on the way back the decoder
output is repeated x2 in time and smoothed by a conv.  There the decoder is
used at inference: `decode(codes)` is the S2Mel content input.

Module attribute names follow the official checkpoints
(`hf_cache/semantic_codec_model.safetensors`, `codec.pth`), which are loaded
strictly; the legacy `weight_g`/`weight_v` pairs of the projections are
accepted by torch's weight-norm parametrisation.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Callable, TypeVar

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from indexstudio.models.folder import ModelFolder, ModelFolderError, load_weights, read_wrapped_state
from indexstudio.models.s2mel.length_regulator import length_mask

LAYER_NORM_EPS = 1e-6
# EnhancedCodec halves/doubles the frame rate; the official code fixes the factor at 2
# for every downsample_scale > 1
CODEC_RATE_FACTOR = 2


def _masked(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Zero the padding frames of (B, C, T) before a conv, so they read as the conv's own zero padding."""
    return x if mask is None else x * mask


class ConvNeXtBlock(nn.Module):
    """Depthwise conv (k=7), LayerNorm, pointwise MLP (GELU), layer scale; residual. (B, C, T) -> (B, C, T)."""

    def __init__(self, dim: int, hidden_dim: int):
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.pwconv1 = nn.Linear(dim, hidden_dim)
        self.pwconv2 = nn.Linear(hidden_dim, dim)
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        h = self.norm(self.dwconv(_masked(x, mask)).transpose(1, 2))
        h = self.gamma * self.pwconv2(F.gelu(self.pwconv1(h)))
        return x + h.transpose(1, 2)


class VocosBackbone(nn.Module):
    """Conv embedding, LayerNorm, ConvNeXt blocks, final LayerNorm. (B, C_in, T) -> (B, T, dim), channels last.

    `mask` (B, 1, T) marks each item's valid frames of a padded batch; with it
    every valid frame comes out as if its item ran alone.
    """

    def __init__(self, input_channels: int, dim: int, hidden_dim: int, num_layers: int):
        super().__init__()
        self.embed = nn.Conv1d(input_channels, dim, kernel_size=7, padding=3)
        self.norm = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.convnext = nn.ModuleList(ConvNeXtBlock(dim, hidden_dim) for _ in range(num_layers))
        self.final_layer_norm = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = self.norm(self.embed(_masked(x, mask)).transpose(1, 2)).transpose(1, 2)
        for block in self.convnext:
            x = block(x, mask)
        return self.final_layer_norm(x.transpose(1, 2))


def _projection(in_dim: int, out_dim: int) -> nn.Module:
    """Weight-normed 1x1 conv between the feature and codebook spaces (identity when they coincide)."""
    if in_dim == out_dim:
        return nn.Identity()
    return weight_norm(nn.Conv1d(in_dim, out_dim, kernel_size=1))


class FactorizedVectorQuantizer(nn.Module):
    """One factorised VQ level: project (B, D, T) to the codebook space, nearest code by cosine, project back."""

    def __init__(self, input_dim: int, codebook_size: int, codebook_dim: int):
        super().__init__()
        self.in_project = _projection(input_dim, codebook_dim)
        self.out_project = _projection(codebook_dim, input_dim)
        self.codebook = nn.Embedding(codebook_size, codebook_dim)

    def nearest_codes(self, latents: torch.Tensor) -> torch.Tensor:
        """(B, d, T) codebook-space latents -> (B, T) indices of the closest unit-normalised codes.

        The squared L2 distance is expanded as |e|^2 - 2 e.c + |c|^2 and the
        smallest taken, as the reference does; the codes are compared bit for bit.
        """
        batch = latents.shape[0]
        flat = F.normalize(latents.transpose(1, 2).reshape(-1, latents.shape[1]))
        book = F.normalize(self.codebook.weight)
        sq_dist = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ book.t() + book.pow(2).sum(1, keepdim=True).t()
        return (-sq_dist).max(dim=1).indices.view(batch, -1)

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """(B, T) codes -> (B, D, T) embedding: raw codebook rows (not normalised), then out_project."""
        return self.out_project(self.codebook(codes).transpose(1, 2))

    def forward(self, residual: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, D, T) residual -> (quantised (B, D, T), codes (B, T))."""
        latents = self.in_project(residual)
        codes = self.nearest_codes(latents)
        chosen = self.codebook(codes).transpose(1, 2)
        # The reference keeps the straight-through form latents + (chosen - latents); its
        # rounding differs from `chosen` in the last bits, so it is kept here too.
        return self.out_project(latents + (chosen - latents)), codes


class ResidualVQ(nn.Module):
    """Residual stack of factorised quantisers; codes are (N, B, T) with N = number of levels."""

    def __init__(self, input_dim: int, num_quantizers: int, codebook_size: int, codebook_dim: int):
        super().__init__()
        self.quantizers = nn.ModuleList(
            FactorizedVectorQuantizer(input_dim, codebook_size, codebook_dim) for _ in range(num_quantizers)
        )

    def forward(self, latents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, D, T) -> (sum of quantised levels (B, D, T), codes (N, B, T))."""
        residual, total, codes = latents, torch.zeros_like(latents), []
        for quantizer in self.quantizers:
            quantized, level_codes = quantizer(residual)
            total = total + quantized
            residual = residual - quantized
            codes.append(level_codes)
        return total, torch.stack(codes)

    def vq2emb(self, codes: torch.Tensor) -> torch.Tensor:
        """(N, B, T) codes of the first N levels -> (B, D, T) summed embedding."""
        if codes.dim() != 3 or not 1 <= codes.shape[0] <= len(self.quantizers):
            raise ValueError(
                f"codes must be (levels, B, T) with 1..{len(self.quantizers)} levels, got shape {tuple(codes.shape)}"
            )
        emb = self.quantizers[0].lookup(codes[0])
        for quantizer, level_codes in zip(self.quantizers[1:], codes[1:]):
            emb = emb + quantizer.lookup(level_codes)
        return emb


@dataclass(frozen=True)
class SemanticCodecConfig:
    """The `semantic_codec` section of config.yaml."""

    codebook_size: int
    hidden_size: int
    codebook_dim: int
    vocos_dim: int
    vocos_intermediate_dim: int
    vocos_num_layers: int
    num_quantizers: int = 1
    downsample_scale: int = 1

    @classmethod
    def from_config(cls, section: dict, default_downsample_scale: int = 1) -> SemanticCodecConfig:
        """Parse the section; an absent `downsample_scale` takes the codec's own default
        (RepCodec 1, EnhancedCodec 2, as in the official constructors), null means 1."""
        section = section or {}
        required = [f.name for f in fields(cls) if f.name not in ("num_quantizers", "downsample_scale")]
        missing = [name for name in required if name not in section]
        if missing:
            raise ModelFolderError(f"config.yaml semantic_codec lacks {missing}")
        values = {f.name: int(section[f.name]) for f in fields(cls) if section.get(f.name) is not None}
        if "downsample_scale" not in section:
            values["downsample_scale"] = default_downsample_scale
        return cls(**values)


class RepCodec(nn.Module):
    """Semantic codec: (B, T, D) w2v-BERT features <-> discrete codes and their (B, D, T) embedding."""

    def __init__(self, cfg: SemanticCodecConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = self._vocos_stack(cfg)
        self.decoder = self._vocos_stack(cfg)
        self.quantizer = ResidualVQ(cfg.hidden_size, cfg.num_quantizers, cfg.codebook_size, cfg.codebook_dim)

    @staticmethod
    def _vocos_stack(cfg: SemanticCodecConfig) -> nn.Sequential:
        return nn.Sequential(
            VocosBackbone(cfg.hidden_size, cfg.vocos_dim, cfg.vocos_intermediate_dim, cfg.vocos_num_layers),
            nn.Linear(cfg.vocos_dim, cfg.hidden_size),
        )

    def encode(self, features: torch.Tensor) -> torch.Tensor:
        """(B, T, D) features -> (B, D, T) latents fed to the quantiser."""
        return self.encoder(features.transpose(1, 2)).transpose(1, 2)

    def quantize(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, D) -> (codes, quantised (B, T, D)).

        codes are (B, T) for a single-level codec and (N, B, T) otherwise, as the
        reference returns them.
        """
        if features.dim() != 3 or features.shape[-1] != self.cfg.hidden_size:
            raise ValueError(f"features must be (B, T, {self.cfg.hidden_size}), got shape {tuple(features.shape)}")
        quantized, codes = self.quantizer(self.encode(features))
        if codes.shape[0] == 1:
            codes = codes[0]
        return codes, quantized.transpose(1, 2)

    def vq2emb(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes -> (B, D, T) embedding (codebook rows + out_project, summed over levels).

        Accepts (B, T) codes of a single level, or (N, B, T) for the first N
        levels.  The official IndexTTS-2 passes `codes.unsqueeze(1)`, a (B, 1, T)
        tensor that its quantiser reads as (levels=B, batch=1, T); that agrees
        with this method only for B = 1, the only batch size it uses.
        """
        if codes.dim() == 2:
            codes = codes.unsqueeze(0)
        return self.quantizer.vq2emb(codes)


class EnhancedCodec(RepCodec):
    """IndexTTS-2.5 codec: RepCodec behind a stride-2 conv, so one code covers two feature frames.

    quantize: (B, T, D) -> codes (B, ceil(T/2)); decode: codes (B, T') -> (B, 2T', D).
    """

    def __init__(self, cfg: SemanticCodecConfig):
        if cfg.downsample_scale <= 1:
            raise ValueError(f"EnhancedCodec needs semantic_codec.downsample_scale > 1, got {cfg.downsample_scale}")
        super().__init__(cfg)
        width = cfg.hidden_size
        self.down = nn.Conv1d(width, width, kernel_size=3, stride=CODEC_RATE_FACTOR, padding=1)
        self.up = nn.Conv1d(width, width, kernel_size=3, padding=1)

    def encode(self, features: torch.Tensor) -> torch.Tensor:
        """(B, T, D) features -> (B, D, ceil(T/2)) latents fed to the quantiser."""
        halved = F.gelu(self.down(features.transpose(1, 2)))
        return super().encode(halved.transpose(1, 2))

    def decode(self, codes: torch.Tensor, code_lens: torch.Tensor | None = None) -> torch.Tensor:
        """Codes (B, T) or (N, B, T) -> (B, 2T, D) features, the S2Mel content input of IndexTTS-2.5.

        For a right-padded batch give `code_lens` (B,): item b's first
        2 * code_lens[b] frames then equal its decode alone, later frames are zero.
        """
        emb = self.vq2emb(codes)                                        # (B, D, T)
        batch, _, frames = emb.shape
        mask = None
        if code_lens is not None:
            if code_lens.shape != (batch,):
                raise ValueError(f"code_lens must be ({batch},), got shape {tuple(code_lens.shape)}")
            mask = length_mask(code_lens.to(emb.device), frames).unsqueeze(1).to(emb.dtype)
        backbone, to_width = self.decoder
        x = to_width(backbone(emb, mask)).transpose(1, 2)               # (B, D, T)
        x = F.interpolate(x, scale_factor=CODEC_RATE_FACTOR, mode="nearest")
        if mask is not None:
            mask = mask.repeat_interleave(CODEC_RATE_FACTOR, dim=-1)
        return _masked(self.up(_masked(x, mask)), mask).transpose(1, 2)


C = TypeVar("C", bound=nn.Module)


def _load_strict(build: Callable[[], C], state: dict[str, torch.Tensor], path: Path) -> C:
    return load_weights(build, state, path, "semantic codec weights do not match config.yaml semantic_codec")


def read_semantic_codec(path: str | Path, section: dict) -> RepCodec:
    """Build RepCodec from the config section and load the safetensors weights strictly; eval, CPU."""
    path = Path(path)
    cfg = SemanticCodecConfig.from_config(section)
    if cfg.downsample_scale > 1:
        raise ModelFolderError("config.yaml semantic_codec: downsample_scale > 1 is the 2.5 codec, not RepCodec")
    try:
        state = load_file(str(path))
    except Exception as exc:  # safetensors raises its own error types for corrupt headers
        raise ModelFolderError(f"{path}: not a readable safetensors file ({exc})") from exc
    return _load_strict(lambda: RepCodec(cfg), state, path)


def read_enhanced_codec(path: str | Path, section: dict) -> EnhancedCodec:
    """Build EnhancedCodec from the config section and load `codec.pth` ({'model': state_dict}) strictly."""
    path = Path(path)
    cfg = SemanticCodecConfig.from_config(section, default_downsample_scale=CODEC_RATE_FACTOR)
    if cfg.downsample_scale <= 1:
        raise ModelFolderError(
            f"config.yaml semantic_codec: downsample_scale={cfg.downsample_scale}; the 2.5 codec needs > 1")
    return _load_strict(lambda: EnhancedCodec(cfg), read_wrapped_state(path, "codec", "model"), path)


def load_semantic_codec(folder: ModelFolder) -> RepCodec:
    """The folder's semantic codec (IndexTTS-2), loaded once per folder."""
    return folder.component(
        "semantic_codec",
        lambda: read_semantic_codec(folder.path("semantic_codec"), folder.config.get("semantic_codec") or {}),
    )


def load_enhanced_codec(folder: ModelFolder) -> EnhancedCodec:
    """The folder's semantic codec (IndexTTS-2.5 `codec.pth`), loaded once per folder."""
    return folder.component(
        "codec", lambda: read_enhanced_codec(folder.path("codec"), folder.config.get("semantic_codec") or {}))
