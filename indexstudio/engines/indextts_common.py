"""What the IndexTTS engines (1.5, 2, 2.5) share around their model stacks.

* `DecodingOptions`: per-request settings parsed from `Controls.options`, with the
  GPT decoding fields every version has (each version subclasses it with its
  own defaults and extra fields);
* `ConditioningCache`: prompt conditioning kept per audio *content* hash;
* `Trace` / `Noise`: the hooks the conformance runner uses to capture stage
  tensors and to inject the reference sampler noise;
* `RuntimeSettings`: engine-wide speed settings fixed at load (GPT decode
  weights on CPU, precision and torch.compile of the flow-matching estimator);
* `IndexTTSEngine`: the product-side adapter (model folder, device, voices,
  option checks, token counting, segment splitting).
"""
from __future__ import annotations

import dataclasses
import difflib
import functools
import hashlib
import inspect
import logging
import math
import os
import random
import threading
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator, Mapping, Sequence

import torch

from indexstudio.audio.prompt import check_reference, warn_once
from indexstudio.engines import require_model_dir
from indexstudio.engines.base import Engine, Voice
from indexstudio.engines.reference_voices import library_voices, resolve_reference
from indexstudio.files import content_hash
from indexstudio.errors import EngineError, InputError
from indexstudio.models.folder import ModelFolder, ModelFolderError, file_roles
from indexstudio.models.s2mel.cfm import AutocastEstimator
from indexstudio.models.unified_voice import MelCodeGPT, MelPrompt, UnifiedVoiceConfig, gpt_section
from indexstudio.runtime.decode_engine import engine_for, forget_engines, prompt_rows
from indexstudio.runtime.decoding import DecodingConfig
from indexstudio.runtime.device import compile_for, compile_unavailable, pick_device, pick_dtype
from indexstudio.runtime.memory import MemoryBoundBatches
from indexstudio.runtime.sequence import SamplingParams
from indexstudio.runtime.weights import WEIGHT_MODES
from indexstudio.text.indextts import load_text_frontend

log = logging.getLogger(__name__)

Trace = Callable[..., None]                          # trace(step, **tensors)
Noise = Callable[[tuple[int, ...]], torch.Tensor]     # noise(shape) -> sampler start


def no_trace(step: str, **tensors: Any) -> None:
    return None


def to_int16(wav: torch.Tensor) -> torch.Tensor:
    """The official output conversion: clamp(32767 * wav) truncated to int16."""
    return torch.clamp(32767 * wav, -32767.0, 32767.0).to(torch.int16)


def seeded_generator(device: torch.device, seed: int | None) -> torch.Generator:
    generator = torch.Generator(device=device)
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)
    return generator


def segment_generators(device: torch.device, seed: int | None, rows: Sequence[Sequence[int]]) -> list[torch.Generator]:
    """One generator per GPT segment, seeded from the request's seed and the segment's text ids.

    So a segment's audio depends neither on its batch companions nor on its
    place in the request: a resumed book renders the same audio.
    """
    base = random.Random(seed).getrandbits(62)
    return [seeded_generator(device, (base + zlib.crc32(repr(list(ids)).encode())) % 2**63) for ids in rows]


S2MEL_FRAME_BUCKET = 64     # mel frames (0.74 s of audio): the width step of compiled CUDA flow matching


@dataclass(frozen=True)
class RuntimeSettings:
    """Engine-wide speed settings, fixed when the model loads (`--gpt-weights`, `--compile`, `--s2mel-dtype`,
    `--compile-decode`)."""
    gpt_weights: str = "fp32"       # decode weights: fp32 (the model's own), bf16 or int8 weight-only
    compile_s2mel: bool = False     # torch.compile the flow-matching estimator (pays off on a GPU)
    s2mel_dtype: torch.dtype = torch.float32    # flow matching under autocast to this (official: float32)
    compile_decode: bool = False    # torch.compile the runtime's decode step (fused kernels in the CUDA graphs)

    def check(self, device: torch.device) -> None:
        if self.gpt_weights not in WEIGHT_MODES:
            raise EngineError(f"gpt_weights must be one of {', '.join(WEIGHT_MODES)}, got {self.gpt_weights!r}")
        if self.gpt_weights != "fp32" and device.type != "cpu":
            raise EngineError(f"--gpt-weights {self.gpt_weights} is a CPU mode; on {device.type} use "
                              "--dtype float16 or bfloat16")
        if self.gpt_weights != "fp32" and not torch.backends.cpu.get_cpu_capability().startswith("AVX512"):
            log.warning("--gpt-weights %s: this CPU has no AVX-512 (%s), and there the weight-only copies decode "
                        "slower than fp32 (bf16 0.31x, int8 0.39x with 8 segments on a 2-core AMD EPYC Zen 3; "
                        "BENCHMARKS.md): leave it at fp32", self.gpt_weights, torch.backends.cpu.get_cpu_capability())
        if self.s2mel_dtype == torch.float16 and device.type == "cpu":
            raise EngineError("--s2mel-dtype float16 needs a GPU; on CPU use bfloat16 (fast where the CPU has AMX)")
        if self.compile_s2mel or self.compile_decode:
            missing = compile_unavailable(device)
            if missing:
                raise EngineError(f"--compile / --compile-decode: {missing}")

    @property
    def tunes_s2mel(self) -> bool:
        """Whether a setting for the flow-matching stage is given (IndexTTS-1.5 has none)."""
        return self.compile_s2mel or self.s2mel_dtype != torch.float32

    def s2mel_estimator(self, estimator: torch.nn.Module, device: torch.device) -> Callable[..., torch.Tensor]:
        """The flow-matching estimator as these settings run it: under autocast to `s2mel_dtype`, and compiled
        (`compile_for`); on CUDA the compiled steps also replay from CUDA graphs (recorded per shape, see
        `s2mel_frames`), since 25 steps of a few hundred small kernels are otherwise bound by launches."""
        if self.s2mel_dtype != torch.float32:
            estimator = AutocastEstimator(estimator, self.s2mel_dtype)
        return compile_for(estimator, device, cuda_graphs=True) if self.compile_s2mel else estimator

    def s2mel_frames(self, frames: int, device: torch.device) -> int:
        """The padded width of a flow-matching batch: `frames`, or on CUDA with compile the next multiple of
        S2MEL_FRAME_BUCKET, so that a book records a bounded set of CUDA graphs (padding is masked out)."""
        if self.compile_s2mel and device.type == "cuda":
            return -(-frames // S2MEL_FRAME_BUCKET) * S2MEL_FRAME_BUCKET
        return frames


def decode_prompts(gpt: MelCodeGPT, prompts: Sequence[MelPrompt], cfg: DecodingConfig,
                   generators: Sequence[torch.Generator], batch_size: int, weights: str = "fp32",
                   compiled: bool = False, rows_that_fit: MemoryBoundBatches | None = None
                   ) -> Iterator[tuple[int, torch.Tensor]]:
    """(i, (1, T) generated codes) for every one-row prompt, as each finishes.

    Every prompt goes through the continuous-batching runtime with its own
    generator, `batch_size` rows at a time (a beam-search prompt takes one row
    per beam), with `weights` (see `runtime.weights`), its step compiled if
    `compiled`.  Should the device run out of memory, the unfinished prompts
    decode again, half as many rows at a time, from their generators' starting
    states (so with the same codes); `rows_that_fit` (the model's) remembers
    that for later requests.  The stop token cannot come first (`min_new_tokens` 1): the
    official code would fail on that segment later, and where top-k / top-p
    leave the stop token out of the first draw anyway (real weights, nearly
    always) this changes nothing.
    """
    cfg = dataclasses.replace(cfg, min_new_tokens=max(cfg.min_new_tokens, 1))
    params = SamplingParams.from_decoding(cfg)
    rows = [prompt_rows(prompt)[0] for prompt in prompts]
    longest = max(embeds.shape[0] for embeds, _ in rows)
    fit = rows_that_fit or MemoryBoundBatches("GPT decoding", "rows")
    starts = [generator.get_state() for generator in generators]     # where each prompt's random draws begin
    pending = list(range(len(rows)))
    while pending:
        order, size = list(pending), max(fit.cap(batch_size), cfg.num_beams)
        runtime = engine_for(gpt, size, longest + cfg.max_new_tokens, weights, len(order) * cfg.num_beams,
                             compiled=compiled)
        try:
            for k, codes in runtime.stream([rows[i] for i in order], params,
                                           generators=[generators[i] for i in order]):
                pending.remove(order[k])
                yield order[k], codes.unsqueeze(0)
        except Exception as exc:
            if not fit.give_way(exc, size, least=cfg.num_beams):      # a beam search needs its rows together
                raise
            # the unfinished prompts start over, from their generators' first states: the same codes,
            # on a new engine of the smaller size (a kept one would still have the slots that did not fit)
            for i in pending:
                generators[i].set_state(starts[i])
            forget_engines(gpt)


def split_text(frontend: Any, text: str, max_tokens: int, quick_streaming_tokens: int = 0) -> list[list[int]]:
    """Token ids of `text` cut into GPT segments of at most `max_tokens` (the official split rules; its first
    `quick_streaming_tokens` tokens in segments of at most half that, for an earlier first audio)."""
    segments = frontend.segment_ids(text, max_tokens, quick_streaming_tokens)
    if not segments:
        raise InputError("the text has nothing to speak after normalisation")
    unknown, total = sum(ids.count(frontend.unk_id) for ids in segments), sum(map(len, segments))
    if unknown:
        known = frontend.ids_to_tokens([i for row in segments for i in row if i != frontend.unk_id])
        if not any(any(c.isalnum() for c in piece) for piece in known):     # word breaks and stops only
            raise InputError(f"none of {text[:40]!r} is in this model's text vocabulary (a script it cannot read?)")
        log.warning("%d of %d text tokens are not in the vocabulary and will be spoken as <unk> (in %r)",
                    unknown, total, text[:60])
    return segments


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _parse(name: str, kind: str, value: Any) -> Any:
    try:
        if kind.startswith("bool"):
            if isinstance(value, bool):
                return value
            word = str(value).strip().lower()
            if word not in _TRUE + _FALSE:
                raise ValueError(word)
            return word in _TRUE
        if kind.startswith("int"):
            return int(value)
        if kind.startswith("float"):
            number = float(value)
            if not math.isfinite(number):
                raise ValueError(number)
            return number
        return str(value)
    except (TypeError, ValueError):
        kind_name = {"bool": "true or false", "float": "a finite number"}.get(kind.split(" ")[0], kind.split(" ")[0])
        raise InputError(f"option {name} must be {kind_name}, got {value!r}") from None


@dataclass(frozen=True)
class DecodingOptions:
    """Text cutting and GPT decoding settings shared by every IndexTTS version (official defaults of 2)."""
    engine_label: ClassVar[str] = "IndexTTS"

    max_text_tokens_per_segment: int = 120
    interval_silence_ms: int = 200
    do_sample: bool = True
    top_k: int = 30
    top_p: float = 0.8
    temperature: float = 0.8
    num_beams: int = 3
    repetition_penalty: float = 10.0
    length_penalty: float = 0.0
    max_mel_tokens: int = 1500
    gpt_batch_size: int = 18          # GPT rows decoded together by the runtime, speed and memory only: a
                                      # segment takes one per beam, so 18 rows hold a book's default bucket
                                      # (6 segments) at the default 3 beams

    @classmethod
    def parse_field(cls, name: str, value: Any) -> Any:
        """Hook for fields that are not plain numbers, flags or strings."""
        kind = {f.name: f.type for f in dataclasses.fields(cls)}[name]
        return _parse(name, str(kind), value)

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any]):
        """Validated options; unknown names and bad values raise InputError naming them."""
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(options) - set(names))
        if unknown:
            meant = [m for name in unknown for m in difflib.get_close_matches(name, names, n=1)]
            hint = f"did you mean {', '.join(meant)}? " if meant else ""
            raise InputError(f"unknown {cls.engine_label} option(s) {', '.join(unknown)}; {hint}known: "
                             f"{', '.join(names)}")
        opts = cls(**{k: cls.parse_field(k, v) for k, v in options.items() if v is not None})
        opts.check()
        return opts

    def check(self) -> None:
        for name in ("max_text_tokens_per_segment", "max_mel_tokens"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.interval_silence_ms < 0:
            raise InputError("interval_silence_ms must not be negative")
        if self.gpt_batch_size < 1:
            raise InputError(f"gpt_batch_size must be at least 1, got {self.gpt_batch_size}")
        for bad, message in ((self.num_beams < 1, f"num_beams must be at least 1, got {self.num_beams}"),
                             (self.do_sample and self.temperature <= 0,
                              f"temperature must be positive when sampling, got {self.temperature}"),
                             (self.top_k < 0, f"top_k must not be negative, got {self.top_k}"),
                             (not 0.0 <= self.top_p <= 1.0, f"top_p must lie in [0, 1], got {self.top_p}"),
                             (self.repetition_penalty <= 0,
                              f"repetition_penalty must be positive, got {self.repetition_penalty}")):
            if bad:
                raise InputError(message)

    def mel_tokens(self, model_limit: int) -> int:
        """max_mel_tokens capped to the model's mel position table (said once where it is over)."""
        if self.max_mel_tokens > model_limit:
            warn_once(f"max_mel_tokens {self.max_mel_tokens} is over this model's {model_limit} mel positions: "
                      f"{model_limit} are used")
        return min(self.max_mel_tokens, model_limit)

    def decoding(self, stop_token: int, model_limit: int) -> DecodingConfig:
        """The search settings, with max_mel_tokens capped to the model's mel position table."""
        return DecodingConfig(
            max_new_tokens=self.mel_tokens(model_limit), stop_token=stop_token, do_sample=self.do_sample,
            num_beams=self.num_beams, temperature=self.temperature, top_k=self.top_k or None, top_p=self.top_p,
            repetition_penalty=self.repetition_penalty, length_penalty=self.length_penalty,
        )


class ConditioningCache:
    """Prompt conditioning per audio content hash: a small thread-safe LRU.

    Keyed by what the audio is, so the same voice under another path is free and
    an edited file is recomputed.  Building happens outside the lock.
    """

    def __init__(self, size: int = 16):
        self.size = size
        self._items: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path: Path, build: Callable[[], Any], *extra: Any) -> Any:
        key = (content_hash(path) if path.is_file() else str(path), *extra)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = build()
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value


class IndexTTSEngine(Engine):
    """Product adapter shared by the IndexTTS engines: `--engine NAME --model-dir DIR --voice reference.wav`.

    Subclasses set `version`, `options_type` and build their stack in `load(folder, device, dtype, runtime)`;
    the stack exposes `sample_rate` and `frontend` (with `tokenize`).
    """

    version: ClassVar[str] = ""
    options_type: ClassVar[type[DecodingOptions]] = DecodingOptions
    default_voice = ""

    def __init__(self, model_dir: str | Path | None = None, device: str | None = None, dtype: str | None = None,
                 gpt_weights: str = "fp32", compile_s2mel: bool | str = False, s2mel_dtype: str | None = None,
                 compile_decode: bool | str = False, **paths: str):
        require_model_dir(self.name, model_dir, self.version)
        if not isinstance(model_dir, (str, os.PathLike)):
            raise EngineError(f"engine {self.name}: model_dir must be a checkpoint folder's path, got {model_dir!r}")
        unknown = sorted(set(paths) - set(file_roles(self.version)))
        if unknown:                          # (a setting misspelt would read as a model file's role)
            settings = [p for p in inspect.signature(IndexTTSEngine.__init__).parameters if p not in ("self", "paths")]
            raise EngineError(f"engine {self.name} does not take {', '.join(unknown)}; it takes {', '.join(settings)}"
                              f", or a model file's path by its role ({', '.join(file_roles(self.version))})")
        folder = ModelFolder(model_dir, overrides=paths or None)
        if folder.version != self.version:
            engine = "indextts" + folder.version.replace(".", "_")
            raise EngineError(f"{folder.root} holds an IndexTTS-{folder.version} model, not IndexTTS-{self.version}: "
                              f"use --engine {engine}")
        folder.check_files()
        torch_device = pick_device(device)
        torch_dtype = pick_dtype(dtype)
        if torch_device.type == "cpu" and torch_dtype == torch.float16:
            raise EngineError("float16 needs a GPU; on CPU use float32 or bfloat16")
        # flags come as bools, or as text from a job's stored settings
        runtime = RuntimeSettings(gpt_weights, _parse("compile_s2mel", "bool", compile_s2mel), pick_dtype(s2mel_dtype),
                                  _parse("compile_decode", "bool", compile_decode))
        runtime.check(torch_device)
        self.check_settings(runtime)
        try:
            positions = UnifiedVoiceConfig.from_gpt_section(gpt_section(folder.config))
        except ModelFolderError as exc:          # ("config.yaml gpt section lacks 'model_dim'": which config.yaml)
            raise ModelFolderError(f"{folder.root / 'config.yaml'}: {exc}".replace(": config.yaml ", ": ")) from None
        self.text_positions, self.mel_positions = positions.max_text_tokens, positions.max_mel_tokens
        self._stack = (folder, torch_device, torch_dtype, runtime)
        self._model: Any = None
        self._loading = threading.Lock()

    @property
    def model(self) -> Any:
        """The model stack, loaded at first use: the settings, the voice and the options are checked before the
        weights load (seconds to minutes), and `indexstudio voices` never loads them."""
        if self._model is None:
            with self._loading:
                if self._model is None:
                    folder = self._stack[0]
                    log.info("loading IndexTTS-%s from %s", self.version, folder.root)
                    self._model = self.load(*self._stack)
        return self._model

    def identity(self, voice: str) -> str:
        """The model folder by its files' contents (`ModelFolder.fingerprint`): the voice and options count apart."""
        return f"model:{self._fingerprint[:16]}"

    def earlier_identities(self, voice: str) -> list[str]:
        """Earlier releases knew a model folder by its path and its top-level files' sizes and times."""
        root = self._stack[0].root.resolve()
        files = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in root.iterdir() if p.is_file())
        return [f"{root}:{hashlib.sha256(repr(files).encode()).hexdigest()[:16]}"]

    @functools.cached_property
    def _fingerprint(self) -> str:
        return self._stack[0].fingerprint()

    @property
    def sample_rate(self) -> int:
        """The model's, from the folder's config.yaml: asking loads no weights (a resumed book needs none)."""
        return self.output_rate(self._stack[0].config)

    @staticmethod
    def output_rate(config: Any) -> int:
        raise NotImplementedError

    def prepare(self) -> None:
        self.model

    def close(self) -> None:
        with self._loading:
            self._model = None
        if self._stack[1].type == "cuda":
            torch.cuda.empty_cache()        # (what the weights held goes back to the GPU)

    def check_settings(self, runtime: RuntimeSettings) -> None:
        """Refuse speed settings this version has no use for, before the weights load."""

    def load(self, folder: ModelFolder, device: torch.device, dtype: torch.dtype, runtime: RuntimeSettings) -> Any:
        raise NotImplementedError

    def voices(self) -> list[Voice]:
        return library_voices()

    def check_voice(self, voice: str) -> str:
        """The reference file behind `voice`, read once to refuse an unreadable or silent one before work starts."""
        path = resolve_reference(voice)
        check_reference(path)
        return str(path)

    def language_of(self, voice: str) -> str:
        return ""

    def normalize(self, text: str, language: str) -> str:
        return text    # the IndexTTS front-ends normalise (WeTextProcessing) when they tokenise

    @property
    def frontend(self) -> Any:
        """The text front-end, built without the weights (the folder keeps it for the model stack to share), so
        that planning a book - counting its tokens - loads no model."""
        return self.load_frontend(self._stack[0])

    @staticmethod
    def load_frontend(folder: ModelFolder) -> Any:
        return load_text_frontend(folder)

    @functools.lru_cache(maxsize=4096)
    def count_tokens(self, text: str) -> int:
        return len(self.frontend.tokenize(text))

    SPEED_ONLY_OPTIONS: ClassVar[frozenset[str]] = frozenset({"gpt_batch_size", "s2mel_batch_size",
                                                                "vocoder_batch_size"})

    def audio_options(self, options: dict[str, Any]) -> dict[str, Any]:
        opts = dataclasses.asdict(self.options_type.from_mapping(options))
        return {k: v for k, v in opts.items() if k not in self.SPEED_ONLY_OPTIONS}

    def spoken_form(self, text: str, options: dict[str, Any] | None = None) -> str:
        return self.frontend.normalize(text)

    def check_options(self, options: dict[str, Any]) -> DecodingOptions:
        """The options, validated against this model too (its text and mel position tables), before any work starts."""
        opts = self.options_type.from_mapping(options)
        if opts.max_text_tokens_per_segment > self.text_positions:
            raise InputError(f"max_text_tokens_per_segment {opts.max_text_tokens_per_segment} is over this model's "
                             f"{self.text_positions} text positions")
        if "max_mel_tokens" in options:             # (one asked for is capped before the weights load, not after)
            opts.mel_tokens(self.mel_positions)
        return opts
