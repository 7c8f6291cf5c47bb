"""The pronunciation lexicon: the user's spoken forms, put in before the engine normalises the text."""
import pytest

from indexstudio.errors import InputError
from indexstudio.text.lexicon import Lexicon


def test_entries_replace_whole_words_in_their_case_longest_first():
    lexicon = Lexicon({"SQL": "sequel", "SQL Server": "sequel server", "C#": "C sharp", "Dr. Who": "Doctor Who",
                       "银行": "银<行|HANG2>"})
    text = "SQL Server and SQL, not SQLite or sql; C# and Dr. Who. 中国银行。"
    assert lexicon.apply(text) == ("sequel server and sequel, not SQLite or sql; C sharp and Doctor Who. "
                                   "中国银<行|HANG2>。")
    assert lexicon.uses == {"SQL Server": 1, "SQL": 1, "C#": 1, "Dr. Who": 1, "银行": 1}
    assert lexicon.summary() == "lexicon lexicon: 5 replacements by 5 of 5 entries"
    assert Lexicon({}).apply(text) == text
    mixed = Lexicon({"John": "约翰", "AI": "人工智能", "C++": "C加加"})
    assert mixed.apply("她的朋友John是AI专家，用C++。Johnny和AIM不是。") == "她的朋友约翰是人工智能专家，用C加加。Johnny和AIM不是。"


def test_a_lexicon_file_is_read_and_its_faults_named_by_line(tmp_path):
    path = tmp_path / "names.txt"
    path.write_text("\ufeff# names\n\nHermione   =  Her-my-oh-nee\n  Nobody = x\n朝阳＝招阳\n", encoding="utf-8")
    lexicon = Lexicon.load(path)
    assert lexicon.entries == {"Hermione": "Her-my-oh-nee", "Nobody": "x", "朝阳": "招阳"}
    assert lexicon.apply("Hermione said it.") == "Her-my-oh-nee said it."
    assert lexicon.summary().endswith("1 replacement by 1 of 3 entries; not found in the text: Nobody, 朝阳")
    for content, message in (("Hermione Her-my-oh-nee\n", r"line 1: expected `written = spoken`"),
                             ("# x\n= nothing\n", "line 2: expected `written = spoken`"),
                             ("A = a\nB = b\nA = c\n", "line 3: 'A' is in the lexicon already \\(line 1\\)"),
                             ("Siobhan =\n", "line 1: .*nothing to say there"),      # (it left the name out)
                             ("Siobhan = Shiv = awn\n", "line 1: expected `written = spoken`")):
        path.write_text(content, encoding="utf-8")
        with pytest.raises(InputError, match=message):
            Lexicon.load(path)
    path.write_bytes("Müller = Mueller".encode("cp1252"))
    with pytest.raises(InputError, match="is not UTF-8 text"):
        Lexicon.load(path)
    with pytest.raises(InputError, match="lexicon .*missing.txt not found"):
        Lexicon.load(tmp_path / "missing.txt")


def test_an_entry_never_found_says_what_the_text_has_instead():
    """"not found" alone left a producer guessing: the name was there in another case, or inside a longer word."""
    lexicon = Lexicon({"Siobhan": "Shiv-awn", "Ollivander": "Olly", "Nobody": "x", "Hermione": "Her-my-oh-nee"})
    assert lexicon.apply("siobhan went to Ollivanders. Hermione smiled.") == (
        "siobhan went to Ollivanders. Her-my-oh-nee smiled.")
    assert lexicon.summary().endswith(
        "not found in the text: Siobhan (the text has 'siobhan': entries match whole words in their case), "
        "Ollivander (the text has 'Ollivanders': entries match whole words in their case), Nobody")


def test_a_lexicon_given_from_python_is_checked_and_counts_each_text_alone():
    """{"": "x"} matched between every character ("xIx xlxixkxex ..."), {"SQL": ""} dropped the word, and a
    Lexicon used twice reported the first text's replacements for the second."""
    import indexstudio
    for entries, why in [({"": "x"}, "nothing written to match"), ({"SQL": ""}, "nothing to say there"),
                         ({"SQL": 5}, "both sides are text"), (["SQL"], "not list")]:
        with pytest.raises(InputError, match=why):
            indexstudio.prepare_speech("I like SQL.", lexicon=entries)
    lexicon = Lexicon({"SQL": "sequel"})
    assert indexstudio.prepare_speech("I like SQL.", lexicon=lexicon).segments == ["I like sequel."]
    assert not lexicon.uses                                  # (each text counts on a copy of its own)
