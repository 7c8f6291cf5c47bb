"""Emotion vectors of IndexTTS 2.x: user weights over 8 emotions -> a GPT-width emotion vector.

The folder ships two matrices split into one group per emotion (`emo_num` rows
each): `feat1.pt` holds CAMPPlus speaker styles, `feat2.pt` the matching
emotion vectors.  For every emotion the row whose speaker style is closest
(cosine) to the prompt speaker is picked, the picked emotion rows are weighted
by the user's vector, and the rest of the weight goes to the prompt's own
emotion vector.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from indexstudio.models.campplus import STYLE_DIM
from indexstudio.models.folder import ModelFolder, ModelFolderError, read_checkpoint

# per-emotion damping of the UI helper (happy, angry, sad, afraid, disgusted, melancholic, surprised, calm)
EMOTION_BIAS = (0.9375, 0.875, 1.0, 1.0, 0.9375, 0.9375, 0.6875, 0.5625)
MAX_EMOTION_SUM = 0.8


def normalize_emo_vec(weights: list[float], apply_bias: bool = True) -> list[float]:
    """The official UI normalisation: optional per-emotion bias, then total capped at 0.8."""
    if apply_bias:
        weights = [w * b for w, b in zip(weights, EMOTION_BIAS)]
    total = sum(weights)
    if total > MAX_EMOTION_SUM:
        factor = MAX_EMOTION_SUM / total
        weights = [w * factor for w in weights]
    return weights


def scale_emo_vector(weights: list[float], alpha: float) -> list[float]:
    """emo_alpha applied to an emotion vector: clamp to [0, 1], scale and truncate to 4 decimals."""
    scale = max(0.0, min(1.0, alpha))
    if scale == 1.0:
        return weights
    return [int(w * scale * 10000) / 10000 for w in weights]


@dataclass
class EmotionMatrices:
    """feat1 (speaker styles) and feat2 (emotion vectors), split into per-emotion groups."""
    speaker_groups: tuple[torch.Tensor, ...]
    emotion_groups: tuple[torch.Tensor, ...]

    @classmethod
    def from_tensors(cls, spk_matrix: torch.Tensor, emo_matrix: torch.Tensor, emo_num: list[int]) -> "EmotionMatrices":
        rows = sum(emo_num)
        if spk_matrix.ndim != 2 or emo_matrix.ndim != 2 or spk_matrix.shape[0] != rows or emo_matrix.shape[0] != rows:
            raise ValueError(f"emotion matrices {tuple(spk_matrix.shape)} / {tuple(emo_matrix.shape)} "
                             f"do not have sum(emo_num) = {rows} rows")
        return cls(torch.split(spk_matrix.float(), emo_num), torch.split(emo_matrix.float(), emo_num))

    def nearest_rows(self, style: torch.Tensor) -> list[int]:
        """Per emotion group, the row whose speaker style has the highest cosine similarity to `style` (1, S)."""
        return [int(torch.argmax(F.cosine_similarity(style.float(), group, dim=1))) for group in self.speaker_groups]

    def weighted_vector(self, weights: torch.Tensor, rows: list[int]) -> torch.Tensor:
        """sum_g weights[g] * emotion_groups[g][rows[g]] -> (1, D)."""
        picked = torch.stack([group[i] for group, i in zip(self.emotion_groups, rows)])
        return (weights.unsqueeze(1) * picked).sum(0).unsqueeze(0)


def mix_emotion_vector(matrix_vector: torch.Tensor, weights: torch.Tensor, prompt_emovec: torch.Tensor) -> torch.Tensor:
    """Final emotion vector: the weighted matrix rows plus the unused weight of the prompt's own vector."""
    return matrix_vector + (1 - torch.sum(weights)) * prompt_emovec


def load_emotion_matrices(folder: ModelFolder) -> EmotionMatrices:
    """feat1.pt / feat2.pt of the folder split by config.yaml's `emo_num`, loaded once."""
    def build() -> EmotionMatrices:
        emo_num = folder.config.get("emo_num")
        if not isinstance(emo_num, list) or not emo_num:
            raise ModelFolderError("config.yaml has no emo_num list")
        tensors = []
        for role in ("spk_matrix", "emo_matrix"):
            tensors.append(read_checkpoint(folder.path(role), f"{role} tensor"))
        widths = {"spk_matrix": STYLE_DIM, "emo_matrix": (folder.config.get("gpt") or {}).get("model_dim")}
        for (role, width), tensor in zip(widths.items(), tensors):       # (feat2.pt copied over feat1.pt: found now)
            if width and getattr(tensor, "ndim", 0) == 2 and tensor.shape[1] != width:
                raise ModelFolderError(f"{folder.path(role)}: its rows are {tensor.shape[1]} wide, not {width} "
                                       f"({'the speaker style' if role == 'spk_matrix' else 'the GPT model_dim'}); "
                                       f"is it another file of the folder's, or another model's?")
        try:
            return EmotionMatrices.from_tensors(tensors[0], tensors[1], [int(n) for n in emo_num])
        except (ValueError, AttributeError) as exc:
            raise ModelFolderError(f"{folder.root}: {exc}") from exc
    return folder.component("emotion_matrices", build)
