import numpy as np
import pytest
from helpers.readback import decode, probe

from indexstudio.audio.output import AudioWriter, ChapterMark, Metadata
from indexstudio.errors import InputError

SR = 24000
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde" \
      b"\x00\x00\x00\x0cIDATx\x9cc\xf8\xcf\xc0\x00\x00\x03\x01\x01\x00\xc9\xfe\x92\xef\x00\x00\x00\x00IEND\xaeB`\x82"


def _write(path, fmt=None, seconds=(1.3, 2.2, 0.9)):
    marks, pos = [], 0
    for i, s in enumerate(seconds):
        n = int(s * SR)
        marks.append(ChapterMark(f"Part {i + 1}", pos, pos + n))
        pos += n
    meta = Metadata(title="Title T", author="Author A", narrator="Narrator N", cover=PNG, cover_type="image/png", chapters=marks)
    with AudioWriter(path, SR, fmt, meta) as w:
        for m in marks:
            t = np.arange(m.end - m.start) / SR
            w.write((0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32))
    return marks


@pytest.mark.parametrize("fmt", ["m4b", "mp3", "opus"])
def test_compressed_formats_keep_duration_chapters_and_tags(tmp_path, fmt):
    path = tmp_path / f"book.{fmt}"
    marks = _write(path)
    info = probe(path)
    assert info["duration"] == pytest.approx(4.4, abs=0.05)
    assert len(info["chapters"]) == 3
    for (start, end, title), mark in zip(info["chapters"], marks):
        assert start == pytest.approx(mark.start / SR, abs=0.05)
        assert end == pytest.approx(mark.end / SR, abs=0.05)
        assert title == mark.title
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
    assert len(probe(path)["chapters"]) == 3        # tagging kept the chapters


def test_mp3_cover_and_narrator(tmp_path):
    from mutagen.id3 import ID3
    path = tmp_path / "book.mp3"
    _write(path)
    id3 = ID3(path)
    assert id3.getall("APIC")[0].data == PNG
    assert id3.getall("TXXX:NARRATOR")[0].text == ["Narrator N"]
    assert len(id3.getall("CHAP")) == 3


def test_wav_is_16_bit_pcm(tmp_path):
    import soundfile as sf
    path = tmp_path / "book.wav"
    _write(path)
    info = sf.info(path)
    assert (info.samplerate, info.channels, info.subtype) == (SR, 1, "PCM_16")
    assert info.frames == int(1.3 * SR) + int(2.2 * SR) + int(0.9 * SR)


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
