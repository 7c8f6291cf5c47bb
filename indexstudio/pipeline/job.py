"""A long-form render job: segments to a work folder, resumable, then one output file.

Work folder layout:
    job.json         the plan and settings (rewritten when they change)
    done.jsonl       one line per finished segment: index, key, samples (append-only)
    segments/        one FLAC file per finished segment, named by index and key

A segment's key hashes everything that decides its audio (engine, model,
voice, controls, text), so running the same job again renders only what is
missing or what changed, and finished work is never thrown away.  The
assembly reads segments back one at a time, so memory stays flat however long
the book is.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import soundfile as sf

from indexstudio.audio.output import AudioWriter, ChapterMark, Metadata, format_of
from indexstudio.audio.processing import DEFAULT_LOUDNESS, match_loudness, trim_silence
from indexstudio.engines.base import Controls, Engine
from indexstudio.errors import IndexStudioError
from indexstudio.pipeline.plan import Plan
from indexstudio.text.segment import DEFAULT_BUCKET_SIZE, bucket_segments

MODES = ("normal", "batch")


@dataclass
class RenderSettings:
    mode: str = "normal"
    bucket_size: int = DEFAULT_BUCKET_SIZE
    segment_gap_ms: int = 200
    chapter_gap_ms: int = 1500
    loudness: float | None = DEFAULT_LOUDNESS     # None keeps the engine's levels
    bitrate: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        if self.bucket_size < 1:
            raise ValueError("bucket size must be at least 1")


@dataclass
class Progress:
    done: int
    total: int
    audio_seconds: float       # audio rendered in this run
    characters: int            # characters rendered in this run
    elapsed: float
    resumed: int               # segments found finished from an earlier run


@dataclass
class RenderResult:
    output: Path
    audio_seconds: float       # length of the output
    rendered_seconds: float    # audio rendered in this run (the rest was resumed)
    wall_seconds: float
    rendered: int
    resumed: int
    characters: int
    chapters: list[ChapterMark] = field(default_factory=list)

    @property
    def rtf(self) -> float | None:
        """Wall time per second of audio rendered in this run (None when everything was resumed)."""
        return self.wall_seconds / self.rendered_seconds if self.rendered_seconds else None


class Job:
    def __init__(self, work_dir: str | Path, plan: Plan, engine: Engine, voice: str, controls: Controls = Controls(),
                 settings: RenderSettings = RenderSettings(), engine_id: str = ""):
        self.dir = Path(work_dir)
        self.plan, self.engine, self.voice, self.controls, self.settings = plan, engine, voice, controls, settings
        self.engine_id = engine_id or engine.name
        (self.dir / "segments").mkdir(parents=True, exist_ok=True)
        self._done_log = self.dir / "done.jsonl"
        self._write_job_file()

    # -- bookkeeping ---------------------------------------------------------------------------
    def key(self, index: int) -> str:
        seg = self.plan.segments[index]
        blob = json.dumps([self.engine_id, self.voice, asdict(self.controls), self.settings.loudness, seg.text],
                          sort_keys=True, default=str)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]

    def segment_path(self, index: int) -> Path:
        return self.dir / "segments" / f"{index:06d}-{self.key(index)}.flac"

    def _write_job_file(self) -> None:
        doc = {"format": 1, "engine": self.engine_id, "voice": self.voice, "controls": asdict(self.controls),
               "settings": asdict(self.settings), "sample_rate": self.engine.sample_rate, "plan": self.plan.to_json()}
        tmp = self.dir / "job.json.tmp"
        tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
        os.replace(tmp, self.dir / "job.json")

    def finished(self) -> dict[int, int]:
        """index -> sample count of segments whose audio is on disk for the current key."""
        done: dict[int, int] = {}
        if self._done_log.exists():
            for line in self._done_log.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut short by a crash
                i = entry.get("index")
                if isinstance(i, int) and 0 <= i < len(self.plan.segments) and entry.get("key") == self.key(i) \
                        and self.segment_path(i).exists():
                    done[i] = int(entry["samples"])
        return done

    def _store(self, index: int, audio: np.ndarray) -> None:
        path = self.segment_path(index)
        tmp = path.with_suffix(".tmp.flac")
        sf.write(tmp, audio, self.engine.sample_rate, subtype="PCM_16", format="FLAC")
        os.replace(tmp, path)
        with open(self._done_log, "a", encoding="utf-8") as log:
            log.write(json.dumps({"index": index, "key": self.key(index), "samples": int(audio.size)}) + "\n")
            log.flush()
            os.fsync(log.fileno())

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
        return self.controls if batch[0] == 0 else self.engine.continuing(self.controls)

    def render(self, on_progress: Callable[[Progress], None] | None = None) -> tuple[dict[int, int], Progress]:
        """Render every missing segment; returns (index -> samples, final progress)."""
        done = self.finished()
        resumed = len(done)
        pending = [s.index for s in self.plan.segments if s.index not in done]
        start = time.perf_counter()
        progress = Progress(len(done), len(self.plan.segments), 0.0, 0, 0.0, resumed)
        if on_progress:
            on_progress(progress)
        for batch in self.batches(pending):
            try:
                self._render_batch(batch, done, progress, start, on_progress)
            except Exception as exc:
                where, kept = self.where([i for i in batch if i not in done] or batch), self.kept(done)
                if isinstance(exc, IndexStudioError):    # the CLI prints the message alone: it names the place
                    raise type(exc)(f"{where}: {str(exc).rstrip('.')}. {kept}") from exc
                exc.add_note(f"while rendering {where}. {kept}")
                raise
        return done, progress

    def _render_batch(self, batch: list[int], done: dict[int, int], progress: Progress, start: float,
                      on_progress: Callable[[Progress], None] | None) -> None:
        sr = self.engine.sample_rate
        texts = [self.plan.segments[i].text for i in batch]
        for result in self.engine.synthesize(texts, self.voice, self.controls_for(batch)):
            index = batch[result.index]
            audio = trim_silence(np.asarray(result.audio, np.float32).reshape(-1), sr)
            if self.settings.loudness is not None:
                audio = match_loudness(audio, sr, self.settings.loudness)
            self._store(index, audio)
            done[index] = audio.size
            progress.done += 1
            progress.audio_seconds += audio.size / sr
            progress.characters += len(self.plan.segments[index].text)
            progress.elapsed = time.perf_counter() - start
            if on_progress:
                on_progress(progress)

    def where(self, indices: list[int]) -> str:
        """Segments as a user finds them: numbers, the first one's chapter and opening words."""
        segs = sorted(indices)
        numbers = ", ".join(str(i + 1) for i in segs[:6]) + (", ..." if len(segs) > 6 else "")
        first = self.plan.segments[segs[0]]
        words = " ".join(first.text.split()[:8])
        return (f"segment{'s' if len(segs) > 1 else ''} {numbers} of {len(self.plan.segments)} "
                f"(chapter {self.plan.chapters[first.chapter]!r}, {words!r}...)")

    def kept(self, done: dict[int, int]) -> str:
        return (f"{len(done)} finished segment(s) are kept in {self.dir}; "
                "run the same command again to go on from there")

    # -- assembly ------------------------------------------------------------------------------
    def layout(self, samples: dict[int, int]) -> tuple[list[tuple[int, int]], list[ChapterMark]]:
        """(segment index, silence after it) in order, and chapter marks from the real sample counts."""
        sr = self.engine.sample_rate
        seg_gap, ch_gap = sr * self.settings.segment_gap_ms // 1000, sr * self.settings.chapter_gap_ms // 1000
        order, marks, position = [], [], 0
        segs = self.plan.segments
        for n, seg in enumerate(segs):
            if n == 0 or segs[n - 1].chapter != seg.chapter:
                if marks:
                    marks[-1] = ChapterMark(marks[-1].title, marks[-1].start, position)
                marks.append(ChapterMark(self.plan.chapters[seg.chapter], position, position))
            last = n == len(segs) - 1
            gap = 0 if last else ch_gap if segs[n + 1].chapter != seg.chapter else seg_gap
            order.append((seg.index, gap))
            position += samples[seg.index] + gap
        if marks:
            marks[-1] = ChapterMark(marks[-1].title, marks[-1].start, position)
        return order, marks

    def segment_audio(self, order: list[tuple[int, int]]) -> Iterator[tuple[np.ndarray, int]]:
        for index, gap in order:
            audio, sr = sf.read(self.segment_path(index), dtype="float32")
            yield audio, gap

    def assemble(self, output: str | Path, samples: dict[int, int], metadata: Metadata, fmt: str | None = None) -> list[ChapterMark]:
        order, marks = self.layout(samples)
        metadata.chapters = marks
        with AudioWriter(output, self.engine.sample_rate, format_of(Path(output), fmt), metadata, self.settings.bitrate) as writer:
            for audio, gap in self.segment_audio(order):
                writer.write(audio)
                writer.write_silence(gap)
        return marks


def render_book(plan: Plan, engine: Engine, voice: str, output: str | Path, work_dir: str | Path | None = None,
                controls: Controls = Controls(), settings: RenderSettings = RenderSettings(), fmt: str | None = None,
                metadata: Metadata | None = None, engine_id: str = "",
                on_progress: Callable[[Progress], None] | None = None) -> RenderResult:
    """Render `plan` to `output`, resuming from `work_dir` (default: `<output>.work/`)."""
    output = Path(output)
    format_of(output, fmt)   # refuse a bad format before any rendering
    start = time.perf_counter()
    job = Job(work_dir or output.with_name(output.name + ".work"), plan, engine, voice, controls, settings, engine_id)
    samples, progress = job.render(on_progress)
    meta = metadata or Metadata()
    meta.title = meta.title or plan.title
    meta.author = meta.author or plan.author
    meta.narrator = meta.narrator or plan.narrator
    marks = job.assemble(output, samples, meta, fmt)
    total = marks[-1].end / engine.sample_rate if marks else 0.0
    return RenderResult(output, total, progress.audio_seconds, time.perf_counter() - start, progress.done - progress.resumed, progress.resumed,
                        progress.characters, marks)
