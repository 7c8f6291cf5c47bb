"""End-to-end benchmarks of the IndexTTS-2 engine: speed, first audio, batching, memory.

Speed (model: --model-dir, default a FULL-SIZE IndexTTS-2 folder with random
weights, generated once by bench/random_model.py into
~/.cache/indexstudio/bench-random-indextts2, about 6.4 GiB):

1. single-stream RTF: one segment per `engine.synthesize([text], ...)` call,
   each decoding a fixed number of codes (`max_mel_tokens=--tokens`; the random
   folder's stop token is suppressed so every segment runs to the limit; with
   other folders the codes per segment are whatever comes out and are reported,
   estimated from the audio length as ceil(mel frames / 1.72));
2. time to first audio: wall time from calling `synthesize` with --segments
   segments until the first SegmentAudio is yielded;
3. batched throughput: audio seconds per wall second of that same call
   (the engine may batch the segments internally);
4. where one segment's time goes: the first text through the engine's
   stage-by-stage path (GPT decode, GPT latent, codec embedding, length
   regulator, flow matching, BigVGAN), the device synchronised at each stage.
A warm-up call first computes the voice's conditioning (cached by the engine),
so 1-4 measure steady-state synthesis.

Memory (model: --memory-model-dir, default the reduced golden folder, with
max_mel_tokens=20, diffusion_steps=2 so that 100k characters finish in
minutes): peak RSS (and torch.cuda.max_memory_allocated on CUDA) of a whole
`render_book` run, each book length in a fresh subprocess; the ratio
peak(longest) / peak(shortest) should stay <= 1.1.

Usage:
  python bench/bench_e2e.py                      # CPU defaults: 2 segments x 100 codes, 25 diffusion steps
  python bench/bench_e2e.py --device cuda --dtype float16 --segments 8 --tokens 300
  python bench/bench_e2e.py --memory-only        # only the memory part
  python bench/bench_e2e.py --skip-memory --model-dir /path/to/IndexTTS-2
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
for path in (ROOT, BENCH):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import random_model  # noqa: E402  (bench/random_model.py)

GOLDEN_MODEL = random_model.TEMPLATE
GOLDEN_VOICE = GOLDEN_MODEL / "cases" / "prompt_en_22k.wav"
MEMORY_OPTIONS = {"max_mel_tokens": 20, "diffusion_steps": 2}
MEL_FRAMES_PER_CODE = 1.72         # IndexTTS-2: target mel frames = int(codes * 1.72)

# One GPT segment each (well under 120 BPE tokens), distinct so no cache helps.
SENTENCES = (
    "On the night of the storm the wind came in from the north and did not stop until morning.",
    "Mara had kept the lighthouse for twelve years, and she knew every sound the old tower could make.",
    "This one was new: a slow, patient ticking from somewhere beneath the iron stairs.",
    "She lit a lamp and followed it down, one careful step at a time, counting as she went.",
    "At the bottom she found a small wooden box that had not been there the evening before.",
    "Inside the box lay a brass key, a folded map, and a letter addressed to her by name.",
    "The handwriting was her grandmother's, though the old woman had been gone for thirty years.",
    "Outside, the sea threw itself against the rocks as if it wanted to be let in.",
)


# ---- environment ------------------------------------------------------------------------------
def hardware(device: str | None = None) -> dict[str, Any]:
    """CPU model and cores, GPU name, torch version and threads."""
    import torch
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    gpu = ""
    if torch.cuda.is_available():
        index = torch.device(device).index if device and device.startswith("cuda") else None
        gpu = torch.cuda.get_device_name(index or 0)
    return {"cpu": cpu, "cpu_cores": os.cpu_count(), "gpu": gpu, "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
            "load_average": load_average()}


def load_average() -> float | None:
    """1-minute load average: above the core count, other processes share the CPU and timings suffer."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def load_engine(model_dir: str | Path, device: str | None = None, dtype: str | None = None, compile: bool = False,
                s2mel_dtype: str | None = None, gpt_weights: str = "fp32", compile_decode: bool = False):
    """(engine, load seconds) for an IndexTTS-2 folder (`compile`: torch.compile the flow-matching estimator;
    `s2mel_dtype`: its precision; `gpt_weights`: the CPU decode weights; `compile_decode`: torch.compile the
    decode step)."""
    from indexstudio.engines import get_engine
    start = time.perf_counter()
    engine = get_engine("indextts2", model_dir=str(model_dir), device=device, dtype=dtype, compile_s2mel=compile,
                        s2mel_dtype=s2mel_dtype, gpt_weights=gpt_weights, compile_decode=compile_decode)
    engine.model            # the weights load at first use: here, inside the timing
    return engine, time.perf_counter() - start


def segment_texts(count: int) -> list[str]:
    return [SENTENCES[i % len(SENTENCES)] for i in range(count)]


def prepare_voice(voice: str | Path, seconds: float, folder: str | Path) -> Path:
    """`voice` looped (or cut) to `seconds` as a 16-bit WAV in `folder`; `voice` itself when seconds <= 0."""
    voice = Path(voice)
    if seconds <= 0:
        return voice
    import numpy as np
    import soundfile as sf
    audio, sr = sf.read(str(voice), dtype="float32", always_2d=True)
    audio = audio.mean(axis=1)
    total = int(round(seconds * sr))
    looped = np.tile(audio, math.ceil(total / audio.size))[:total]
    out = Path(folder) / f"{voice.stem}_{seconds:g}s.wav"
    sf.write(str(out), looped, sr, subtype="PCM_16")
    return out


def _hop(engine) -> int:
    vocoder = getattr(getattr(engine, "model", None), "vocoder", None)
    return int(getattr(vocoder, "hop_length", 256))


def estimated_codes(samples: int, hop: int) -> int:
    """GPT codes behind `samples` of one IndexTTS-2 segment (frames = int(codes * 1.72))."""
    return math.ceil((samples // hop) / MEL_FRAMES_PER_CODE)


def _cuda_reset(engine) -> None:
    import torch
    device = getattr(getattr(engine, "model", None), "device", None)
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def _cuda_peak(engine) -> int | None:
    import torch
    device = getattr(getattr(engine, "model", None), "device", None)
    if device is not None and device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    return None


class StopCounter(logging.Filter):
    """Counts (and hides) the engine's 'reached max_mel_tokens' warnings: with a suppressed stop token
    every segment hits the limit on purpose, and the count tells whether a folder's segments did."""

    LOGGERS = ("indexstudio.engines.indextts2", "indexstudio.engines.indextts2_5", "indexstudio.runtime.decoding")

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if "reached max_mel_tokens" in record.getMessage():
            self.count += 1
            return False
        return True

    def __enter__(self) -> "StopCounter":
        for name in self.LOGGERS:
            logging.getLogger(name).addFilter(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        for name in self.LOGGERS:
            logging.getLogger(name).removeFilter(self)


def _controls(options: dict[str, Any], seed: int):
    from indexstudio.engines.base import Controls
    return Controls(seed=seed, options=dict(options))


# ---- speed ------------------------------------------------------------------------------------
def warm_up(engine, voice: str | Path, options: dict[str, Any], seed: int = 1,
            requests: Sequence[Sequence[str]] = (("Warm up.",),), full: bool = False) -> float:
    """`requests` (lists of texts) one after another: computes and caches the voice conditioning; returns
    the wall seconds.

    Short ones, unless `full`: then at the measured settings, so that the decode engine (kept by the model)
    has captured its CUDA graphs and compiled calls have met their shapes (batch sizes, padded or not)
    before the timed runs - pass the measured requests, alone and together."""
    quick = options if full else {**options, "max_mel_tokens": min(int(options.get("max_mel_tokens", 20)), 10),
                                  "diffusion_steps": 2}
    with StopCounter():
        start = time.perf_counter()
        for texts in requests:
            for _ in engine.synthesize(list(texts), str(voice), _controls(quick, seed)):
                pass
        return time.perf_counter() - start


def bench_single_stream(engine, voice: str | Path, texts: Sequence[str], options: dict[str, Any],
                        seed: int = 1) -> dict[str, Any]:
    """Each text in its own synthesize call: wall, audio and codes per segment; RTF = wall / audio."""
    sr, hop = engine.sample_rate, _hop(engine)
    per_segment = []
    _cuda_reset(engine)
    with StopCounter() as hits:
        for n, text in enumerate(texts):
            start = time.perf_counter()
            results = list(engine.synthesize([text], str(voice), _controls(options, seed + n)))
            wall = time.perf_counter() - start
            samples = sum(r.audio.size for r in results)
            per_segment.append({"wall_s": wall, "audio_s": samples / sr, "codes": estimated_codes(samples, hop),
                                "characters": len(text)})
    wall = sum(s["wall_s"] for s in per_segment)
    audio = sum(s["audio_s"] for s in per_segment)
    codes = sum(s["codes"] for s in per_segment)
    return {"segments": len(texts), "wall_s": wall, "audio_s": audio, "rtf": wall / audio,
            "codes_per_segment": [s["codes"] for s in per_segment], "codes_per_s": codes / wall,
            "hit_max_mel_tokens": hits.count, "per_segment": per_segment, "cuda_peak_bytes": _cuda_peak(engine)}


def bench_multi_segment(engine, voice: str | Path, texts: Sequence[str], options: dict[str, Any],
                        seed: int = 1) -> dict[str, Any]:
    """All texts in ONE synthesize call: time to the first SegmentAudio, then throughput of the whole call."""
    sr, hop = engine.sample_rate, _hop(engine)
    _cuda_reset(engine)
    first = None
    samples: list[int] = []
    with StopCounter() as hits:
        start = time.perf_counter()
        for result in engine.synthesize(list(texts), str(voice), _controls(options, seed)):
            if first is None:
                first = time.perf_counter() - start
            samples.append(int(result.audio.size))
        wall = time.perf_counter() - start
    audio = sum(samples) / sr
    return {"segments": len(texts), "first_audio_s": first, "wall_s": wall, "audio_s": audio,
            "throughput": audio / wall, "rtf": wall / audio,
            "codes_per_segment": [estimated_codes(s, hop) for s in samples], "yielded": len(samples),
            "hit_max_mel_tokens": hits.count,
            "cuda_peak_bytes": _cuda_peak(engine)}


# The engine's trace steps, each the end of a stage, as the report names those stages.
STAGE_LABELS = {"merge_emovec": "text front-end", "gpt_inference_speech": "GPT decode",
                "gpt_forward_latent": "GPT latent", "gpt_layer": "latent projection", "vq2emb": "codec embedding",
                "length_regulator": "length regulator", "cfm_inference": "flow matching", "bigvgan": "BigVGAN"}


class StageClock:
    """A trace for the engine's stage-by-stage path that times the stages: each trace call ends the
    stage that began at the previous call (or at `start`); the device is synchronised at each, so
    the time of a stage's kernels lands in that stage."""

    def __init__(self, device) -> None:
        import torch
        self.sync = getattr(torch, device.type).synchronize if device.type != "cpu" else (lambda: None)
        self.seconds: dict[str, float] = {}
        self.last = 0.0

    def start(self) -> None:
        self.sync()
        self.last = time.perf_counter()

    def __call__(self, step: str, **tensors: Any) -> None:
        self.sync()
        now = time.perf_counter()
        self.seconds[step] = self.seconds.get(step, 0.0) + now - self.last
        self.last = now


def bench_stages(engine, voice: str | Path, text: str, options: dict[str, Any], seed: int = 1) -> dict[str, Any]:
    """Where one segment's time goes: `text` through the engine's stage-by-stage path (the official
    `infer` order, batch 1, voice conditioning cached), seconds per traced stage."""
    import random

    from indexstudio.engines.indextts_common import seeded_generator
    model, controls = engine.model, _controls(options, seed)
    opts = engine.request_options(controls)
    speaker = model.speaker(voice)
    emotion = model.emotion(speaker, voice, opts, text, random.Random(seed))
    clock = StageClock(model.device)
    with StopCounter():
        clock.start()
        start = clock.last
        waves = list(model.render(text, speaker, emotion, opts, seeded_generator(model.device, seed), trace=clock))
        wall = clock.last - start
    audio = sum(w.shape[-1] for w in waves) / engine.sample_rate
    return {"stages_s": clock.seconds, "wall_s": wall, "audio_s": audio, "rtf": wall / audio}


# ---- memory -----------------------------------------------------------------------------------
def peak_rss_kib() -> int:
    """Peak resident memory of this process in KiB.

    Linux: VmHWM of /proc/self/status, which starts afresh at exec.  (ru_maxrss
    does not: a child forked from a big parent - this bench after loading the
    full-size model - would report the parent's peak.)  Elsewhere ru_maxrss.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    import resource
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak


MEMORY_SCRIPT = r"""
import json, sys, time
args = json.loads(sys.argv[1])
sys.path.insert(0, args["bench"])
import torch
from bench_e2e import StopCounter, book_text, peak_rss_kib
from indexstudio.books.reader import Book, Chapter
from indexstudio.engines import get_engine
from indexstudio.engines.base import Controls
from indexstudio.pipeline.job import render_book
from indexstudio.pipeline.plan import make_plan

engine = get_engine("indextts2", model_dir=args["model_dir"], device=args["device"], dtype=args["dtype"],
                    **args["settings"])
device = engine.model.device
if device.type == "cuda":
    torch.cuda.reset_peak_memory_stats(device)
chapters = [Chapter(f"Part {i + 1}", text) for i, text in enumerate(book_text(args["chars"]))]
plan = make_plan(Book("Memory bench", chapters), engine, args["voice"], read_titles=False)
controls = Controls(seed=1, options=args["options"])
start = time.perf_counter()
with StopCounter() as hits:
    result = render_book(plan, engine, args["voice"], args["out"] + "/book.wav", args["out"] + "/work", controls)
wall = time.perf_counter() - start
print(json.dumps({
    "characters": sum(len(c.text) for c in chapters), "segments": len(plan.segments),
    "hit_max_mel_tokens": hits.count,
    "audio_s": result.audio_seconds, "wall_s": wall,
    "peak_rss_kib": peak_rss_kib(),
    "cuda_peak_bytes": int(torch.cuda.max_memory_allocated(device)) if device.type == "cuda" else None}))
"""

CHAPTER_CHARS = 10_000


def book_text(characters: int) -> list[str]:
    """About `characters` characters of prose (the sentences cycled), as chapters of <= 10k characters."""
    chapters, current, total = [], [], 0
    n = 0
    while total < characters:
        sentence = SENTENCES[n % len(SENTENCES)]
        n += 1
        current.append(sentence)
        total += len(sentence) + 1
        if sum(len(s) + 1 for s in current) >= CHAPTER_CHARS:
            chapters.append(" ".join(current))
            current = []
    if current:
        chapters.append(" ".join(current))
    return chapters


def measure_book_memory(characters: int, model_dir: str | Path = GOLDEN_MODEL, voice: str | Path = GOLDEN_VOICE,
                        options: dict[str, Any] | None = None, device: str | None = None,
                        dtype: str | None = None, timeout: float | None = None,
                        settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """Peak memory of rendering a book of ~`characters` characters with render_book, in a fresh process
    (`settings`: engine-wide settings such as compile_s2mel, compile_decode, s2mel_dtype)."""
    options = dict(MEMORY_OPTIONS if options is None else options)
    with tempfile.TemporaryDirectory(prefix="bench-e2e-mem-") as tmp:
        args = {"bench": str(BENCH), "model_dir": str(model_dir), "voice": str(voice), "chars": int(characters),
                "options": options, "device": device, "dtype": dtype, "out": tmp, "settings": settings or {}}
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
        proc = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, json.dumps(args)], capture_output=True,
                              text=True, env=env, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"memory run ({characters} characters) failed:\n{proc.stderr[-3000:]}")
        result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["peak_rss_mib"] = result["peak_rss_kib"] / 1024
    return result


def bench_memory(lengths: Sequence[int], **kwargs: Any) -> dict[str, Any]:
    runs = [measure_book_memory(n, **kwargs) for n in lengths]
    out: dict[str, Any] = {"runs": runs, "rss_ratio": runs[-1]["peak_rss_kib"] / runs[0]["peak_rss_kib"]}
    if runs[0].get("cuda_peak_bytes"):
        out["cuda_ratio"] = runs[-1]["cuda_peak_bytes"] / runs[0]["cuda_peak_bytes"]
    return out


# ---- report -----------------------------------------------------------------------------------
def _fmt_codes(codes: Sequence[int]) -> str:
    if not codes:
        return "-"
    if min(codes) == max(codes):
        return str(codes[0])
    return f"{min(codes)}-{max(codes)} (mean {sum(codes) / len(codes):.0f})"


def _mib(value: int | None) -> str:
    return "-" if value is None else f"{value / 2**20:.0f} MiB"


def print_report(result: dict[str, Any]) -> None:
    hw = result["hardware"]
    print(f"\nhardware: {hw['cpu']} ({hw['cpu_cores']} cores), GPU: {hw['gpu'] or 'none'}, torch {hw['torch']}, "
          f"{hw['torch_threads']} threads, Python {hw['python']}; 1-min load average at start "
          f"{hw['load_average']}, at end {result.get('load_average_end')}")
    rows: list[tuple[str, str]] = []
    speed = result.get("speed")
    if speed:
        cfg = speed["config"]
        print(f"speed model: {cfg['model_dir']} on {cfg['device']} / {cfg['dtype']} (decode weights "
              f"{cfg.get('gpt_weights', 'fp32')})"
              f"{' (flow matching compiled)' if cfg.get('compile_s2mel') else ''}"
              f"{' (decode step compiled)' if cfg.get('compile_decode') else ''}, flow matching in "
              f"{cfg.get('s2mel_dtype', 'float32')}; voice {cfg['voice']} "
              f"({cfg['prompt_s']:.1f} s); options {json.dumps(cfg['options'])}")
        single, multi = speed["single_stream"], speed["multi_segment"]
        rows += [
            ("model load", f"{speed['load_s']:.1f} s"),
            ("warm-up (voice conditioning; on GPUs or compiled: the measured requests once)",
             f"{speed['warmup_s']:.1f} s"),
            ("codes / segment (from audio length)", _fmt_codes(single["codes_per_segment"])),
            ("segments that reached max_mel_tokens (no stop token)",
             f"{single['hit_max_mel_tokens'] + multi['hit_max_mel_tokens']} of "
             f"{single['segments'] + multi['segments']}"),
            ("audio / segment", f"{single['audio_s'] / single['segments']:.2f} s"),
            (f"single-stream RTF ({single['segments']} calls of 1 segment)", f"{single['rtf']:.3f}"),
            ("single-stream codes per wall second (whole pipeline)", f"{single['codes_per_s']:.1f}"),
            (f"time to first audio ({multi['segments']}-segment call)", f"{multi['first_audio_s']:.2f} s"),
            (f"batched throughput ({multi['segments']} segments, 1 call)",
             f"{multi['throughput']:.3f} audio s / wall s (RTF {multi['rtf']:.3f})"),
            ("batched vs single-stream throughput", f"x{multi['throughput'] * single['rtf']:.2f}"),
        ]
        stages = speed["stages"]
        split = ", ".join(f"{STAGE_LABELS.get(name, name)} {seconds:.3f}"
                          for name, seconds in stages["stages_s"].items() if seconds >= 0.0005)
        rows.append((f"one segment stage by stage ({stages['wall_s']:.2f} s, RTF {stages['rtf']:.3f}), s",
                     split))
        if single.get("cuda_peak_bytes") is not None:
            rows.append(("CUDA peak allocated (single / batched)",
                         f"{_mib(single['cuda_peak_bytes'])} / {_mib(multi['cuda_peak_bytes'])}"))
    memory = result.get("memory")
    if memory:
        cfg = memory["config"]
        print(f"memory model: {cfg['model_dir']}; voice {cfg['voice']}; options {json.dumps(cfg['options'])}; "
              f"settings {json.dumps(cfg.get('settings') or {})}")
        for run in memory["runs"]:
            extra = f", CUDA {_mib(run['cuda_peak_bytes'])}" if run.get("cuda_peak_bytes") else ""
            rows.append((f"book of {run['characters']:,} chars ({run['segments']} segments, "
                         f"{run['audio_s']:.0f} s audio, {run['wall_s']:.0f} s wall)",
                         f"peak RSS {run['peak_rss_mib']:.0f} MiB{extra}"))
        rows.append(("peak RSS ratio longest / shortest (target <= 1.1)", f"{memory['rss_ratio']:.3f}"))
        if "cuda_ratio" in memory:
            rows.append(("CUDA peak ratio longest / shortest", f"{memory['cuda_ratio']:.3f}"))
    width = max(len(r[0]) for r in rows) if rows else 10
    print(f"\n| {'measure'.ljust(width)} | value |\n|{'-' * (width + 2)}|-------|")
    for name, value in rows:
        print(f"| {name.ljust(width)} | {value} |")


def parse_options(pairs: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--option needs NAME=VALUE, got {pair!r}")
        out[key.strip()] = value.strip()
    return out


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: best available)")
    parser.add_argument("--dtype", default=None, help="GPT precision: float32 (default), float16, bfloat16")
    parser.add_argument("--segments", type=int, default=2, help="segments per measurement (default 2)")
    parser.add_argument("--tokens", type=int, default=100, help="GPT codes per segment, max_mel_tokens (default 100)")
    parser.add_argument("--diffusion-steps", type=int, default=25, help="S2Mel steps (default 25, the official)")
    parser.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                        help="extra engine option for the speed part (repeatable), e.g. num_beams=1")
    parser.add_argument("--model-dir", type=Path, default=None,
                        help=f"IndexTTS-2 folder for the speed part (default: the random full-size folder "
                             f"{random_model.DEFAULT_DIR}, generated on first use)")
    parser.add_argument("--voice", type=Path, default=GOLDEN_VOICE, help="reference audio for the speed part")
    parser.add_argument("--prompt-seconds", type=float, default=6.0,
                        help="loop/cut the voice to this length (default 6; 0 = use it as is)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--compile", action="store_true", help="torch.compile the flow-matching estimator")
    parser.add_argument("--compile-decode", action="store_true", help="torch.compile the GPT decode step")
    parser.add_argument("--gpt-weights", default="fp32", help="CPU decode weights: fp32 (default), bf16, int8")
    parser.add_argument("--s2mel-dtype", default=None, help="flow-matching precision: float32 (default), bfloat16, "
                                                            "float16")
    parser.add_argument("--memory-only", action="store_true", help="only the memory part")
    parser.add_argument("--skip-memory", action="store_true", help="only the speed part")
    parser.add_argument("--memory-model-dir", type=Path, default=GOLDEN_MODEL,
                        help="IndexTTS-2 folder for the memory part (default: the reduced golden folder)")
    parser.add_argument("--memory-voice", type=Path, default=GOLDEN_VOICE)
    parser.add_argument("--memory-chars", type=int, nargs="+", default=[1_000, 100_000],
                        help="book lengths in characters (default 1000 100000)")
    parser.add_argument("--memory-option", action="append", default=[], metavar="NAME=VALUE",
                        help=f"engine option for the memory part (default {MEMORY_OPTIONS})")
    parser.add_argument("--json", type=Path, default=None, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    if args.memory_only and args.skip_memory:
        parser.error("--memory-only and --skip-memory exclude each other")

    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    result: dict[str, Any] = {"hardware": hardware(args.device)}
    if not args.memory_only:
        model_dir = args.model_dir or random_model.ensure_random_indextts2()
        options = {"max_mel_tokens": args.tokens, "diffusion_steps": args.diffusion_steps,
                   **parse_options(args.option)}
        with tempfile.TemporaryDirectory(prefix="bench-e2e-voice-") as tmp:
            voice = prepare_voice(args.voice, args.prompt_seconds, tmp)
            import soundfile as sf
            prompt_s = sf.info(str(voice)).duration
            engine, load_s = load_engine(model_dir, args.device, args.dtype, args.compile, args.s2mel_dtype,
                                         args.gpt_weights, args.compile_decode)
            print(f"loaded {model_dir} in {load_s:.1f} s", flush=True)
            texts = segment_texts(args.segments)
            # on GPUs (CUDA graphs), and for compiled calls anywhere, the measured requests once in full, so that
            # no capture or recompile is timed
            full = engine.model.device.type != "cpu" or args.compile or args.compile_decode
            warmup_s = warm_up(engine, voice, options, requests=[texts[:1], texts] if full else [["Warm up."]],
                               full=full)
            print(f"warm-up {warmup_s:.1f} s", flush=True)
            single = bench_single_stream(engine, voice, texts, options)
            print(f"single stream: RTF {single['rtf']:.3f}", flush=True)
            multi = bench_multi_segment(engine, voice, texts, options)
            print(f"multi-segment: first audio {multi['first_audio_s']:.2f} s", flush=True)
            stages = bench_stages(engine, voice, texts[0], options)
        device = str(engine.model.device)
        dtype = str(getattr(engine.model, "gpt_dtype", args.dtype)).removeprefix("torch.")
        result["speed"] = {"config": {"model_dir": str(model_dir), "device": device, "dtype": dtype,
                                      "compile_s2mel": args.compile, "compile_decode": args.compile_decode,
                                      "gpt_weights": args.gpt_weights,
                                      "s2mel_dtype": str(engine.model.runtime.s2mel_dtype).removeprefix("torch."),
                                      "voice": str(args.voice), "prompt_s": prompt_s, "options": options},
                           "load_s": load_s, "warmup_s": warmup_s, "single_stream": single, "multi_segment": multi,
                           "stages": stages}
    if not args.skip_memory:
        memory_options = {**MEMORY_OPTIONS, **parse_options(args.memory_option)}
        print(f"memory: books of {', '.join(f'{n:,}' for n in args.memory_chars)} characters ...", flush=True)
        settings = {"compile_s2mel": args.compile, "compile_decode": args.compile_decode,
                    "s2mel_dtype": args.s2mel_dtype, "gpt_weights": args.gpt_weights}
        settings = {k: v for k, v in settings.items() if v not in (None, False, "fp32")}
        memory = bench_memory(args.memory_chars, model_dir=args.memory_model_dir, voice=args.memory_voice,
                              options=memory_options, device=args.device, dtype=args.dtype, settings=settings)
        memory["config"] = {"model_dir": str(args.memory_model_dir), "voice": str(args.memory_voice),
                            "options": memory_options, "settings": settings}
        result["memory"] = memory
    result["load_average_end"] = load_average()
    print_report(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=str), encoding="utf-8")
    print(json.dumps(result, default=str))
    return result


if __name__ == "__main__":
    main()
