import re

import pytest

from indexstudio.text.segment import bucket_segments, count_tokens, segment_paragraphs, segment_text, split_sentences


def test_sentences_and_paragraphs():
    assert split_sentences("One. Two! Three?\n\nFour") == ["One.", "Two!", "Three?", "Four."]
    assert split_sentences("你好。今天天气很好！好") == ["你好。", "今天天气很好！", "好。"]
    # a paragraph without its own full stop gets one (a heading is said as one), a scene break is not said, and a
    # short sentence rides along with the next one of its own paragraph only (a paragraph's pause is longer)
    assert segment_paragraphs("MARLEY'S GHOST\n\nMarley was dead.\n\nGone.\n\n* * *\n\nNew scene. Yes. "
                              "Go on.\n\n后记\n\n感谢。") == [
        ["MARLEY'S GHOST."], ["Marley was dead."], ["Gone."], ["New scene.", "Yes. Go on."], ["后记。"], ["感谢。"]]


def test_a_book_without_blank_lines_is_split_in_one_pass():
    """A book with no blank lines is one long paragraph; each full stop is judged by the words around it, not
    by the text before it (that took minutes for 8,000 sentences)."""
    assert len(split_sentences("Mr. Smith went to Washington. He said hello. " * 16000)) == 32000


@pytest.mark.parametrize("text, sentences", [
    ('"Stop!" he cried. He yelled "Run!" and ran. (He left the room.) Then it rained.',
     ['"Stop!" he cried.', 'He yelled "Run!" and ran.', '(He left the room.)', 'Then it rained.']),
    ("I... I don't know. Maybe tomorrow... or never. Wait... Then go.",
     ["I... I don't know.", "Maybe tomorrow... or never.", "Wait...", "Then go."]),
    ("J. R. R. Tolkien met George W. Bush in the U.S. Army. Mr. Smith read Roe v. Wade, pp. 4-9. Then he left.",
     ["J. R. R. Tolkien met George W. Bush in the U.S. Army.", "Mr. Smith read Roe v. Wade, pp. 4-9.", "Then he left."]),
    ("We went with Plan B. The rest failed. Take vitamin C. It helps. He left the U.S. Then came World War I. "
     "Now the verdict was No. Everyone gasped at No. 5.",
     ["We went with Plan B.", "The rest failed.", "Take vitamin C.", "It helps.", "He left the U.S.",
      "Then came World War I.", "Now the verdict was No.", "Everyone gasped at No. 5."]),
])
def test_sentences_end_where_a_reader_pauses(text, sentences):
    """Not after initials, dotted abbreviations and titles, nor before a dialogue tag; closing quotes and
    brackets stay with their sentence."""
    assert split_sentences(text) == sentences


def test_token_count_mixes_scripts():
    assert count_tokens("Hello, world") == 3
    assert count_tokens("Mixed English句子") == 4
    assert count_tokens("don't") == 1


@pytest.mark.parametrize("max_tokens", [5, 12, 40, 120])
def test_segments_respect_the_limit_and_never_split_words(max_tokens):
    text = ("The quick brown fox, which was very quick indeed, jumped over the extraordinarily lazy dog; "
            "then it ran home. ") * 3 + "我们去公园散步吧，今天天气很好，阳光明媚。Mixed English句子 here."
    segments = segment_text(text, max_tokens)
    assert all(count_tokens(s) <= max_tokens for s in segments)
    words = re.findall(r"[A-Za-z']+", text)
    assert re.findall(r"[A-Za-z']+", " ".join(segments)) == words     # every word intact, in order
    assert "".join(re.findall(r"[\u4e00-\u9fff]", " ".join(segments))) == "".join(re.findall(r"[\u4e00-\u9fff]", text))


def test_short_sentences_join_the_next():
    assert segment_text("Yes. I will come tomorrow morning.", 120) == ["Yes. I will come tomorrow morning."]


def test_bucket_segments_groups_similar_lengths():
    lengths = [50, 3, 49, 4, 51, 2, 30, 31]
    buckets = bucket_segments(lengths, 3)
    assert sorted(i for b in buckets for i in b) == list(range(len(lengths)))
    assert all(len(b) <= 3 for b in buckets)
    assert buckets[0] == [5, 1, 3]          # the three shortest together
    with pytest.raises(ValueError):
        bucket_segments(lengths, 0)


def test_a_long_unpunctuated_sentence_is_counted_in_linear_work():
    """Each piece is counted once, then each chunk: the text the counter reads stays a small multiple of the
    sentence (recounting the growing chunk after every word read ~60 times more through a slow normaliser)."""
    sentence = " ".join(["river", "stone", "light", "garden"] * 250) + "."
    read = []

    def counting(text):
        read.append(len(text))
        return count_tokens(text)
    segments = segment_text(sentence, 120, counting)
    assert all(count_tokens(s) <= 120 for s in segments) and " ".join(segments) == sentence
    assert sum(read) < 4 * len(sentence)


@pytest.mark.parametrize("written, language, sentences", [
    # curly quotes in Chinese stay curly, so the closing one stays with its sentence
    ("“斗之力，三段！”望着石碑。他说：“好的。”", "zh", ["“斗之力，三段！”", "望着石碑。", "他说：“好的。”"]),
    # a closing 」 after 。 at a paragraph's end stays Chinese and stays put
    ("林沖說道：「這屋如何過得一冬？待雪晴了再修理。」\n\n向了一回火。", "zh",
     ["林冲说道：「这屋如何过得一冬？", "待雪晴了再修理。」", "向了一回火。"]),        # (read in Simplified)
    ("终于点了点头——没有人知道。", "zh", ["终于点了点头，没有人知道。"]),           # one pause, not ", , "
    ('Li Wei said “你好，世界！” and left. Then rain.', "en-us", ['Li Wei said “你好，世界！” and left.', "Then rain."]),
    # French: a guillemet set apart closes the question, a dialogue dash after a full stop is no pause
    ("« Où es-tu allé ? » demanda-t-elle. — Nulle part, répondit Zoë.", "fr-fr",
     ["« Où es-tu allé ? » demanda-t-elle.", "Nulle part, répondit Zoë."]),
])
def test_quotes_and_dashes_of_other_languages(written, language, sentences):
    from indexstudio.text.normalize import normalize_text
    assert split_sentences(normalize_text(written, language)) == sentences


def test_a_pronunciation_annotation_is_never_cut():
    """IndexTTS-2.5's <word|PRON> annotations hold syllable dots ("G OW1 . IH0 NG"): the README's own example was cut
    there into "I am <going|G OW1 ." and "IH0 NG> home.", which the engine then read out letter by letter."""
    assert split_sentences("I am <going|G OW1 . IH0 NG> home. Then I slept.") == [
        "I am <going|G OW1 . IH0 NG> home.", "Then I slept."]
    long = "word " * 30 + "<going|G OW1 . IH0 NG> " + "word " * 30
    pieces = segment_text(long.strip() + ".", 25)
    assert any("<going|G OW1 . IH0 NG>" in p for p in pieces) and all(p.count("<") == p.count(">") for p in pieces)


def test_long_sentences_are_cut_evenly_and_short_chinese_sentences_ride_along():
    sentence = ("This is a long sentence, with many clauses, that goes on and on, and then some more words follow "
                "here, and yet more, until the end comes, finally, after all this text.")
    assert [count_tokens(p) for p in segment_text(sentence, 20)] == [16, 12, 12]       # not 16, 19, 5
    assert [count_tokens(p) for p in segment_text("我" * 300 + "。", 120)] == [101, 101, 99]   # not 120, 120, 61
    assert segment_text("是吗？他笑了。然后他们一起走进了那间屋子。") == ["是吗？他笑了。", "然后他们一起走进了那间屋子。"]


def test_a_long_unpunctuated_chinese_clause_is_cut_between_words():
    """A clause with no comma in it is cut between jieba's words (the `zh` extra), never inside 北京 or 城市."""
    pytest.importorskip("jieba")
    text = "中华人民共和国的首都北京是一座历史悠久的美丽城市" * 6 + "。"
    segments = segment_text(text, 30)
    assert len(segments) > 1 and all(count_tokens(s) <= 30 for s in segments) and "".join(segments) == text
    cuts = {sum(len(s) for s in segments[:n]) for n in range(1, len(segments))}
    for word in ("中华人民共和国", "首都", "北京", "历史悠久", "美丽", "城市"):
        for found in re.finditer(word, text):
            assert not any(found.start() < cut < found.end() for cut in cuts), (word, segments)


def test_a_chinese_dialogue_tag_stays_with_its_quotation():
    """「你走吧。」他说。 is one sentence (the tag used to ride along with the next quotation instead), a sentence
    that merely follows a quotation is not a tag, and pieces joined across CJK marks get no space between them."""
    assert split_sentences("「你走吧。」他说。「我不会回来了！」她哭着喊道。“好吧。”老人低声问道，“你是谁？”") == [
        "「你走吧。」他说。", "「我不会回来了！」她哭着喊道。", "“好吧。”老人低声问道，“你是谁？”"]
    assert split_sentences("「你走吧。」我知道。他笑了。") == ["「你走吧。」", "我知道。", "他笑了。"]
    assert segment_text("他笑了。「好。」") == ["他笑了。「好。」"]
    assert split_sentences("「你走吧。」他說。“别这样……”她哽咽着说。“什么？！”他惊呼。") == [
        "「你走吧。」他說。", "“别这样……”她哽咽着说。", "“什么？！”他惊呼。"]      # traditional, ……, 呼
    assert split_sentences('"你来了？"她问道。"进来坐吧。"') == ['"你来了？"她问道。', '"进来坐吧。"']   # straight quotes
    assert split_sentences('"Come in. Sit down." He sat.') == ['"Come in.', 'Sit down."', 'He sat.']  # (a closing one)


def test_a_sentence_that_opens_with_a_number_is_a_sentence():
    """Normalised, "1945 was" opens in lower case ("nineteen forty-five was") and was glued to the sentence before;
    "in March. 3 days later" was read as a date."""
    from indexstudio.text.normalize import normalize_text
    assert split_sentences(normalize_text("The war ended. 1945 was a year of hope. 300 men died.")) == [
        "The war ended.", "nineteen forty-five was a year of hope.", "three hundred men died."]
    assert split_sentences(normalize_text("He left in March. 3 days later he was dead.")) == [
        "He left in March.", "three days later he was dead."]
    assert split_sentences("I... one moment. Wait.") == ["I... one moment.", "Wait."]


def test_a_dialogue_tag_that_names_the_speaker_stays_with_the_quotation():
    assert split_sentences('"You know what?" Ron said. "No!" Mr. Weasley shouted. "Go." Ron left.') == [
        '"You know what?" Ron said.', '"No!" Mr. Weasley shouted.', '"Go."', "Ron left."]
    assert split_sentences('"What?" The door opened.') == ['"What?"', "The door opened."]


def test_spanish_abbreviations_end_no_sentence():
    assert split_sentences("El Sr. García llegó con la Sra. López y la Srta. Gómez. El EE. UU. firmó, pág. 45. "
                           "Fin.") == ["El Sr. García llegó con la Sra. López y la Srta. Gómez.",
                                       "El EE. UU. firmó, pág. 45.", "Fin."]


def test_french_italian_portuguese_and_hindi_abbreviations_end_no_sentence():
    for text in ["Le Pr. Blanc est venu.", "Voir chap. 3 pour la suite.", "Il sig. Rossi è arrivato.",
                 "A Profa. Lima chegou.", "No séc. XIX tudo mudou.", "डॉ. गुप्ता आए."]:
        assert split_sentences(text) == [text]
