import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from helpers.readback import decode, probe

from indexstudio.audio.output import (AudioWriter, ChapterMark, Metadata, check_bitrate, cover_image, format_of,
                                      make_output_folder)
from indexstudio.errors import InputError

SR = 24000
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde" \
      b"\x00\x00\x00\x0cIDATx\x9cc\xf8\xcf\xc0\x00\x00\x03\x01\x01\x00\xc9\xfe\x92\xef\x00\x00\x00\x00IEND\xaeB`\x82"


def _write(path, fmt=None, seconds=(1.3, 2.2, 0.9), titles=None, **writer):
    marks, pos = [], 0
    for i, s in enumerate(seconds):
        n = int(s * SR)
        marks.append(ChapterMark(titles[i] if titles else f"Part {i + 1}", pos, pos + n))
        pos += n
    meta = Metadata(title="Title T", author="Author A", narrator="Narrator N", cover=PNG, cover_type="image/png",
                    chapters=marks, language="en-GB", year="1843", publisher="Chapman & Hall",
                    description="A ghost story of Christmas.")
    with AudioWriter(path, SR, fmt, meta, **writer) as w:
        for m in marks:
            t = np.arange(m.end - m.start) / SR
            w.write((0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32))
    return marks


@pytest.mark.parametrize("fmt", ["m4b", "mp3", "opus"])
def test_compressed_formats_keep_duration_chapters_and_tags(tmp_path, fmt):
    path = tmp_path / f"book.{fmt}"
    marks = _write(path, titles=["Part 1", "The  Storm\n", "Part 3"])
    info = probe(path)
    assert info["duration"] == pytest.approx(4.4, abs=0.05)
    assert len(info["chapters"]) == 3
    for (start, end, title), mark in zip(info["chapters"], marks):
        assert start == pytest.approx(mark.start / SR, abs=0.05)
        assert end == pytest.approx(mark.end / SR, abs=0.05)
        assert title == " ".join(mark.title.split())          # (on one line, its spaces folded, in every format)
    audio = decode(path, SR)
    assert abs(len(audio) / SR - 4.4) < 0.08
    assert 0.15 < np.sqrt(np.mean(audio[SR:2 * SR] ** 2)) < 0.25     # the tone survived encoding
    assert not list(tmp_path.glob(".*partial"))


def test_m4b_is_tagged_as_an_audiobook(tmp_path):
    from mutagen.mp4 import MP4
    path = tmp_path / "book.m4b"
    _write(path)
    tags = MP4(path).tags
    assert tags["stik"] == [2]
    assert tags["\xa9nam"] == ["Title T"] and tags["\xa9ART"] == ["Author A"]
    assert bytes(tags["----:com.apple.iTunes:NARRATOR"][0]) == b"Narrator N"
    assert bytes(tags["covr"][0]) == PNG
    assert tags["\xa9day"] == ["1843"] and tags["\xa9pub"] == ["Chapman & Hall"]
    assert probe(path)["tags"]["publisher"] == "Chapman & Hall"      # (what ffprobe, and Audiobookshelf, read)
    assert tags["desc"] == tags["ldes"] == ["A ghost story of Christmas."]
    assert len(probe(path)["chapters"]) == 3        # tagging kept the chapters
    assert path.read_bytes()[4:12] == b"ftypM4B "   # the audiobook brand, as iTunes writes it


def test_mp3_cover_and_narrator(tmp_path):
    from mutagen.id3 import ID3
    path = tmp_path / "book.mp3"
    _write(path)
    id3 = ID3(path)
    assert id3.getall("APIC")[0].data == PNG
    assert id3.getall("TXXX:NARRATOR")[0].text == ["Narrator N"]
    assert len(id3.getall("CHAP")) == 3
    assert id3.getall("TLAN")[0].text == ["eng"]         # ID3 wants ISO 639-2 ("en" is no language there)
    assert str(id3.getall("TDRC")[0].text[0]) == "1843" and id3.getall("TPUB")[0].text == ["Chapman & Hall"]
    comment = id3.getall("COMM")                     # where players show a description (not ffmpeg's TXXX)
    assert [(c.lang, c.text) for c in comment] == [("eng", ["A ghost story of Christmas."])]
    assert not id3.getall("TXXX:comment") and probe(path)["tags"]["comment"] == "A ghost story of Christmas."


def test_opus_and_wav_carry_year_publisher_and_description(tmp_path):
    from mutagen.oggopus import OggOpus
    _write(tmp_path / "book.opus")
    tags = OggOpus(tmp_path / "book.opus")
    assert tags["DATE"] == ["1843"] and tags["PUBLISHER"] == ["Chapman & Hall"]
    assert "A ghost story of Christmas." in tags.get("DESCRIPTION", []) + tags.get("COMMENT", [])
    import base64

    from mutagen.flac import Picture
    from indexstudio.audio.output import image_size
    cover = Picture(base64.b64decode(tags["METADATA_BLOCK_PICTURE"][0]))
    assert cover.data == PNG and cover.mime == "image/png" and (cover.width, cover.height, cover.depth) == \
        image_size(PNG) and cover.width > 0
    _write(tmp_path / "book.wav")
    with sf.SoundFile(tmp_path / "book.wav") as wav:
        assert wav.date == "1843" and wav.comment == "A ghost story of Christmas."


def test_mp3_chapters_stay_in_time_order_whatever_their_titles(tmp_path):
    """A long first title, a short second: mutagen's re-save sorted the CHAP frames by size, and players and
    ffmpeg read them in file order (a conversion then dropped the first chapter)."""
    from mutagen.id3 import ID3
    path = tmp_path / "book.mp3"
    titles = ["Chapter One: Café \"Crème\" — naïve 你好 " + "x" * 80, "Two", "Chapter Three"]
    _write(path, titles=titles)
    assert [title for _, _, title in probe(path)["chapters"]] == titles
    assert [f.element_id for f in ID3(path).getall("CHAP")] == ["ch0", "ch1", "ch2"]


def test_m4b_chapter_titles_are_cut_between_characters(tmp_path):
    """A Nero chapter title holds 255 bytes; ffmpeg cut one inside "é" and the file could not be tagged."""
    from mutagen.mp4 import MP4
    path = tmp_path / "book.m4b"
    long = "Chapitre: " + "é" * 200         # byte 255 falls inside an "é"
    _write(path, titles=[long, "Deux\rtitle=injected", "Trois"])
    titles = [title for _, _, title in probe(path)["chapters"]]
    assert titles[0].startswith("Chapitre: éé") and titles[0].endswith("…") and len(titles[0].encode()) <= 255
    assert titles[1:] == ["Deux title=injected", "Trois"]
    assert MP4(path).tags["stik"] == [2]


def test_bitrates_and_formats_are_checked_before_any_work():
    assert check_bitrate("mp3", "128k") == "128k" and check_bitrate("opus", None) == "32k"
    assert check_bitrate("m4b", "96000") == "96k" and check_bitrate("wav", "64k") is None
    for fmt, bad in (("mp3", "abc"), ("mp3", "-5k"), ("mp3", "192k"), ("opus", "2k"), ("opus", "510k"),
                     ("m4b", "256k")):     # (LAME: 160k at 24 kHz; libopus: 256k for one channel; AAC: ~92k at 24 kHz)
        rate = 48000 if fmt == "opus" else 24000                                   # (Opus is coded at 48 kHz)
        with pytest.raises(InputError, match=f"bitrate '{bad}' for {fmt} at {rate} Hz: give kilobits per second"):
            check_bitrate(fmt, bad)
    with pytest.raises(InputError, match=r"from 8k to 160k \(--sample-rate 44100 allows more\)"):
        check_bitrate("mp3", "192k")
    assert check_bitrate("mp3", "64") == "64k" and check_bitrate("mp3", "64000") == "64k"    # kb/s, or b/s
    assert check_bitrate("mp3", "192k", 44100) == "192k" and check_bitrate("m4b", "160k", 48000) == "160k"
    with pytest.raises(InputError, match="--format m4b does not match the output name book.mp3"):
        format_of(Path("book.mp3"), "m4b")
    assert format_of(Path("book.m4a")) == "m4b" and format_of(Path("book"), "opus") == "opus"
    with pytest.raises(InputError, match="unsupported output format 'aac'"):
        format_of(Path("book.aac"))


def test_covers_are_known_by_their_contents(tmp_path):
    assert cover_image(PNG, "c.jpg") == (PNG, "image/png")          # a PNG named .jpg is a PNG
    gif = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00" \
          b"\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
    data, kind = cover_image(gif, "c.gif")                              # converted, for players that show only these
    assert kind == "image/png" and data.startswith(b"\x89PNG")
    with pytest.raises(InputError, match="cover image broken.jpg is not an image ffmpeg can read"):
        cover_image(b"this is not a picture", "broken.jpg")
    with pytest.raises(InputError, match="cover image cut.png is damaged: its picture cannot be decoded"):
        cover_image(PNG[:40], "cut.png")                 # a PNG by its first bytes, the rest cut off


def test_a_cover_that_is_not_square_is_warned_about(caplog):
    from indexstudio.audio.output import ffmpeg_exe
    import subprocess
    tall = subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "color=c=red:s=40x60", "-frames:v", "1",
                           "-c:v", "png", "-f", "image2pipe", "pipe:1"], capture_output=True, check=True).stdout
    assert cover_image(tall, "tall.png") == (tall, "image/png")
    assert "cover image tall.png is 40x60; audiobook stores and players want a square cover" in caplog.text
    caplog.clear()
    cover_image(PNG, "square.png")
    assert "square cover" not in caplog.text


def test_wav_is_16_bit_pcm(tmp_path):
    import soundfile as sf
    path = tmp_path / "book.wav"
    _write(path)
    info = sf.info(path)
    assert (info.samplerate, info.channels, info.subtype) == (SR, 1, "PCM_16")
    assert info.frames == int(1.3 * SR) + int(2.2 * SR) + int(0.9 * SR)
    assert sf.SoundFile(path).title == "Title T" and sf.SoundFile(path).artist == "Author A"


@pytest.mark.parametrize("fmt", ["wav", "mp3", "m4b"])
def test_an_output_at_another_sample_rate_keeps_its_length_chapters_and_pitch(tmp_path, fmt):
    """ACX takes 44.1 kHz MP3 at 192k or more: --sample-rate 44100 resamples what the engine spoke at 24 kHz."""
    path = tmp_path / f"book.{fmt}"
    marks = _write(path, output_rate=44100, bitrate=None if fmt == "wav" else "192k")
    info = probe(path)
    assert info["rate"] == 44100 and info["duration"] == pytest.approx(4.4, abs=0.05)
    if fmt != "wav":
        assert [round(c[0], 1) for c in info["chapters"]] == [round(m.start / SR, 1) for m in marks]
    audio = decode(path, 44100)[44100:2 * 44100]          # a second of the 330 Hz tone
    spectrum = np.abs(np.fft.rfft(audio))
    assert np.argmax(spectrum) * 44100 / audio.size == pytest.approx(330, abs=2)


def test_a_wav_over_4_gib_is_written_as_rf64(tmp_path):
    """The RIFF sizes are 32-bit: 25 h at 24 kHz would get a clamped header that hides the book's end. The
    writer is told the length up front (the pipeline knows it) and picks RF64; here one second is written."""
    import soundfile as sf
    path = tmp_path / "long.wav"
    with AudioWriter(path, SR, expected_samples=25 * 3600 * SR) as w:
        w.write(np.zeros(SR, np.float32))
    assert sf.info(path).format == "RF64" and sf.info(path).frames == SR


def test_bad_output_targets(tmp_path):
    with pytest.raises(InputError, match="unsupported output format"):
        AudioWriter(tmp_path / "x.flv", SR)
    with pytest.raises(InputError, match="does not exist"):
        AudioWriter(tmp_path / "missing" / "x.wav", SR)


def test_failed_write_leaves_no_file(tmp_path):
    path = tmp_path / "x.m4b"
    with pytest.raises(RuntimeError):
        with AudioWriter(path, SR) as w:
            w.write(np.zeros(100, np.float32))
            raise RuntimeError("boom")
    assert not path.exists() and not list(tmp_path.iterdir())


def test_a_covers_size_is_read_from_its_header():
    """Opus's picture block states the cover's size: read from a PNG's or a JPEG's own header."""
    import subprocess

    from indexstudio.audio.output import ffmpeg_exe, image_size
    png = (Path(__file__).resolve().parents[1] / "samples" / "cover.png").read_bytes()
    jpeg = subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-i", "pipe:0", "-vf", "scale=320:200", "-c:v", "mjpeg",
                           "-f", "image2pipe", "pipe:1"], input=png, capture_output=True, check=True).stdout
    assert image_size(png) == (600, 600, 24) and image_size(jpeg) == (320, 200, 24)
    assert image_size(b"GIF89a") == (0, 0, 0)


@pytest.mark.parametrize("fmt, marks", [("m4b", 3), ("mp3", 3), ("opus", 3), ("wav", 0)])
def test_an_audiobooks_chapter_marks_are_counted_from_the_file(tmp_path, fmt, marks):
    from indexstudio.audio.output import chapter_count
    _write(tmp_path / f"book.{fmt}")
    assert chapter_count(tmp_path / f"book.{fmt}") == marks
    (tmp_path / "notes.m4b").write_text("not audio")
    assert chapter_count(tmp_path / "notes.m4b") == 0


def test_an_output_that_is_a_link_is_checked_where_it_points_before_any_work(tmp_path):
    """A link is written through (the file is made where it points): a target whose folder cannot take it was
    found only once the whole book had rendered."""
    link = tmp_path / "book.m4b"
    link.symlink_to(tmp_path / "gone" / "real.m4b")
    with pytest.raises(InputError, match=r"output folder .*/gone \(where the link .*/book.m4b points\) does not exist"):
        make_output_folder(link)
    (tmp_path / "gone").mkdir()
    make_output_folder(link)
    stale = tmp_path / "gone" / ".real.m4b.999999999.partial"          # a killed run's, beside the real file
    stale.write_bytes(b"x")
    make_output_folder(link)
    assert not stale.exists() and link.is_symlink()


def _riff_chunks(path) -> dict:
    data = path.read_bytes()
    assert data[:4] == b"RIFF" and int.from_bytes(data[4:8], "little") == len(data) - 8
    chunks, at = {}, 12
    while at + 8 <= len(data):
        name, size = data[at:at + 4], int.from_bytes(data[at + 4:at + 8], "little")
        chunks.setdefault(name, []).append(data[at + 8:at + 8 + size])
        at += 8 + size + size % 2
    return chunks


def test_a_wav_carries_its_chapters_as_cue_points_editors_show(tmp_path):
    """The summary spoke of chapters the WAV did not hold; audio editors show cue points with labels as markers."""
    import struct
    marks = _write(tmp_path / "book.wav", titles=["Opening", "The  Storm", "Ünïcode 章"], output_rate=48000)
    chunks = _riff_chunks(tmp_path / "book.wav")
    cue = chunks[b"cue "][0]
    count = struct.unpack("<I", cue[:4])[0]
    offsets = [struct.unpack("<II4sIII", cue[4 + 24 * n:28 + 24 * n])[5] for n in range(count)]
    assert offsets == [round(m.start * 48000 / SR) for m in marks]
    adtl = next(c for c in chunks[b"LIST"] if c[:4] == b"adtl")
    labels = re.findall(rb"labl....(....)([^\0]*)\0", adtl, re.S)
    assert [text.decode() for _, text in labels] == ["Opening", "The Storm", "Ünïcode 章"]
    audio, rate = sf.read(tmp_path / "book.wav")                   # (still a WAV every reader reads)
    assert rate == 48000 and len(audio) / rate == pytest.approx(4.4, abs=0.01)
