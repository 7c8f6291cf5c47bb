"""Reading a recording to clone a voice from: the formats people have, and what is said about a poor one."""
import subprocess

import numpy as np
import pytest
import soundfile as sf
from conftest import GOLDEN

from indexstudio.audio.output import ffmpeg_exe
from indexstudio.audio.prompt import AudioError, check_reference, read_audio

PROMPT = GOLDEN / "indextts2" / "cases" / "prompt_en_22k.wav"


def test_a_phones_m4a_voice_memo_is_read_through_ffmpeg(tmp_path):
    """libsndfile reads no M4A/AAC: a phone's voice memo was refused ("Format not recognised")."""
    memo = tmp_path / "memo.m4a"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(PROMPT), "-c:a", "aac", str(memo)], check=True)
    audio, rate = read_audio(memo)
    original, original_rate = sf.read(PROMPT, dtype="float32")
    assert rate == original_rate and audio.shape[0] == 1
    assert abs(audio.shape[1] - original.size) < 0.05 * rate            # (AAC pads a frame or two)
    check_reference(memo)


def test_an_unreadable_file_says_neither_reader_could(tmp_path):
    broken = tmp_path / "broken.m4a"
    broken.write_bytes(b"\x00\x00\x00\x18ftypM4A not really audio")
    with pytest.raises(AudioError, match=r"cannot read reference audio .*broken.m4a: .*neither libsndfile - WAV, "
                                         r"FLAC, MP3, Ogg - nor ffmpeg could decode it"):
        check_reference(broken)


def test_a_recording_of_hiss_is_warned_about(tmp_path, caplog):
    """A muted microphone records low noise, not zeros: it was taken as a voice without a word."""
    hiss = tmp_path / "hiss.wav"
    sf.write(hiss, (np.random.default_rng(0).standard_normal(48000) * 2e-4).astype(np.float32), 24000)
    check_reference(hiss)
    assert f"reference audio {hiss} is very quiet (RMS -74 dBFS): is it a recording of speech?" in caplog.text
    caplog.clear()
    check_reference(PROMPT)
    assert "very quiet" not in caplog.text
