"""The language a text is written in, for books that do not say, and the voice it gets."""
import pytest

from indexstudio.errors import InputError
from indexstudio.text.language import detect_language, han_share, is_language, language_code

FRENCH = "Le 14 juillet 1789, à 10h30, Mme Dupont a payé 25,50 € pour trois kilos de pommes. C'était l'été."
GERMAN = "Am 3. Oktober 1990 wurde Deutschland wiedervereinigt. Es war ein schöner Tag für alle Menschen."
SPANISH = "El 5 de mayo de 2024, a las 10:30, pagó 25,50 € por 3 kg de manzanas. ¿Dónde estás? ¡Qué bien!"
ENGLISH = "It was the best of times, it was the worst of times, it was the age of wisdom, the age of foolishness."
NAMES = "Zoë and Björk went to São Paulo and Kraków, where they met Ngozi, Tupac and Kiri by the old bridge."


@pytest.mark.parametrize("text, language", [
    (FRENCH, "fr"), (GERMAN, "de"), (SPANISH, "es"), (ENGLISH, "en"), (NAMES, "en"),
    ("吾輩は猫である。名前はまだ無い。", "ja"),
    ("東京都知事選挙は七月七日に投開票され、現職が三選を果たした。", "ja"),          # kanji with a little kana
    ("옛날 옛적에 한 마을에 가난한 농부가 살았습니다.", "ko"),
    ("斗之力，三段！望着测验魔石碑上面闪亮得甚至有些刺眼的五个大字。", "zh"),
    ("話說林沖在草料場，天氣嚴寒，紛紛揚揚，卷下一天大雪來。", "zh"),
    ("他在东京看了电影《千と千尋の神隠し》，觉得很好看。我们明天一起去北京吃饭，然后回家休息。", "zh"),  # a Japanese title
    ("Der Hund.", ""), ("Bonjour !", ""), ("", ""), ("1234 5678", ""),            # too short to tell
    # ... but a short text in another script says enough by its script (an English voice spelled it out)
    ("Привет, как дела?", "ru"), ("مرحبا بالعالم", "ar"), ("नमस्ते", "hi"), ("Γειά σου", "el"),
])
def test_detect_language(text, language):
    assert detect_language(text) == language


def test_a_book_that_names_no_language_gets_a_voice_of_the_language_it_is_written_in():
    """Without a language tag a German text was read by the English voice, its numbers by English rules
    ("Am three."); Japanese kana came out as "Japanese letter"; kanji-heavy Japanese went to a Mandarin voice."""
    from indexstudio.engines.kokoro import KokoroEngine

    kokoro = KokoroEngine()
    with pytest.raises(InputError, match=r"the text reads as language 'de'.*give --voice.*--lang en reads it"):
        kokoro.voice_for(GERMAN)
    with pytest.raises(InputError, match=r"reads as language 'ja'.*engine indextts2_5 speaks it$"):
        kokoro.voice_for("東京都知事選挙は七月七日に投開票され、現職が三選を果たした。")
    assert kokoro.voice_for(GERMAN, "en") == kokoro.voice_for(ENGLISH) == kokoro.default_voice
    assert kokoro.voice_for(NAMES) == kokoro.default_voice
    french = [v for v in kokoro._files if v.startswith("f")]
    if french:                                # (the French voices come with `make setup` where npm is)
        assert kokoro.voice_for(FRENCH) in french
    else:
        with pytest.raises(InputError, match="reads as language 'fr'"):
            kokoro.voice_for(FRENCH)


def test_language_names_and_codes_are_told_from_unknown_ones():
    assert [language_code(t) for t in ("English", "fra", "en-GB", "zh")] == ["en", "fr", "en-GB", "zh"]
    assert all(is_language(t) for t in ("en", "en-GB", "English", "fra", "sw", "zh-Hant"))
    assert not any(is_language(t) for t in ("xx", "engl", "", "q-1"))


def test_chinese_that_names_products_in_latin_letters_is_chinese():
    """Each Latin word counts as one word beside each Chinese character: "iPhone 15 Pro" made this sentence half
    Latin letters, and it got the English voice, which read 2024年 as "twenty twenty-four 年"."""
    text = "他在2024年3月5日花了¥1,299买了iPhone 15 Pro。"
    assert han_share(text) > 0.8 and detect_language(text) == "zh"
    assert han_share("Hello world, 你好") == 0.5 and han_share("2024") == 0.0
