"""w2v-BERT 2.0 semantic features of IndexTTS 2.x.

A prompt at 16 kHz becomes SeamlessM4T filter-bank frames (80 log-mel bins,
two frames stacked per step: 50 steps/s, 160 values), which the
Wav2Vec2BertModel turns into hidden states.  IndexTTS reads the output of
conformer layer 17 (`hidden_states[17]`, not the last layer) and standardises
it with the mean/variance stored in `wav2vec2bert_stats.pt`.  Layers above 17
never influence that output, so they are dropped at load time: less memory
and less compute, same numbers.

Both the extractor and the network are transformers' own classes, loaded from
the model folder without network access.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn
from transformers import SeamlessM4TFeatureExtractor, Wav2Vec2BertModel
from transformers.utils import logging as hf_logging

from indexstudio.models.folder import ModelFolder, ModelFolderError, read_checkpoint

# IndexTTS 2.x takes hidden_states[17]: index 0 is the projected input, index i the output of layer i.
SEMANTIC_LAYER = 17

Waveforms = torch.Tensor | Sequence[torch.Tensor]


class SemanticEncoder(nn.Module):
    """16 kHz waveforms -> standardised w2v-BERT layer-17 features (B, T, D) at 50 frames/s."""

    def __init__(self, extractor: SeamlessM4TFeatureExtractor, model: Wav2Vec2BertModel,
                 mean: torch.Tensor, std: torch.Tensor):
        super().__init__()
        self.extractor = extractor
        self.model = model
        self.register_buffer("mean", mean, persistent=False)
        self.register_buffer("std", std, persistent=False)

    @property
    def sampling_rate(self) -> int:
        return int(self.extractor.sampling_rate)

    @property
    def width(self) -> int:
        """Feature width D (the w2v-BERT hidden size)."""
        return int(self.model.config.hidden_size)

    def features(self, waveforms: Waveforms) -> tuple[torch.Tensor, torch.Tensor]:
        """SeamlessM4T input features (B, T, 160) and int32 attention mask (B, T), right-padded.

        `waveforms` is one waveform ((N,) or (1, N)), a (B, N) tensor, or a list of
        (N,) / (1, N) tensors of any lengths; all at `sampling_rate`.
        """
        batch = [_as_mono(w, i) for i, w in enumerate(_split_batch(waveforms))]
        out = self.extractor(batch, sampling_rate=self.sampling_rate, padding=True, return_tensors="pt")
        return out["input_features"], out["attention_mask"]

    def hidden_state(self, input_features: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Raw output of layer SEMANTIC_LAYER, (B, T, D); frames where the mask is 0 are padding."""
        param = next(self.model.parameters())
        out = self.model(
            input_features=input_features.to(param.device, param.dtype),
            attention_mask=attention_mask.to(param.device),
            output_hidden_states=True,
        )
        return out.hidden_states[SEMANTIC_LAYER]

    def forward(self, input_features: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Standardised layer-17 features (B, T, D), IndexTTS-2's `get_emb`."""
        return (self.hidden_state(input_features, attention_mask) - self.mean) / self.std

    def embed(self, waveforms: Waveforms) -> tuple[torch.Tensor, torch.Tensor]:
        """Waveforms -> (features (B, T, D), attention mask (B, T)) in one batched pass."""
        input_features, attention_mask = self.features(waveforms)
        return self(input_features, attention_mask), attention_mask


def _split_batch(waveforms: Waveforms) -> list[torch.Tensor]:
    if isinstance(waveforms, torch.Tensor):
        if waveforms.dim() == 1:
            return [waveforms]
        if waveforms.dim() == 2:
            return list(waveforms)
        raise ValueError(f"waveform tensor must be (N,) or (B, N), got shape {tuple(waveforms.shape)}")
    batch = list(waveforms)
    if not batch:
        raise ValueError("no waveforms given")
    return batch


def _as_mono(wave: torch.Tensor, index: int) -> np.ndarray:
    if not isinstance(wave, torch.Tensor):
        raise TypeError(f"waveform {index} is a {type(wave).__name__}, expected a torch.Tensor")
    if wave.dim() == 2 and wave.shape[0] == 1:
        wave = wave[0]
    if wave.dim() != 1:
        raise ValueError(f"waveform {index} must be mono, (N,) or (1, N); got shape {tuple(wave.shape)}")
    if not wave.is_floating_point():
        raise ValueError(f"waveform {index} must be float samples in [-1, 1], got {wave.dtype}")
    if wave.numel() == 0:
        raise ValueError(f"waveform {index} is empty")
    return wave.detach().to("cpu", torch.float32).numpy()


def _read_stats(path: Path, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    stats = read_checkpoint(path, "w2v-BERT feature statistics")
    if not isinstance(stats, dict) or not {"mean", "var"} <= stats.keys():
        raise ModelFolderError(f"{path}: expected a dict with 'mean' and 'var' tensors")
    mean, var = stats["mean"].float(), stats["var"].float()
    if mean.shape != (width,) or var.shape != (width,):
        raise ModelFolderError(
            f"{path}: mean/var shapes {tuple(mean.shape)}/{tuple(var.shape)} do not match the w2v-BERT width {width}"
        )
    return mean, var.sqrt()


def read_semantic_encoder(model_dir: str | Path, stats_path: str | Path) -> SemanticEncoder:
    """Load extractor, network (layers above SEMANTIC_LAYER dropped) and statistics; eval mode, CPU, float32."""
    model_dir, stats_path = Path(model_dir), Path(stats_path)
    hf_logging.disable_progress_bar()    # a loading bar per process is noise on the command line
    for name in ("config.json", "preprocessor_config.json"):
        if not (model_dir / name).is_file():
            raise ModelFolderError(f"{model_dir}: w2v-BERT 2.0 lacks {name}")
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()     # (its load report of a damaged folder is 40 lines: ours is one)
    try:
        extractor = SeamlessM4TFeatureExtractor.from_pretrained(model_dir, local_files_only=True)
        model, info = Wav2Vec2BertModel.from_pretrained(model_dir, local_files_only=True, output_loading_info=True)
    except Exception as exc:            # transformers and safetensors raise many kinds on a damaged folder
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "ignore_mismatched_sizes" in first:
            first = "its weights do not fit its config.json: mis-shaped tensors"
        raise ModelFolderError(f"{model_dir}: cannot load w2v-BERT 2.0 ({first})") from exc
    finally:
        hf_logging.set_verbosity(verbosity)
    missing = sorted(info.get("missing_keys", ())) + sorted(map(str, info.get("mismatched_keys", ())))
    if missing:
        raise ModelFolderError(f"{model_dir}: w2v-BERT weights missing or mis-shaped: {missing[:5]}")
    layers = model.config.num_hidden_layers
    if layers < SEMANTIC_LAYER:
        raise ModelFolderError(f"{model_dir}: w2v-BERT has {layers} layers, IndexTTS reads layer {SEMANTIC_LAYER}")
    del model.encoder.layers[SEMANTIC_LAYER:]
    model.float()
    model.config.num_hidden_layers = SEMANTIC_LAYER
    mean, std = _read_stats(stats_path, model.config.hidden_size)
    return SemanticEncoder(extractor, model, mean, std).eval()


def load_semantic_encoder(folder: ModelFolder) -> SemanticEncoder:
    """The folder's w2v-BERT semantic encoder, loaded once per folder."""
    return folder.component(
        "semantic_encoder", lambda: read_semantic_encoder(folder.path("w2v_bert"), folder.path("w2v_stat"))
    )
