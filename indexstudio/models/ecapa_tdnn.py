"""ECAPA-TDNN speaker encoder of the IndexTTS-1.5 vocoder (SpeechBrain layout).

A TDNN layer, a stack of SE-Res2Net blocks, multi-layer feature aggregation
of the blocks' outputs, attentive statistics pooling with global context,
batch norm and a 1x1 projection: prompt mel (B, T, n_mels) -> (B, 1, D).

All widths (TDNN channels, attention and squeeze-excitation channels,
Res2Net scale, kernel sizes) are read from the checkpoint tensors: the
official code builds the encoder from constructor defaults, which checkpoints
of other sizes do not follow.  Only the dilations are not recorded in any
tensor; they follow SpeechBrain's pattern (1 for the first TDNN and the
aggregation layer, 2, 3, 4, ... for the SE-Res2Net blocks).  Convolutions pad
'same' by reflection.  Inference only: no relative-length masking.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from indexstudio.models.folder import ModelFolderError

STATS_EPS = 1e-12


class ReflectConv1d(nn.Module):
    """Stride-1 conv with 'same' reflection padding (odd kernels), stored as `<name>.conv`."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int = 1):
        super().__init__()
        self.pad = dilation * (kernel_size - 1) // 2
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, dilation=dilation)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if self.pad:
            h = F.pad(h, (self.pad, self.pad), mode="reflect")
        return self.conv(h)


class BatchNorm(nn.Module):
    """Batch norm over channels, stored as `<name>.norm`."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.BatchNorm1d(channels)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.norm(h)


class TDNNBlock(nn.Module):
    """Conv -> ReLU -> batch norm."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int):
        super().__init__()
        self.conv = ReflectConv1d(in_channels, out_channels, kernel_size, dilation)
        self.norm = BatchNorm(out_channels)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.norm(F.relu(self.conv(h)))


class Res2NetBlock(nn.Module):
    """Split channels into `scale` groups; group i > 0 is convolved after adding group i-1's output."""

    def __init__(self, channels: int, scale: int, kernel_size: int, dilation: int):
        super().__init__()
        self.scale = scale
        width = channels // scale
        self.blocks = nn.ModuleList(TDNNBlock(width, width, kernel_size, dilation) for _ in range(scale - 1))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        groups = torch.chunk(h, self.scale, dim=1)
        outputs = [groups[0]]
        previous = None
        for block, group in zip(self.blocks, groups[1:]):
            previous = block(group if previous is None else group + previous)
            outputs.append(previous)
        return torch.cat(outputs, dim=1)


class SEBlock(nn.Module):
    """Squeeze-and-excitation: rescale channels by a gate computed from the time average."""

    def __init__(self, channels: int, se_channels: int):
        super().__init__()
        self.conv1 = ReflectConv1d(channels, se_channels, 1)
        self.conv2 = ReflectConv1d(se_channels, channels, 1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        gate = torch.sigmoid(self.conv2(F.relu(self.conv1(h.mean(dim=2, keepdim=True)))))
        return gate * h


class SERes2NetBlock(nn.Module):
    """TDNN (1x1) -> Res2Net -> TDNN (1x1) -> SE, plus a (projected) residual."""

    def __init__(self, in_channels: int, channels: int, scale: int, se_channels: int, kernel_size: int,
                 dilation: int):
        super().__init__()
        self.tdnn1 = TDNNBlock(in_channels, channels, 1, 1)
        self.res2net_block = Res2NetBlock(channels, scale, kernel_size, dilation)
        self.tdnn2 = TDNNBlock(channels, channels, 1, 1)
        self.se_block = SEBlock(channels, se_channels)
        self.shortcut = ReflectConv1d(in_channels, channels, 1) if in_channels != channels else None

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        residual = h if self.shortcut is None else self.shortcut(h)
        return self.se_block(self.tdnn2(self.res2net_block(self.tdnn1(h)))) + residual


def _weighted_stats(x: torch.Tensor, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation over time under per-frame `weights` summing to one."""
    mean = (weights * x).sum(dim=2)
    var = (weights * (x - mean.unsqueeze(2)).pow(2)).sum(dim=2)
    return mean, var.clamp(min=STATS_EPS).sqrt()


class AttentivePooling(nn.Module):
    """Attention-weighted mean and std over time: (B, C, T) -> (B, 2C, 1)."""

    def __init__(self, channels: int, attention_channels: int, global_context: bool):
        super().__init__()
        self.global_context = global_context
        self.tdnn = TDNNBlock(channels * 3 if global_context else channels, attention_channels, 1, 1)
        self.conv = ReflectConv1d(attention_channels, channels, 1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        frames = h.shape[-1]
        scores = h
        if self.global_context:
            # the attention also sees the utterance-level mean and std of every channel
            mean, std = _weighted_stats(h, h.new_full((h.shape[0], 1, frames), 1.0 / frames))
            scores = torch.cat([h, mean.unsqueeze(2).expand(-1, -1, frames), std.unsqueeze(2).expand(-1, -1, frames)], 1)
        attention = torch.softmax(self.conv(torch.tanh(self.tdnn(scores))), dim=2)
        mean, std = _weighted_stats(h, attention)
        return torch.cat([mean, std], dim=1).unsqueeze(2)


@dataclass(frozen=True)
class EcapaConfig:
    input_size: int
    channels: tuple[int, ...]            # first TDNN, SE-Res2Net blocks..., aggregation layer
    kernel_sizes: tuple[int, ...]
    res2net_scale: int
    se_channels: int
    attention_channels: int
    global_context: bool
    embedding_dim: int

    @property
    def dilations(self) -> tuple[int, ...]:
        return (1, *range(2, len(self.channels)), 1)


class EcapaTdnn(nn.Module):
    """Speaker embedding of a mel (B, T, input_size) -> (B, 1, embedding_dim)."""

    def __init__(self, cfg: EcapaConfig):
        super().__init__()
        self.cfg = cfg
        ch, ks, dil = cfg.channels, cfg.kernel_sizes, cfg.dilations
        self.blocks = nn.ModuleList([TDNNBlock(cfg.input_size, ch[0], ks[0], dil[0])])
        self.blocks.extend(
            SERes2NetBlock(ch[i - 1], ch[i], cfg.res2net_scale, cfg.se_channels, ks[i], dil[i])
            for i in range(1, len(ch) - 1))
        self.mfa = TDNNBlock(sum(ch[1:-1]), ch[-1], ks[-1], dil[-1])
        self.asp = AttentivePooling(ch[-1], cfg.attention_channels, cfg.global_context)
        self.asp_bn = BatchNorm(ch[-1] * 2)
        self.fc = ReflectConv1d(ch[-1] * 2, cfg.embedding_dim, 1)

    @property
    def input_size(self) -> int:
        return self.cfg.input_size

    @property
    def embedding_dim(self) -> int:
        return self.cfg.embedding_dim

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        if mel.dim() != 3 or mel.shape[-1] != self.cfg.input_size:
            raise ValueError(f"speaker encoder expects a mel (B, T, {self.cfg.input_size}), got {tuple(mel.shape)}")
        x = self.blocks[0](mel.transpose(1, 2))
        block_outputs = []
        for block in self.blocks[1:]:
            x = block(x)
            block_outputs.append(x)
        pooled = self.asp(self.mfa(torch.cat(block_outputs, dim=1)))
        return self.fc(self.asp_bn(pooled)).transpose(1, 2)

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor], where: str) -> EcapaTdnn:
        """Infer the architecture from the (prefix-free) tensors in `state`; weights are not loaded."""
        def weight(key: str) -> torch.Tensor:
            if key not in state:
                raise ModelFolderError(f"{where}: missing tensor {key}")
            return state[key]

        first = weight("blocks.0.conv.conv.weight")
        n_res2net = 0
        while f"blocks.{n_res2net + 1}.tdnn1.conv.conv.weight" in state:
            n_res2net += 1
        if n_res2net == 0:
            raise ModelFolderError(f"{where}: no SE-Res2Net blocks (blocks.1.tdnn1.*) found")
        scale = 1
        while f"blocks.1.res2net_block.blocks.{scale - 1}.conv.conv.weight" in state:
            scale += 1
        res2net_kernels = [weight(f"blocks.{i}.res2net_block.blocks.0.conv.conv.weight").shape[-1]
                           if scale > 1 else 1 for i in range(1, n_res2net + 1)]
        block_widths = [weight(f"blocks.{i}.tdnn1.conv.conv.weight").shape[0] for i in range(1, n_res2net + 1)]
        mfa = weight("mfa.conv.conv.weight")
        attention = weight("asp.tdnn.conv.conv.weight")
        return cls(EcapaConfig(
            input_size=first.shape[1],
            channels=(first.shape[0], *block_widths, mfa.shape[0]),
            kernel_sizes=(first.shape[-1], *res2net_kernels, mfa.shape[-1]),
            res2net_scale=scale,
            se_channels=weight("blocks.1.se_block.conv1.conv.weight").shape[0],
            attention_channels=attention.shape[0],
            global_context=attention.shape[1] == 3 * mfa.shape[0],
            embedding_dim=weight("fc.conv.weight").shape[0],
        ))
