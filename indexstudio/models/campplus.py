"""CAM++ speaker encoder (3D-Speaker), the 192-d global style vector of IndexTTS 2.x.

IndexTTS-2 feeds the vector to the S2Mel DiT as its style condition; 2.5 also
projects it into the GPT as the speaker latent.  The network is fixed:
a 2-D convolutional front end over (frequency, time), a strided TDNN, three
densely connected TDNN blocks whose layers gate their output with
context-aware masks (global mean + 100-frame segment means), transition
layers halving the width, mean/std pooling and a final affine-free batch norm.
Attribute names follow the official checkpoint (`campplus_cn_common.bin`).
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from indexstudio.audio.features import centered_fbank
from indexstudio.models.folder import ModelFolder, ModelFolderError, as_float32, load_weights, read_checkpoint

STYLE_DIM = 192              # the speaker style vector's width
FRONT_CHANNELS = 32
GROWTH = 32
BOTTLENECK = 4 * GROWTH
TDNN_CHANNELS = 128
# (layers, dilation) of the three dense blocks; kernel size 3 throughout
DENSE_BLOCKS = ((12, 1), (24, 2), (16, 2))
SEGMENT_FRAMES = 100


class BatchNormReLU(nn.Module):
    """Batch norm then (optionally) ReLU; stored as `<name>.batchnorm.*`."""

    def __init__(self, channels: int, affine: bool = True, relu: bool = True):
        super().__init__()
        self.batchnorm = nn.BatchNorm1d(channels, affine=affine)
        self.relu = relu

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        h = self.batchnorm(h)
        return F.relu(h) if self.relu else h


class ResBlock2d(nn.Module):
    """ResNet basic block that strides only along frequency."""

    def __init__(self, in_ch: int, out_ch: int, freq_stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride=(freq_stride, 1), padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        needs_projection = freq_stride != 1 or in_ch != out_ch
        self.shortcut = nn.Sequential(
            nn.Conv2d(in_ch, out_ch, 1, stride=(freq_stride, 1), bias=False), nn.BatchNorm2d(out_ch)
        ) if needs_projection else nn.Sequential()

    def forward(self, grid: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(grid)))))
        return F.relu(y + self.shortcut(grid))


class FrequencyFrontEnd(nn.Module):
    """2-D conv front end: (B, F, T) -> (B, channels * F/8, T); frequency shrinks 8x."""

    def __init__(self, feat_dim: int, channels: int = FRONT_CHANNELS):
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.layer1 = nn.Sequential(ResBlock2d(channels, channels, 2), ResBlock2d(channels, channels, 1))
        self.layer2 = nn.Sequential(ResBlock2d(channels, channels, 2), ResBlock2d(channels, channels, 1))
        self.conv2 = nn.Conv2d(channels, channels, 3, stride=(2, 1), padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.out_channels = channels * (feat_dim // 8)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(feats.unsqueeze(1))))
        x = self.layer2(self.layer1(x))
        x = F.relu(self.bn2(self.conv2(x)))
        return x.flatten(1, 2)


class TDNNLayer(nn.Module):
    """Conv1d (same padding) + batch norm + ReLU."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, stride: int = 1, dilation: int = 1):
        super().__init__()
        pad = dilation * (kernel_size // 2)
        self.linear = nn.Conv1d(in_ch, out_ch, kernel_size, stride=stride, padding=pad, dilation=dilation, bias=False)
        self.nonlinear = BatchNormReLU(out_ch)

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        return self.nonlinear(self.linear(seq))


class ContextGate(nn.Module):
    """Local dilated conv scaled by a sigmoid mask computed from utterance and segment averages."""

    def __init__(self, in_ch: int, out_ch: int, dilation: int, reduction: int = 2):
        super().__init__()
        self.linear_local = nn.Conv1d(in_ch, out_ch, 3, padding=dilation, dilation=dilation, bias=False)
        self.linear1 = nn.Conv1d(in_ch, in_ch // reduction, 1)
        self.linear2 = nn.Conv1d(in_ch // reduction, out_ch, 1)

    @staticmethod
    def segment_means(x: torch.Tensor) -> torch.Tensor:
        """Each frame replaced by the mean of its 100-frame segment (last segment may be shorter)."""
        means = F.avg_pool1d(x, SEGMENT_FRAMES, SEGMENT_FRAMES, ceil_mode=True)
        return means.repeat_interleave(SEGMENT_FRAMES, dim=-1)[..., : x.shape[-1]]

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        context = h.mean(dim=-1, keepdim=True) + self.segment_means(h)
        mask = torch.sigmoid(self.linear2(F.relu(self.linear1(context))))
        return self.linear_local(h) * mask


class DenseTDNNLayer(nn.Module):
    """BN-ReLU, 1x1 bottleneck, BN-ReLU, context-gated dilated conv producing `GROWTH` new channels."""

    def __init__(self, in_ch: int, dilation: int):
        super().__init__()
        self.nonlinear1 = BatchNormReLU(in_ch)
        self.linear1 = nn.Conv1d(in_ch, BOTTLENECK, 1, bias=False)
        self.nonlinear2 = BatchNormReLU(BOTTLENECK)
        self.cam_layer = ContextGate(BOTTLENECK, GROWTH, dilation)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.cam_layer(self.nonlinear2(self.linear1(self.nonlinear1(h))))


class DenseTDNNBlock(nn.Module):
    """Layers `tdnnd1..N`, each appending its output to the running feature map."""

    def __init__(self, num_layers: int, in_ch: int, dilation: int):
        super().__init__()
        for i in range(num_layers):
            self.add_module(f"tdnnd{i + 1}", DenseTDNNLayer(in_ch + i * GROWTH, dilation))

    def forward(self, fmap: torch.Tensor) -> torch.Tensor:
        for layer in self.children():
            fmap = torch.cat([fmap, layer(fmap)], dim=1)
        return fmap


class TransitLayer(nn.Module):
    """BN-ReLU then a bias-free 1x1 conv that halves the channels."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.nonlinear = BatchNormReLU(in_ch)
        self.linear = nn.Conv1d(in_ch, out_ch, 1, bias=False)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.linear(self.nonlinear(h))


class EmbeddingLayer(nn.Module):
    """Pooled statistics -> embedding: 1x1 conv then batch norm without affine parameters."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.linear = nn.Conv1d(in_ch, out_ch, 1, bias=False)
        self.nonlinear = BatchNormReLU(out_ch, affine=False, relu=False)

    def forward(self, stats: torch.Tensor) -> torch.Tensor:
        return self.nonlinear(self.linear(stats.unsqueeze(-1)).squeeze(-1))


class XVector(nn.Module):
    """TDNN trunk, dense blocks with transitions, mean/std pooling and the embedding layer."""

    def __init__(self, in_ch: int, embedding_size: int):
        super().__init__()
        self.tdnn = TDNNLayer(in_ch, TDNN_CHANNELS, 5, stride=2)
        channels = TDNN_CHANNELS
        for i, (num_layers, dilation) in enumerate(DENSE_BLOCKS, start=1):
            self.add_module(f"block{i}", DenseTDNNBlock(num_layers, channels, dilation))
            channels += num_layers * GROWTH
            self.add_module(f"transit{i}", TransitLayer(channels, channels // 2))
            channels //= 2
        self.out_nonlinear = BatchNormReLU(channels)
        self.dense = EmbeddingLayer(2 * channels, embedding_size)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        frames = self.tdnn(frames)
        for i in range(1, len(DENSE_BLOCKS) + 1):
            frames = getattr(self, f"transit{i}")(getattr(self, f"block{i}")(frames))
        frames = self.out_nonlinear(frames)
        stats = torch.cat([frames.mean(dim=-1), frames.std(dim=-1, unbiased=True)], dim=-1)
        return self.dense(stats)


class CAMPPlus(nn.Module):
    """(B, T, feat_dim) mean-normalised fbank -> (B, embedding_size) speaker embedding."""

    def __init__(self, feat_dim: int = 80, embedding_size: int = STYLE_DIM):
        super().__init__()
        self.feat_dim = feat_dim
        self.head = FrequencyFrontEnd(feat_dim)
        self.xvector = XVector(self.head.out_channels, embedding_size)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return self.xvector(self.head(feats.transpose(1, 2)))


def speaker_style(model: CAMPPlus, audio_16k: torch.Tensor) -> torch.Tensor:
    """(1, N) 16 kHz waveform -> (1, embedding_size) style: Kaldi fbank, mean removal, CAMPPlus."""
    feats = centered_fbank(audio_16k, num_mel_bins=model.feat_dim)
    if feats.shape[0] < 2:
        raise ValueError(f"prompt audio too short for a speaker embedding ({audio_16k.shape[-1]} samples at 16 kHz)")
    return model(feats.unsqueeze(0))


def _campplus_file(folder: ModelFolder) -> Path:
    try:
        return folder.path("campplus")
    except KeyError:  # versions whose file roles the folder table does not list yet (2.5)
        path = folder.root / "hf_cache" / "campplus_cn_common.bin"
        if not path.is_file():
            raise ModelFolderError(f"missing CAMPPlus speaker encoder weights: expected {path}") from None
        return path


def read_campplus(path: str | Path) -> CAMPPlus:
    """Build CAMPPlus from a state-dict file (float16 values are widened to float32); eval mode, CPU."""
    path = Path(path)
    state = read_checkpoint(path, "CAMPPlus speaker encoder weights")
    if not isinstance(state, dict) or "xvector.dense.linear.weight" not in state or "xvector.tdnn.linear.weight" not in state:
        raise ModelFolderError(f"{path}: not a CAMPPlus state dict (no xvector.tdnn / xvector.dense weights)")
    state = as_float32(state)
    embedding_size = state["xvector.dense.linear.weight"].shape[0]
    feat_dim = state["xvector.tdnn.linear.weight"].shape[1] // FRONT_CHANNELS * 8
    return load_weights(lambda: CAMPPlus(feat_dim=feat_dim, embedding_size=embedding_size), state,
                        path, "CAMPPlus weights do not match the architecture")


def load_campplus(folder: ModelFolder) -> CAMPPlus:
    """The folder's CAMPPlus speaker encoder, loaded once per folder."""
    return folder.component("campplus", lambda: read_campplus(_campplus_file(folder)))
