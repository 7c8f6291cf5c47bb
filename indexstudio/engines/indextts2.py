"""IndexTTS-2: zero-shot voice cloning with emotion control, from an official checkpoint folder.

Pipeline of one segment (every stage is our own module under `indexstudio.models`):

    speaker prompt -> w2v-BERT features -> GPT speaker latents
                   -> semantic codes -> length regulator -> prompt condition (S2Mel)
                   -> S2Mel mel prompt, CAMPPlus style
    emotion        -> emotion vector (prompt audio, 8-value vector or text)
    text -> BPE ids -> GPT decoding -> codes -> GPT latents -> gpt_layer + codec embedding
         -> length regulator -> CFM (25 Euler steps, CFG 0.7) -> mel -> BigVGAN -> 22.05 kHz

`IndexTTS2` is the model stack (no per-call state on the instance; speaker and
emotion conditioning are cached by the audio's content hash), `infer` is the
official `IndexTTS2.infer` semantics used by the conformance runner, and
`IndexTTS2Engine` plugs the stack into the product's engine interface.

Stages report their tensors to an optional `trace(step, **tensors)` callback
(names as in the golden data), and CFM noise can be supplied by `noise(shape)`.
"""
from __future__ import annotations

import dataclasses
import logging
import random
from dataclasses import dataclass
from collections import Counter
from pathlib import Path
from typing import Any, Callable, ClassVar, Collection, Iterator, Mapping, Sequence

import numpy as np
import torch

from indexstudio.audio.features import S2MelSpectrogramParams, centered_fbank, kaldi_fbank, s2mel_mel_spectrogram
from indexstudio.audio.prompt import V2_MAX_PROMPT_SECONDS, check_reference, load_prompt_v2, warn_once
from indexstudio.audio.resample import resample
from indexstudio.engines.base import Controls, SegmentAudio
from indexstudio.engines.indextts_common import (ConditioningCache, DecodingOptions, IndexTTSEngine, Noise,
                                                 RuntimeSettings, Trace,
                                                 decode_prompts, no_trace, seeded_generator, segment_generators,
                                                 split_text, to_int16)
from indexstudio.engines.reference_voices import resolve_reference
from indexstudio.files import content_hash
from indexstudio.errors import EngineError, InputError
from indexstudio.models.bigvgan import load_bigvgan_v2
from indexstudio.models.campplus import load_campplus
from indexstudio.models.codes import trim_at_stop
from indexstudio.models.emotion import (MAX_EMOTION_SUM, load_emotion_matrices, mix_emotion_vector, normalize_emo_vec,
                                        scale_emo_vector)
from indexstudio.models.folder import ModelFolder, ModelFolderError
from indexstudio.models.qwen_emotion import check_text_emotion
from indexstudio.models.s2mel import load_s2mel, sample_euler_cfg, v2_target_lengths
from indexstudio.models.s2mel.length_regulator import MEL_FRAMES_PER_CODE
from indexstudio.models.semantic_codec import load_semantic_codec
from indexstudio.models.unified_voice import MelPrompt, load_unified_voice_v2
from indexstudio.models.w2vbert import load_semantic_encoder
from indexstudio.runtime.decode_engine import decode_rows
from indexstudio.runtime.decoding import DecodingConfig
from indexstudio.runtime.memory import MemoryBoundBatches
from indexstudio.text.indextts import load_text_frontend

log = logging.getLogger(__name__)

EMOTIONS = ("happy", "angry", "sad", "afraid", "disgusted", "melancholic", "surprised", "calm")
MIN_SPEED, MAX_SPEED = 0.5, 2.0


@dataclass(frozen=True)
class IndexTTS2Options(DecodingOptions):
    """Per-request settings (the engine options of `Controls.options`); defaults are the official ones."""
    engine_label: ClassVar[str] = "IndexTTS-2"

    # emotion: from a second reference audio, an 8-value vector, or the text (Qwen emotion model)
    emo_audio: str | None = None
    emo_alpha: float = 1.0
    emo_vector: tuple[float, ...] | None = None
    emo_text: str | None = None
    use_emo_text: bool = False
    use_random: bool = False
    normalize_emo_vector: bool = True      # the official web UI's bias table and 0.8 cap
    # S2Mel
    diffusion_steps: int = 25
    cfg_rate: float = 0.7
    s2mel_batch_size: int = 8              # segments per flow-matching batch (speed/memory only, same audio)
    vocoder_batch_size: int | None = None  # segments per BigVGAN batch; None: the flow-matching batch on an
                                           # accelerator, 1 on CPU (padded batches ran 2.7x slower there)
    quick_streaming_tokens: int = 0        # the first N text tokens of a request go in short segments, so the
                                           # first audio comes sooner (official `more_segment_before`)

    @classmethod
    def parse_field(cls, name: str, value: Any) -> Any:
        return emotion_weights(value) if name == "emo_vector" else super().parse_field(name, value)

    def check(self) -> None:
        super().check()
        for name in ("diffusion_steps", "s2mel_batch_size", "vocoder_batch_size"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise InputError(f"{name} must be at least 1, got {value}")
        if self.quick_streaming_tokens < 0:
            raise InputError(f"quick_streaming_tokens must not be negative, got {self.quick_streaming_tokens}")
        if self.cfg_rate < 0:
            raise InputError(f"cfg_rate must not be negative, got {self.cfg_rate}")
        if not 0.0 <= self.emo_alpha <= 1.0:
            raise InputError(f"--emotion-alpha (emo_alpha) must lie in [0, 1], got {self.emo_alpha:g}")
        if self.emo_vector and self.normalize_emo_vector and max(self.emo_vector) > 1:
            over = ", ".join(f"{name}={w:g}" for name, w in zip(EMOTIONS, self.emo_vector) if w > 1)
            warn_once(f"emotion weights over 1 ({over}) are no stronger: the weights are scaled to a total of "
                      f"{MAX_EMOTION_SUM:g} at most (the official cap); each runs from 0 to 1")


def emotion_weights(value: Any) -> tuple[float, ...]:
    """8 emotion weights from a sequence, a {name: weight} mapping or a "happy=0.5,calm=0.2" / "0.5,0,..." string
    (names in any case, spaces around them ignored)."""
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",") if p.strip()]
        named = [p for p in parts if "=" in p or p.strip().lower() in EMOTIONS]
        if named and len(named) < len(parts) or any("=" not in p for p in named):
            example = ",".join(f"{p.split('=')[0].strip().lower()}=0.6" for p in named[:2]) or "happy=0.6"
            raise InputError(f"emotion {value!r}: give each emotion a weight ({example}), or 8 numbers")
        if named:
            pairs = [(k.strip().lower(), v.strip()) for k, v in (p.split("=", 1) for p in parts)]
            twice = sorted({k for k, _ in pairs if [key for key, _ in pairs].count(k) > 1})
            if twice:
                raise InputError(f"emotion {value!r} names {', '.join(twice)} twice")
            value = dict(pairs)
        else:
            value = parts
    if isinstance(value, Mapping):
        unknown = sorted(set(value) - set(EMOTIONS))
        if unknown:
            raise InputError(f"unknown emotion(s) {', '.join(unknown)}; known: {', '.join(EMOTIONS)}")
        value = [value.get(name, 0.0) for name in EMOTIONS]
    try:
        weights = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        bad = next(str(v) for v in value if not _is_number(v))
        raise InputError(f"emotion weights are numbers, got {bad!r}") from None
    if len(weights) != len(EMOTIONS):
        raise InputError(f"emotion vector needs {len(EMOTIONS)} values ({', '.join(EMOTIONS)}), got {len(weights)}")
    bad = [f"{name}={w:g}" for name, w in zip(EMOTIONS, weights) if not np.isfinite(w) or w < 0]
    if bad:
        raise InputError(f"--emotion: each weight runs from 0 to 1, got {', '.join(bad)}")
    return weights


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def output_rate(config: Mapping[str, Any]) -> int:
    """The sample rate an IndexTTS-2 (or 2.5) folder's model speaks at, from its config.yaml."""
    return int(((config.get("s2mel") or {}).get("preprocess_params") or {}).get("sr", 22050))


def check_speed(speed: float, label: str = "IndexTTS-2") -> None:
    if not MIN_SPEED <= speed <= MAX_SPEED:
        raise InputError(f"{label} speed must lie in [{MIN_SPEED}, {MAX_SPEED}], got {speed}")


@dataclass(frozen=True)
class SpeakerPrompt:
    """Everything derived from one speaker reference audio."""
    features: torch.Tensor      # (1, T, D) standardised w2v-BERT features of the 16 kHz prompt
    latent: torch.Tensor        # (1, N, d) GPT speaker latents
    style: torch.Tensor         # (1, S) CAMPPlus style
    mel: torch.Tensor           # (1, mel, P) S2Mel prompt mel
    condition: torch.Tensor     # (1, P, C) length-regulated prompt condition


@dataclass(frozen=True)
class EmotionCondition:
    merged: torch.Tensor        # (1, d) speaker emotion moved `alpha` towards the emotion prompt
    alpha: float
    vector: torch.Tensor        # (1, d) what the GPT gets (merged, or mixed with the emotion matrix)


class IndexTTS2:
    """The IndexTTS-2 model stack of one folder on one device."""

    version: ClassVar[str] = "2"
    uses_gpt_latents: ClassVar[bool] = True      # S2Mel's condition takes the GPT's latents (its gpt_layer)

    def __init__(self, folder: ModelFolder, device: torch.device | str = "cpu", gpt_dtype: torch.dtype = torch.float32,
                 runtime: RuntimeSettings = RuntimeSettings()):
        if folder.version != self.version:
            raise EngineError(f"{folder.root} holds an IndexTTS-{folder.version} model, not IndexTTS-{self.version}")
        self.folder = folder
        self.device = torch.device(device)
        self.gpt_dtype = gpt_dtype
        self.frontend = self.load_frontend(folder)
        self.encoder = load_semantic_encoder(folder).to(self.device)
        self.codec = self.load_codec(folder).to(self.device)
        self.campplus = load_campplus(folder).to(self.device)
        # half-precision GPT: weights (and so the KV cache) in gpt_dtype, autocast around its calls for
        # the float32 inputs; every other stage stays float32 as in the official inference
        self.gpt = load_unified_voice_v2(folder).to(self.device, gpt_dtype)
        self.s2mel = load_s2mel(folder).to(self.device)
        if self.uses_gpt_latents and self.s2mel.gpt_layer is None:
            raise ModelFolderError(f"{folder.path('s2mel')}: no gpt_layer - an IndexTTS-2.5 S2Mel checkpoint in an "
                                   "IndexTTS-2 folder?")
        self.runtime = runtime
        self.estimator = runtime.s2mel_estimator(self.s2mel.estimator, self.device)
        self.vocoder = load_bigvgan_v2(folder).to(self.device)
        self.emotions = load_emotion_matrices(folder)
        s2mel_cfg = folder.config.get("s2mel") or {}
        self.mel_params = S2MelSpectrogramParams.from_config(s2mel_cfg)
        self.sample_rate = output_rate(folder.config)
        self.semantic_rate = self.encoder.sampling_rate
        self._speakers = ConditioningCache()
        self._emotion_prompts = ConditioningCache()
        self._merged_emotions = ConditioningCache()
        # batch sizes that run out of memory go on halved (same audio), and stay halved for this model
        self.gpt_rows = MemoryBoundBatches("GPT decoding", "rows")
        self.flow_matching_batches = MemoryBoundBatches("flow matching")
        self.vocoder_batches = MemoryBoundBatches("the vocoder")

    @staticmethod
    def load_frontend(folder: ModelFolder) -> Any:
        return load_text_frontend(folder)

    @staticmethod
    def load_codec(folder: ModelFolder) -> torch.nn.Module:
        return load_semantic_codec(folder)

    # ---- conditioning -------------------------------------------------------------------------
    @torch.inference_mode()
    def speaker(self, path: str | Path, trace: Trace | None = None) -> SpeakerPrompt:
        """Speaker conditioning of a reference audio (cached by content unless traced)."""
        path = Path(path)
        if trace is not None:
            return self._speaker(path, trace)
        return self._speakers.get(path, lambda: self._speaker(path, no_trace))

    CAMPPLUS_TRACE_FIELD: ClassVar[str] = "feat"   # the golden data's name of the CAMPPlus input

    def _speaker(self, path: Path, trace: Trace) -> SpeakerPrompt:
        audio = load_prompt_v2(path, self.sample_rate, V2_MAX_PROMPT_SECONDS)
        trace("load_audio", audio=audio)
        audio_16k = resample(audio, self.sample_rate, self.semantic_rate)
        if audio_16k.shape[-1] < self.semantic_rate // 10:
            raise InputError(f"reference audio {path} is too short ({audio.shape[-1] / self.sample_rate:.2f} s)")
        input_features, attention_mask = self.encoder.features(audio_16k)
        trace("extract_features", audio=audio_16k, input_features=input_features, attention_mask=attention_mask)
        features = self.encoder(input_features.to(self.device), attention_mask.to(self.device))
        trace("get_emb", out=features)
        content = self.prompt_content(features, trace)
        mel = s2mel_mel_spectrogram(audio.to(self.device), self.mel_params)
        trace("mel_fn", mel=mel)
        fbank = kaldi_fbank(audio_16k, num_mel_bins=self.campplus.feat_dim, sample_frequency=self.semantic_rate)
        trace("kaldi_fbank", audio_16k=audio_16k, fbank=fbank)
        feat = centered_fbank(audio_16k, num_mel_bins=self.campplus.feat_dim).unsqueeze(0).to(self.device)
        style = self.campplus(feat)
        trace("campplus", out=style, **{self.CAMPPLUS_TRACE_FIELD: feat})
        mel_frames = torch.tensor([mel.shape[-1]], device=self.device)
        condition = self.s2mel.length_regulator(content, mel_frames)
        trace("length_regulator", x=content, ylens=mel_frames, out=condition)
        with self._gpt_precision():
            latent = self.speaker_latent(features, style).float()
        return SpeakerPrompt(features, latent, style, mel, condition)

    def prompt_content(self, features: torch.Tensor, trace: Trace = no_trace) -> torch.Tensor:
        """The S2Mel prompt's content features: the quantised w2v-BERT features (IndexTTS-2)."""
        codes, quantized = self.codec.quantize(features)
        trace("codec_quantize", codes=codes, quantized=quantized)
        return quantized

    def speaker_latent(self, features: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """GPT speaker latents: conformer + perceiver over the w2v-BERT features (IndexTTS-2)."""
        return self.gpt.get_conditioning(features, self._width(features))

    @torch.inference_mode()
    def emotion_prompt(self, path: str | Path, trace: Trace | None = None) -> torch.Tensor:
        """(1, T, D) w2v-BERT features of an emotion reference, read at 16 kHz (cached by content unless traced)."""
        path = Path(path)

        def build(trace: Trace) -> torch.Tensor:
            audio = load_prompt_v2(path, self.semantic_rate, V2_MAX_PROMPT_SECONDS)
            trace("load_audio", audio=audio)
            input_features, attention_mask = self.encoder.features(audio)
            trace("extract_features", audio=audio, input_features=input_features, attention_mask=attention_mask)
            features = self.encoder(input_features.to(self.device), attention_mask.to(self.device))
            trace("get_emb", out=features)
            return features
        if trace is not None:
            return build(trace)
        return self._emotion_prompts.get(path, lambda: build(no_trace))

    @torch.inference_mode()
    def emotion(self, speaker: SpeakerPrompt, speaker_path: str | Path, opts: IndexTTS2Options, text: str = "",
                rng: random.Random | None = None, trace: Trace | None = None) -> EmotionCondition:
        """The emotion vector for `opts`, as the official infer builds it.

        An emotion vector (given, or detected from text) replaces the emotion audio and is
        scaled by emo_alpha; without emotion audio the speaker prompt is its own emotion
        reference at alpha 1.
        """
        trace = trace or no_trace
        weights = None
        if opts.use_emo_text or opts.emo_text:
            weights = self.text_emotion(opts.emo_text or text)
        elif opts.emo_vector is not None:
            weights = list(opts.emo_vector)
        if weights is not None and opts.normalize_emo_vector:
            weights = normalize_emo_vec(weights, apply_bias=True)
        if weights is not None:
            weights = scale_emo_vector(weights, opts.emo_alpha)
        emo_path, alpha = (opts.emo_audio, opts.emo_alpha) if weights is None and opts.emo_audio else (speaker_path, 1.0)

        weight_tensor = rows = None
        if weights is not None:
            weight_tensor = torch.tensor(weights, dtype=torch.float32, device=self.device)
            if opts.use_random:
                rng = rng or random.Random()
                rows = [rng.randrange(len(g)) for g in self.emotions.speaker_groups]
            else:
                rows = self.emotions.nearest_rows(speaker.style.cpu())
                for row in rows:
                    trace("most_similar", index=torch.tensor(row))
        merged = self.merged_emotion(speaker, speaker_path, emo_path, alpha, trace)
        vector = merged
        if weight_tensor is not None:
            matrix = self.emotions.weighted_vector(weight_tensor.cpu(), rows).to(self.device)
            vector = mix_emotion_vector(matrix, weight_tensor, merged)
        return EmotionCondition(merged, alpha, vector)

    def merged_emotion(self, speaker: SpeakerPrompt, speaker_path: str | Path, emo_path: str | Path, alpha: float,
                       trace: Trace = no_trace) -> torch.Tensor:
        """The GPT's emotion vector from the emotion reference and the speaker, merged at `alpha` (a
        conformer pass over both; cached by both audios' content and alpha unless traced)."""
        def build(trace: Trace) -> torch.Tensor:
            emo_features = self.emotion_prompt(emo_path, trace if trace is not no_trace else None)
            with self._gpt_precision():
                return self.gpt.merge_emovec(speaker.features, emo_features, self._width(speaker.features),
                                             self._width(emo_features), alpha=alpha).float()
        if trace is not no_trace:
            return build(trace)
        return self._merged_emotions.get(Path(emo_path), lambda: build(no_trace), content_hash(Path(speaker_path)),
                                         alpha)

    def text_emotion_model(self):
        """The folder's Qwen text-to-emotion model (loaded on first use; ModelFolderError when absent)."""
        from indexstudio.models.qwen_emotion import load_text_emotion
        emotion_model = load_text_emotion(self.folder)
        if emotion_model.model.device != self.device:
            emotion_model.model.to(self.device)
        return emotion_model

    def text_emotion(self, text: str) -> list[float]:
        """8 emotion weights detected in `text`."""
        if not text.strip():
            raise InputError("emotion from text needs a non-empty text")
        return list(self.text_emotion_model().emotion_vector(text))

    # ---- one segment, stage by stage ----------------------------------------------------------
    VOCODER_TRACE_FIELD: ClassVar[str] = "mel"     # the golden data's name of the vocoder input

    @torch.inference_mode()
    def segment(self, text_ids: Sequence[int], speaker: SpeakerPrompt, emotion: EmotionCondition,
                opts: IndexTTS2Options, generator: torch.Generator | None = None, speed: float = 1.0,
                language: int | None = None, noise: Noise | None = None, trace: Trace | None = None) -> torch.Tensor:
        """Text ids of one segment -> (1, N) float waveform in [-1, 1] at `sample_rate`."""
        trace = trace or no_trace
        tokens = torch.tensor([list(text_ids)], dtype=torch.int32, device=self.device)
        trace("merge_emovec", out=emotion.merged, alpha=torch.tensor(emotion.alpha, dtype=torch.float32))
        codes = self.codes(tokens, speaker, emotion, opts, generator, language, trace)
        condition = self.condition(tokens, codes, speaker, emotion, opts, speed, trace)
        mu = torch.cat([speaker.condition, condition], dim=1)
        shape = (1, speaker.mel.shape[1], mu.shape[1])
        start = noise(shape) if noise is not None else torch.randn(shape, generator=generator, device=self.device)
        mel = self.mels([condition], speaker, opts, [start.to(self.device)], trace)[0]
        return self.vocode(mel, trace)

    def codes(self, tokens: torch.Tensor, speaker: SpeakerPrompt, emotion: EmotionCondition, opts: IndexTTS2Options,
              generator: torch.Generator | None = None, language: int | None = None,
              trace: Trace = no_trace) -> torch.Tensor:
        """GPT decoding of one segment's (1, L) text ids -> (1, T) codes without the stop token."""
        prompt = self.gpt_prompt(tokens, speaker, emotion, language)
        raw = decode_rows(self.gpt, prompt, self.decoding(opts), [generator],
                          weights=self.runtime.gpt_weights, compiled=self.runtime.compile_decode)[0].unsqueeze(0)
        extra = {} if language is None else {"langs": torch.tensor([language], dtype=torch.long, device=self.device)}
        trace("gpt_inference_speech", text_tokens=tokens, emo_vec=emotion.vector, codes_raw=raw,
              speech_conditioning_latent=speaker.latent, campplus_embedding=speaker.style, **extra)
        return self.finish_codes(raw, tokens.shape[1])

    def gpt_prompt(self, tokens: torch.Tensor, speaker: SpeakerPrompt, emotion: EmotionCondition,
                   language: int | None = None) -> MelPrompt:
        gpt = self.gpt
        langs = None if language is None else torch.tensor([language], dtype=torch.long, device=self.device)
        with self._gpt_precision():
            return gpt.prepare_gpt_inputs(gpt.conditioning_prefix(speaker.latent, emotion.vector), tokens, langs)

    def decoding(self, opts: IndexTTS2Options) -> DecodingConfig:
        return opts.decoding(self.gpt.cfg.stop_mel_token, self.gpt.cfg.max_mel_tokens)

    def finish_codes(self, raw: torch.Tensor, text_tokens: int) -> torch.Tensor:
        """(1, T) generated codes -> codes before the stop token (a warning when it never came)."""
        stop = self.gpt.cfg.stop_mel_token
        if bool((raw[:, -1] != stop).any()):
            warn_once(f"generation reached max_mel_tokens ({raw.shape[1]}) before the stop token: segments may "
                      "be cut short - raise max_mel_tokens, or use shorter segments (--max-segment-tokens)")
        codes, _ = trim_at_stop(raw, stop)
        if codes.shape[1] == 0:
            raise EngineError("the GPT produced no speech codes for this segment")
        return codes

    def condition(self, tokens: torch.Tensor, codes: torch.Tensor, speaker: SpeakerPrompt, emotion: EmotionCondition,
                  opts: IndexTTS2Options, speed: float = 1.0, trace: Trace = no_trace) -> torch.Tensor:
        """Codes -> (1, F, C) length-regulated S2Mel condition: GPT latents + codec embedding, 1.72 frames a code."""
        code_lens = torch.tensor([codes.shape[1]], device=self.device)
        with self._gpt_precision():
            text_lens = torch.tensor([tokens.shape[1]], device=self.device)
            latent = self.gpt(speaker.latent.to(self.gpt_dtype), tokens, text_lens, codes, code_lens,
                              emotion.vector.to(self.gpt_dtype)).float()
        trace("gpt_forward_latent", codes=codes, code_lens=code_lens, out=latent)
        projected = self.s2mel.project_gpt_latent(latent)
        trace("gpt_layer", x=latent, out=projected)
        embedding = self.codec.vq2emb(codes)
        trace("vq2emb", codes=codes.unsqueeze(1), emb=embedding)
        content = embedding.transpose(1, 2) + projected
        return self.regulate(content, self.target_frames(code_lens, speed), trace)

    def regulate(self, content: torch.Tensor, frames: torch.Tensor, trace: Trace = no_trace) -> torch.Tensor:
        condition = self.s2mel.length_regulator(content, frames)
        trace("length_regulator", x=content, ylens=frames, out=condition)
        return condition

    def mels(self, conditions: Sequence[torch.Tensor], speaker: SpeakerPrompt, opts: IndexTTS2Options,
             starts: Sequence[torch.Tensor], trace: Trace = no_trace) -> list[torch.Tensor]:
        """CFM for several segments of one speaker as one padded batch -> each one's (1, mel, F) target mel.

        `starts[i]` is segment i's (1, mel, P + F_i) noise; every item comes out as if sampled alone.
        """
        prompt_frames = speaker.mel.shape[-1]
        lengths = [prompt_frames + c.shape[1] for c in conditions]
        width, batch = self.runtime.s2mel_frames(max(lengths), self.device), len(conditions)
        mu = speaker.condition.new_zeros(batch, width, speaker.condition.shape[-1])
        start = speaker.mel.new_zeros(batch, speaker.mel.shape[1], width)
        for i, (condition, noise) in enumerate(zip(conditions, starts)):
            mu[i, :lengths[i]] = torch.cat([speaker.condition[0], condition[0]])
            start[i, :, :lengths[i]] = noise[0]
        x_lens = torch.tensor(lengths, device=self.device)
        mel = sample_euler_cfg(self.estimator, start, mu, speaker.mel.expand(batch, -1, -1),
                               speaker.style.expand(batch, -1), x_lens, n_steps=opts.diffusion_steps,
                               cfg_rate=opts.cfg_rate)
        if batch == 1:
            trace("cfm_inference", mu=mu, x_lens=x_lens, style=speaker.style, out=mel,
                  n_timesteps=torch.tensor(opts.diffusion_steps), inference_cfg_rate=torch.tensor(opts.cfg_rate))
        return [mel[i:i + 1, :, prompt_frames:lengths[i]] for i in range(batch)]

    def vocode(self, mel: torch.Tensor, trace: Trace = no_trace) -> torch.Tensor:
        """(1, mel, F) -> (1, N) float waveform on the CPU."""
        wav = self.vocoder(mel)
        trace("bigvgan", out=wav, **{self.VOCODER_TRACE_FIELD: mel})
        return wav.reshape(1, -1).float().cpu()

    def vocode_many(self, mels: Sequence[torch.Tensor], batch_size: int) -> list[torch.Tensor]:
        """Several (1, mel, F_i) -> each one's (1, N_i) waveform, `batch_size` at a time as padded batches
        (BigVGAN keeps every item's own edges, so each comes out as if vocoded alone)."""
        waves = []
        for first in range(0, len(mels), batch_size):
            group = mels[first:first + batch_size]
            if len(group) == 1:
                waves.append(self.vocode(group[0]))
                continue
            frames = [m.shape[-1] for m in group]
            batch = group[0].new_zeros(len(group), group[0].shape[1], max(frames))
            for i, mel in enumerate(group):
                batch[i, :, :frames[i]] = mel[0]
            wav = self.vocoder(batch, torch.tensor(frames, device=self.device))
            hop = self.vocoder.hop_length
            waves.extend(wav[i, :, :f * hop].reshape(1, -1).float().cpu() for i, f in enumerate(frames))
        return waves

    def vocoder_batch(self, opts: IndexTTS2Options) -> int:
        if opts.vocoder_batch_size is not None:
            return opts.vocoder_batch_size
        return 1 if self.device.type == "cpu" else opts.s2mel_batch_size

    @staticmethod
    def target_frames(code_lens: torch.Tensor, speed: float = 1.0) -> torch.Tensor:
        """Mel frames for the codes: the official (code_lens * 1.72).long(), stretched by 1/speed."""
        if speed == 1.0:
            return v2_target_lengths(code_lens)
        check_speed(speed)
        return (code_lens.float() * (MEL_FRAMES_PER_CODE / speed)).long().clamp(min=1)

    # ---- whole texts --------------------------------------------------------------------------
    def silence(self, opts: IndexTTS2Options) -> int:
        return int(self.sample_rate * opts.interval_silence_ms / 1000.0)

    def parts(self, text: str, opts: IndexTTS2Options, quick: bool = True) -> list[tuple[list[int], int | None]]:
        """The GPT segments of `text`: (text ids, language row; None for IndexTTS-2).

        `quick`: `text` opens a request, so `opts.quick_streaming_tokens` apply to it."""
        quick_tokens = opts.quick_streaming_tokens if quick else 0
        return [(ids, None) for ids in split_text(self.frontend, text, opts.max_text_tokens_per_segment, quick_tokens)]

    def render(self, text: str, speaker: SpeakerPrompt, emotion: EmotionCondition, opts: IndexTTS2Options,
               generator: torch.Generator | None = None, speed: float = 1.0, noise: Noise | None = None,
               trace: Trace | None = None) -> Iterator[torch.Tensor]:
        """Each GPT segment of `text` as a (1, N) float waveform, in order, one after the other."""
        check_speed(speed, opts.engine_label)
        for ids, language in self.parts(text, opts):
            yield self.segment(ids, speaker, emotion, opts, generator, speed, language, noise, trace)

    @torch.inference_mode()
    def render_many(self, texts: Sequence[str], speaker: SpeakerPrompt, emotions: Callable[[str], EmotionCondition],
                    opts: IndexTTS2Options, seed: int | None = None, speed: float = 1.0
                    ) -> Iterator[tuple[int, list[torch.Tensor]]]:
        """(index, its GPT segments' waveforms) for each text in order, as soon as it and those before it are done.

        Every GPT segment gets its own generator (`segment_generators`).  The GPT decodes them together
        (continuous batching), and as they finish the S2Mel flow matching runs them as padded batches
        (`flow_matching_group` says which and when), then BigVGAN `vocoder_batch` at a time.
        """
        check_speed(speed, opts.engine_label)
        parts = [(index, ids, language, emotion)
                 for index, text in enumerate(texts)
                 for emotion in [emotions(text)]
                 for ids, language in self.parts(text, opts, quick=index == 0)]
        remaining = Counter(index for index, *_ in parts)
        waves: dict[int, list[torch.Tensor | None]] = {index: [None] * count for index, count in remaining.items()}
        place = [sum(1 for earlier in parts[:n] if earlier[0] == index) for n, (index, *_) in enumerate(parts)]
        generators = segment_generators(self.device, seed, [ids for _, ids, _, _ in parts])
        tokens = [torch.tensor([list(ids)], dtype=torch.int32, device=self.device) for _, ids, _, _ in parts]
        prompts = [self.gpt_prompt(t, speaker, emotion, language)
                   for t, (_, _, language, emotion) in zip(tokens, parts)]
        ready: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}     # decoded: number -> (condition, noise)
        opening = [number for number, (index, *_) in enumerate(parts) if index == 0]
        next_index = 0
        decoded = decode_prompts(self.gpt, prompts, self.decoding(opts), generators, opts.gpt_batch_size,
                                 self.runtime.gpt_weights, self.runtime.compile_decode, self.gpt_rows)
        for done, (number, raw) in enumerate(decoded, start=1):
            index, _, _, emotion = parts[number]
            codes = self.finish_codes(raw, tokens[number].shape[1])
            condition = self.condition(tokens[number], codes, speaker, emotion, opts, speed)
            shape = (1, speaker.mel.shape[1], speaker.mel.shape[-1] + condition.shape[1])
            ready[number] = condition, torch.randn(shape, generator=generators[number], device=self.device)
            while group := flow_matching_group(ready, opening, opts.s2mel_batch_size, done == len(parts)):
                mels = self.flow_matching_batches.run(
                    lambda part: self.mels([ready[n][0] for n in part], speaker, opts, [ready[n][1] for n in part]),
                    group)
                waves_of_group = self.vocoder_batches.run(
                    lambda part: self.vocode_many(part, self.vocoder_batch(opts)), mels)
                for number, wave in zip(group, waves_of_group):
                    del ready[number]
                    index = parts[number][0]
                    waves[index][place[number]] = wave
                    remaining[index] -= 1
                opening = [n for n in opening if n not in group]
                while next_index in remaining and not remaining[next_index]:     # in text order, as streams need
                    yield next_index, waves.pop(next_index)
                    next_index += 1

    def infer(self, speaker_audio: str | Path, text: str, opts: IndexTTS2Options, seed: int | None = None,
              noise: Noise | None = None, trace: Trace | None = None) -> torch.Tensor:
        """The official `infer`: (N, 1) int16 waveform, segments joined by interval silence."""
        generator = seeded_generator(self.device, seed)
        speaker = self.speaker(speaker_audio, trace)
        emotion = self.emotion(speaker, speaker_audio, opts, text, random.Random(seed), trace)
        pieces = []
        for n, wav in enumerate(self.render(text, speaker, emotion, opts, generator, noise=noise, trace=trace)):
            if n and self.silence(opts):
                pieces.append(torch.zeros(1, self.silence(opts), dtype=torch.int16))
            pieces.append(to_int16(wav))
        final = torch.cat(pieces, dim=1).T.contiguous()
        if trace is not None:
            trace("final", wav_int16=final)
        return final

    # ---- helpers ------------------------------------------------------------------------------
    def _gpt_precision(self):
        enabled = self.gpt_dtype != torch.float32
        return torch.autocast(self.device.type, dtype=self.gpt_dtype, enabled=enabled)

    @staticmethod
    def _width(features: torch.Tensor) -> torch.Tensor:
        # the official code passes the feature width as the "length" of the conditioning input
        return torch.tensor([features.shape[-1]], device=features.device)


def flow_matching_group(ready: Collection[int], opening: Sequence[int], batch: int, decoding_over: bool) -> list[int]:
    """The decoded GPT segments (by number) to take through S2Mel now; [] to decode on first.

    The segments of a request's first text (`opening`, those not rendered yet) go together as soon as
    all of them are decoded, whatever else waits, so that the first audio is not held back; the
    others go in full batches of `batch`, lowest numbers first, and once decoding is over whatever is left.
    """
    if opening and all(n in ready for n in opening):
        return list(opening[:batch])
    rest = sorted(n for n in ready if n not in opening)
    return rest[:batch] if len(rest) >= batch or decoding_over else []


class IndexTTS2Engine(IndexTTSEngine):
    """IndexTTS-2 in the product: `--engine indextts2 --model-dir DIR --voice reference.wav`."""

    name = "indextts2"
    version = "2"
    options_type = IndexTTS2Options
    speed_range = (MIN_SPEED, MAX_SPEED)

    output_rate = staticmethod(output_rate)

    def load(self, folder: ModelFolder, device: torch.device, dtype: torch.dtype,
             runtime: RuntimeSettings) -> "IndexTTS2":
        return IndexTTS2(folder, device, dtype, runtime)

    def check_options(self, options: dict[str, Any]) -> IndexTTS2Options:
        """The options, with the emotion's sources checked before the weights load: the emotion reference read,
        the Qwen folder there, and flags that another one overrides named (as in the official IndexTTS, the
        text emotion wins over a vector, and either over a reference recording)."""
        opts = super().check_options(options)
        from_text = opts.use_emo_text or bool(opts.emo_text)
        if from_text:
            check_text_emotion(self._stack[0])     # fails now, naming the missing folder, not mid-book
        if opts.emo_audio:
            check_reference(resolve_reference(opts.emo_audio, "emotion reference"), "emotion reference")
        if "emo_alpha" in options and not (opts.emo_audio or opts.emo_vector is not None or from_text):
            raise InputError("--emotion-alpha sets the strength of --emotion-audio, --emotion or the text emotion: "
                             "give one of them")
        overridden = [flag for flag, given in (("--emotion-audio", opts.emo_audio and (from_text or opts.emo_vector)),
                                               ("--emotion", opts.emo_vector is not None and from_text)) if given]
        for flag in overridden:
            log.warning("%s has no effect: %s decides the emotion", flag,
                        "the text emotion" if from_text else "--emotion")
        return opts

    def audio_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """As every IndexTTS engine's, without the emotion sources another one overrides (a segment rendered with
        --emotion is the same with --emotion-audio added: the vector decides)."""
        opts = super().audio_options(options)
        from_text = opts["use_emo_text"] or bool(opts["emo_text"])
        if from_text or opts["emo_vector"] is not None:
            opts["emo_audio"] = None
        if from_text:
            opts["emo_vector"] = None
        return opts

    def continuing(self, controls: Controls) -> Controls:
        """Without `quick_streaming_tokens`: it cuts the opening text of a call, and only a stream's opening
        should be cut."""
        options = {k: v for k, v in controls.options.items() if k != "quick_streaming_tokens"}
        return dataclasses.replace(controls, options=options)

    def request_options(self, controls: Controls) -> IndexTTS2Options:
        """The options of one request, with audio paths resolved and the speed checked before any work."""
        opts = self.options_type.from_mapping(controls.options)
        check_speed(controls.speed, opts.engine_label)
        if opts.emo_audio:
            opts = dataclasses.replace(opts, emo_audio=str(resolve_reference(opts.emo_audio)))
        return opts

    def synthesize(self, segments: Sequence[str], voice: str, controls: Controls = Controls()) -> Iterator[SegmentAudio]:
        opts = self.request_options(controls)
        if not voice:
            raise InputError(f"{opts.engine_label} needs a voice: a reference audio file (3-15 s of clean speech)")
        reference = resolve_reference(voice)
        model = self.model
        speaker = model.speaker(reference)
        per_text = opts.use_emo_text and not opts.emo_text
        fixed_emotion = None if per_text else model.emotion(speaker, reference, opts, rng=random.Random(controls.seed))

        def emotion_of(text: str) -> EmotionCondition:
            if fixed_emotion is not None:
                return fixed_emotion
            # `use_random` draws from a stream of the seed and this text, not of its place in the call
            rng = random.Random(None if controls.seed is None else f"{controls.seed}:{text}")
            return model.emotion(speaker, reference, opts, text, rng)
        gap = np.zeros(model.silence(opts), dtype=np.float32)
        for index, waves in model.render_many(segments, speaker, emotion_of, opts, controls.seed, controls.speed):
            parts = [part for n, wav in enumerate(waves) for part in ((gap, wav[0].numpy()) if n else (wav[0].numpy(),))]
            yield SegmentAudio(index, np.concatenate(parts).astype(np.float32))
