import pytest

from indexstudio.text.normalize import normalize_text


@pytest.mark.parametrize("written, spoken", [
    ("I have 3 cats.", "I have three cats."),
    ("It costs $1,234.56 today.", "It costs one thousand two hundred and thirty-four dollars and fifty-six cents today."),
    ("Only £1 left.", "Only one pound left."),
    ("A $5 million deal.", "A five million dollars deal."),
    ("Down 50% now.", "Down fifty percent now."),
    ("She came 21st of 100.", "She came twenty-first of one hundred."),
    ("Born in 1984.", "Born in nineteen eighty-four."),
    ("In 1984, he wrote it; 1,984 copies sold.",
     "In nineteen eighty-four, he wrote it; one thousand nine hundred and eighty-four copies sold."),
    ("The 1990s were loud.", "The nineteen nineties were loud."),
    ("On March 5, 2024 we met.", "On March fifth, twenty twenty-four we met."),
    ("Due 2024-03-05.", "Due March fifth, twenty twenty-four."),
    ("Meet at 10:30.", "Meet at ten thirty."),
    ("Meet at 7:05 pm sharp.", "Meet at seven oh five P M sharp."),
    ("Leave at 10:00 a.m. Then rest.", "Leave at ten A M. Then rest."),
    ("Dr. Smith met Mr. Jones.", "Doctor Smith met Mister Jones."),
    ("Saw St. Paul on Baker St. today.", "Saw Saint Paul on Baker Street today."),
    ("Pi is 3.14, roughly.", "Pi is three point one four, roughly."),
    ("It was -5 outside.", "It was minus five outside."),
    ("Apples, pears, etc. are fruit.", "Apples, pears, et cetera are fruit."),
    ("Hello，world。", "Hello, world."),
    ("“Quoted” text…", '"Quoted" text...'),
])
def test_english(written, spoken):
    assert normalize_text(written, "en-us") == spoken


def test_slash_dates_follow_the_locale():
    assert normalize_text("On 3/4/2025.", "en-us") == "On March fourth, twenty twenty-five."
    assert normalize_text("On 3/4/2025.", "en-gb") == "On April third, twenty twenty-five."


def test_chinese_keeps_cjk_punctuation_and_folds_fullwidth():
    assert normalize_text("你好，世界！ＡＢＣ１２３", "zh") == "你好，世界！ABC123"


def test_control_characters_and_terminal_escapes_are_not_read():
    assert normalize_text("Hello\x00 there\x07 \x1b[31mfriend\x1b[0m.") == "Hello there friend."
