"""BigVGAN vocoders of IndexTTS: one generator trunk, two thin variants.

* IndexTTS-2 / 2.5 use NVIDIA's BigVGAN v2 (`hf_cache/bigvgan/`: config.json +
  bigvgan_generator.pt): mel (B, num_mels, T) -> waveform (B, 1, T * hop).
* IndexTTS-1.5 uses a BigVGAN that vocodes GPT latents (B, T, gpt_dim) and is
  conditioned on an ECAPA-TDNN speaker embedding of the prompt mel; the
  embedding is added after the input conv and after every upsampling layer.

Both share the trunk: conv_pre, transposed-conv upsamplers each followed by
the average of several AMP residual blocks (anti-aliased Snake/SnakeBeta
activations: 2x upsample, activation, 2x downsample with Kaiser-windowed sinc
filters), then a final anti-aliased activation and conv_post.  Checkpoints
store weight-norm pairs (weight_g / weight_v); they are folded into plain
weights once at load, so inference runs ordinary convolutions.  Module
attribute names follow the official checkpoints so they load strictly.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence, TypeVar

import torch
import torch.nn.functional as F
from torch import nn

from indexstudio.models.ecapa_tdnn import EcapaTdnn
from indexstudio.models.folder import ModelFolder, ModelFolderError, load_weights, read_wrapped_state
from indexstudio.models.weight_norm import fold_weight_norm

# the anti-aliased activation always resamples by 2 (filter length is read from the checkpoint)
ALIAS_FREE_RATIO = 2
DEFAULT_FILTER_TAPS = 12
SNAKE_EPS = 1e-9


def kaiser_sinc_filter(cutoff: float, half_width: float, taps: int) -> torch.Tensor:
    """Kaiser-windowed sinc low-pass (1, 1, taps), normalised to unit DC gain.

    `cutoff` and `half_width` are in cycles per sample; the Kaiser beta follows
    the usual attenuation formula for a transition band of 4 * half_width.
    """
    half = taps // 2
    attenuation = 2.285 * (half - 1) * math.pi * (4 * half_width) + 7.95
    if attenuation > 50.0:
        beta = 0.1102 * (attenuation - 8.7)
    elif attenuation >= 21.0:
        beta = 0.5842 * (attenuation - 21) ** 0.4 + 0.07886 * (attenuation - 21.0)
    else:
        beta = 0.0
    window = torch.kaiser_window(taps, periodic=False, beta=beta)
    # sample positions centred on the filter middle (between two taps when even)
    t = torch.arange(-half, half) + 0.5 if taps % 2 == 0 else torch.arange(taps) - half
    response = 2 * cutoff * window * torch.sinc(2 * cutoff * t)
    return (response / response.sum()).view(1, 1, taps)


def zero_tail(h: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """Zero each item's samples past its length: what a zero-padded conv sees past a lone item's end."""
    if lengths is None:
        return h
    return h * (torch.arange(h.shape[-1], device=h.device) < lengths[:, None]).unsqueeze(1)


def replicate_tail(h: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """Repeat each item's last sample past its length: what a replicate-padded filter sees past a lone item's end."""
    if lengths is None:
        return h
    last = h.gather(2, (lengths - 1).view(-1, 1, 1).expand(-1, h.shape[1], 1))
    return torch.where(torch.arange(h.shape[-1], device=h.device) < lengths.view(-1, 1, 1), h, last)


class Snake(nn.Module):
    """Periodic activation x + sin^2(alpha x) / beta, per channel.

    Plain Snake ties beta to alpha; SnakeBeta learns it separately.  With
    `log_scale` the stored parameters are logarithms.
    """

    def __init__(self, channels: int, separate_beta: bool, log_scale: bool):
        super().__init__()
        self.log_scale = log_scale
        self.alpha = nn.Parameter(torch.zeros(channels) if log_scale else torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels) if log_scale else torch.ones(channels)) if separate_beta else None

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        freq = self.alpha[None, :, None]
        gain = freq if self.beta is None else self.beta[None, :, None]
        if self.log_scale:
            freq, gain = freq.exp(), gain.exp()
        return h + (1.0 / (gain + SNAKE_EPS)) * torch.sin(h * freq).pow(2)


class LowPassFilter(nn.Module):
    """Depthwise low-pass with replicate padding, optionally strided (decimation)."""

    def __init__(self, cutoff: float, half_width: float, stride: int, taps: int):
        super().__init__()
        self.stride = stride
        self.pad = (taps // 2 - (taps % 2 == 0), taps // 2)
        self.register_buffer("filter", kaiser_sinc_filter(cutoff, half_width, taps))

    def forward(self, h: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        channels = h.shape[1]
        h = F.pad(replicate_tail(h, lengths), self.pad, mode="replicate")
        return F.conv1d(h, self.filter.expand(channels, -1, -1), stride=self.stride, groups=channels)


class Upsample(nn.Module):
    """Zero-stuffing interpolation by `ratio` through a Kaiser-sinc transposed conv."""

    def __init__(self, ratio: int, taps: int):
        super().__init__()
        self.ratio = ratio
        self.edge = taps // ratio - 1                        # input samples replicated on each side
        self.crop_left = self.edge * ratio + (taps - ratio) // 2
        self.crop_right = self.edge * ratio + (taps - ratio + 1) // 2
        self.register_buffer("filter", kaiser_sinc_filter(0.5 / ratio, 0.6 / ratio, taps))

    def forward(self, h: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        channels = h.shape[1]
        h = F.pad(replicate_tail(h, lengths), (self.edge, self.edge), mode="replicate")
        y = F.conv_transpose1d(h, self.filter.expand(channels, -1, -1), stride=self.ratio, groups=channels)
        return (self.ratio * y)[..., self.crop_left:-self.crop_right]


class Downsample(nn.Module):
    """Anti-aliased decimation by `ratio` (a strided low-pass, stored as `lowpass`)."""

    def __init__(self, ratio: int, taps: int):
        super().__init__()
        self.lowpass = LowPassFilter(0.5 / ratio, 0.6 / ratio, stride=ratio, taps=taps)

    def forward(self, h: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.lowpass(h, lengths)


class AntiAliasedActivation(nn.Module):
    """Apply `act` at twice the sample rate so its harmonics do not alias."""

    def __init__(self, act: nn.Module, taps: int):
        super().__init__()
        self.act = act
        self.upsample = Upsample(ALIAS_FREE_RATIO, taps)
        self.downsample = Downsample(ALIAS_FREE_RATIO, taps)

    def forward(self, h: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        up = self.act(self.upsample(h, lengths))
        return self.downsample(up, None if lengths is None else lengths * ALIAS_FREE_RATIO)


@dataclass(frozen=True)
class GeneratorConfig:
    """Hyper-parameters of the shared trunk (config.json / config.yaml `bigvgan`)."""

    in_channels: int
    upsample_rates: tuple[int, ...]
    upsample_kernel_sizes: tuple[int, ...]
    upsample_initial_channel: int
    resblock: str                                   # "1": AMPBlock1, "2": AMPBlock2
    resblock_kernel_sizes: tuple[int, ...]
    resblock_dilation_sizes: tuple[tuple[int, ...], ...]
    activation: str                                 # "snake" or "snakebeta"
    snake_logscale: bool
    tanh_at_final: bool                             # else clamp to [-1, 1]
    bias_at_final: bool
    filter_taps: int = DEFAULT_FILTER_TAPS

    @classmethod
    def from_hparams(cls, h: dict, in_channels: int, tanh_at_final: bool, bias_at_final: bool,
                     filter_taps: int, where: str) -> GeneratorConfig:
        try:
            cfg = cls(
                in_channels=int(in_channels),
                upsample_rates=tuple(int(r) for r in h["upsample_rates"]),
                upsample_kernel_sizes=tuple(int(k) for k in h["upsample_kernel_sizes"]),
                upsample_initial_channel=int(h["upsample_initial_channel"]),
                resblock=str(h["resblock"]),
                resblock_kernel_sizes=tuple(int(k) for k in h["resblock_kernel_sizes"]),
                resblock_dilation_sizes=tuple(tuple(int(d) for d in ds) for ds in h["resblock_dilation_sizes"]),
                activation=str(h["activation"]),
                snake_logscale=bool(h.get("snake_logscale", False)),
                tanh_at_final=bool(tanh_at_final),
                bias_at_final=bool(bias_at_final),
                filter_taps=int(filter_taps),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFolderError(f"{where}: incomplete BigVGAN hyper-parameters ({type(exc).__name__}: {exc})") from exc
        if cfg.resblock not in ("1", "2"):
            raise ModelFolderError(f"{where}: resblock must be '1' or '2', got {cfg.resblock!r}")
        if cfg.activation not in ("snake", "snakebeta"):
            raise ModelFolderError(f"{where}: activation must be 'snake' or 'snakebeta', got {cfg.activation!r}")
        if len(cfg.upsample_rates) != len(cfg.upsample_kernel_sizes):
            raise ModelFolderError(f"{where}: upsample_rates and upsample_kernel_sizes differ in length")
        if len(cfg.resblock_kernel_sizes) != len(cfg.resblock_dilation_sizes):
            raise ModelFolderError(f"{where}: resblock_kernel_sizes and resblock_dilation_sizes differ in length")
        return cfg

    @property
    def hop_length(self) -> int:
        """Output samples per input frame."""
        return math.prod(self.upsample_rates)

    def stage_channels(self, stage: int) -> int:
        """Width after upsampling stage `stage` (the width halves at each stage)."""
        return self.upsample_initial_channel // 2 ** (stage + 1)


def _same_padding(kernel_size: int, dilation: int) -> int:
    return dilation * (kernel_size - 1) // 2


def _activation(cfg: GeneratorConfig, channels: int) -> AntiAliasedActivation:
    snake = Snake(channels, separate_beta=cfg.activation == "snakebeta", log_scale=cfg.snake_logscale)
    return AntiAliasedActivation(snake, cfg.filter_taps)


class AMPBlock1(nn.Module):
    """Residual AMP block: per dilation, act -> dilated conv -> act -> conv, added to the input."""

    def __init__(self, cfg: GeneratorConfig, channels: int, kernel_size: int, dilations: Sequence[int]):
        super().__init__()
        self.convs1 = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel_size, dilation=d, padding=_same_padding(kernel_size, d))
            for d in dilations)
        self.convs2 = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel_size, padding=_same_padding(kernel_size, 1))
            for _ in dilations)
        self.activations = nn.ModuleList(_activation(cfg, channels) for _ in range(2 * len(dilations)))

    def forward(self, h: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        for i, (dilated, plain) in enumerate(zip(self.convs1, self.convs2)):
            y = dilated(zero_tail(self.activations[2 * i](h, lengths), lengths))
            h = h + plain(zero_tail(self.activations[2 * i + 1](y, lengths), lengths))
        return h


class AMPBlock2(nn.Module):
    """Lighter AMP block: per dilation, act -> dilated conv, added to the input."""

    def __init__(self, cfg: GeneratorConfig, channels: int, kernel_size: int, dilations: Sequence[int]):
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel_size, dilation=d, padding=_same_padding(kernel_size, d))
            for d in dilations)
        self.activations = nn.ModuleList(_activation(cfg, channels) for _ in dilations)

    def forward(self, h: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        for conv, act in zip(self.convs, self.activations):
            h = h + conv(zero_tail(act(h, lengths), lengths))
        return h


class BigVGAN(nn.Module):
    """The shared generator trunk; `forward` vocodes a mel (B, in_channels, T) -> (B, 1, T * hop)."""

    def __init__(self, cfg: GeneratorConfig):
        super().__init__()
        self.cfg = cfg
        self.conv_pre = nn.Conv1d(cfg.in_channels, cfg.upsample_initial_channel, 7, padding=3)
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        block = AMPBlock1 if cfg.resblock == "1" else AMPBlock2
        for stage, (rate, kernel) in enumerate(zip(cfg.upsample_rates, cfg.upsample_kernel_sizes)):
            width_in = cfg.upsample_initial_channel // 2 ** stage
            width = cfg.stage_channels(stage)
            # one-element list per stage: the official key is ups.<stage>.0
            self.ups.append(nn.ModuleList([
                nn.ConvTranspose1d(width_in, width, kernel, rate, padding=(kernel - rate) // 2)]))
            self.resblocks.extend(
                block(cfg, width, k, ds) for k, ds in zip(cfg.resblock_kernel_sizes, cfg.resblock_dilation_sizes))
        last = cfg.stage_channels(len(cfg.upsample_rates) - 1)
        self.activation_post = _activation(cfg, last)
        self.conv_post = nn.Conv1d(last, 1, 7, padding=3, bias=cfg.bias_at_final)

    @property
    def hop_length(self) -> int:
        return self.cfg.hop_length

    def forward(self, mel: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """`lengths` (B,) in frames for a padded batch: item i comes out as if vocoded alone, valid
        up to lengths[i] * hop_length (every time-mixing layer sees its own edges, not its neighbour's padding)."""
        return self.synthesize(self.conv_pre(zero_tail(mel, lengths)), lengths=lengths)

    def synthesize(self, x: torch.Tensor, stage_offsets: Sequence[torch.Tensor] | None = None,
                   lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Run the trunk from the conv_pre output; `stage_offsets[i]` is added after upsampler i."""
        per_stage = len(self.cfg.resblock_kernel_sizes)
        for stage, (up,) in enumerate(self.ups):
            x = up(zero_tail(x, lengths))
            lengths = None if lengths is None else lengths * self.cfg.upsample_rates[stage]
            if stage_offsets is not None:
                x = x + stage_offsets[stage]
            blocks = self.resblocks[stage * per_stage:(stage + 1) * per_stage]
            total = blocks[0](x, lengths)
            for block in blocks[1:]:
                total = total + block(x, lengths)
            x = total / per_stage
        wav = self.conv_post(zero_tail(self.activation_post(x, lengths), lengths))
        return torch.tanh(wav) if self.cfg.tanh_at_final else wav.clamp(-1.0, 1.0)


class SpeakerConditionedBigVGAN(BigVGAN):
    """IndexTTS-1.5 vocoder: GPT latents -> waveform, conditioned on a prompt speaker embedding."""

    def __init__(self, cfg: GeneratorConfig, speaker_encoder: EcapaTdnn, condition_every_stage: bool,
                 feat_upsample: bool):
        super().__init__(cfg)
        self.feat_upsample = feat_upsample
        self.speaker_encoder = speaker_encoder
        dim = speaker_encoder.embedding_dim
        self.cond_layer = nn.Conv1d(dim, cfg.upsample_initial_channel, 1)
        self.conds = nn.ModuleList(
            nn.Conv1d(dim, cfg.stage_channels(i), 1) for i in range(len(cfg.upsample_rates))
        ) if condition_every_stage else None

    def embed_speaker(self, mel_ref: torch.Tensor) -> torch.Tensor:
        """Prompt mel (B, T, n_mels) -> speaker embedding (B, 1, D); reusable across chunks."""
        return self.speaker_encoder(mel_ref)

    def forward(self, latent: torch.Tensor, speaker: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """GPT latent (B, T, gpt_dim) and `embed_speaker` output -> waveform (B, 1, T * hop)."""
        x = latent.transpose(1, 2)
        if self.feat_upsample:
            x = F.interpolate(x, scale_factor=4, mode="linear")
        spk = speaker.transpose(1, 2)                     # (B, D, 1), broadcast over time
        x = self.conv_pre(x) + self.cond_layer(spk)
        offsets = [cond(spk) for cond in self.conds] if self.conds is not None else None
        return self.synthesize(x, offsets)


def _read_generator_state(path: Path) -> dict[str, torch.Tensor]:
    state = read_wrapped_state(path, "BigVGAN", "generator")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    return fold_weight_norm(state)


def _filter_taps(state: dict[str, torch.Tensor], path: Path) -> int:
    key = "activation_post.upsample.filter"
    if key not in state:
        raise ModelFolderError(f"{path}: BigVGAN checkpoint lacks {key}")
    return int(state[key].shape[-1])


M = TypeVar("M", bound=nn.Module)


def _load_strict(build: Callable[[], M], state: dict[str, torch.Tensor], path: Path) -> M:
    return load_weights(build, state, path, "BigVGAN weights do not match the configuration")


def read_bigvgan_v2(directory: str | Path) -> BigVGAN:
    """BigVGAN v2 from a folder holding config.json and bigvgan_generator.pt; eval, float32, CPU."""
    directory = Path(directory)
    config_path, weights_path = directory / "config.json", directory / "bigvgan_generator.pt"
    if not config_path.is_file():
        raise ModelFolderError(f"missing BigVGAN config: expected {config_path}")
    try:
        h = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelFolderError(f"{config_path}: not valid JSON ({exc})") from exc
    state = _read_generator_state(weights_path)
    cfg = GeneratorConfig.from_hparams(
        h, in_channels=h.get("num_mels"), tanh_at_final=h.get("use_tanh_at_final", True),
        bias_at_final=h.get("use_bias_at_final", True), filter_taps=_filter_taps(state, weights_path),
        where=str(config_path))
    return _load_strict(lambda: BigVGAN(cfg), state, weights_path)


def read_bigvgan_v1_5(path: str | Path, cfg: dict) -> SpeakerConditionedBigVGAN:
    """IndexTTS-1.5 vocoder from bigvgan_generator.pth and config.yaml's `bigvgan` section."""
    path = Path(path)
    h = cfg.get("bigvgan")
    if not isinstance(h, dict):
        raise ModelFolderError("config.yaml: missing section bigvgan")
    state = _read_generator_state(path)
    gen_cfg = GeneratorConfig.from_hparams(
        h, in_channels=h.get("gpt_dim"), tanh_at_final=True, bias_at_final=True,
        filter_taps=_filter_taps(state, path), where="config.yaml bigvgan")
    encoder_state = {k[len("speaker_encoder."):]: v for k, v in state.items() if k.startswith("speaker_encoder.")}
    speaker_encoder = EcapaTdnn.from_state_dict(encoder_state, where=f"{path} speaker_encoder")
    expected = (h.get("num_mels"), h.get("speaker_embedding_dim"))
    if (speaker_encoder.input_size, speaker_encoder.embedding_dim) != expected:
        raise ModelFolderError(
            f"{path}: speaker encoder maps {speaker_encoder.input_size} mel bins -> {speaker_encoder.embedding_dim}, "
            f"config.yaml bigvgan expects num_mels {expected[0]} -> speaker_embedding_dim {expected[1]}")
    return _load_strict(lambda: SpeakerConditionedBigVGAN(
        gen_cfg, speaker_encoder, condition_every_stage=bool(h.get("cond_d_vector_in_each_upsampling_layer", False)),
        feat_upsample=bool(h.get("feat_upsample", False))), state, path)


def load_bigvgan_v2(folder: ModelFolder) -> BigVGAN:
    """The IndexTTS-2 / 2.5 mel vocoder of `folder` (hf_cache/bigvgan), loaded once per folder."""
    return folder.component("bigvgan", lambda: read_bigvgan_v2(folder.path("bigvgan")))


def load_bigvgan_v1_5(folder: ModelFolder) -> SpeakerConditionedBigVGAN:
    """The IndexTTS-1.5 latent vocoder of `folder` (bigvgan_checkpoint), loaded once per folder."""
    return folder.component("bigvgan", lambda: read_bigvgan_v1_5(folder.path("bigvgan"), folder.config))
