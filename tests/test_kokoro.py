"""The embedded engine, for real: model from the registry packages, real phonemes, real audio."""
import numpy as np
import pytest

from indexstudio.engines import get_engine
from indexstudio.engines.base import Controls
from indexstudio.errors import InputError


def test_voice_catalogue(kokoro):
    voices = {v.id: v for v in kokoro.voices()}
    assert len(voices) >= 8
    assert {"af_heart", "am_michael", "bf_emma", "bm_george"} <= set(voices)
    assert {v.language for v in voices.values()} >= {"en-us", "en-gb", "zh"}
    assert {v.gender for v in voices.values()} == {"female", "male"}
    assert kokoro.default_voice in voices
    assert get_engine("kokoro") is kokoro       # loaded once per process


def _speech(audio):
    return float(np.sqrt(np.mean(audio ** 2)))


@pytest.mark.parametrize("voice", ["af_heart", "bm_george", "zf_xiaoxiao"])
def test_speaks(kokoro, voice):
    text = "你好，今天天气很好。" if voice.startswith("z") else "Good morning, everyone. Welcome to the show."
    (result,) = list(kokoro.synthesize([text], voice))
    seconds = result.audio.size / kokoro.sample_rate
    assert result.audio.dtype == np.float32 and 1.0 < seconds < 6.0
    assert _speech(result.audio) > 0.02 and np.abs(result.audio).max() <= 1.0


def test_speed_changes_duration(kokoro):
    text = "The quick brown fox jumps over the lazy dog."
    normal = next(kokoro.synthesize([text], "af_heart")).audio.size
    fast = next(kokoro.synthesize([text], "af_heart", Controls(speed=1.5))).audio.size
    assert fast < 0.8 * normal
    with pytest.raises(InputError, match="speed"):
        next(kokoro.synthesize([text], "af_heart", Controls(speed=5.0)))


def test_streams_segment_by_segment(kokoro):
    calls = []
    original = kokoro._kokoro.create
    kokoro._kokoro.create = lambda *a, **k: calls.append(a[0]) or original(*a, **k)
    try:
        stream = kokoro.synthesize(["First sentence here.", "Second one.", "Third."], "af_heart")
        first = next(stream)
        assert first.index == 0 and len(calls) == 1        # nothing else was computed yet
        assert [r.index for r in stream] == [1, 2] and len(calls) == 3
    finally:
        kokoro._kokoro.create = original


def test_unknown_voice(kokoro):
    with pytest.raises(InputError, match="unknown voice 'nobody'"):
        next(kokoro.synthesize(["Hi."], "nobody"))


def test_a_chinese_text_gets_a_mandarin_voice_and_mixed_text_is_read_by_script(kokoro):
    """A Chinese book with no --voice is spoken by a Mandarin voice; Chinese words with an English voice, and
    English words with a Mandarin voice, get their own language's phonemes (eSpeak read Han characters as
    "Chinese letter", and pinyin G2P passed English letters through as if they were phonemes)."""
    assert kokoro.voice_for("你好，欢迎收听这本有声书。第一章。").startswith("z")
    assert kokoro.voice_for("Hello there, 你好.") == kokoro.default_voice
    english = kokoro.phonemes("Hello, welcome to the book.", "zh")
    assert all(kokoro._kokoro.tokenizer.phonemize(word, "en-us") in english for word in ("Hello", "welcome", "book"))
    assert kokoro.phonemes("1949年，中华人民共和国成立。", "zh").startswith(kokoro.phonemes("1949年", "zh"))
    assert "nˈaɪntiːn" not in kokoro.phonemes("1949年，中华人民共和国成立。", "zh")     # a Chinese year, in Chinese
    han = kokoro.phonemes("你好", "zh")
    mixed = kokoro.phonemes("He said 你好 to me.", "en-us")
    assert han in mixed and "tʃˈaɪniːz" not in mixed and mixed.startswith("h")
    assert "iPhone" not in kokoro.phonemes("我们用iPhone。", "zh")
    (result,) = list(kokoro.synthesize(["He said 你好 to me."], "af_heart"))
    assert 0.8 < result.audio.size / kokoro.sample_rate < 4.0 and _speech(result.audio) > 0.02


def test_speeds_and_flags_the_engine_does_not_offer_are_named(kokoro):
    kokoro.check_speed(0.5)
    with pytest.raises(InputError, match=r"--speed 3 is outside the 0.5..2 engine kokoro offers"):
        kokoro.check_speed(3)
    assert not kokoro.samples          # (--seed is then said to have no effect)
