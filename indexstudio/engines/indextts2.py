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
import functools
import logging
import random
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import torch

from indexstudio.audio.features import S2MelSpectrogramParams, centered_fbank, kaldi_fbank, s2mel_mel_spectrogram
from indexstudio.audio.prompt import V2_MAX_PROMPT_SECONDS, load_prompt_v2
from indexstudio.audio.resample import resample
from indexstudio.engines.base import Controls, Engine, SegmentAudio, Voice
from indexstudio.engines.reference_voices import content_hash, library_voices, resolve_reference
from indexstudio.errors import EngineError, InputError
from indexstudio.models.bigvgan import load_bigvgan_v2
from indexstudio.models.campplus import load_campplus
from indexstudio.models.codes import trim_at_stop
from indexstudio.models.emotion import load_emotion_matrices, mix_emotion_vector, normalize_emo_vec, scale_emo_vector
from indexstudio.models.folder import ModelFolder
from indexstudio.models.s2mel import load_s2mel, sample_euler_cfg, v2_target_lengths
from indexstudio.models.s2mel.length_regulator import MEL_FRAMES_PER_CODE
from indexstudio.models.semantic_codec import load_semantic_codec
from indexstudio.models.unified_voice import load_unified_voice_v2
from indexstudio.models.w2vbert import load_semantic_encoder
from indexstudio.runtime.decoding import DecodingConfig, generate
from indexstudio.runtime.device import pick_device, pick_dtype
from indexstudio.text.indextts import load_text_frontend

log = logging.getLogger(__name__)

EMOTIONS = ("happy", "angry", "sad", "afraid", "disgusted", "melancholic", "surprised", "calm")
Trace = Callable[..., None]
Noise = Callable[[tuple[int, ...]], torch.Tensor]
MIN_SPEED, MAX_SPEED = 0.5, 2.0


@dataclass(frozen=True)
class IndexTTS2Options:
    """Per-request settings (the engine options of `Controls.options`); defaults are the official ones."""
    # emotion: from a second reference audio, an 8-value vector, or the text (Qwen emotion model)
    emo_audio: str | None = None
    emo_alpha: float = 1.0
    emo_vector: tuple[float, ...] | None = None
    emo_text: str | None = None
    use_emo_text: bool = False
    use_random: bool = False
    normalize_emo_vector: bool = True      # the official web UI's bias table and 0.8 cap
    # text
    max_text_tokens_per_segment: int = 120
    interval_silence_ms: int = 200
    # GPT decoding
    do_sample: bool = True
    top_k: int = 30
    top_p: float = 0.8
    temperature: float = 0.8
    num_beams: int = 3
    repetition_penalty: float = 10.0
    length_penalty: float = 0.0
    max_mel_tokens: int = 1500
    # S2Mel
    diffusion_steps: int = 25
    cfg_rate: float = 0.7

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any]) -> "IndexTTS2Options":
        """Validated options; unknown names and bad values raise InputError naming them."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(options) - set(fields))
        if unknown:
            raise InputError(f"unknown IndexTTS-2 option(s) {', '.join(unknown)}; known: {', '.join(fields)}")
        values: dict[str, Any] = {}
        for name, value in options.items():
            if value is None:
                continue
            if name == "emo_vector":
                values[name] = emotion_weights(value)
                continue
            kind = cls.__annotations__[name]
            try:
                if kind.startswith("bool"):
                    values[name] = value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes", "on")
                elif kind.startswith("int"):
                    values[name] = int(value)
                elif kind.startswith("float"):
                    values[name] = float(value)
                else:
                    values[name] = str(value)
            except (TypeError, ValueError):
                raise InputError(f"option {name} must be {kind.split(' ')[0]}, got {value!r}") from None
        opts = cls(**values)
        opts.check()
        return opts

    def check(self) -> None:
        if self.max_text_tokens_per_segment < 1 or self.max_mel_tokens < 1 or self.diffusion_steps < 1:
            raise InputError("max_text_tokens_per_segment, max_mel_tokens and diffusion_steps must be at least 1")
        if self.interval_silence_ms < 0 or self.cfg_rate < 0:
            raise InputError("interval_silence_ms and cfg_rate must not be negative")
        if self.num_beams < 1 or (self.do_sample and (self.temperature <= 0 or self.top_k < 0)):
            raise InputError("num_beams must be >= 1; temperature > 0 and top_k >= 0 when sampling")
        if not 0.0 <= self.top_p <= 1.0 or self.repetition_penalty <= 0:
            raise InputError("top_p must lie in [0, 1] and repetition_penalty be positive")

    def decoding(self, stop_token: int, model_limit: int) -> DecodingConfig:
        if self.max_mel_tokens > model_limit:
            log.info("max_mel_tokens %d exceeds this model's %d positions; using %d",
                     self.max_mel_tokens, model_limit, model_limit)
        return DecodingConfig(
            max_new_tokens=min(self.max_mel_tokens, model_limit), stop_token=stop_token, do_sample=self.do_sample,
            num_beams=self.num_beams, temperature=self.temperature, top_k=self.top_k or None, top_p=self.top_p,
            repetition_penalty=self.repetition_penalty, length_penalty=self.length_penalty,
        )


def emotion_weights(value: Any) -> tuple[float, ...]:
    """8 emotion weights from a sequence, a {name: weight} mapping or a "happy=0.5,calm=0.2" / "0.5,0,..." string."""
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",") if p.strip()]
        value = dict(p.split("=", 1) for p in parts) if parts and all("=" in p for p in parts) else parts
    if isinstance(value, Mapping):
        unknown = sorted(set(value) - set(EMOTIONS))
        if unknown:
            raise InputError(f"unknown emotion(s) {', '.join(unknown)}; known: {', '.join(EMOTIONS)}")
        value = [value.get(name, 0.0) for name in EMOTIONS]
    try:
        weights = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise InputError(f"emotion vector must be numbers, got {value!r}") from None
    if len(weights) != len(EMOTIONS):
        raise InputError(f"emotion vector needs {len(EMOTIONS)} values ({', '.join(EMOTIONS)}), got {len(weights)}")
    if any(not np.isfinite(w) or w < 0 for w in weights):
        raise InputError(f"emotion weights must be finite and >= 0, got {list(weights)}")
    return weights


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


def _no_trace(step: str, **tensors: Any) -> None:
    return None


class _LRU:
    """A small thread-safe LRU map (conditioning per audio content hash)."""

    def __init__(self, size: int = 16):
        self.size, self.items, self.lock = size, OrderedDict(), threading.Lock()

    def get(self, key: Any, build: Callable[[], Any]) -> Any:
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        value = build()
        with self.lock:
            self.items[key] = value
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        return value


class IndexTTS2:
    """The IndexTTS-2 model stack of one folder on one device."""

    def __init__(self, folder: ModelFolder, device: torch.device | str = "cpu", gpt_dtype: torch.dtype = torch.float32):
        if folder.version != "2":
            raise EngineError(f"{folder.root} holds an IndexTTS-{folder.version} model, not IndexTTS-2")
        self.folder = folder
        self.device = torch.device(device)
        self.gpt_dtype = gpt_dtype
        self.frontend = load_text_frontend(folder)
        self.encoder = load_semantic_encoder(folder).to(self.device)
        self.codec = load_semantic_codec(folder).to(self.device)
        self.campplus = load_campplus(folder).to(self.device)
        # half-precision GPT: weights (and so the KV cache) in gpt_dtype, autocast around its calls for
        # the float32 inputs; every other stage stays float32 as in the official inference
        self.gpt = load_unified_voice_v2(folder).to(self.device, gpt_dtype)
        self.s2mel = load_s2mel(folder).to(self.device)
        self.vocoder = load_bigvgan_v2(folder).to(self.device)
        self.emotions = load_emotion_matrices(folder)
        s2mel_cfg = folder.config.get("s2mel") or {}
        self.mel_params = S2MelSpectrogramParams.from_config(s2mel_cfg)
        self.sample_rate = int((s2mel_cfg.get("preprocess_params") or {}).get("sr", 22050))
        self.semantic_rate = self.encoder.sampling_rate
        self._speakers = _LRU()
        self._emotion_prompts = _LRU()

    # ---- conditioning -------------------------------------------------------------------------
    @torch.inference_mode()
    def speaker(self, path: str | Path, trace: Trace | None = None) -> SpeakerPrompt:
        """Speaker conditioning of a reference audio (cached by content unless traced)."""
        path = Path(path)
        if trace is not None:
            return self._speaker(path, trace)
        return self._speakers.get(content_hash(path) if path.is_file() else str(path), lambda: self._speaker(path, _no_trace))

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
        codes, quantized = self.codec.quantize(features)
        trace("codec_quantize", codes=codes, quantized=quantized)
        mel = s2mel_mel_spectrogram(audio.to(self.device), self.mel_params)
        trace("mel_fn", mel=mel)
        fbank = kaldi_fbank(audio_16k, num_mel_bins=self.campplus.feat_dim, sample_frequency=self.semantic_rate)
        trace("kaldi_fbank", fbank=fbank)
        feat = centered_fbank(audio_16k, num_mel_bins=self.campplus.feat_dim).unsqueeze(0).to(self.device)
        style = self.campplus(feat)
        trace("campplus", feat=feat, out=style)
        mel_frames = torch.tensor([mel.shape[-1]], device=self.device)
        condition = self.s2mel.length_regulator(quantized, mel_frames)
        trace("length_regulator", x=quantized, ylens=mel_frames, out=condition)
        with self._gpt_precision():
            latent = self.gpt.get_conditioning(features, self._width(features)).float()
        return SpeakerPrompt(features, latent, style, mel, condition)

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
        return self._emotion_prompts.get(content_hash(path) if path.is_file() else str(path), lambda: build(_no_trace))

    @torch.inference_mode()
    def emotion(self, speaker: SpeakerPrompt, speaker_path: str | Path, opts: IndexTTS2Options, text: str = "",
                rng: random.Random | None = None, trace: Trace | None = None) -> EmotionCondition:
        """The emotion vector for `opts`, as the official infer builds it.

        An emotion vector (given, or detected from text) replaces the emotion audio and is
        scaled by emo_alpha; without emotion audio the speaker prompt is its own emotion
        reference at alpha 1.
        """
        trace = trace or _no_trace
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
        emo_features = self.emotion_prompt(emo_path, trace if trace is not _no_trace else None)
        with self._gpt_precision():
            merged = self.gpt.merge_emovec(speaker.features, emo_features, self._width(speaker.features),
                                           self._width(emo_features), alpha=alpha).float()
        vector = merged
        if weight_tensor is not None:
            matrix = self.emotions.weighted_vector(weight_tensor.cpu(), rows).to(self.device)
            vector = mix_emotion_vector(matrix, weight_tensor, merged)
        return EmotionCondition(merged, alpha, vector)

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

    # ---- one segment --------------------------------------------------------------------------
    @torch.inference_mode()
    def segment(self, text_ids: Sequence[int], speaker: SpeakerPrompt, emotion: EmotionCondition,
                opts: IndexTTS2Options, speed: float = 1.0, generator: torch.Generator | None = None,
                noise: Noise | None = None, trace: Trace | None = None) -> torch.Tensor:
        """Text ids of one segment -> (1, N) float waveform in [-1, 1] at `sample_rate`."""
        trace = trace or _no_trace
        gpt = self.gpt
        tokens = torch.tensor([list(text_ids)], dtype=torch.int32, device=self.device)
        trace("merge_emovec", out=emotion.merged, alpha=torch.tensor(emotion.alpha, dtype=torch.float32))
        stop = gpt.cfg.stop_mel_token
        with self._gpt_precision():
            prompt = gpt.prepare_gpt_inputs(gpt.conditioning_prefix(speaker.latent, emotion.vector), tokens)
            raw = generate(gpt, prompt, opts.decoding(stop, gpt.cfg.max_mel_tokens), generator)
        trace("gpt_inference_speech", text_tokens=tokens, emo_vec=emotion.vector, codes_raw=raw,
              speech_conditioning_latent=speaker.latent)
        if bool((raw[:, -1] != stop).any()):
            log.warning("generation reached max_mel_tokens (%d) before the stop token; the segment of %d text "
                        "tokens may be cut short - use shorter segments", raw.shape[1], tokens.shape[1])
        codes, code_lens = trim_at_stop(raw, stop)
        if codes.shape[1] == 0:
            raise EngineError("the GPT produced no speech codes for this segment")
        with self._gpt_precision():
            latent = gpt(speaker.latent, tokens, torch.tensor([tokens.shape[1]], device=self.device), codes,
                         torch.tensor([codes.shape[1]], device=self.device), emotion.vector).float()
        trace("gpt_forward_latent", codes=codes, code_lens=code_lens, out=latent)
        projected = self.s2mel.project_gpt_latent(latent)
        trace("gpt_layer", x=latent, out=projected)
        embedding = self.codec.vq2emb(codes)
        trace("vq2emb", codes=codes.unsqueeze(1), emb=embedding)
        content = embedding.transpose(1, 2) + projected
        frames = self.target_frames(code_lens, speed)
        condition = self.s2mel.length_regulator(content, frames)
        trace("length_regulator", x=content, ylens=frames, out=condition)
        mu = torch.cat([speaker.condition, condition], dim=1)
        shape = (1, speaker.mel.shape[1], mu.shape[1])
        start = noise(shape) if noise is not None else torch.randn(shape, generator=generator, device=self.device)
        x_lens = torch.tensor([mu.shape[1]], device=self.device)
        mel = sample_euler_cfg(self.s2mel.estimator, start.to(self.device), mu, speaker.mel, speaker.style, x_lens,
                               n_steps=opts.diffusion_steps, cfg_rate=opts.cfg_rate)
        trace("cfm_inference", mu=mu, x_lens=x_lens, style=speaker.style, out=mel,
              n_timesteps=torch.tensor(opts.diffusion_steps), inference_cfg_rate=torch.tensor(opts.cfg_rate))
        target = mel[:, :, speaker.mel.shape[-1]:]
        wav = self.vocoder(target)
        trace("bigvgan", mel=target, out=wav)
        return wav.reshape(1, -1).float().cpu()

    @staticmethod
    def target_frames(code_lens: torch.Tensor, speed: float = 1.0) -> torch.Tensor:
        """Mel frames for the codes: the official (code_lens * 1.72).long(), stretched by 1/speed."""
        if speed == 1.0:
            return v2_target_lengths(code_lens)
        if not MIN_SPEED <= speed <= MAX_SPEED:
            raise InputError(f"IndexTTS-2 speed must lie in [{MIN_SPEED}, {MAX_SPEED}], got {speed}")
        return (code_lens.float() * (MEL_FRAMES_PER_CODE / speed)).long().clamp(min=1)

    # ---- whole texts --------------------------------------------------------------------------
    def text_segments(self, text: str, max_tokens: int) -> list[list[int]]:
        segments = self.frontend.segment_ids(text, max_tokens)
        if not segments:
            raise InputError("the text has nothing to speak after normalisation")
        unknown = sum(ids.count(self.frontend.unk_id) for ids in segments)
        if unknown:
            log.warning("%d text token(s) are not in the BPE vocabulary and will be spoken as <unk>", unknown)
        return segments

    def silence(self, opts: IndexTTS2Options) -> int:
        return int(self.sample_rate * opts.interval_silence_ms / 1000.0)

    def infer(self, speaker_audio: str | Path, text: str, opts: IndexTTS2Options, seed: int | None = None,
              noise: Noise | None = None, trace: Trace | None = None) -> torch.Tensor:
        """The official `IndexTTS2.infer`: (N, 1) int16 waveform, segments joined by interval silence."""
        generator = self._generator(seed)
        speaker = self.speaker(speaker_audio, trace)
        emotion = self.emotion(speaker, speaker_audio, opts, text, random.Random(seed), trace)
        pieces = []
        for n, ids in enumerate(self.text_segments(text, opts.max_text_tokens_per_segment)):
            if n and self.silence(opts):
                pieces.append(torch.zeros(1, self.silence(opts), dtype=torch.int16))
            wav = self.segment(ids, speaker, emotion, opts, 1.0, generator, noise, trace)
            pieces.append(to_int16(wav))
        final = torch.cat(pieces, dim=1).T.contiguous()
        if trace is not None:
            trace("final", wav_int16=final)
        return final

    # ---- helpers ------------------------------------------------------------------------------
    def _generator(self, seed: int | None) -> torch.Generator:
        generator = torch.Generator(device=self.device)
        if seed is None:
            generator.seed()
        else:
            generator.manual_seed(seed)
        return generator

    def _gpt_precision(self):
        enabled = self.gpt_dtype != torch.float32
        return torch.autocast(self.device.type, dtype=self.gpt_dtype, enabled=enabled)

    @staticmethod
    def _width(features: torch.Tensor) -> torch.Tensor:
        # the official code passes the feature width as the "length" of the conditioning input
        return torch.tensor([features.shape[-1]], device=features.device)


def to_int16(wav: torch.Tensor) -> torch.Tensor:
    """The official output conversion: clamp(32767 * wav) truncated to int16."""
    return torch.clamp(32767 * wav, -32767.0, 32767.0).to(torch.int16)


class IndexTTS2Engine(Engine):
    """IndexTTS-2 in the product: `--engine indextts2 --model-dir DIR --voice reference.wav`."""

    name = "indextts2"
    default_voice = ""
    batch_size = 1

    def __init__(self, model_dir: str | Path | None = None, device: str | None = None, dtype: str | None = None,
                 **paths: str):
        if not model_dir:
            raise EngineError("engine indextts2 needs --model-dir: an IndexTTS-2 checkpoint folder "
                              "(config.yaml, gpt.pth, s2mel.pth, bpe.model, hf_cache/...)")
        folder = ModelFolder(model_dir, overrides=paths or None)
        torch_device = pick_device(device)
        if dtype and torch_device.type == "cpu" and pick_dtype(dtype) == torch.float16:
            raise EngineError("float16 needs a GPU; on CPU use float32 or bfloat16")
        self.model = IndexTTS2(folder, torch_device, pick_dtype(dtype))
        self.sample_rate = self.model.sample_rate

    def voices(self) -> list[Voice]:
        return library_voices()

    def check_options(self, options: dict[str, Any]) -> None:
        opts = IndexTTS2Options.from_mapping(options)
        if opts.use_emo_text or opts.emo_text:
            self.model.text_emotion_model()      # fails now, naming the missing folder, not mid-book

    def language_of(self, voice: str) -> str:
        return ""

    def normalize(self, text: str, language: str) -> str:
        return text    # the IndexTTS front-end normalises (WeTextProcessing) when it tokenises

    @functools.lru_cache(maxsize=4096)
    def count_tokens(self, text: str) -> int:
        return len(self.model.frontend.tokenize(text))

    def synthesize(self, segments: Sequence[str], voice: str, controls: Controls = Controls()) -> Iterator[SegmentAudio]:
        opts = IndexTTS2Options.from_mapping(controls.options)
        if not voice:
            raise InputError("IndexTTS-2 needs a voice: a reference audio file (3-15 s of clean speech)")
        reference = resolve_reference(voice)
        if opts.emo_audio:
            opts = dataclasses.replace(opts, emo_audio=str(resolve_reference(opts.emo_audio)))
        model = self.model
        self.model.target_frames(torch.tensor([1]), controls.speed)     # validates the speed early
        generator = model._generator(controls.seed)
        rng = random.Random(controls.seed)
        speaker = model.speaker(reference)
        fixed_emotion = None if opts.use_emo_text and not opts.emo_text else model.emotion(speaker, reference, opts, rng=rng)
        gap = np.zeros(model.silence(opts), dtype=np.float32)
        for index, text in enumerate(segments):
            emotion = fixed_emotion or model.emotion(speaker, reference, opts, text, rng)
            parts = []
            for n, ids in enumerate(model.text_segments(text, opts.max_text_tokens_per_segment)):
                if n and gap.size:
                    parts.append(gap)
                wav = model.segment(ids, speaker, emotion, opts, controls.speed, generator)
                parts.append(wav[0].numpy())
            yield SegmentAudio(index, np.concatenate(parts).astype(np.float32))
