"""The embedded engine, for real: model from the registry packages, real phonemes, real audio."""
import time

import numpy as np
import pytest

from indexstudio.engines import get_engine
from indexstudio.engines.kokoro import KokoroEngine
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


def test_segments_are_spoken_side_by_side_and_come_back_in_order(kokoro):
    """The sessions speak a call's segments in parallel, a bounded look-ahead (not the whole call) ahead of the
    reader; a stream closed early speaks no more; the audio is that of a single session."""
    started = []
    original = kokoro._speak
    kokoro._speak = lambda phonemes, style, speed: started.append(phonemes) or original(phonemes, style, speed)
    try:
        texts = [f"This is sentence number {n}." for n in range(12)]
        stream = kokoro.synthesize(texts, "af_heart")
        first = next(stream)
        assert first.index == 0 and len(started) <= 2 * kokoro.workers
        together = [first] + list(stream)
        assert [r.index for r in together] == list(range(12)) and len(started) == 12
        stream = kokoro.synthesize(texts, "af_heart")
        next(stream)
        stream.close()
        time.sleep(1.0)
        assert len(started) <= 12 + 2 * kokoro.workers         # no more than the look-ahead was spoken
    finally:
        kokoro._speak = original
    alone = KokoroEngine(workers=1)
    for a, b in zip(together[:3], alone.synthesize(texts[:3], "af_heart")):
        assert a.audio.size == b.audio.size and np.abs(a.audio - b.audio).max() < 1e-3


def test_unknown_voice(kokoro):
    with pytest.raises(InputError, match="unknown voice 'nobody'"):
        next(kokoro.synthesize(["Hi."], "nobody"))


def test_a_chinese_text_gets_a_mandarin_voice_and_mixed_text_is_read_by_script(kokoro):
    """A Chinese book with no --voice is spoken by a Mandarin voice; Chinese words with an English voice, and
    English words with a Mandarin voice, get their own language's phonemes (eSpeak read Han characters as
    "Chinese letter", and pinyin G2P passed English letters through as if they were phonemes)."""
    assert kokoro.voice_for("你好，欢迎收听这本有声书。第一章。") == "zf_xiaoxiao"      # (a bundled voice: the same
    assert kokoro.voice_for("Hello.", "en-GB") == "bf_emma"                           # on every machine)
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


def test_english_words_in_other_languages_carry_no_spoken_language_marks(kokoro):
    """eSpeak marks a word it reads as English inside French ("(en)pˈɑːkɪŋ(fr)"); Kokoro's vocabulary holds
    "(", "e", "n" and ")", so the voice said the marks."""
    for lang, text in [("fr-fr", "Le parking du building."), ("it", "Il weekend a New York."), ("hi", "मैंने Facebook देखा।")]:
        said = kokoro.phonemes(text, lang)
        assert "(" not in said and ")" not in said and said.strip()
    assert "pˈɑːkɪŋ" in kokoro.phonemes("Le parking du building.", "fr-fr")
    assert "(" in kokoro.phonemes("Il a dit (encore) non.", "fr-fr")          # a text's own brackets are kept


def test_a_region_no_voice_speaks_is_said(kokoro, caplog):
    """--lang pt-PT was read by the Brazilian voice without a word."""
    if not any(v.id.startswith("pf_") for v in kokoro.voices()):
        pytest.skip("no Portuguese voice installed (setup adds them from npm)")
    with caplog.at_level("WARNING", logger="indexstudio"):
        assert kokoro.voice_for("Era uma vez uma casa.", "pt-PT").startswith("pf_")
        assert "speak Brazilian Portuguese" in caplog.text
        caplog.clear()
        assert kokoro.voice_for("Era uma vez uma casa.", "pt-BR").startswith("pf_") and not caplog.text


def test_speeds_and_flags_the_engine_does_not_offer_are_named(kokoro):
    kokoro.check_speed(0.5)
    with pytest.raises(InputError, match=r"--speed 3 is outside what engine kokoro offers \(0.5 to 2\)"):
        kokoro.check_speed(3)
    assert not kokoro.samples          # (--seed is then said to have no effect)


def test_a_lone_segment_starts_one_session_and_a_failed_start_leaves_none_half_made(monkeypatch):
    engine = KokoroEngine(workers=2)
    (result,) = list(engine.synthesize(["Hello there."], "af_heart"))
    assert result.audio.size > 0 and engine._runners == [] and engine._solo is not None     # no worker sessions
    assert [r.audio.size for r in engine.synthesize(["-", "  "], "af_heart")] == [0, 0]     # no phonemes: silence
    made = []
    original = engine._session

    def failing(threads):
        if made:
            raise MemoryError("no room for a second session")
        made.append(threads)
        return original(threads)
    monkeypatch.setattr(engine, "_session", failing)
    with pytest.raises(MemoryError):
        list(engine.synthesize(["One.", "Two."], "af_heart"))
    assert engine._runners == [] and engine._executor is None
    monkeypatch.setattr(engine, "_session", original)
    assert [r.index for r in engine.synthesize(["One.", "Two."], "af_heart")] == [0, 1]


def test_voices_blend_as_kokoro_users_blend_them(kokoro):
    """"af_heart+bf_emma" speaks with the mean of their styles, "af_heart(2)+bf_emma(1)" with a weighted one; a
    blend is a voice of its own to a book's work folder."""
    assert kokoro.check_voice("AF_Heart + bf_emma") == "af_heart+bf_emma"
    assert kokoro.check_voice("af_heart(2)+bf_emma(2)") == "af_heart+bf_emma"          # equal weights: plain
    assert kokoro.check_voice(" af_heart(4)+bf_emma(2) ") == kokoro.check_voice("af_heart(2)+bf_emma(1)") == \
        "af_heart(2)+bf_emma(1)"                                                    # one blend, one spelling
    assert kokoro.check_voice("af_heart(1000000)+bf_emma(1)") == "af_heart(1000000)+bf_emma(1)"   # (no 1e+06)
    weighted = kokoro.check_voice("af_heart(3)+bm_george(1)")
    assert weighted == "af_heart(3)+bm_george(1)" and kokoro.blend(weighted) == [("af_heart", 0.75), ("bm_george", 0.25)]
    assert np.allclose(kokoro._style(weighted), 0.75 * kokoro._style("af_heart") + 0.25 * kokoro._style("bm_george"))
    assert kokoro.language_of(weighted) == "en-us" and kokoro.language_of("bm_george+af_heart") == "en-gb"
    identities = {kokoro.identity(v) for v in ("af_heart", weighted, "af_heart+bm_george")}
    assert len(identities) == 3
    for bad, why in [("af_heart+af_heart", "named twice"), ("af_heart(0)+bf_emma", "a blend is voices joined by +"),
                     ("af_heart+bf_emmma", "did you mean bf_emma")]:
        with pytest.raises(InputError, match=why):
            kokoro.check_voice(bad)
    spoken = [next(kokoro.synthesize(["A blend."], voice)).audio for voice in ("af_heart", weighted)]
    assert not np.array_equal(spoken[0][:4000], spoken[1][:4000])
