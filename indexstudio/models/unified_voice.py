"""UnifiedVoice: the text -> mel-code GPT of IndexTTS.

The sequence the GPT-2 stack sees is
`[conditioning latents][start_text, text..., stop_text][start_mel, codes...]`,
with learned position tables for the text and the mel part (none for the
conditioning).  `MelCodeGPT` holds that shared part (embeddings, GPT-2 stack,
final norm, heads, prompt building, the decoding hooks used by
`indexstudio.runtime.decoding`, and the teacher-forced latent pass); each
version adds its own conditioning.  `UnifiedVoiceV2` is the IndexTTS-2 model
(conformer + perceiver speaker latents, speed rows, emotion vector) and, with a
CAMPPlus speaker projection instead of the conformer, the IndexTTS-2.5 one.

Attribute names are the official checkpoint's module paths.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

import torch
import torch.nn.functional as F
from torch import nn

from indexstudio.models.conformer import ConformerConfig, ConformerEncoder
from indexstudio.models.folder import (ModelFolder, ModelFolderError, as_float32, load_weights, read_checkpoint,
                                      release_pages)
from indexstudio.models.gpt2 import GPT2Config, GPT2Transformer, KVCache, store_out_in
from indexstudio.models.perceiver import PerceiverResampler

# keys some checkpoints carry that no module uses: HF GPT-2 attention-mask buffers,
# and the token table HF's GPT2Model gets once the mel embedding is aliased into it.
_UNUSED_KEY_SUFFIXES = (".attn.bias", ".attn.masked_bias")
_UNUSED_KEYS = ("gpt.wte.weight", "gpt.wpe.weight")

G = TypeVar("G", bound=nn.Module)


# the gpt section's whole numbers, with the official defaults (None: no default, the key is needed)
_WHOLE_NUMBERS = {"layers": None, "model_dim": None, "heads": None, "max_text_tokens": 120, "max_mel_tokens": 250,
                  "number_text_tokens": None, "number_mel_codes": 8194, "start_text_token": 0, "stop_text_token": 1,
                  "start_mel_token": 8192, "stop_mel_token": 8193, "max_conditioning_inputs": 1}


@dataclass(frozen=True)
class UnifiedVoiceConfig:
    layers: int
    model_dim: int
    heads: int
    max_text_tokens: int
    max_mel_tokens: int
    number_text_tokens: int
    number_mel_codes: int
    start_text_token: int
    stop_text_token: int
    start_mel_token: int
    stop_mel_token: int
    max_conditioning_inputs: int = 1
    activation: str = "gelu_new"

    @classmethod
    def from_gpt_section(cls, gpt: dict) -> "UnifiedVoiceConfig":
        """From config.yaml's `gpt` section (official defaults where a key is absent)."""
        if not gpt.get("use_mel_codes_as_input", True):
            raise ModelFolderError("UnifiedVoice with use_mel_codes_as_input=false (MelEncoder input) is not supported")
        if gpt.get("train_solo_embeddings", False):
            raise ModelFolderError("UnifiedVoice with train_solo_embeddings=true is not supported")
        numbers = {}
        for key, default in _WHOLE_NUMBERS.items():
            if default is None and key not in gpt:
                raise ModelFolderError(f"config.yaml gpt section lacks {key!r}")
            value = gpt.get(key, default)
            try:
                numbers[key] = int(value)
            except (TypeError, ValueError):
                raise ModelFolderError(f"config.yaml gpt section: {key}: {value!r} is not a whole number") from None
        return cls(**numbers, activation=str(gpt.get("activation_function") or "gelu_new"))


class LearnedPositionEmbeddings(nn.Module):
    def __init__(self, length: int, dim: int):
        super().__init__()
        self.emb = nn.Embedding(length, dim)

    def _check(self, end: int) -> None:
        if end > self.emb.num_embeddings:
            raise ValueError(f"sequence needs {end} positions; the model's table has {self.emb.num_embeddings}")

    def forward(self, length: int) -> torch.Tensor:
        """Rows for positions [0, length): (length, D)."""
        self._check(length)
        return self.emb.weight[:length]

    def at(self, position: int) -> torch.Tensor:
        """Row of one position: (1, D)."""
        self._check(position + 1)
        return self.emb.weight[position:position + 1]


@dataclass
class MelPrompt:
    """Left-padded decoder prompt, ready for `runtime.decoding.generate`.

    embeds: (B, S, D) = [pad][conditioning][text][start_mel];
    input_ids: (B, S) the ids HF generate would see (ones, start_mel last) - they
    matter because the repetition penalty applies to them;
    attention_mask: (B, S) 0 on left padding.
    """
    embeds: torch.Tensor
    input_ids: torch.Tensor
    attention_mask: torch.Tensor


class MelCodeGPT(nn.Module):
    """Text/mel embeddings, GPT-2 stack and heads shared by every UnifiedVoice version."""

    def __init__(self, cfg: UnifiedVoiceConfig, generated_position_offset: int = 1):
        super().__init__()
        self.cfg = cfg
        self.generated_position_offset = generated_position_offset
        d = cfg.model_dim
        self.text_embedding = nn.Embedding(cfg.number_text_tokens + 1, d)
        self.mel_embedding = nn.Embedding(cfg.number_mel_codes, d)
        self.gpt = GPT2Transformer(GPT2Config(cfg.layers, d, cfg.heads, cfg.activation))
        self.mel_pos_embedding = LearnedPositionEmbeddings(cfg.max_mel_tokens + 2 + cfg.max_conditioning_inputs, d)
        self.text_pos_embedding = LearnedPositionEmbeddings(cfg.max_text_tokens + 2, d)
        self.final_norm = nn.LayerNorm(d)
        self.text_head = nn.Linear(d, cfg.number_text_tokens + 1)
        self.mel_head = nn.Linear(d, cfg.number_mel_codes)

    # ---- prompt -------------------------------------------------------------------------------
    def text_embeddings(self, tokens: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        """One row of text tokens (without start/stop) -> (L+2, D) embeddings with start/stop and positions."""
        c = self.cfg
        framed = F.pad(F.pad(tokens, (1, 0), value=c.start_text_token), (0, 1), value=c.stop_text_token)
        emb = self.text_embedding(framed) + self.text_pos_embedding(framed.shape[0])
        return emb if extra is None else emb + extra

    def build_prompt(self, conds: torch.Tensor, text_tokens: torch.Tensor,
                     text_extra: torch.Tensor | None = None) -> MelPrompt:
        """Conditioning (1 or B, C, D) + text (B, L) -> left-padded prompt ending in the start_mel token.

        Start/stop text ids inside `text_tokens` are treated as padding and dropped;
        `text_extra` (B, D), if given, is added to every text position (2.5 language rows).
        """
        c = self.cfg
        if text_tokens.ndim != 2:
            raise ValueError(f"text tokens must be (batch, length), got {tuple(text_tokens.shape)}")
        batch, width = text_tokens.shape
        if conds.ndim != 3 or conds.shape[0] not in (1, batch):
            raise ValueError(f"conditioning must be (1 or {batch}, N, dim), got {tuple(conds.shape)}")
        full = conds.shape[1] + width + 2
        rows, masks = [], []
        for i in range(batch):
            row = text_tokens[i]
            row = row[(row != c.stop_text_token) & (row != c.start_text_token)]
            text = self.text_embeddings(row, None if text_extra is None else text_extra[i])
            cond = conds[0] if conds.shape[0] == 1 else conds[i]
            pad = full - cond.shape[0] - text.shape[0]
            rows.append(torch.cat((text.new_zeros(pad, text.shape[1]), cond, text)))
            mask = torch.ones(full + 1, dtype=torch.long, device=text_tokens.device)
            mask[:pad] = 0
            masks.append(mask)
        embeds = torch.stack(rows)
        start = torch.full((batch, 1), c.start_mel_token, dtype=torch.long, device=text_tokens.device)
        start_emb = self.mel_embedding(start) + self.mel_pos_embedding.at(0)
        ids = torch.ones(batch, full + 1, dtype=torch.long, device=text_tokens.device)
        ids[:, -1] = c.start_mel_token
        return MelPrompt(torch.cat((embeds, start_emb), dim=1), ids, torch.stack(masks))

    # ---- decoding hooks (see runtime.decoding.StepLM) -----------------------------------------
    def new_cache(self, batch: int, max_len: int) -> KVCache:
        return self.gpt.new_cache(batch, max_len)

    def next_logits(self, embeds: torch.Tensor, cache: KVCache, input_pos: torch.Tensor,
                    mask: torch.Tensor | None) -> torch.Tensor:
        """Mel-head logits (B, V) at the last of the given positions."""
        hidden = self.gpt(embeds, cache, input_pos, mask)[:, -1]
        return self.mel_head(self.final_norm(hidden)).float()

    def embed_generated(self, tokens: torch.Tensor, generated: int) -> torch.Tensor:
        """(B,) codes, the `generated`-th new code of each row -> (B, 1, D) input embedding.

        Its mel position is `generated + generated_position_offset`.  The official
        KV-cached loop (2.x) takes the position as (attention-mask length - prompt
        length), which puts the k-th generated code at k + 1 (position 1 is never
        used): offset 1.  1.5 on CPU runs without a cache and re-embeds the whole
        mel part with contiguous positions: offset 0.
        """
        position = self.mel_pos_embedding.at(generated + self.generated_position_offset)
        return (self.mel_embedding(tokens) + position).unsqueeze(1)

    # ---- teacher forcing ----------------------------------------------------------------------
    def mel_latents(self, conds: torch.Tensor, text_tokens: torch.Tensor, text_lengths: torch.Tensor,
                    codes: torch.Tensor, code_lengths: torch.Tensor) -> torch.Tensor:
        """Final-norm hidden states at the mel positions, one per code: (B, T_codes, D).

        Positions past each length are set to the stop token first, as the official
        forward does; the two trailing positions (stop inputs) are dropped.
        """
        c = self.cfg
        steps_t = torch.arange(text_tokens.shape[1], device=text_tokens.device)
        text = text_tokens.masked_fill(steps_t[None] >= text_lengths[:, None].to(steps_t.device), c.stop_text_token)
        steps_m = torch.arange(codes.shape[1], device=codes.device)
        mel = codes.masked_fill(steps_m[None] >= code_lengths[:, None].to(steps_m.device), c.stop_mel_token)
        text = F.pad(F.pad(text, (0, 1), value=c.stop_text_token), (1, 0), value=c.start_text_token)
        mel = F.pad(F.pad(mel, (0, 1), value=c.stop_mel_token), (1, 0), value=c.start_mel_token)
        text_emb = self.text_embedding(text) + self.text_pos_embedding(text.shape[1])
        mel_emb = self.mel_embedding(mel) + self.mel_pos_embedding(mel.shape[1])
        hidden = self.gpt(torch.cat((conds, text_emb, mel_emb), dim=1))
        latents = self.final_norm(hidden[:, conds.shape[1]:])[:, -mel_emb.shape[1]:]
        return latents[:, :-2]


class UnifiedVoiceV2(MelCodeGPT):
    """IndexTTS-2 / 2.5 UnifiedVoice.

    speaker_mode 'conformer' (2): speaker latents from w2v-BERT features through a
    conformer + 32-latent perceiver, followed by two speed-embedding rows.
    speaker_mode 'campplus' (2.5): one latent projected from the CAMPPlus style,
    followed by two zero rows, plus per-language text embeddings.
    Both add an emotion vector (emotion conformer + 1-latent perceiver + two
    linears) to every speaker latent.
    """

    def __init__(self, cfg: UnifiedVoiceConfig, semantic_dim: int, emo_module: ConformerConfig,
                 emo_perceiver_mult: float, speaker_module: ConformerConfig | None = None,
                 speaker_perceiver_mult: float = 2.0, num_latents: int = 32,
                 style_dim: int = 192, num_languages: int = 0):
        super().__init__(cfg)
        d = cfg.model_dim
        self.speaker_mode = "conformer" if speaker_module is not None else "campplus"
        if speaker_module is not None:
            self.conditioning_encoder = ConformerEncoder(speaker_module)
            self.perceiver_encoder = PerceiverResampler(d, speaker_module.output_size, num_latents,
                                                        speaker_module.attention_heads, speaker_perceiver_mult)
            self.speed_emb = nn.Embedding(2, d)
        else:
            self.spk_emb_proj = nn.Linear(style_dim, d)
            self.lang_embedding = nn.Embedding(num_languages, d)
        self.emo_conditioning_encoder = ConformerEncoder(emo_module)
        self.emo_perceiver_encoder = PerceiverResampler(semantic_dim, emo_module.output_size, 1,
                                                        emo_module.attention_heads, emo_perceiver_mult)
        self.emo_layer = nn.Linear(d, d)
        self.emovec_layer = nn.Linear(semantic_dim, d)

    # ---- conditioning -------------------------------------------------------------------------
    def get_conditioning(self, feats: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, T, D_sem) w2v-BERT features -> (B, num_latents, model_dim) speaker latents (IndexTTS-2)."""
        if self.speaker_mode != "conformer":
            raise ValueError("this UnifiedVoice conditions on a CAMPPlus style (use speaker_latent_from_style)")
        frames, valid = self.conditioning_encoder(feats, lengths)
        return self.perceiver_encoder(frames, valid)

    def speaker_latent_from_style(self, style: torch.Tensor) -> torch.Tensor:
        """(B, style_dim) CAMPPlus style -> (B, 1, model_dim) speaker latent (IndexTTS-2.5)."""
        latent = self.spk_emb_proj(style)
        return latent if latent.ndim == 3 else latent.unsqueeze(1)

    def get_emo_conditioning(self, feats: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, T, D_sem) features -> (B, D_sem) emotion latent."""
        frames, valid = self.emo_conditioning_encoder(feats, lengths)
        return self.emo_perceiver_encoder(frames, valid).squeeze(1)

    def get_emovec(self, feats: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, T, D_sem) features -> (B, model_dim) emotion vector."""
        return self.emo_layer(self.emovec_layer(self.get_emo_conditioning(feats, lengths)))

    def merge_emovec(self, spk_feats: torch.Tensor, emo_feats: torch.Tensor, spk_lengths: torch.Tensor,
                     emo_lengths: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
        """Speaker emotion vector moved `alpha` of the way towards the emotion prompt's."""
        target = self.get_emovec(emo_feats, emo_lengths)
        base = self.get_emovec(spk_feats, spk_lengths)
        return base + alpha * (target - base)

    def conditioning_prefix(self, speaker_latent: torch.Tensor, emovec: torch.Tensor) -> torch.Tensor:
        """(B, N, D) speaker latents + (B, D) emotion vector -> (B, N + 2, D) GPT conditioning.

        2 appends speed_emb(1) then speed_emb(0) (the official code always uses
        these two rows); 2.5 appends two zero rows.
        """
        lat = speaker_latent + emovec.unsqueeze(1)
        b = lat.shape[0]
        if self.speaker_mode == "conformer":
            rows = self.speed_emb(torch.tensor([1, 0], device=lat.device)).unsqueeze(0).expand(b, -1, -1)
        else:
            rows = lat.new_zeros(b, 2, lat.shape[2])
        return torch.cat((lat, rows), dim=1)

    def prepare_gpt_inputs(self, conds: torch.Tensor, text_tokens: torch.Tensor,
                           langs: torch.Tensor | None = None) -> MelPrompt:
        """Decoder prompt; `langs` (B,) language ids are used by the 2.5 (CAMPPlus) model only."""
        extra = None
        if langs is not None and self.speaker_mode == "campplus":
            extra = self.lang_embedding(langs.reshape(text_tokens.shape[0], -1)[:, 0])
        return self.build_prompt(conds, text_tokens, extra)

    def forward(self, speaker_latent: torch.Tensor, text_tokens: torch.Tensor, text_lengths: torch.Tensor,
                codes: torch.Tensor, code_lengths: torch.Tensor, emovec: torch.Tensor) -> torch.Tensor:
        """Teacher-forced pass -> (B, T_codes, model_dim) latents for S2Mel."""
        conds = self.conditioning_prefix(speaker_latent, emovec)
        return self.mel_latents(conds, text_tokens, text_lengths, codes, code_lengths)


# ---- loading ------------------------------------------------------------------------------------
def read_gpt_state(path: Path) -> dict[str, torch.Tensor]:
    """A UnifiedVoice state dict (plain or under 'model'), minus keys no module uses."""
    state = read_checkpoint(path, "GPT checkpoint")
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    if not isinstance(state, dict) or "mel_head.weight" not in state or "gpt.ln_f.weight" not in state:
        raise ModelFolderError(f"{path}: not a UnifiedVoice state dict (no mel_head / gpt.ln_f weights)")
    return as_float32({k: v for k, v in state.items()
                       if k not in _UNUSED_KEYS and not k.endswith(_UNUSED_KEY_SUFFIXES)})


def load_gpt_weights(build: Callable[[], G], state: dict[str, torch.Tensor], path: Path) -> G:
    """The GPT `build()` makes, holding `state` (strictly), in eval mode, its GPT-2 projections stored (out, in)
    (`gpt2.Conv1D`); a mismatch names the checkpoint.  The model takes the tensors: `state` is emptied, so
    that each (in, out) weight goes as its (out, in) copy comes, its mapped pages with it (`release_pages`;
    not 1.9 GB more at full size)."""
    model = load_weights(build, state, path, "GPT weights do not match config.yaml's gpt section")
    state.clear()
    store_out_in(model, replaced=release_pages)
    return model


def _shape(state: dict[str, torch.Tensor], key: str, path: Path) -> torch.Size:
    if key not in state:
        raise ModelFolderError(f"{path}: GPT checkpoint lacks {key}")
    return state[key].shape


def gpt_section(config: dict) -> dict:
    """config.yaml's `gpt` section (every IndexTTS version has one), or a ModelFolderError."""
    gpt = config.get("gpt")
    if not isinstance(gpt, dict):
        raise ModelFolderError(f"config.yaml has no gpt section (its sections: {', '.join(map(str, config)) or 'none'})")
    return gpt


def build_unified_voice_v2(config: dict, state: dict[str, torch.Tensor], path: Path) -> UnifiedVoiceV2:
    """UnifiedVoiceV2 from a folder config and a state dict; widths the official code hard-codes
    (w2v-BERT width, CAMPPlus width, language count) are read from the stored tensors."""
    gpt = gpt_section(config)
    cfg = UnifiedVoiceConfig.from_gpt_section(gpt)
    semantic_dim = _shape(state, "emovec_layer.weight", path)[1]
    declared = (config.get("semantic_codec") or {}).get("hidden_size")
    if declared is not None and int(declared) != semantic_dim:
        raise ModelFolderError(f"{path}: emotion input width {semantic_dim} != semantic_codec.hidden_size {declared}")
    if "emo_condition_module" not in gpt:
        raise ModelFolderError("config.yaml gpt section lacks emo_condition_module")
    emo = gpt["emo_condition_module"]
    kwargs: dict = {}
    if "spk_emb_proj.weight" in state:
        kwargs["style_dim"] = _shape(state, "spk_emb_proj.weight", path)[1]
        kwargs["num_languages"] = _shape(state, "lang_embedding.weight", path)[0]
    else:
        if gpt.get("condition_type", "conformer_perceiver") != "conformer_perceiver":
            raise ModelFolderError(f"unsupported gpt.condition_type {gpt.get('condition_type')!r}")
        spk = gpt.get("condition_module")
        if not isinstance(spk, dict):
            raise ModelFolderError("config.yaml gpt section lacks condition_module")
        kwargs["speaker_module"] = ConformerConfig.from_module_config(semantic_dim, spk)
        kwargs["speaker_perceiver_mult"] = float(spk.get("perceiver_mult", 2))
        kwargs["num_latents"] = _shape(state, "perceiver_encoder.latents", path)[0]
    emotion = ConformerConfig.from_module_config(semantic_dim, emo)
    return load_gpt_weights(lambda: UnifiedVoiceV2(cfg, semantic_dim, emotion, float(emo.get("perceiver_mult", 2)),
                                                   **kwargs), state, path)


def load_unified_voice_v2(folder: ModelFolder) -> UnifiedVoiceV2:
    """The folder's UnifiedVoice (IndexTTS-2, or 2.5 with CAMPPlus speaker conditioning), loaded once."""
    def build() -> UnifiedVoiceV2:
        path = folder.path("gpt")
        return build_unified_voice_v2(folder.config, read_gpt_state(path), path)
    return folder.component("unified_voice_v2", build)
