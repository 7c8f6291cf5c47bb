"""Audio out: WAV, MP3, M4B and Opus files written as a stream, with chapters and tags.

Samples arrive in chunks and go straight to the file (WAV via soundfile) or to
ffmpeg's stdin (compressed formats; the ffmpeg build inside `imageio-ffmpeg`),
so memory does not grow with the length of the book.  Chapter marks and
metadata go in through an ffmetadata file; cover art, the audiobook flag and
the narrator are added afterwards with mutagen, which keeps the chapters (MP3
gets them from ffmpeg as well: mutagen would reorder its chapter frames).
"""
from __future__ import annotations

import contextlib
import errno
import functools
import logging
import os
import re
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import soundfile as sf

from indexstudio.errors import IndexStudioError, InputError
from indexstudio.text.language import iso639_2

FORMATS = ("m4b", "mp3", "wav", "opus")
DEFAULT_BITRATES = {"mp3": "64k", "m4b": "64k", "opus": "32k"}
SAMPLE_RATES = (22050, 24000, 44100, 48000)
SUFFIXES = {"m4b": "m4b", "m4a": "m4b", "mp4": "m4b", "mp3": "mp3", "wav": "wav", "opus": "opus", "ogg": "opus"}
_OPUS_RATE = 48000
_WAV_LIMIT = 0xFFFFFFFF - 1024      # RIFF sizes are 32-bit: a longer 16-bit WAV is written as RF64
_MP4_TITLE_BYTES = 255              # a Nero chapter title (chpl) holds at most 255 bytes
_NERO_CHAPTERS = 255                # and ffmpeg writes at most 255 of them there
_LARGE_COVER = 5 * 2**20
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChapterMark:
    title: str
    start: int      # first sample
    end: int        # one past the last sample


@dataclass
class Metadata:
    title: str = ""
    author: str = ""
    narrator: str = ""
    language: str = ""
    year: str = ""
    publisher: str = ""
    description: str = ""         # the blurb: M4B's description, MP3's and WAV's comment, Opus's DESCRIPTION
    cover: bytes | None = None
    cover_type: str = "image/jpeg"
    chapters: list[ChapterMark] = field(default_factory=list)
    album: str = ""               # default: the title (a file of one chapter: the book's title)
    track: tuple[int, int] | None = None      # (number, of how many): a book as a file a chapter


def ffmpeg_exe() -> str:
    import imageio_ffmpeg
    return os.environ.get("INDEXSTUDIO_FFMPEG") or imageio_ffmpeg.get_ffmpeg_exe()


def format_of(path: Path, explicit: str | None = None) -> str:
    """The output format: `explicit`, else the file name's; a file name that says another format is refused
    (an MP4 inside `book.mp3` plays nowhere)."""
    suffix = path.suffix.lstrip(".").lower()
    named = SUFFIXES.get(suffix)
    fmt = (explicit or "").lower() or named or suffix
    if not fmt:
        raise InputError(f"the output name {path.name} says no format: end it in .m4b, .mp3, .opus or .wav "
                         "(or give --format)")
    if fmt not in FORMATS:
        raise InputError(f"unsupported output format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if explicit and named and named != fmt:
        raise InputError(f"--format {fmt} does not match the output name {path.name}: name it .{fmt}")
    return fmt


def bitrate_range(fmt: str, sample_rate: int) -> tuple[int, int]:
    """The kb/s a format's encoder gives a mono stream at `sample_rate`: LAME's MPEG-2 layer III (below 32 kHz)
    stops at 160k and MPEG-1 at 320k; ffmpeg's AAC spends no more than ~4.5 bits a sample however much it is
    given (92k of a 256k request at 24 kHz); libopus takes 6-256k for one channel."""
    wide = sample_rate >= 32000
    return {"mp3": (32, 320) if wide else (8, 160), "m4b": (16, 192 if wide else 96), "opus": (6, 256)}[fmt]


def check_sample_rate(rate: int | None) -> None:
    """Refuse an output sample rate the writers do not offer (None: the engine's own)."""
    if rate is not None and rate not in SAMPLE_RATES:
        raise InputError(f"--sample-rate {rate}: give one of {', '.join(map(str, SAMPLE_RATES))} (or none: the "
                         "engine's own)")


def check_format_rate(fmt: str, rate: int | None) -> None:
    """Warn where the format does not take the sample rate asked for (Opus is 48 kHz, whatever it is given)."""
    if fmt == "opus" and rate is not None and rate != _OPUS_RATE:
        log.warning("--sample-rate %d has no effect on Opus output: Opus is always %d Hz", rate, _OPUS_RATE)


def make_output_folder(path: Path) -> None:
    """Create the folder `path` is to be written in (and those missing above it), or an InputError naming why it
    cannot be written; called before any work starts. Partial files killed runs left there are removed."""
    if path.is_dir():
        raise InputError(f"the output {path} is a folder: give a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        blocker = next((p for p in [path.parent, *path.parent.parents] if p.exists() and not p.is_dir()), None)
        why = f"{blocker} is a file, not a folder" if blocker else exc.strerror or str(exc)
        raise InputError(f"cannot make the output folder {path.parent}: {why}") from exc
    if not os.access(path.parent, os.W_OK):
        raise InputError(f"output folder {path.parent} is not writable")
    real = path.resolve() if path.is_symlink() else path        # (a link is written through, as AudioWriter does)
    if real != path and not (real.parent.is_dir() and os.access(real.parent, os.W_OK)):
        raise InputError(f"output folder {real.parent} (where the link {path} points) "
                         f"{'is not writable' if real.parent.is_dir() else 'does not exist'}")
    _remove_stale_partials(real)


def check_bitrate(fmt: str, bitrate: str | None, sample_rate: int = 24000) -> str | None:
    """The bitrate as ffmpeg takes it ("64k"), checked against what the format's encoder gives at `sample_rate`
    (the output's); None for WAV."""
    if fmt == "wav":
        return None
    sample_rate = _OPUS_RATE if fmt == "opus" else sample_rate         # (Opus is always coded at 48 kHz)
    bitrate = bitrate or DEFAULT_BITRATES[fmt]
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([kK]?)", bitrate.strip())
    low, high = bitrate_range(fmt, sample_rate)
    value = float(match.group(1)) if match else -1.0
    kbps = value if match and (match.group(2) or value < 1000) else value / 1000     # "64": kb/s, "64000": b/s
    if not low <= kbps <= high:
        hint = DEFAULT_BITRATES[fmt]
        wider = (" (--sample-rate 44100 allows more)" if fmt in ("mp3", "m4b") and sample_rate < 32000
                 and kbps > high else "")
        raise InputError(f"bitrate {bitrate!r} for {fmt} at {sample_rate} Hz: give kilobits per second from {low}k "
                         f"to {high}k{wider}, e.g. {hint}")
    return f"{kbps:g}k"


def image_type(data: bytes) -> str | None:
    """ "image/jpeg" or "image/png" by the file's first bytes, else None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    return None


def image_size(data: bytes) -> tuple[int, int, int]:
    """(width, height, bits per pixel) of PNG or JPEG bytes, read from their headers; zeros where unknown."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        width, height, bits, colour = struct.unpack(">IIBB", data[16:26])
        return width, height, bits * {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(colour, 1)
    at = 2
    while data[:2] == b"\xff\xd8" and at + 9 < len(data) and data[at] == 0xFF:
        marker, length = data[at + 1], struct.unpack(">H", data[at + 2:at + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):        # a start of frame
            bits, height, width, parts = struct.unpack(">BHHB", data[at + 4:at + 10])
            return width, height, bits * parts
        at += 2 + length
    return 0, 0, 0


def cover_image(data: bytes, source: str) -> tuple[bytes, str]:
    """A cover as JPEG or PNG bytes and its MIME type, told by its contents, not its name: other images (GIF,
    WebP, BMP ...) are converted to PNG by ffmpeg; anything else, or a picture that does not decode, is an
    InputError naming `source`; a cover that is not square is warned about."""
    kind = image_type(data)
    if kind is None:
        result = subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-i", "pipe:0", "-frames:v", "1",
                                 "-c:v", "png", "-f", "image2pipe", "pipe:1"], input=data, capture_output=True)
        if result.returncode != 0 or image_type(result.stdout) != "image/png":
            raise InputError(f"cover image {source} is not an image ffmpeg can read (JPEG, PNG, GIF, WebP... expected)")
        data, kind = result.stdout, "image/png"
    decoded = subprocess.run([ffmpeg_exe(), "-hide_banner", "-xerror", "-i", "pipe:0", "-frames:v", "1", "-f", "null",
                              "-"], input=data, capture_output=True)
    if decoded.returncode != 0:             # (its first bytes say JPEG or PNG; the rest is cut off or garbled)
        raise InputError(f"cover image {source} is damaged: its picture cannot be decoded")
    size = re.search(rb"Video: .*?, (\d+)x(\d+)", decoded.stderr)
    if size and size.group(1) != size.group(2):
        log.warning("cover image %s is %sx%s; audiobook stores and players want a square cover (ACX: 2400x2400 "
                    "or more)", source, size.group(1).decode(), size.group(2).decode())
    if len(data) > _LARGE_COVER:
        log.warning("cover image %s is %.1f MB; it goes into the file as it is (a cover of ~0.5 MB is plenty)",
                    source, len(data) / 2**20)
    return data, kind


def to_pcm16(audio: np.ndarray) -> bytes:
    return (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def _escape(value: str) -> str:
    out = str(value)
    for ch in "\\=;#\n\r":
        out = out.replace(ch, "\\" + ch)
    return out


def _fit(title: str, max_bytes: int | None) -> str:
    """`title` on one line, cut to `max_bytes` of UTF-8 between characters (a cut inside one makes the file
    unreadable to taggers)."""
    title = " ".join(title.split())
    if max_bytes is None or len(title.encode("utf-8")) <= max_bytes:
        return title
    return title.encode("utf-8")[:max_bytes - 3].decode("utf-8", errors="ignore") + "…"


def ffmetadata(meta: Metadata, sample_rate: int, fmt: str = "") -> str:
    """ffmpeg's metadata file: global tags, then one [CHAPTER] block per chapter (millisecond timebase)."""
    lines = [";FFMETADATA1"]
    tags = {"title": meta.title, "album": meta.album or meta.title, "artist": meta.author, "album_artist": meta.author,
            "track": f"{meta.track[0]}/{meta.track[1]}" if meta.track else "",
            "composer": meta.narrator, "date": meta.year, "genre": "Audiobook",
            "publisher": meta.publisher if fmt != "m4b" else "",     # (ffmpeg's MP4 muxer drops it: tag_file)
            "description" if fmt in ("m4b", "opus") else "comment": meta.description if fmt != "mp3" else "",
            "synopsis": meta.description if fmt == "m4b" else "",    # (MP4's long description, ldes: Apple Books)
            "language": iso639_2(meta.language) if fmt == "mp3" else meta.language,     # (ID3's TLAN: "eng")
            "NARRATOR": meta.narrator if fmt == "mp3" else ""}      # (MP3: a TXXX frame)
    lines += [f"{k}={_escape(v)}" for k, v in tags.items() if v]
    limit = _MP4_TITLE_BYTES if fmt == "m4b" else None
    for ch in meta.chapters:
        lines += ["[CHAPTER]", "TIMEBASE=1/1000", f"START={round(ch.start * 1000 / sample_rate)}",
                  f"END={round(ch.end * 1000 / sample_rate)}", f"title={_escape(_fit(ch.title, limit))}"]
    return "\n".join(lines) + "\n"


class AudioWriter:
    """Stream mono float audio into `path` in `fmt`; use as a context manager."""

    def __init__(self, path: str | Path, sample_rate: int, fmt: str | None = None, metadata: Metadata | None = None,
                 bitrate: str | None = None, expected_samples: int = 0, output_rate: int | None = None):
        self.path = Path(path).resolve() if Path(path).is_symlink() else Path(path)   # a link: write where it points
        self.fmt = format_of(self.path, fmt)
        self.sample_rate = sample_rate          # of the audio given to `write` (chapter marks count its samples)
        self.output_rate = _OPUS_RATE if self.fmt == "opus" else output_rate or sample_rate
        self.meta = metadata or Metadata()
        self.bitrate = check_bitrate(self.fmt, bitrate, self.output_rate)
        self._resampler = None
        self.expected_samples = expected_samples
        self.samples = 0
        self._tmpdir: tempfile.TemporaryDirectory | None = None
        self._proc: subprocess.Popen | None = None
        self._wav: sf.SoundFile | None = None
        parent = self.path.parent
        if not parent.is_dir():
            raise InputError(f"output folder {parent} does not exist")
        if not os.access(parent, os.W_OK):
            raise InputError(f"output folder {parent} is not writable")
        if self.path.is_dir():
            raise InputError(f"the output {self.path} is a folder: give a file name")
        # Write next to the target and rename at the end: a crash never leaves a half file under the real name,
        # and two runs writing the same output each write their own.
        self._partial = self.path.with_name(f".{self.path.name}.{os.getpid()}.partial")
        _remove_stale_partials(self.path)
        if self.fmt == "m4b" and len(self.meta.chapters) > _NERO_CHAPTERS:
            log.warning("%s: %d chapters; players that read the Nero chapter list see the first %d (Apple's chapter "
                        "track, which most read, holds them all)", self.path.name, len(self.meta.chapters),
                        _NERO_CHAPTERS)

    def __enter__(self) -> "AudioWriter":
        try:
            self._start()
        except BaseException as exc:           # (a half-made start leaves no partial file: a full disk makes one)
            self.__exit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    def _start(self) -> None:
        if self.fmt == "wav":
            written = self.expected_samples * self.output_rate // self.sample_rate
            container = "RF64" if 2 * written > _WAV_LIMIT else "WAV"
            if self.output_rate != self.sample_rate:
                import soxr
                self._resampler = soxr.ResampleStream(self.sample_rate, self.output_rate, 1, dtype="float32",
                                                      quality="HQ")
            try:
                self._wav = sf.SoundFile(self._partial, "w", self.output_rate, 1, subtype="PCM_16", format=container)
            except (sf.LibsndfileError, OSError) as exc:
                raise disk_full(exc, self.path.parent) or InputError(f"cannot write {self.path}: {exc}") from exc
            for tag, value in (("title", self.meta.title), ("album", self.meta.album or self.meta.title),
                               ("artist", self.meta.author), ("date", self.meta.year),
                               ("comment", self.meta.description),
                               ("tracknumber", f"{self.meta.track[0]}/{self.meta.track[1]}" if self.meta.track else "")):
                if value:
                    setattr(self._wav, tag, value)       # (a LIST INFO chunk; the chapters are cue points: tag_file)
        else:
            self._start_ffmpeg()

    def _start_ffmpeg(self) -> None:
        self._tmpdir = tempfile.TemporaryDirectory(prefix="indexstudio-")
        meta_file = Path(self._tmpdir.name) / "metadata.txt"
        meta_file.write_text(ffmetadata(self.meta, self.sample_rate, self.fmt), encoding="utf-8")
        cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
               "-f", "s16le", "-ar", str(self.sample_rate), "-ac", "1", "-i", "pipe:0",
               "-i", str(meta_file), "-map", "0:a", "-map_metadata", "1", "-map_chapters", "1"]
        if self.output_rate != self.sample_rate and self.fmt != "opus":
            cmd += ["-ar", str(self.output_rate)]
        if iso639_2(self.meta.language) and self.fmt in ("m4b", "mp3"):     # the audio track's own language
            cmd += ["-metadata:s:a:0", f"language={iso639_2(self.meta.language)}"]
        if self.fmt == "m4b":
            cmd += ["-c:a", "aac", "-b:a", self.bitrate, "-movflags", "+faststart", "-brand", "M4B ", "-f", "ipod"]
        elif self.fmt == "mp3":
            # the cover goes in here too: re-saving the tag with mutagen reorders the CHAP frames by size
            if self.meta.cover:
                cover = Path(self._tmpdir.name) / "cover"
                cover.write_bytes(self.meta.cover)
                cmd[cmd.index("-map"):cmd.index("-map")] = ["-i", str(cover)]
                cmd += ["-map", "2:v", "-c:v", "copy", "-disposition:v", "attached_pic",
                        "-metadata:s:v", "comment=Cover (front)"]
            cmd += ["-c:a", "libmp3lame", "-b:a", self.bitrate, "-id3v2_version", "3", "-f", "mp3"]
        else:
            cmd += ["-c:a", "libopus", "-b:a", self.bitrate, "-ar", str(_OPUS_RATE), "-f", "ogg"]
        cmd.append(str(self._partial))
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)

    def write(self, audio: np.ndarray) -> None:
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        if self._wav is not None:
            self._wav.write(self._resampler.resample_chunk(audio) if self._resampler else audio)
        else:
            assert self._proc is not None and self._proc.stdin is not None
            try:
                self._proc.stdin.write(to_pcm16(audio))
            except BrokenPipeError:
                raise RuntimeError(f"ffmpeg stopped while writing {self.path}: {self._end_ffmpeg()[1]}") from None
        self.samples += audio.size

    def write_silence(self, samples: int) -> None:
        if samples > 0:
            self.write(np.zeros(samples, np.float32))

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if self._wav is not None:
                if self._resampler is not None and exc_type is None:
                    self._wav.write(self._resampler.resample_chunk(np.zeros(0, np.float32), last=True))
                self._wav.close()
                if exc_type is None and self._wav.format == "WAV" and 2 * self._wav.frames > _WAV_LIMIT:
                    raise InputError(f"{self.path}: {self.samples / self.sample_rate / 3600:.1f} h is over what a "
                                     "WAV file holds (4 GiB): write .m4b, .mp3 or .opus")
            elif self._proc is not None:
                self._proc.stdin.close()
                code, said = self._end_ffmpeg()
                if code != 0 and exc_type is None:
                    raise RuntimeError(f"ffmpeg failed writing {self.path}: {said}")
            if exc_type is None:
                tag_file(self._partial, self.fmt, self.meta, self.sample_rate)
                if self.path.exists():              # a file written anew keeps the old one's permissions
                    os.chmod(self._partial, self.path.stat().st_mode & 0o7777)
                os.replace(self._partial, self.path)
        finally:
            if self._tmpdir is not None:
                self._tmpdir.cleanup()
            if self._partial.exists():
                self._partial.unlink()


    def _end_ffmpeg(self) -> tuple[int, str]:
        """ffmpeg's exit status, and what it said - or how it ended (killed, out of memory) if it said nothing."""
        assert self._proc is not None and self._proc.stderr is not None
        said = self._proc.stderr.read().decode(errors="replace").strip()
        code = self._proc.wait()
        return code, said or (f"it was killed (signal {-code})" if code < 0 else f"it exited with status {code}")


def _remove_stale_partials(path: Path) -> None:
    """Partial files left in `path`'s folder by runs that were killed (".NAME.PID.partial" whose process is gone),
    those of other outputs too (a chapter file since renamed, another format)."""
    for partial in path.parent.glob(".*.partial"):
        pid = partial.name[:-len(".partial")].rpartition(".")[2]
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            partial.unlink(missing_ok=True)
        except (ValueError, PermissionError, OverflowError):
            continue


@contextlib.contextmanager
def naming_a_full_disk(folder: Path) -> Iterator[None]:
    """A write that fails because the disk under `folder` is full raises an error that says so; any other
    failure passes as it is (ffmpeg's are RuntimeErrors)."""
    try:
        yield
    except (OSError, RuntimeError, sf.LibsndfileError) as exc:
        full = disk_full(exc, folder)
        if full is None:
            raise
        raise full from exc


def disk_full(exc: Exception, folder: Path) -> IndexStudioError | None:
    """The error to raise for a write that failed because the disk is full (libsndfile only says "System
    error"), or None for any other failure."""
    try:
        full = getattr(exc, "errno", None) == errno.ENOSPC or shutil.disk_usage(folder).free < 16 * 2**20
    except OSError:
        full = False
    if full or "No space left" in str(exc):
        return IndexStudioError(f"the disk holding {folder} is full: free some space")
    return None


def _add_id3_comment(path: Path, text: str) -> None:
    """Put `text` in a COMM frame, where players show a description (ffmpeg writes "comment" as a TXXX frame),
    inserted ahead of the ID3v2.3 tag's frames: the others stay as they are, in their order (a tagger's re-save
    sorts the CHAP frames by size, and players read chapters in frame order)."""
    with open(path, "rb") as f:
        header = f.read(10)
        if header[:3] != b"ID3" or header[3] != 3 or header[5] != 0:    # (v2.3, without unsynchronisation etc.)
            return
        size = functools.reduce(lambda n, byte: n << 7 | byte, header[6:10], 0)
        frames = f.read(size)
        tmp = path.with_name(path.name + ".comm")
        data = b"\x01eng" + "".encode("utf-16") + b"\x00\x00" + text.encode("utf-16")   # (UTF-16, its BOM)
        comm = b"COMM" + struct.pack(">I", len(data)) + b"\x00\x00" + data
        size += len(comm)
        try:
            with open(tmp, "wb") as out:
                out.write(header[:6] + bytes((size >> shift) & 0x7F for shift in (21, 14, 7, 0)) + comm + frames)
                shutil.copyfileobj(f, out, 1 << 20)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)


def chapter_count(path: Path) -> int:
    """How many chapter marks an audiobook file holds (M4B, MP3, Opus); 0 for none, or a file that is no such."""
    import mutagen
    try:
        audio = mutagen.File(path)
    except (mutagen.MutagenError, OSError, ValueError):
        return 0
    from mutagen.id3 import ID3
    from mutagen.mp4 import MP4
    if isinstance(audio, MP4):
        return len(audio.chapters or ())
    if isinstance(getattr(audio, "tags", None), ID3):
        return len(audio.tags.getall("CHAP"))
    return sum(1 for key in (audio.tags or {}).keys() if re.fullmatch(r"(?i)chapter\d{3}", key)) if audio else 0


def _add_wav_cues(path: Path, chapters: Sequence[ChapterMark], sample_rate: int) -> None:
    """The chapters of a WAV file as cue points with labels (a `cue ` chunk and a LIST `adtl` one), which audio
    editors (Audacity, ocenaudio, Reaper, Sound Forge) show as markers; not in an RF64 file."""
    with open(path, "r+b") as fh:
        head = fh.read(12)
        if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return
        rate = sf.info(str(path)).samplerate
        points, labels = b"", b""
        for n, ch in enumerate(chapters, 1):
            offset = round(ch.start * rate / sample_rate)
            points += struct.pack("<II4sIII", n, offset, b"data", 0, 0, offset)
            text = _fit(ch.title, None).encode("utf-8") + b"\0"
            pad = b"\0" * (len(text) % 2)                  # (a chunk's size leaves its pad byte out)
            labels += b"labl" + struct.pack("<II", 4 + len(text), n) + text + pad
        cue = b"cue " + struct.pack("<II", 4 + len(points), len(chapters)) + points
        adtl = b"LIST" + struct.pack("<I", 4 + len(labels)) + b"adtl" + labels
        fh.seek(0, os.SEEK_END)
        if fh.tell() % 2:
            fh.write(b"\0")                        # (a chunk starts on an even byte)
        fh.write(cue + adtl)
        size = fh.tell() - 8
        fh.seek(4)
        fh.write(struct.pack("<I", size))


def tag_file(path: Path, fmt: str, meta: Metadata, sample_rate: int) -> None:
    """Tags ffmpeg does not write: cover art, the audiobook flag, the narrator, M4B's publisher, MP3's comment,
    WAV's chapter cue points."""
    if fmt == "wav" and meta.chapters:
        _add_wav_cues(path, meta.chapters, sample_rate)
    if fmt == "mp3" and meta.description:
        _add_id3_comment(path, meta.description)
    if fmt == "m4b":
        from mutagen.mp4 import MP4, MP4Cover, MP4FreeForm
        mp4 = MP4(path)
        mp4["stik"] = [2]                       # media kind: audiobook
        if meta.narrator:
            mp4["----:com.apple.iTunes:NARRATOR"] = [MP4FreeForm(meta.narrator.encode("utf-8"))]
        if meta.publisher:                      # (Apple's atom, and a free-form one ffprobe - Audiobookshelf - reads)
            mp4["\xa9pub"] = [meta.publisher]
            mp4["----:com.apple.iTunes:publisher"] = [MP4FreeForm(meta.publisher.encode("utf-8"))]
        if meta.cover:
            kind = MP4Cover.FORMAT_PNG if meta.cover_type.endswith("png") else MP4Cover.FORMAT_JPEG
            mp4["covr"] = [MP4Cover(meta.cover, imageformat=kind)]
        mp4.save()
    elif fmt == "opus":
        import base64

        from mutagen.flac import Picture
        from mutagen.oggopus import OggOpus
        opus = OggOpus(path)
        # ffmpeg's Ogg muxer rounds the seconds of CHAPTERxxx stamps (3.5 s is written as 00:00:04.500): rewrite them.
        for i, ch in enumerate(meta.chapters):
            ms = round(ch.start * 1000 / sample_rate)
            opus[f"CHAPTER{i:03d}"] = [f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"]
            opus[f"CHAPTER{i:03d}NAME"] = [_fit(ch.title, None)]
        if meta.narrator:
            opus["NARRATOR"] = [meta.narrator]
        if meta.cover:
            pic = Picture()
            pic.type, pic.mime, pic.data = 3, meta.cover_type, meta.cover
            pic.width, pic.height, pic.depth = image_size(meta.cover)
            opus["METADATA_BLOCK_PICTURE"] = [base64.b64encode(pic.write()).decode("ascii")]
        opus.save()
