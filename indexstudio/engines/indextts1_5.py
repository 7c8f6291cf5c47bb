"""IndexTTS-1.5: zero-shot voice cloning from the prompt's mel, from an official 1.5 checkpoint folder.

Pipeline (our own modules under `indexstudio.models`):

    prompt -> channel mean, 24 kHz, 100-bin log mel -> GPT conditioning latents,
                                                      ECAPA-TDNN speaker embedding
    text -> BPE ids -> GPT decoding -> remove_long_silence -> teacher-forced GPT latents
         -> BigVGAN conditioned on the speaker embedding -> 24 kHz

`IndexTTS15.infer` and `infer_fast` are the official `IndexTTS.infer` /
`infer_fast` semantics (the conformance runner checks them; `infer_fast` decodes a
bucket as one right-padded batch sharing one generator, and honours the bucket size
on every device, where the official one uses 1 on a CPU).  `IndexTTS15Engine` is
the product engine: it decodes the segments it is given together in the shared
runtime, each with its own generator, so a segment sounds the same in any bucket.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Iterator, Mapping, Sequence

import numpy as np
import torch

from indexstudio.audio.features import log_mel_100
from indexstudio.audio.prompt import V1_5_MAX_PROMPT_SECONDS, V1_5_SAMPLE_RATE, load_prompt_v1_5
from indexstudio.engines.base import Controls, SegmentAudio
from indexstudio.engines.indextts_common import (ConditioningCache, DecodingOptions, IndexTTSEngine,
                                                 RuntimeSettings, Trace,
                                                 decode_prompts, no_trace, seeded_generator, segment_generators,
                                                 split_text, to_int16)
from indexstudio.engines.reference_voices import resolve_reference
from indexstudio.errors import EngineError, InputError
from indexstudio.models.bigvgan import load_bigvgan_v1_5
from indexstudio.models.codes import remove_long_silence
from indexstudio.models.folder import ModelFolder
from indexstudio.models.unified_voice import MelPrompt
from indexstudio.models.unified_voice_v1_5 import load_unified_voice_v1_5
from indexstudio.runtime.decoding import generate
from indexstudio.runtime.memory import MemoryBoundBatches
from indexstudio.text.indextts import load_text_frontend

VOCODER_CHUNK = 2           # infer_fast vocodes this many segments' latents joined along time


def output_rate(config: Mapping[str, Any]) -> int:
    """The sample rate an IndexTTS-1.5 folder's model speaks at, from its config.yaml."""
    return int((config.get("bigvgan") or {}).get("sampling_rate", V1_5_SAMPLE_RATE))


@dataclass(frozen=True)
class IndexTTS15Options(DecodingOptions):
    """Per-request settings; defaults are those of the official `IndexTTS.infer`."""
    engine_label: ClassVar[str] = "IndexTTS-1.5"

    temperature: float = 1.0
    max_mel_tokens: int = 600
    interval_silence_ms: int = 0          # 1.5 joins a segment's parts without a pause


@dataclass(frozen=True)
class PromptConditioning:
    """Everything derived from one reference audio."""
    mel: torch.Tensor           # (1, 100, T) log mel of the 24 kHz prompt
    latents: torch.Tensor       # (1, N, D) GPT conditioning latents
    speaker: torch.Tensor       # (1, 1, S) ECAPA-TDNN embedding for the vocoder


class IndexTTS15:
    """The IndexTTS-1.5 model stack of one folder on one device."""

    def __init__(self, folder: ModelFolder, device: torch.device | str = "cpu", gpt_dtype: torch.dtype = torch.float32,
                 runtime: RuntimeSettings = RuntimeSettings()):
        self.folder = folder
        self.device = torch.device(device)
        self.gpt_dtype = gpt_dtype
        self.runtime = runtime
        self.gpt_rows = MemoryBoundBatches("GPT decoding", "rows")    # rows that fit, halved on running out of memory
        self.frontend = load_text_frontend(folder)
        self.gpt = load_unified_voice_v1_5(folder).to(self.device, gpt_dtype)
        self.vocoder = load_bigvgan_v1_5(folder).to(self.device)
        self.sample_rate = output_rate(folder.config)
        self._prompts = ConditioningCache()

    # ---- conditioning -------------------------------------------------------------------------
    @torch.inference_mode()
    def prompt(self, path: str | Path, trace: Trace | None = None) -> PromptConditioning:
        """Conditioning of a reference audio (cached by content unless traced)."""
        path = Path(path)
        if trace is not None:
            return self._prompt(path, trace)
        return self._prompts.get(path, lambda: self._prompt(path, no_trace))

    def _prompt(self, path: Path, trace: Trace) -> PromptConditioning:
        audio = load_prompt_v1_5(path, V1_5_SAMPLE_RATE, V1_5_MAX_PROMPT_SECONDS)
        mel = log_mel_100(audio).to(self.device)
        trace("prompt_mel", audio_24k=audio, mel=mel)
        if mel.shape[-1] < 4:
            raise InputError(f"reference audio {path} is too short ({audio.shape[-1] / V1_5_SAMPLE_RATE:.2f} s)")
        with self._gpt_precision():
            latents = self.gpt.get_conditioning(mel.to(self.gpt_dtype)).float()
        return PromptConditioning(mel, latents, self.vocoder.embed_speaker(mel.transpose(1, 2)))

    # ---- stages -------------------------------------------------------------------------------
    @torch.inference_mode()
    def generate_codes(self, rows: Sequence[Sequence[int]], prompt: PromptConditioning, opts: IndexTTS15Options,
                       generator: torch.Generator | None = None, trace: Trace = no_trace) -> torch.Tensor:
        """Decode a batch of text rows (right-padded with stop_text, one shared conditioning) -> raw codes (B, T)."""
        batch, gpt_prompt = self._batch_prompt(rows, prompt)
        raw = generate(self.gpt, gpt_prompt, opts.decoding(self.gpt.cfg.stop_mel_token, self.gpt.cfg.max_mel_tokens),
                       generator)
        trace("gpt_inference_speech", text_tokens=batch, codes_raw=raw)
        return raw

    def gpt_prompt(self, rows: Sequence[Sequence[int]], prompt: PromptConditioning) -> MelPrompt:
        """The decoder prompt of text rows (right-padded with stop_text) sharing one conditioning."""
        return self._batch_prompt(rows, prompt)[1]

    def _batch_prompt(self, rows: Sequence[Sequence[int]], prompt: PromptConditioning) -> tuple[torch.Tensor, MelPrompt]:
        tokens = [torch.tensor(list(r), dtype=torch.int32, device=self.device) for r in rows]
        batch = self.frontend.pad_batch(tokens) if len(tokens) > 1 else tokens[0].unsqueeze(0)
        with self._gpt_precision():
            return batch, self.gpt.prepare_gpt_inputs(prompt.latents.to(self.gpt_dtype), batch)

    @torch.inference_mode()
    def latent(self, ids: Sequence[int], raw_codes: torch.Tensor, prompt: PromptConditioning,
               trace: Trace = no_trace) -> torch.Tensor:
        """One generated row (T,) -> silence-shortened codes -> teacher-forced latents (1, T', D)."""
        codes, code_lens = remove_long_silence(raw_codes.unsqueeze(0), self.gpt.cfg.stop_mel_token)
        trace("remove_long_silence", codes=codes, code_lens=code_lens)
        if int(code_lens[0]) == 0:
            raise EngineError("the GPT produced no speech codes for this segment")
        tokens = torch.tensor([list(ids)], dtype=torch.int32, device=self.device)
        with self._gpt_precision():
            latent = self.gpt(prompt.latents.to(self.gpt_dtype), tokens, codes, code_lens).float()
        trace("gpt_forward_latent", text_tokens=tokens, codes=codes, out=latent)
        return latent

    @torch.inference_mode()
    def vocode(self, latent: torch.Tensor, prompt: PromptConditioning, trace: Trace = no_trace) -> torch.Tensor:
        """Latents (1, T, D) -> (1, N) float waveform in [-1, 1]."""
        wav = self.vocoder(latent, prompt.speaker)
        trace("bigvgan", latent=latent, out=wav)
        return wav.reshape(1, -1).float().cpu()

    # ---- whole texts (official semantics) -----------------------------------------------------
    def infer(self, prompt_audio: str | Path, text: str, opts: IndexTTS15Options, seed: int | None = None,
              trace: Trace | None = None) -> torch.Tensor:
        """`IndexTTS.infer`: segment by segment; (N, 1) int16, segments joined without a pause."""
        prompt = self.prompt(prompt_audio, trace)
        trace = trace or no_trace
        generator = seeded_generator(self.device, seed)
        pieces = []
        for ids in split_text(self.frontend, text, opts.max_text_tokens_per_segment):
            raw = self.generate_codes([ids], prompt, opts, generator, trace)
            pieces.append(to_int16(self.vocode(self.latent(ids, raw[0], prompt, trace), prompt, trace)))
        return self._final(pieces, trace)

    def infer_fast(self, prompt_audio: str | Path, text: str, opts: IndexTTS15Options, bucket_size: int = 4,
                   seed: int | None = None, trace: Trace | None = None) -> torch.Tensor:
        """`IndexTTS.infer_fast`: one GPT batch per length bucket, latents back in text order,
        vocoded VOCODER_CHUNK segments at a time joined along time; (N, 1) int16."""
        prompt = self.prompt(prompt_audio, trace)
        trace = trace or no_trace
        generator = seeded_generator(self.device, seed)
        segments = split_text(self.frontend, text, opts.max_text_tokens_per_segment)
        buckets = self.frontend.infer_fast_buckets(segments, bucket_size)
        raw_rows = [(item, row) for bucket in buckets
                    for item, row in zip(bucket, self.generate_codes([it["sent"] for it in bucket], prompt, opts,
                                                                     generator, trace))]
        latents: dict[int, torch.Tensor] = {}
        for item, row in raw_rows:
            latents[item["idx"]] = self.latent(item["sent"], row, prompt, trace)
        ordered = [latents[i] for i in sorted(latents)]
        pieces = [to_int16(self.vocode(torch.cat(ordered[i:i + VOCODER_CHUNK], dim=1), prompt, trace))
                  for i in range(0, len(ordered), VOCODER_CHUNK)]
        return self._final(pieces, trace)

    @staticmethod
    def _final(pieces: list[torch.Tensor], trace: Trace) -> torch.Tensor:
        final = torch.cat(pieces, dim=1).T.contiguous()
        trace("final", wav_int16=final)
        return final

    def _gpt_precision(self):
        return torch.autocast(self.device.type, dtype=self.gpt_dtype, enabled=self.gpt_dtype != torch.float32)


class IndexTTS15Engine(IndexTTSEngine):
    """IndexTTS-1.5 in the product: `--engine indextts1_5 --model-dir DIR --voice reference.wav`.

    Each call decodes its segments together in the runtime (`gpt_batch_size` rows at
    a time), so a book's `--bucket-size N` segments per call (consecutive ones, or a
    length bucket in `--mode batch`) decode side by side; a segment gets the codes it
    would get alone (the official `infer`'s search, with the segment's own generator).
    """

    name = "indextts1_5"
    version = "1.5"
    options_type = IndexTTS15Options

    def check_settings(self, runtime: RuntimeSettings) -> None:
        if runtime.tunes_s2mel:
            raise EngineError("IndexTTS-1.5 has no flow-matching stage: --compile and --s2mel-dtype apply to "
                              "IndexTTS-2 and 2.5")

    output_rate = staticmethod(output_rate)

    def load(self, folder: ModelFolder, device: torch.device, dtype: torch.dtype,
             runtime: RuntimeSettings) -> IndexTTS15:
        return IndexTTS15(folder, device, dtype, runtime)

    def synthesize(self, segments: Sequence[str], voice: str, controls: Controls = Controls()) -> Iterator[SegmentAudio]:
        opts = IndexTTS15Options.from_mapping(controls.options)
        self.check_speed(controls.speed)
        if not voice:
            raise InputError("IndexTTS-1.5 needs a voice: a reference audio file")
        model = self.model
        prompt = model.prompt(resolve_reference(voice))
        # every segment may split into parts; parts of all segments are decoded together
        parts = [(index, ids) for index, text in enumerate(segments)
                 for ids in split_text(model.frontend, text, opts.max_text_tokens_per_segment)]
        gap = np.zeros(int(model.sample_rate * opts.interval_silence_ms / 1000), dtype=np.float32)
        pending: dict[int, list[Any]] = {i: [None] * sum(1 for j, _ in parts if j == i) for i in range(len(segments))}
        place = [sum(1 for j, _ in parts[:n] if j == index) for n, (index, _) in enumerate(parts)]
        next_index = 0
        for number, raw in self._decode(parts, prompt, opts, controls.seed):
            index, ids = parts[number]
            pending[index][place[number]] = model.vocode(model.latent(ids, raw, prompt), prompt)[0].numpy()
            while next_index in pending and all(a is not None for a in pending[next_index]):
                audio = pending.pop(next_index)
                joined = [a for k, piece in enumerate(audio) for a in ((gap, piece) if k and gap.size else (piece,))]
                yield SegmentAudio(next_index, np.concatenate(joined).astype(np.float32))
                next_index += 1

    def _decode(self, parts: list[tuple[int, list[int]]], prompt: PromptConditioning, opts: IndexTTS15Options,
                seed: int | None) -> Iterator[tuple[int, torch.Tensor]]:
        """(part number, (T,) raw codes) as parts finish: every part through the continuous-batching runtime
        with its own generator (beams included), so a part's codes do not depend on its bucket."""
        model = self.model
        cfg = opts.decoding(model.gpt.cfg.stop_mel_token, model.gpt.cfg.max_mel_tokens)
        generators = segment_generators(model.device, seed, [ids for _, ids in parts])
        prompts = [model.gpt_prompt([ids], prompt) for _, ids in parts]
        for number, raw in decode_prompts(model.gpt, prompts, cfg, generators, opts.gpt_batch_size,
                                          model.runtime.gpt_weights, model.runtime.compile_decode, model.gpt_rows):
            yield number, raw[0]
