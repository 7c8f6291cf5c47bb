"""A long-form render job: segments to a work folder, resumable, then one output file.

Work folder layout:
    job.json         the plan and settings (rewritten when they change)
    done.jsonl       one line per finished segment: key, samples, file (append-only)
    segments/        one FLAC file per finished segment, named by its key

A segment's key hashes everything that decides its audio (engine and model
files, the voice's and any reference audio's contents, controls, text), not
its place in the book, so running the same job again renders only what is
missing or what changed - a sentence inserted in chapter 1 leaves chapter 2
as it was - and finished work is never thrown away.  (Precision and compile
settings only change the speed, so segments rendered with others are kept.)
A segment file found damaged at assembly is rendered again.  The assembly
reads segments back one at a time, so memory stays flat however long the
book is.
"""
from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import logging
import numbers
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import IO, Callable, Iterator, Sequence

import numpy as np
import soundfile as sf

from indexstudio.audio.output import (AudioWriter, ChapterMark, Metadata, check_bitrate, check_sample_rate,
                                      cover_image, format_of, image_type, make_output_folder, naming_a_full_disk)
from indexstudio.audio.processing import DEFAULT_LOUDNESS, PEAK_CEILING, limit_peaks, match_loudness, trim_silence
from indexstudio.engines.base import Controls, Engine
from indexstudio.errors import IndexStudioError, InputError
from indexstudio.files import content_hash
from indexstudio.pipeline.plan import Plan
from indexstudio.text.segment import DEFAULT_BUCKET_SIZE, bucket_segments

MODES = ("normal", "batch")
MAX_PAUSE_MS = 60_000
_ACX_GAIN_HEADROOM = 10 ** (-1 / 20)     # a file turned up to ACX's level keeps its peaks 1 dB lower
log = logging.getLogger(__name__)


@dataclass
class RenderSettings:
    mode: str = "normal"
    bucket_size: int = DEFAULT_BUCKET_SIZE
    segment_gap_ms: int = 400        # between sentences (Kokoro's own pause inside a segment is ~0.45 s)
    paragraph_gap_ms: int = 900      # after a paragraph or a spoken chapter title
    scene_gap_ms: int = 1500         # at a scene break ("* * *")
    chapter_gap_ms: int = 1500
    lead_ms: int = 500               # room tone before the first words, and before each chapter's mark ...
    tail_ms: int = 1000              # ... and after the last (ACX asks for 0.5-1 s and 1-5 s)
    loudness: float | None = DEFAULT_LOUDNESS     # None keeps the engine's levels
    bitrate: str | None = None
    sample_rate: int | None = None   # the output's; None: the engine's
    rms_window: tuple[float, float] | None = None   # a file's RMS level (dBFS) brought inside this, as ACX wants

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InputError(f"--mode {self.mode}: give one of {', '.join(MODES)}")
        wrong = [f"{name}={value!r}" for name, value in vars(self).items()
                 if name.endswith("_ms") or name == "bucket_size"
                 if not isinstance(value, numbers.Integral) or isinstance(value, bool)]
        if wrong:
            raise InputError(f"RenderSettings: {', '.join(wrong)}: give whole numbers (milliseconds, segments)")
        if self.loudness is not None and (not isinstance(self.loudness, numbers.Real) or isinstance(self.loudness, bool)
                                          or not -50 <= self.loudness <= -5):
            raise InputError(f"RenderSettings: loudness={self.loudness!r}: give a level in LUFS from -50 to -5 "
                             f"(default {DEFAULT_LOUDNESS}), or None to keep the engine's")
        if self.bitrate is not None and not isinstance(self.bitrate, str):     # (its value is checked per format)
            raise InputError(f"RenderSettings: bitrate={self.bitrate!r}: give kilobits per second as text, such as "
                             f"\"64k\"")
        if self.bucket_size < 1:
            raise InputError(f"--bucket-size must be at least 1, got {self.bucket_size}")
        check_sample_rate(self.sample_rate)
        gaps = {"--gap-ms": self.segment_gap_ms, "--paragraph-gap-ms": self.paragraph_gap_ms,
                "--scene-gap-ms": self.scene_gap_ms, "--chapter-gap-ms": self.chapter_gap_ms, "--lead-ms": self.lead_ms,
                "--tail-ms": self.tail_ms}
        negative = [f"{name} {value}" for name, value in gaps.items() if value < 0]
        if negative:
            raise InputError(f"a pause cannot be negative: {', '.join(negative)}")
        long = [f"{name} {value}" for name, value in gaps.items() if value > MAX_PAUSE_MS]
        if long:           # (a stray digit wrote a 19 GB file of silence)
            raise InputError(f"a pause of over {MAX_PAUSE_MS // 1000} s is no pause: {', '.join(long)} (milliseconds)")

    def pause_after_ms(self, segments: list, n: int) -> int:
        """The silence after `segments[n]` of a plan's segments: the tail after the last, then by what ends there."""
        if n == len(segments) - 1:
            return self.tail_ms
        if segments[n + 1].chapter != segments[n].chapter:
            return self.chapter_gap_ms
        if segments[n].scene_end:
            return self.scene_gap_ms
        return self.paragraph_gap_ms if segments[n].paragraph_end else self.segment_gap_ms


@dataclass
class Progress:
    done: int
    total: int
    audio_seconds: float       # audio rendered in this run
    characters: int            # characters rendered in this run
    elapsed: float
    resumed: int               # segments found finished from an earlier run
    synthesized: int = 0       # segments the engine spoke in this run (a repeated sentence is spoken once)


@dataclass
class RenderResult:
    output: Path
    audio_seconds: float       # length of the output
    rendered_seconds: float    # audio rendered in this run (the rest was resumed)
    wall_seconds: float
    rendered: int              # segments finished in this run
    resumed: int
    characters: int
    chapters: list[ChapterMark] = field(default_factory=list)
    synthesized: int = 0       # of `rendered`, those the engine spoke (the rest repeat a sentence spoken before)
    rendering_seconds: float = 0.0   # of `wall_seconds`, the time spent rendering (the rest: checks, writing)
    written: bool = True       # False: the output was already this audiobook, and was left as it was
    pruned: int = 0            # segment files the book no longer used, deleted after writing it ...
    pruned_bytes: int = 0      # ... and their size
    files: list["RenderResult"] = field(default_factory=list)   # a book written as a file a chapter: each
    removed: list[Path] = field(default_factory=list)           # ... and the chapter files of before it replaced
    rms_db: float | None = None      # the written file's RMS level (dBFS, silences included); None: not written
    sample_rate: int = 0       # the engine's, which `chapters` count samples at (the file may be resampled)

    @property
    def rtf(self) -> float | None:
        """Rendering time per second of audio rendered in this run (None when everything was resumed)."""
        return self.rendering_seconds / self.rendered_seconds if self.rendered_seconds else None


class Job:
    def __init__(self, work_dir: str | Path, plan: Plan, engine: Engine, voice: str, controls: Controls = Controls(),
                 settings: RenderSettings = RenderSettings(), engine_id: str = "", earlier_ids: Sequence[str] = ()):
        self.dir = Path(work_dir)
        self.plan, self.engine, self.voice, self.controls, self.settings = plan, engine, voice, controls, settings
        self.engine_id = engine_id or f"{engine.name}:{engine.identity(voice)}"    # (the model's files, the voice's)
        earlier_ids = earlier_ids or [f"{engine.name}:{i}" for i in engine.earlier_identities(voice)]
        self.earlier_ids = [i for i in earlier_ids if i != self.engine_id]  # what earlier versions called the engine
        self.adopted: dict[str, tuple[int, Path]] = {}      # segments found under those names, to log under ours
        self._done_log = self.dir / "done.jsonl"
        self._files: dict[str, Path] = {}         # key -> its file, as `finished` found them
        self._lock: IO[str] | None = None

    def open(self, note: bool = True) -> None:
        """Create the work folder, take its lock and (`note`) record the job in it (a Job only looked at - a dry
        run - writes nothing).  The lock keeps a second run of the same job from rendering everything twice; a
        folder that cannot be written is an error naming it, a full disk one saying so."""
        try:
            with naming_a_full_disk(self.dir):
                if self._lock is None:
                    self._take_lock()
                if note:
                    self._write_job_file()
        except OSError as exc:
            self.close()
            if self.dir.exists() and not self.dir.is_dir() or isinstance(exc, NotADirectoryError):
                raise InputError(f"the work folder {self.dir} is a file, or inside one: give another --work-dir") \
                    from None
            raise InputError(f"cannot write the work folder {self.dir}: {exc.strerror or exc}; give another "
                             f"--work-dir") from None
        except IndexStudioError:
            self.close()
            raise

    def _take_lock(self) -> None:
        (self.dir / "segments").mkdir(parents=True, exist_ok=True)
        self._lock = open(self.dir / "lock", "a+")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.seek(0)
            holder = self._lock.read().strip()
            self._lock.close()
            self._lock = None
            raise InputError(f"another indexstudio{f' (process {holder})' if holder else ''} is rendering into "
                             f"{self.dir}: wait for it to finish, or give another --work-dir") from None
        self._lock.truncate(0)
        self._lock.write(str(os.getpid()))
        self._lock.flush()
        for tmp in (self.dir / "segments").glob("*.tmp.flac"):       # half-written by a killed run (the lock is ours)
            tmp.unlink(missing_ok=True)

    def close(self) -> None:
        """Give the work folder's lock back."""
        if self._lock is not None:
            try:
                self._lock.close()
            except OSError:          # (the process id it holds could not be written: a full disk, said already)
                pass
            self._lock = None

    # -- bookkeeping ---------------------------------------------------------------------------
    def key(self, index: int, engine_id: str | None = None) -> str:
        """What decides the segment's audio, hashed: its text and, where the opening call shapes it (see
        `controls_for`), whether it opens the book; not its place, so an unchanged sentence keeps its key wherever
        the book's edits move it (and the first sentence keeps its own when credits come before it)."""
        seg = self.plan.segments[index]
        blob = json.dumps([engine_id or self.engine_id, self.voice_id, self._controls_id, self.settings.loudness,
                           seg.text, self._opens_book(index) and self._openings_differ], sort_keys=True, default=str)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]

    def _opens_book(self, index: int) -> bool:
        return index == 0 and self.plan.opening

    @functools.cached_property
    def _openings_differ(self) -> bool:
        """Whether the call that opens the book is given other controls than the rest (IndexTTS-2's
        quick_streaming_tokens): then the opening segment's audio is its own."""
        audio_options = self.engine.audio_options           # (options that only say a default count as none)
        return audio_options(dict(self.engine.continuing(self.controls).options)) != audio_options(
            dict(self.controls.options))

    @functools.cached_property
    def sample_rate(self) -> int:
        """The rate of this job's segments: a finished one's file tells it, so that a book rendered before is
        written out again (another format, a resumed run) without loading an IndexTTS model's weights."""
        for key in self.keys:
            path = self.dir / "segments" / f"{key}.flac"
            if path.exists():
                try:
                    return sf.info(path).samplerate
                except (sf.LibsndfileError, RuntimeError, OSError):
                    continue
        return self.engine.sample_rate

    @functools.cached_property
    def voice_id(self) -> str:
        """The voice by what it is: a recording by its contents."""
        return content_id(self.voice)

    @functools.cached_property
    def _controls_id(self) -> dict:
        """The controls, with any option naming a file (an emotion reference) by that file's contents."""
        controls = asdict(self.controls)
        if not self.engine.samples:        # a seed changes nothing an engine that does not sample says
            controls["seed"] = None
        options = self.engine.audio_options(dict(self.controls.options))
        controls["options"] = {k: content_id(v) if isinstance(v, str) else v for k, v in options.items()}
        return controls

    def _write_job_file(self) -> None:
        doc = {"format": 2, "engine": self.engine_id, "voice": self.voice, "voice_id": self.voice_id,
               "controls": asdict(self.controls),
               "settings": asdict(self.settings), "sample_rate": self.sample_rate, "plan": self.plan.to_json()}
        text = json.dumps(doc, ensure_ascii=False, indent=1, default=str)
        try:
            if (self.dir / "job.json").read_text(encoding="utf-8") == text:
                return                        # (a re-run: nothing to write, so nothing to fail on a full disk)
        except (OSError, ValueError):
            pass
        tmp = self.dir / "job.json.tmp"
        try:
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, self.dir / "job.json")
        except OSError:
            tmp.unlink(missing_ok=True)
            raise

    def stored(self) -> dict[str, tuple[int, Path]]:
        """key -> (samples, file) of every segment on disk (a line cut short by a crash, or not an entry, is
        skipped)."""
        found: dict[str, tuple[int, Path]] = {}
        if not self._done_log.exists():
            return found
        for line in self._done_log.read_bytes().splitlines():
            try:
                entry = json.loads(line.decode("utf-8"))
                key, samples, name = str(entry["key"]), int(entry["samples"]), str(entry["file"])
            except (json.JSONDecodeError, TypeError, KeyError, ValueError):    # (UnicodeDecodeError too)
                continue
            path = self.dir / "segments" / Path(name).name
            if path.exists():
                found[key] = (samples, path)
        return found

    def finished(self) -> dict[int, int]:
        """index -> sample count of the segments whose audio is on disk for their current key (a segment file the
        log lost - done.jsonl deleted or damaged - is taken at its own length)."""
        stored = self.stored()
        for key in set(self.keys) - set(stored):
            path = self.dir / "segments" / f"{key}.flac"
            if path.exists():
                try:
                    stored[key] = (sf.info(path).frames, path)
                except (sf.LibsndfileError, RuntimeError, OSError):
                    pass
        self.adopted = self._earlier(stored)
        stored.update(self.adopted)
        self._files = {key: path for key, (_, path) in stored.items()}
        return {i: stored[key][0] for i, key in enumerate(self.keys) if key in stored}

    def _earlier(self, stored: dict[str, tuple[int, Path]]) -> dict[str, tuple[int, Path]]:
        """Segments stored under what an earlier version called this engine (IndexTTS models were known by their
        folder's path and file times), by their keys of today."""
        found: dict[str, tuple[int, Path]] = {}
        missing = [i for i, key in enumerate(self.keys) if key not in stored]
        for engine_id in self.earlier_ids if missing else ():
            for index in missing:
                earlier = stored.get(self.key(index, engine_id))
                if earlier and self.keys[index] not in found:
                    found[self.keys[index]] = earlier
        return found

    def _adopt(self) -> None:
        """Log the segments `finished` took from earlier keys under their keys of today (once the job is open)."""
        for key, (samples, path) in self.adopted.items():
            self._log_done(key, samples, path)
        self.adopted = {}

    @functools.cached_property
    def keys(self) -> list[str]:
        return [self.key(i) for i in range(len(self.plan.segments))]

    @functools.cached_property
    def segments_of_key(self) -> dict[str, list[int]]:
        found: dict[str, list[int]] = {}
        for i, key in enumerate(self.keys):
            found.setdefault(key, []).append(i)
        return found

    def segment_path(self, index: int) -> Path:
        key = self.keys[index]
        return self._files.get(key) or self.dir / "segments" / f"{key}.flac"

    def _store(self, index: int, audio: np.ndarray) -> None:
        key = self.keys[index]
        path = self.dir / "segments" / f"{key}.flac"
        tmp = path.with_suffix(f".{os.getpid()}.tmp.flac")
        try:
            with naming_a_full_disk(self.dir):
                try:
                    open(tmp, "wb").close()       # (a folder that cannot take it says why: libsndfile, "System error")
                    sf.write(tmp, audio, self.engine.sample_rate, subtype="PCM_16", format="FLAC")
                    os.replace(tmp, path)
                finally:
                    tmp.unlink(missing_ok=True)
        except OSError as exc:
            raise IndexStudioError(f"cannot write the segment file {tmp}: {exc.strerror or exc}") from exc
        self._files[key] = path
        self._log_done(key, int(audio.size), path)

    def _log_done(self, key: str, samples: int, path: Path) -> None:
        with open(self._done_log, "a+b") as log:
            log.seek(0, os.SEEK_END)
            if log.tell():                       # a line cut short by a crash gets its end, not the next entry
                log.seek(-1, os.SEEK_END)
                torn = log.read(1) != b"\n"
                log.seek(0, os.SEEK_END)
                if torn:
                    log.write(b"\n")
            entry = {"key": key, "samples": samples, "file": path.name}
            log.write((json.dumps(entry) + "\n").encode("utf-8"))
            log.flush()
            os.fsync(log.fileno())

    def stale(self, keep_written: bool = False) -> list[Path]:
        """Segment files none of this plan's segments uses - sentences edited away, another voice's or settings',
        a crashed run's temporary ones - and no output of another book, written from this work folder and still
        there, was made from (two books of one name, written into one folder, share BOOK.work); `keep_written`:
        nor any output still there (a work folder another folder's audiobook shares)."""
        self.finished()
        used = {self.segment_path(i).name for i in range(len(self.plan.segments))}
        for name, entry in self.written_outputs().items():
            if (keep_written or entry.get("book", self.plan.title) != self.plan.title) and Path(name).exists():
                used.update(entry.get("segments", ()))
        return sorted(p for p in (self.dir / "segments").glob("*.flac") if p.name not in used)

    def prune(self, keep_written: bool = False) -> tuple[int, int]:
        """Delete the stale segment files (`stale`), and their lines from done.jsonl (the job is open); (files,
        bytes)."""
        stale = self.stale(keep_written)
        size = sum(p.stat().st_size for p in stale)
        for path in stale:
            path.unlink(missing_ok=True)
        lines = [json.dumps({"key": key, "samples": samples, "file": path.name}) + "\n"
                 for key, (samples, path) in self.stored().items()]          # (the entries whose file is left)
        tmp = self._done_log.with_suffix(".tmp")
        tmp.write_text("".join(lines), encoding="utf-8")
        os.replace(tmp, self._done_log)
        return len(stale), size

    def forget(self, index: int) -> None:
        """Drop a damaged segment's file, so that it is rendered again."""
        self.segment_path(index).unlink(missing_ok=True)
        self._files.pop(self.keys[index], None)

    # -- rendering -----------------------------------------------------------------------------
    def batches(self, pending: list[int]) -> list[list[int]]:
        """The engine calls: `bucket_size` segments each, in text order (normal) or bucketed by length (batch),
        the book's first segment leading its call (see `controls_for`).  An engine that batches renders a
        call's segments together, each as it would alone."""
        if self.settings.mode == "normal":
            size = self.settings.bucket_size
            return [pending[first:first + size] for first in range(0, len(pending), size)]
        lengths = [self.plan.segments[i].tokens for i in pending]
        buckets = [[pending[j] for j in bucket] for bucket in bucket_segments(lengths, self.settings.bucket_size)]
        return [sorted(bucket, key=lambda i: i != 0) for bucket in buckets]

    def controls_for(self, batch: list[int]) -> Controls:
        """The call that opens the book (its first segment first) streams; the others continue it, so that
        options such as IndexTTS's quick_streaming_tokens shape the book's opening only, however the calls
        fall (resumed jobs, bucket sizes)."""
        return self.controls if self._opens_book(batch[0]) else self.engine.continuing(self.controls)

    def render(self, on_progress: Callable[[Progress], None] | None = None) -> tuple[dict[int, int], Progress]:
        """Render every missing segment; returns (index -> samples, final progress)."""
        self.open()
        done = self.finished()
        self._adopt()
        resumed = len(done)
        firsts: dict[str, int] = {}       # a sentence the book says twice is rendered once
        for seg in self.plan.segments:
            if seg.index not in done:
                firsts.setdefault(self.keys[seg.index], seg.index)
        pending = sorted(firsts.values())
        start = time.perf_counter()
        progress = Progress(len(done), len(self.plan.segments), 0.0, 0, 0.0, resumed)
        if on_progress:
            on_progress(replace(progress))     # (a snapshot each: a UI may queue them)
        for batch in self.batches(pending):
            try:
                self._render_batch(batch, done, progress, start, on_progress)
            except Exception as exc:
                where = self.where([i for i in batch if i not in done] or batch)
                kept = self.kept(done, resumable=not isinstance(exc, InputError))   # bad input: fix it, not rerun
                if isinstance(exc, IndexStudioError):    # the CLI prints the message alone: it names the place
                    raise type(exc)(f"{where}: {str(exc).rstrip('.')}. {kept}".rstrip(". ")) from exc
                exc.add_note(f"while rendering {where}. {kept}".rstrip(". "))
                raise
        return done, progress

    def _render_batch(self, batch: list[int], done: dict[int, int], progress: Progress, start: float,
                      on_progress: Callable[[Progress], None] | None) -> None:
        sr = self.sample_rate
        texts = [self.plan.segments[i].text for i in batch]
        for result in self.engine.synthesize(texts, self.voice, self.controls_for(batch)):
            index = batch[result.index]
            audio = trim_silence(np.asarray(result.audio, np.float32).reshape(-1), sr)
            if self.settings.loudness is not None:
                audio = match_loudness(audio, sr, self.settings.loudness)
            self._store(index, audio)
            for same in [i for i in self.segments_of_key[self.keys[index]] if i not in done]:
                done[same] = audio.size
                progress.done += 1
            progress.synthesized += 1
            progress.audio_seconds += audio.size / sr
            progress.characters += len(self.plan.segments[index].text)
            progress.elapsed = time.perf_counter() - start
            if on_progress:
                on_progress(replace(progress))

    def where(self, indices: list[int]) -> str:
        """Segments as a user finds them: numbers, the first one's chapter and opening words."""
        segs = sorted(indices)
        numbers = ", ".join(str(i + 1) for i in segs[:6]) + (", ..." if len(segs) > 6 else "")
        first = self.plan.segments[segs[0]]
        words = " ".join(first.text.split()[:8])
        return (f"segment{'s' if len(segs) > 1 else ''} {numbers} of {len(self.plan.segments)} "
                f"(chapter {self.plan.chapters[first.chapter]!r}, {words!r}...)")

    def kept(self, done: dict[int, int], resumable: bool = True) -> str:
        """What is kept, and (after a failure that may pass, not one of the input) how to go on."""
        if not done:
            return "run the same command again to retry" if resumable else ""
        if not (self.dir / "segments").is_dir():
            return f"the work folder {self.dir} is gone, and the segments in it" + (
                "; run the same command again to render them anew" if resumable else "")
        return (f"{len(done)} finished segment(s) are kept in {self.dir}"
                + ("; run the same command again to go on from there" if resumable else ""))

    # -- assembly ------------------------------------------------------------------------------
    def output_stamp(self, fmt: str, metadata: Metadata) -> str:
        """What decides an output file's bytes: the segments, their order and gaps, the format and the tags."""
        doc = [self.keys, [(s.chapter, s.paragraph_end, s.scene_end) for s in self.plan.segments], self.plan.chapters,
               [self.settings.segment_gap_ms, self.settings.paragraph_gap_ms, self.settings.scene_gap_ms,
                self.settings.chapter_gap_ms,
                self.settings.lead_ms, self.settings.tail_ms, self.settings.sample_rate],
               self.settings.bitrate, fmt, metadata.title, metadata.author,
               metadata.narrator, metadata.language, metadata.year, metadata.publisher, metadata.description,
               metadata.cover_type,
               hashlib.sha256(metadata.cover or b"").hexdigest()]
        if metadata.album or metadata.track:      # (only then: a book written before they existed stays current)
            doc += [metadata.album, metadata.track]
        if self.settings.rms_window:
            doc += [self.settings.rms_window]
        return hashlib.sha256(json.dumps(doc, default=str).encode("utf-8")).hexdigest()

    def written_outputs(self) -> dict:
        """Output path -> what was written there (a record that cannot be read is none)."""
        try:
            written = json.loads((self.dir / "outputs.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return {k: v for k, v in written.items() if isinstance(v, dict)} if isinstance(written, dict) else {}

    def is_current(self, output: Path, stamp: str) -> bool:
        """Whether `output` is the file this job last wrote there with `stamp`, untouched since."""
        entry = self.written_outputs().get(str(output.resolve()), {})
        try:
            info = output.stat()
        except OSError:
            return False
        return [entry.get(k) for k in ("stamp", "size", "mtime_ns")] == [stamp, info.st_size, info.st_mtime_ns]

    def record_output(self, output: Path, stamp: str) -> None:
        """Note `output` as written with `stamp`: of which book, how many chapters, made from which segment files."""
        written = self.written_outputs()
        info = output.stat()
        written[str(output.resolve())] = {"stamp": stamp, "size": info.st_size, "mtime_ns": info.st_mtime_ns,
                                          "chapters": len(self.plan.chapters), "book": self.plan.title,
                                          "segments": sorted(
                                              {self.segment_path(i).name for i in range(len(self.plan.segments))})}
        self._save_outputs(written)

    def forget_outputs(self, paths: list[Path]) -> None:
        """Drop files deleted since from the record of what was written where."""
        written = self.written_outputs()
        for path in paths:
            written.pop(str(path.resolve()), None)
        self._save_outputs(written)

    def _save_outputs(self, written: dict) -> None:
        """Keep the record of outputs; where it cannot be written (a full disk) the outputs are fine, and the next
        run only writes them again."""
        tmp = self.dir / "outputs.json.tmp"
        try:
            tmp.write_text(json.dumps(written, indent=1), encoding="utf-8")
            os.replace(tmp, self.dir / "outputs.json")
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            log.warning("cannot note in %s what was written (%s): the next run writes it again", self.dir,
                        exc.strerror or exc)

    def layout(self, samples: dict[int, int]) -> tuple[int, list[tuple[int, int]], list[ChapterMark]]:
        """The silence before the first segment, (segment index, silence after it) in order, and chapter marks
        from the real sample counts. A chapter's mark stands `lead_ms` (at most its gap) before its first words,
        so that a player jumping there does not start mid-breath."""
        sr, settings = self.sample_rate, self.settings

        def gap_of(ms: int) -> int:
            return sr * ms // 1000
        lead = gap_of(settings.lead_ms)
        order, marks, position = [], [], lead
        segs = self.plan.segments
        for n, seg in enumerate(segs):
            if n == 0 or segs[n - 1].chapter != seg.chapter:
                start = 0 if n == 0 else position - min(lead, order[-1][1])
                if marks:
                    marks[-1] = ChapterMark(marks[-1].title, marks[-1].start, start)
                marks.append(ChapterMark(self.plan.chapters[seg.chapter], start, start))
            gap = gap_of(settings.pause_after_ms(segs, n))
            order.append((seg.index, gap))
            position += samples[seg.index] + gap
        if marks:
            marks[-1] = ChapterMark(marks[-1].title, marks[-1].start, position)
        return lead, order, marks

    def damaged(self, samples: dict[int, int]) -> list[int]:
        """Every segment whose file does not read back as written (read whole: called once a damaged one is
        found, so that all of them are rendered again in one go)."""
        found = []
        for index in samples:
            try:
                self.read_segment(index, samples)
            except DamagedSegment:
                found.append(index)
        return found

    def read_segment(self, index: int, samples: dict[int, int]) -> np.ndarray:
        """A finished segment's audio, or DamagedSegment where its file does not read back as it was written."""
        path = self.segment_path(index)
        try:
            audio, _ = sf.read(path, dtype="float32")
        except (sf.LibsndfileError, RuntimeError, OSError) as exc:
            raise DamagedSegment(index, path, str(exc)) from exc
        if audio.shape[0] != samples[index]:
            raise DamagedSegment(index, path, f"{audio.shape[0]} samples, {samples[index]} were written")
        return audio

    def segment_audio(self, order: list[tuple[int, int]], samples: dict[int, int],
                      gain: float = 1.0) -> Iterator[tuple[np.ndarray, int]]:
        """The segments' audio in `order` (times `gain`), each with the silence after it (levels matched: a segment
        rendered by an earlier version, whose peaks went to -1 dBFS, is limited as new ones are)."""
        for index, gap in order:
            audio = self.read_segment(index, samples)
            ceiling = PEAK_CEILING
            if gain != 1.0:                 # (turned up for ACX: a 1 dB lower ceiling, what MP3 at 320k adds)
                audio, ceiling = (audio * gain).astype(np.float32), PEAK_CEILING * _ACX_GAIN_HEADROOM
            if self.settings.loudness is not None and float(np.abs(audio).max(initial=0.0)) > ceiling:
                audio = limit_peaks(audio, self.sample_rate, ceiling)
            yield audio, gap

    def _window_gain(self, order: list[tuple[int, int]], samples: dict[int, int], total: int) -> float:
        """The gain that brings the file's RMS level (silences included) to the middle of `settings.rms_window`
        where it falls within 1 dB of either end (at most 6 dB up): ACX measures each file whole, so a chapter
        with many pauses, or a short one, fell under its -23 dB (and an MP3 encoding takes another ~0.3 dB)."""
        if not self.settings.rms_window or not total:
            return 1.0
        energy = sum(float(np.square(audio, dtype=np.float64).sum()) for audio, _ in self.segment_audio(order, samples))
        rms_db = 10 * np.log10(max(energy / total, 1e-20))
        low, high = self.settings.rms_window
        if low + 1 <= rms_db <= high - 1:
            return 1.0
        return float(10 ** (min((low + high) / 2 - rms_db, 6.0) / 20))

    def assemble(self, output: str | Path, samples: dict[int, int], metadata: Metadata, fmt: str | None = None,
                 on_write: Callable[[float, float], None] | None = None) -> tuple[list[ChapterMark], float]:
        """Write the output from the segment files; `on_write(seconds written, seconds in all)` follows it. Returns
        the chapter marks and the file's RMS level in dBFS, silences included (as ACX measures it)."""
        lead, order, marks = self.layout(samples)
        metadata.chapters = marks
        total = marks[-1].end if marks else 0
        gain = self._window_gain(order, samples, total)
        energy = 0.0
        with naming_a_full_disk(Path(output).resolve().parent), \
                AudioWriter(output, self.sample_rate, format_of(Path(output), fmt), metadata, self.settings.bitrate,
                            expected_samples=total, output_rate=self.settings.sample_rate) as writer:
            writer.write_silence(lead)
            for audio, gap in self.segment_audio(order, samples, gain):
                writer.write(audio)
                writer.write_silence(gap)
                energy += float(np.square(audio, dtype=np.float64).sum())
                if on_write:
                    on_write(writer.samples / self.sample_rate, total / self.sample_rate)
        return marks, float(10 * np.log10(max(energy / max(writer.samples, 1), 1e-20)))


class DamagedSegment(Exception):
    """A finished segment's file that cannot be read back as it was written."""

    def __init__(self, index: int, path: Path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.index, self.path, self.reason = index, path, reason


def content_id(value: str) -> str:
    """A file's identity by its contents (sha256), for a string that names an existing file; else the string."""
    try:
        return "sha256:" + content_hash(Path(value)) if Path(value).is_file() else value
    except (OSError, ValueError):
        return value


def render_book(plan: Plan, engine: Engine, voice: str, output: str | Path, work_dir: str | Path | None = None,
                controls: Controls = Controls(), settings: RenderSettings = RenderSettings(), fmt: str | None = None,
                metadata: Metadata | None = None, engine_id: str = "",
                on_progress: Callable[[Progress], None] | None = None,
                on_write: Callable[[float, float], None] | None = None, earlier_ids: Sequence[str] = ()) -> RenderResult:
    """Render `plan` to `output`, resuming from `work_dir` (default: the output with `.work` for its extension);
    `on_progress` follows the rendering, `on_write(seconds, total seconds)` the writing of the output."""
    output = Path(output)
    fmt = format_of(output, fmt)   # refuse a bad format, bitrate or cover before any rendering
    check_bitrate(fmt, settings.bitrate, settings.sample_rate or engine.sample_rate)
    meta = metadata or Metadata()
    if meta.cover and image_type(meta.cover) != meta.cover_type:
        meta.cover, meta.cover_type = cover_image(meta.cover, "of the book")
    start = time.perf_counter()
    make_output_folder(output)           # before any rendering: a folder that cannot be written is found now
    try:
        job = Job(work_dir or output.with_suffix(".work"), plan, engine, voice, controls, settings,
                  engine_id, earlier_ids)
        job.open()
    except OSError as exc:
        raise InputError(f"cannot write {output} or its work folder: {exc}") from exc
    try:
        return _render_and_write(job, output, fmt, meta, start, on_progress, on_write)
    finally:
        job.close()


def _render_and_write(job: Job, output: Path, fmt: str, meta: Metadata, start: float,
                      on_progress: Callable[[Progress], None] | None,
                      on_write: Callable[[float, float], None] | None) -> RenderResult:
    plan = job.plan
    resumed = set(job.finished())         # segments finished by earlier runs (less any found damaged below)
    if output.exists() and str(output.resolve()) not in job.written_outputs():
        if len(resumed) < len(plan.segments):
            log.warning("%s exists and this work folder did not write it: it will be replaced once the audiobook "
                        "is complete (Ctrl-C now to keep it)", output)
        else:
            log.warning("%s exists and this work folder did not write it: it is replaced", output)
    samples, progress = job.render(on_progress)
    rendering = progress.elapsed
    meta.title = meta.title or plan.title
    meta.author = meta.author or plan.author
    stamp = job.output_stamp(fmt, meta)
    if progress.synthesized == 0 and job.is_current(output, stamp):    # a re-run that changes nothing: no re-encode
        marks = job.layout(samples)[2]
        return RenderResult(output, marks[-1].end / job.sample_rate if marks else 0.0, 0.0,
                            time.perf_counter() - start, 0, len(plan.segments), 0, marks, 0, rendering, written=False,
                            sample_rate=job.sample_rate)
    damaged_before: set[int] = set()
    while True:
        try:
            marks, rms_db = job.assemble(output, samples, meta, fmt, on_write)
            break
        except DamagedSegment as damaged:       # the output is only renamed into place once complete
            if damaged.index in damaged_before:
                raise IndexStudioError(f"segment {damaged.index + 1}'s file {damaged.path} is damaged again after "
                                       f"rendering it anew ({damaged.reason}): is the disk full or failing?") from None
            found = sorted(set(job.damaged(samples)) | {damaged.index})
            damaged_before.update(found)
            log.warning("%d segment file(s) are damaged (segment %d: %s): rendering them again", len(found),
                        damaged.index + 1, damaged.reason)
            for index in found:
                job.forget(index)
                resumed -= set(job.segments_of_key[job.keys[index]])
            samples, again = job.render(on_progress)
            rendering += again.elapsed
            progress.audio_seconds += again.audio_seconds
            progress.characters += again.characters
            progress.synthesized += again.synthesized
        except IndexStudioError as exc:
            told = type(exc)(f"{exc}; {job.kept(samples)}")
            told.reason = str(exc)              # (for a caller that tells what is kept of more than this plan)
            raise told from exc
        except Exception as exc:
            exc.add_note(f"while writing {output}. {job.kept(samples)}")
            raise
    job.record_output(output, stamp)
    total = marks[-1].end / job.sample_rate if marks else 0.0
    return RenderResult(output, total, progress.audio_seconds, time.perf_counter() - start,
                        len(plan.segments) - len(resumed), len(resumed), progress.characters, marks,
                        progress.synthesized, rendering, sample_rate=job.sample_rate, rms_db=rms_db)
