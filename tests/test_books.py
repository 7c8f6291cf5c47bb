import zipfile

import pytest

from indexstudio.books.reader import Limits, book_tags, read_book
from indexstudio.errors import InputError


def test_txt_detects_encoding_and_chapter_headings(tmp_path):
    path = tmp_path / "old_story.txt"
    path.write_bytes("Chapter 1\nThe caf\u00e9 was quiet. \u201cHello,\u201d she said.\n\nChapter 2\nNa\u00efve, but true.\n"
                     .encode("cp1252"))
    book = read_book(path)
    assert book.title == "Old Story"
    assert [c.title for c in book.chapters] == ["Chapter 1", "Chapter 2"]
    assert "caf\u00e9" in book.chapters[0].text and "\u201cHello" in book.chapters[0].text
    assert book.chapters[1].text == "Na\u00efve, but true."


def test_txt_in_gbk_and_chinese_chapters(tmp_path):
    path = tmp_path / "book.txt"
    path.write_bytes("第一章 开始\n今天天气很好，我们去公园散步吧。\n第二章 结束\n明天见。\n".encode("gb18030"))
    book = read_book(path)
    assert [c.title for c in book.chapters] == ["第一章 开始", "第二章 结束"]
    assert book.chapters[1].text == "明天见。"


def test_markdown_headings_front_matter_and_footnotes(tmp_path):
    (tmp_path / "c.png").write_bytes(b"\x89PNG\r\n\x1a\nfake")
    path = tmp_path / "b.md"
    path.write_text("---\ntitle: My Book\nauthor: Ann\nnarrator: Bo\ncover: c.png\n---\n# My Book\n\n"
                    "## One\n\nSome *emphasis* and a [link](http://x).[^1] ![pic](p.png)\n\n"
                    "[^1]: A footnote.\n\n## Two\n\n- item one\n- item two\n", encoding="utf-8")
    book = read_book(path)
    assert (book.title, book.author, book.narrator) == ("My Book", "Ann", "Bo")
    assert [c.title for c in book.chapters] == ["One", "Two"]
    assert book.chapters[0].text == "Some emphasis and a link."
    assert book.chapters[1].text == "item one\n\nitem two"
    assert book.cover.startswith(b"\x89PNG")


def _make_epub(path, chapters, cover=None):
    from ebooklib import epub
    book = epub.EpubBook()
    book.set_identifier("id1")
    book.set_title("Epub Title")
    book.set_language("en")
    book.add_author("E. Author")
    if cover:
        book.set_cover("cover.png", cover)
    items = []
    for i, (title, body) in enumerate(chapters):
        item = epub.EpubHtml(title=title, file_name=f"ch{i}.xhtml", lang="en")
        item.content = f"<html><body><h1>{title}</h1>{body}</body></html>"
        book.add_item(item)
        items.append(item)
    book.toc = [epub.Link(it.file_name, t, f"c{i}") for i, (it, (t, _)) in enumerate(zip(items, chapters))]
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", *items]
    epub.write_epub(str(path), book)


def test_epub_spine_order_toc_titles_and_skipped_markup(tmp_path):
    path = tmp_path / "b.epub"
    _make_epub(path, [
        ("Opening", '<p>First words<sup><a href="#fn1">1</a></sup> here.</p><img src="x.png"/>'
                    '<aside epub:type="footnote" id="fn1"><p>Footnote text.</p></aside>'),
        ("Closing", "<p>Last words.</p>"),
    ], cover=b"\x89PNG\r\n\x1a\nfakecover")
    book = read_book(path)
    assert book.title == "Epub Title" and book.author == "E. Author"
    assert [c.title for c in book.chapters] == ["Opening", "Closing"]
    assert book.chapters[0].text == "First words here."
    assert "Footnote" not in book.chapters[0].text
    assert book.cover == b"\x89PNG\r\n\x1a\nfakecover"


def test_epub_zip_bomb_is_refused_before_parsing(tmp_path):
    path = tmp_path / "bomb.epub"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("mimetype", "application/epub+zip")
        zf.writestr("big.xhtml", b"\0" * (20 * 2**20))
    assert path.stat().st_size < 2**20
    with pytest.raises(InputError, match="zip bomb"):
        read_book(path, Limits(max_unpacked_bytes=10 * 2**20))


def test_limits_and_bad_input(tmp_path):
    big = tmp_path / "big.txt"
    big.write_text("word " * 1000)
    with pytest.raises(InputError, match="over the input limit"):
        read_book(big, Limits(max_file_bytes=1000))
    empty = tmp_path / "empty.md"
    empty.write_text("# Title\n\n---\n\n!!! ...\n")
    with pytest.raises(InputError, match="no speakable text"):
        read_book(empty)
    with pytest.raises(InputError, match="no such file"):
        read_book(tmp_path / "missing.txt")
    with pytest.raises(InputError, match="unsupported format"):
        read_book(tmp_path.joinpath("x.pdf").resolve() if (tmp_path / "x.pdf").write_text("x") else None)
    broken = tmp_path / "broken.epub"
    broken.write_text("not a zip")
    with pytest.raises(InputError, match="not a valid EPUB"):
        read_book(broken)


def test_txt_headings_never_swallow_prose(tmp_path):
    """Hard-wrapped lines that start with "part", "book" or "chapter" are prose, not headings; a heading with
    nothing under it joins the next one's title; "第一节课" is prose where "第三节：开端" is a heading."""
    path = tmp_path / "wrapped.txt"
    path.write_text("BOOK ONE\n\nCHAPTER I.\n\nIt was the best of times, and the greater\npart of the town was "
                    "asleep when the doctor closed his\nbook and went to bed. See\nChapter 3 of it.\n\n"
                    "CHAPTER II. The Storm\n\nMorning came.\n\nChapter Twenty-One\n\nThe end.\n")
    book = read_book(path)
    assert [c.title for c in book.chapters] == ["BOOK ONE. CHAPTER I.", "CHAPTER II. The Storm", "Chapter Twenty-One"]
    assert book.chapters[0].text.endswith("part of the town was asleep when the doctor closed his\nbook and went "
                                          "to bed. See\nChapter 3 of it.")
    runs_on = tmp_path / "runs_on.txt"      # a paragraph opening with "Part one:" that runs on is prose too
    runs_on.write_text("Chapter 1\n\nIt began.\n\nPart one: we leave at dawn, said the captain to\nhis men, who "
                       "cheered.\n")
    book = read_book(runs_on)
    assert [c.title for c in book.chapters] == ["Chapter 1"] and book.chapters[0].text.endswith("his men, who cheered.")
    subtitled = tmp_path / "subtitled.txt"  # a bare heading above a subtitle in lower case is still a heading
    subtitled.write_text("CHAPTER I.\nin which Pooh meets bees\n\nIt was dark.\n\nCHAPTER II.\nin which more happens\n\n"
                         "Light came.\n")
    assert [c.title for c in read_book(subtitled).chapters] == ["CHAPTER I. in which Pooh meets bees",
                                                                 "CHAPTER II. in which more happens"]
    cjk = tmp_path / "cjk.txt"
    cjk.write_text("第一章 开始\n第一节课我们学习数学。\n第三节：开端\n好的。\n", encoding="utf-8")
    assert [(c.title, c.text) for c in read_book(cjk).chapters] == [("第一章 开始", "第一节课我们学习数学。"),
                                                                    ("第三节：开端", "好的。")]


def test_txt_in_cp1252_with_accents_is_not_read_as_another_code_page(tmp_path):
    text = "La crème brûlée du garçon était très bonne. Où est-il allé ? Noël approche.\n" * 3
    path = tmp_path / "fr.txt"
    path.write_bytes(text.encode("cp1252"))
    assert read_book(path).chapters[0].text == text.strip()
    russian = "Привет, как дела? Сегодня хорошая погода, и мы пойдём гулять в парк.\n" * 10
    path.write_bytes(russian.encode("cp1251"))
    assert read_book(path).chapters[0].text == russian.strip()


def test_epub_without_a_table_of_contents_starts_a_chapter_at_each_heading(tmp_path):
    from ebooklib import epub
    for toc in ([], None):
        b = epub.EpubBook()
        b.set_identifier("id1"), b.set_title("No Contents"), b.set_language("en")
        files = []
        for i in range(1, 4):
            c = epub.EpubHtml(title=f"Chapter {i}", file_name=f"ch{i}.xhtml", lang="en")
            c.content = f"<html><body><h1>Heading {i}</h1><p>The text of chapter {i}.</p></body></html>"
            b.add_item(c)
            files.append(c)
        if toc is not None:
            b.toc = toc                     # an empty navigation map: ebooklib reads it back as one empty Link
        b.add_item(epub.EpubNcx())
        b.add_item(epub.EpubNav())
        b.spine = ["nav"] + files
        path = tmp_path / "notoc.epub"
        epub.write_epub(str(path), b)
        book = read_book(path)
        assert [(c.title, c.text) for c in book.chapters] == [(f"Heading {i}", f"The text of chapter {i}.")
                                                              for i in range(1, 4)]


def test_utf8_with_a_stray_byte_is_read_with_a_warning(tmp_path, caplog):
    path = tmp_path / "mostly.txt"
    good = "\u201cHello,\u201d she said. The caf\u00e9 was quiet.\n" * 50
    path.write_bytes(good.encode() + b"A stray \xe9 byte.\n" + good.encode())
    text = read_book(path).chapters[0].text
    assert "A stray  byte." in text and text.count("caf\u00e9") == 100
    assert "not valid UTF-8 at line 51" in caplog.text


GUTENBERG_HEADER = """The Project Gutenberg eBook of Alice's Adventures in Wonderland

This ebook is for the use of anyone anywhere in the United States and
most other parts of the world at no cost and with almost no restrictions
whatsoever.

Title: Alice's Adventures in Wonderland
       (Millennium Fulcrum Edition)

Author: Lewis Carroll

Language: English

*** START OF THE PROJECT GUTENBERG EBOOK ALICE'S ADVENTURES IN WONDERLAND ***
Produced by Arthur DiBianca
and David Widger

[Illustration: Alice and
the White Rabbit]

"""
GUTENBERG_FOOTER = """
*** END OF THE PROJECT GUTENBERG EBOOK ALICE'S ADVENTURES IN WONDERLAND ***

THE FULL PROJECT GUTENBERG LICENSE

Section 1. General Terms of Use and Redistributing Project Gutenberg electronic works
"""


def test_gutenberg_text_is_read_without_its_licence_and_with_its_metadata(tmp_path):
    path = tmp_path / "pg11.txt"
    path.write_text(GUTENBERG_HEADER + "CHAPTER I.\nDown the Rabbit-Hole\n\nAlice was tired.\n\n"
                    "CHAPTER II.\n\nTHE POOL OF TEARS\n\n\u201cCuriouser!\u201d cried Alice. [Illustration]\n"
                    + GUTENBERG_FOOTER, encoding="utf-8")
    book = read_book(path)
    assert (book.title, book.author, book.language) == (
        "Alice's Adventures in Wonderland (Millennium Fulcrum Edition)", "Lewis Carroll", "en")
    assert [(c.title, c.text) for c in book.chapters] == [
        ("CHAPTER I. Down the Rabbit-Hole", "Alice was tired."),
        ("CHAPTER II. THE POOL OF TEARS", "\u201cCuriouser!\u201d cried Alice.")]
    old = tmp_path / "old.txt"          # a re-issued 1990s file: the new marker, then the old licence's own end
    old.write_text("*** START OF THIS PROJECT GUTENBERG EBOOK X ***\n\n**The Project Gutenberg Etext**\n"
                   "Small print, to be read by nobody.\n*END*THE SMALL PRINT! FOR PUBLIC DOMAIN ETEXTS*Ver.04.29.93*END*"
                   "\n\nThe story itself.\n\nEnd of the Project Gutenberg Etext of X\nMore licence.\n")
    assert [c.text for c in read_book(old).chapters] == ["The story itself."]
    plain = tmp_path / "plain.txt"      # any other text keeps its lines; marks printed for the eye go
    plain.write_text("Title: Notes\n\nSee [3] below, _the_ =map=.[A] [Illustration: a map]\n\n* * *\n\nEnd.\n")
    assert read_book(plain).chapters[0].text == "Title: Notes\n\nSee [3] below, the map. \n\n* * *\n\nEnd."  # (a break)


def test_txt_table_of_contents_is_skipped_but_never_prose(tmp_path):
    chapters = "CHAPTER I.\n\nIt began.\n\nCHAPTER II.\n\nIt went on.\n"
    titled = tmp_path / "titled.txt"      # a "Contents" line over heading-shaped entries, then front matter
    titled.write_text("A Tale\n\nCONTENTS.\n\nCHAPTER I. The Start\nCHAPTER II. The Middle\n\n"
                      "ETYMOLOGY.\n\nA word about whales.\n\n" + chapters)
    assert [(c.title, c.text) for c in read_book(titled).chapters] == [
        ("Titled", "A Tale\n\nETYMOLOGY.\n\nA word about whales."), ("CHAPTER I.", "It began."),
        ("CHAPTER II.", "It went on.")]
    bare = tmp_path / "bare.txt"          # no "Contents" line: a list of headings naming later ones
    bare.write_text("CHAPTER I. The Start\nCHAPTER II. The Middle\n\n\n" + chapters)
    assert [c.title for c in read_book(bare).chapters] == ["CHAPTER I.", "CHAPTER II."]
    numbered = tmp_path / "numbered.txt"  # entries that are no headings, under a "Contents" line
    numbered.write_text("Table of Contents\n\nI. The Start .... 1\nII. The Middle .... 9\n\n" + chapters)
    assert [c.title for c in read_book(numbered).chapters] == ["CHAPTER I.", "CHAPTER II."]
    cjk = tmp_path / "cjk.txt"
    cjk.write_text("目录\n第一章 开始\n第二章 结束\n\n第一章 开始\n今天天气很好。\n第二章 结束\n明天见。\n", encoding="utf-8")
    assert [(c.title, c.text) for c in read_book(cjk).chapters] == [("第一章 开始", "今天天气很好。"),
                                                                    ("第二章 结束", "明天见。")]
    prose = tmp_path / "prose.txt"        # "Contents" over hard-wrapped prose: nothing is skipped
    prose.write_text("Contents\n\nShort line\nthat goes on as a sentence.\n\n" + chapters)
    assert read_book(prose).chapters[0].text.startswith("Contents\n\nShort line\nthat goes on")
    parts = tmp_path / "parts.txt"        # a heading over a heading lists nothing: both are kept, as one title
    parts.write_text("BOOK ONE\n\nCHAPTER I.\n\nIt began.\n\nBOOK TWO\n\nCHAPTER I.\n\nIt went on.\n")
    assert [c.title for c in read_book(parts).chapters] == ["BOOK ONE. CHAPTER I.", "BOOK TWO. CHAPTER I."]


def test_gutenberg_files_of_every_era(tmp_path):
    book = "CHAPTER I.\n\nIt is a truth universally acknowledged.\n"
    small_print = ("*END THE SMALL PRINT! FOR PUBLIC DOMAIN EBOOKS*Ver.02/11/02*END*\n\n")
    after = tmp_path / "after.txt"         # the old licence after the book, its own end marker after the new one
    after.write_text("*** START OF THE PROJECT GUTENBERG EBOOK X ***\n\n" + book + "\n*** END OF THE PROJECT "
                     "GUTENBERG EBOOK X ***\n\nThe small print.\n" + small_print)
    assert [c.text for c in read_book(after).chapters] == ["It is a truth universally acknowledged."]
    before = tmp_path / "before.txt"       # "*END THE SMALL PRINT!" (with a space) closes the licence on top
    before.write_text("Title: Emma\n\nThe small print, read by nobody.\n" + small_print + book)
    assert (read_book(before).title, [c.text for c in read_book(before).chapters]) == (
        "Emma", ["It is a truth universally acknowledged."])
    ending = tmp_path / "ending.txt"       # no start marker at all: the book runs to its end marker
    ending.write_text(book + "\nEnd of the Project Gutenberg Etext of X\n\n" + small_print + "Licence text.\n")
    assert [c.text for c in read_book(ending).chapters] == ["It is a truth universally acknowledged."]
    notes = tmp_path / "notes.txt"
    notes.write_text("*** START OF THE PROJECT GUTENBERG EBOOK X ***\nTranscriber's Note: Italic text is shown\n"
                     "as _italic_.\n\n" + book + "| TABLE OF STONES |\n")
    assert read_book(notes).chapters[0].text == "It is a truth universally acknowledged.\n TABLE OF STONES"


def test_txt_headings_of_staves_letters_and_chinese_web_novels(tmp_path):
    carol = tmp_path / "carol.txt"         # a contents list in Roman numerals, headings in words
    carol.write_text("CONTENTS\n\nSTAVE I.   MARLEY'S GHOST\nSTAVE II.  THE FIRST OF THE THREE SPIRITS\n\n\n"
                     "STAVE ONE.\n\nMARLEY'S GHOST\n\nMarley was dead.\n\nSTAVE TWO.\n\nTHE FIRST OF THE THREE SPIRITS\n\n"
                     "When Scrooge awoke.\n")
    assert [(c.title, c.text) for c in read_book(carol).chapters] == [
        ("STAVE ONE. MARLEY'S GHOST", "Marley was dead."),
        ("STAVE TWO. THE FIRST OF THE THREE SPIRITS", "When Scrooge awoke.")]
    letters = tmp_path / "letters.txt"
    letters.write_text("Letter 1\n\nDear sister.\n\nLetter 2\n\nDear brother.\n\nChapter the Last\n\nThe end.\n")
    assert [c.title for c in read_book(letters).chapters] == ["Letter 1", "Letter 2", "Chapter the Last"]
    web = tmp_path / "web.txt"             # 第一回合 ("round one") and 第三卷书 ("the third volume") are prose
    web.write_text("第一章 开始\n　　第一回合，萧炎便败下阵来。\n　　第三卷书放在桌上，他没有动。\n番外一 重逢\n　　多年以后。\n后记\n　　感谢读者。\n",
                   encoding="utf-8")
    assert [c.title for c in read_book(web).chapters] == ["第一章 开始", "番外一 重逢", "后记"]


def test_markdown_as_pandoc_obsidian_and_github_write_it(tmp_path, caplog):
    import logging
    rule = tmp_path / "rule.md"            # "---" above prose is a rule, not front matter
    rule.write_text("---\n\nThe first paragraph, right after a rule.\n\n---\n\nThe second scene.\n")
    assert read_book(rule).chapters[0].text == (       # (a rule is a scene break: not read, a longer pause)
        "* * *\n\nThe first paragraph, right after a rule.\n\n* * *\n\nThe second scene.")
    broken = tmp_path / "broken.md"        # front matter that does not parse is let go, with a warning
    broken.write_text("---\ntitle: My Book: A Story\n---\n\n# One\n\nText.\n")
    with caplog.at_level(logging.WARNING, logger="indexstudio"):
        assert [c.text for c in read_book(broken).chapters] == ["Text."]
    assert "broken.md: its front matter does not parse" in caplog.text
    toml = tmp_path / "toml.md"
    toml.write_text('+++\ntitle = "Hugo Post"\nauthor = ["Ann", "Bo"]\nlang = "en-GB"\ncover = "gone.jpg"\n+++\n\nText.\n')
    with caplog.at_level(logging.WARNING, logger="indexstudio"):
        book = read_book(toml)
    assert (book.title, book.author, book.language, book.cover) == ("Hugo Post", "Ann & Bo", "en-GB", None)
    assert "its cover image" in caplog.text and "is not there" in caplog.text
    marks = tmp_path / "marks.md"
    marks.write_text("# Chapter One: Arrival {#ch1}\n\n    Indented verse is read,\n    line by line.\n\n"
                     "See [[Roses|the rose bed]] and [[Tulips]] %%not this%% with ==highlights== #todo.\n\n"
                     "> [!note] A tip\n\n<p>An HTML paragraph.</p>\n\n<!-- a comment -->\n\n```\ncode()\n```\n\n"
                     "~~~\n\nAfter a scene break.\n")
    (title, text), = [(c.title, c.text) for c in read_book(marks).chapters]
    assert title == "Chapter One: Arrival"
    assert text.split("\n\n") == ["Indented verse is read, line by line.",
                                  "See the rose bed and Tulips  with highlights .", "A tip", "An HTML paragraph.",
                                  "After a scene break."]
    parts = tmp_path / "parts.md"          # "# Part"s over "## Chapter"s: the part's title joins its first chapter's
    parts.write_text("# Book the First\n\n## I. The Period\n\nBest of times.\n\n## II. The Mail\n\nDover road.\n\n"
                     "# Book the Second\n\n## I. Five Years Later\n\nTellson's Bank.\n")
    assert [c.title for c in read_book(parts).chapters] == ["Book the First. I. The Period", "II. The Mail",
                                                           "Book the Second. I. Five Years Later"]
    titled = tmp_path / "titled.md"        # one top heading names the book, wherever it stands
    titled.write_text("Intro first.\n\n# Book Title\n\n## Chapter 1\n\nOne.\n\n## Chapter 2\n\nTwo.\n")
    book = read_book(titled)
    assert book.title == "Book Title" and [c.title for c in book.chapters] == ["Book Title", "Chapter 1", "Chapter 2"]


def test_archive_of_our_own_download_without_tags_notes_and_footer(tmp_path):
    path = tmp_path / "work.txt"
    path.write_text("Letters to the Moon\nPosted originally on the Archive of Our Own at http://archiveofourown.org/"
                    "works/1.\n\nRating:\n    Teen And Up Audiences\nLanguage:\n    English\nStats:\n    Words: 12\n\n"
                    "Letters to the Moon\nby moonwriter\n\nSummary\n\n    Five letters.\n\nNotes\n\n    Thanks to my beta!"
                    "\n\nChapter 1: The First Letter\n\nChapter Text\n\n    Ron sat down.\n\nChapter End Notes\n\n"
                    "    Comments are love.\n\nChapter 2\n\nChapter Text\n\n    Hermione found it.\n\nAfterword\n\n"
                    "End Notes\n\n    Thank you for reading!\n\nPlease drop by the archive and comment to let the "
                    "creator know if you enjoyed their work!\n")
    book = read_book(path)
    assert (book.title, book.author, book.language) == ("Letters to the Moon", "moonwriter", "en")
    assert [(c.title, " ".join(c.text.split())) for c in book.chapters] == [
        ("Letters to the Moon", "Letters to the Moon by moonwriter Five letters."),
        ("Chapter 1: The First Letter", "Ron sat down."), ("Chapter 2", "Hermione found it.")]


def test_utf16_without_byte_order_mark_and_a_chinese_title_line(tmp_path):
    path = tmp_path / "u16.txt"
    path.write_bytes("Chapter 1\n\nHello there.\n".encode("utf-16-be"))
    assert [(c.title, c.text) for c in read_book(path).chapters] == [("Chapter 1", "Hello there.")]
    novel = tmp_path / "novel.txt"
    novel.write_text("《斗破苍穹》\n第一章 开始\n今天。\n", encoding="gb18030")
    assert read_book(novel).title == "斗破苍穹"


def test_chinese_web_novel_headers_and_traditional_chinese_headings(tmp_path):
    """The title and 作者 lines a web novel opens with name the book and are not read; traditional headings (第一節,
    尾聲, 後記, 終章), 正文 / 卷一 / 上卷 / "第 3 章" headings and a 目錄 contents page are found as the simplified
    ones were."""
    novel = tmp_path / "novel.txt"
    novel.write_text("长夜将明\n作者：某人\n\n楔子\n\n　　那一夜，风很大。\n", encoding="utf-8")
    book = read_book(novel)
    assert (book.title, book.author) == ("长夜将明", "某人")
    assert [(c.title, c.text) for c in book.chapters] == [("楔子", "那一夜，风很大。")]
    traditional = tmp_path / "trad.txt"
    traditional.write_text("目錄\n第一節 起\n尾聲\n\n第一節 起\n\n　　開始了。\n\n正文 第二章 風起\n\n　　風起了。\n\n卷三 江湖\n\n"
                           "　　江湖很大。\n\n上卷\n\n　　上卷的事。\n\n第 5 章 五\n\n　　五。\n\n尾聲\n\n　　結束了。\n\n後記\n\n"
                           "　　感謝。\n\n終章\n\n　　真的結束了。\n", encoding="big5")
    assert [c.title for c in read_book(traditional).chapters] == [
        "第一節 起", "正文 第二章 風起", "卷三 江湖", "上卷", "第 5 章 五", "尾聲", "後記", "終章"]
    bracketed = tmp_path / "b.txt"
    bracketed.write_text("书名：测试之书\n作者：某人\n\n第001章 开始\n\n　　他走了。\n\n【第三章】 夜雨\n\n　　雨下了一夜。\n",
                         encoding="utf-8")
    book = read_book(bracketed)
    assert (book.title, book.author) == ("测试之书", "某人")
    assert [c.title for c in book.chapters] == ["第001章 开始", "第三章 夜雨"]     # (第001章 is said 第一章)


def test_a_chinese_line_with_a_latin_annotation_under_a_heading_is_text(tmp_path):
    """"银<行|HANG2>在前面。" is all capitals to str.isupper(): it was taken for a subtitle, and the heading after it
    joined the title, one chapter instead of two."""
    path = tmp_path / "ann.txt"
    path.write_text("Chapter One\n\n银<行|HANG2>在前面。\n\nChapter Two\n\nWe are home.\n", encoding="utf-8")
    assert [(c.title, c.text) for c in read_book(path).chapters] == [
        ("Chapter One", "银<行|HANG2>在前面。"), ("Chapter Two", "We are home.")]


@pytest.mark.parametrize("text, encoding", [
    ("Café au lait.", "cp1252"), ("Das Mädchen.", "cp1252"), ("It costs €5.", "cp1252"), ("“Hi”", "cp1252"),
    ("你好。", "gb18030"), ("他走了，沒有回頭。", "gb18030"), ("\ufeffHello", "utf-16-le"),
    ("他說我們明天去北京。", "big5"), ("ありがとう。", "shift_jis"), ("今日はいい天気ですね。", "shift_jis"),
    ("Привет, как дела?", "cp1251"), ("Да.", "cp1251"), ("龙凤呈祥", "gb18030"),
])
def test_a_few_words_not_in_utf8_are_read_right(text, encoding):
    """charset_normalizer guesses wildly on a few bytes (`speak -` from a cp1252 terminal): "Café." came back as
    "Cafﻠ.", GB18030 "你好" as "斕疑"; Big5, Shift-JIS and cp1251 lines came out as GB18030 or cp1252 garbage."""
    from indexstudio.books.reader import decode_text
    assert decode_text(text.encode(encoding), "standard input") == text.lstrip("\ufeff")


def test_a_chinese_texts_lines_are_its_paragraphs_and_its_joined_titles_pause_in_chinese(tmp_path):
    """Web novels indent each paragraph and leave no blank line between them: each line was run into one
    paragraph, two speakers' lines into one segment; a heading over a heading joined with an English ". "."""
    path = tmp_path / "z.txt"
    path.write_text("第一卷 山\n\n第一章\n\n　　他走了很远的路。\n　　她在门口等着他。\n——你是谁？\n——我是老王。\n",
                    encoding="utf-8")
    (chapter,) = read_book(path).chapters
    assert chapter.title == "第一卷 山，第一章"
    assert chapter.text.split("\n\n") == ["他走了很远的路。", "她在门口等着他。", "——你是谁？", "——我是老王。"]
    english = tmp_path / "e.txt"
    english.write_text("Chapter 1\n\nIt was a dark and stormy\nnight, and the rain fell.\n", encoding="utf-8")
    assert read_book(english).chapters[0].text == "It was a dark and stormy\nnight, and the rain fell."


def test_front_matter_gives_year_publisher_and_description(tmp_path):
    path = tmp_path / "b.md"
    path.write_text("---\ntitle: T\ndate: 1843-12-19\npublisher: Chapman & Hall\nsummary: |\n  A ghost   story.\n\n"
                    "  A classic.\n---\n\n# One\n\nMarley was dead.\n", encoding="utf-8")
    assert book_tags(read_book(path).extra) == {"year": "1843-12-19", "publisher": "Chapman & Hall",
                                                "description": "A ghost story.\n\nA classic."}


def test_a_plain_texts_title_and_byline_name_the_book(tmp_path):
    """"THE MILLER'S DAUGHTER" over "by Rosa Vell" named a chapter after the file ("Tale") and was read aloud."""
    path = tmp_path / "tale.txt"
    path.write_text("THE MILLER'S DAUGHTER\nby Rosa Vell\n\nChapter 1\n\nThe mill turned.\n\nChapter 2\n\nIt stopped.\n",
                    encoding="utf-8")
    book = read_book(path)
    assert (book.title, book.author) == ("The Miller's Daughter", "Rosa Vell")
    assert [(c.title, c.text) for c in book.chapters] == [("Chapter 1", "The mill turned."), ("Chapter 2", "It stopped.")]
    prose = tmp_path / "prose.txt"
    prose.write_text("By the river we walked.\nby the sea we sat.\n", encoding="utf-8")
    assert read_book(prose).author == ""


def test_plain_text_asterisk_emphasis_goes_and_rules_are_scene_breaks(tmp_path):
    """*very* was read as "asterisk very asterisk"; a rule line standing apart is a scene break (it was dropped)."""
    path = tmp_path / "em.txt"
    path.write_text("Chapter 1\n\nIt was *very* late, **really** late.\n\n-----\n\nMorning.\n"
                    "| a | b |\n|---|---|\n| 1 | 2 |\n", encoding="utf-8")
    assert read_book(path).chapters[0].text == "It was very late, really late.\n\n* * *\n\nMorning.\n a | b \n\n 1 | 2"


def test_plain_text_list_items_are_paragraphs_without_their_marks(tmp_path):
    """A .txt list ran into one breathless sentence and its "*" bullet was read "asterisk"; a scene break stays."""
    path = tmp_path / "pack.txt"
    path.write_text("Things to pack:\n• Passport\n* Toothbrush\n- Sunscreen and\n  a hat\n\nSteps:\n1) Open the box.\n"
                    "a) Check the seal.\n\n* * *\n\n- Where to? she asked.\n\nHe wondered whether he should\n"
                    "- at last - knock, or whether the tenant would (a) pay and\n(b) go.\n", encoding="utf-8")
    paragraphs = read_book(path).chapters[0].text.split("\n\n")          # (a wrapped line is no list item)
    assert [" ".join(p.split()) for p in paragraphs] == [
        "Things to pack:", "Passport", "Toothbrush", "Sunscreen and a hat", "Steps:", "1. Open the box.",
        "Check the seal.", "* * *", "Where to? she asked.",
        "He wondered whether he should - at last - knock, or whether the tenant would (a) pay and (b) go."]
    course = tmp_path / "course.txt"                # items that look like headings stay items of their chapter
    course.write_text("Chapter 1\n\nThe course has parts:\n- Introduction\n- Part 1: Foundations\n- Epilogue\n\n"
                      "Chapter 2\n\nThe basics.\n", encoding="utf-8")
    assert [c.title for c in read_book(course).chapters] == ["Chapter 1", "Chapter 2"]


def test_a_folder_of_chapter_files_is_a_book(tmp_path, caplog):
    """Web novels and drafts come as a file a chapter: read in the order a person numbers them, each file's own
    headings kept, a file without one named after the file; the folder names the book, a cover.jpg in it covers it."""
    folder = tmp_path / "the_lighthouse"
    folder.mkdir()
    (folder / "10 - the keeper.txt").write_text("The keeper slept.\n")
    (folder / "2_the_clock.txt").write_text("Chapter 2\n\nThe clock struck.\n")
    (folder / "1.md").write_text("---\nauthor: A. Writer\nlanguage: en\n---\n\n# Chapter 1: The Storm\n\nA dark night.\n")
    (folder / "11.txt").write_text("\n\n")                                       # an empty one: left out, said so
    (folder / "notes.docx").write_bytes(b"PK")                                 # not a chapter file
    (folder / "cover.jpg").write_bytes(b"\xff\xd8\xff\xe0 jpeg")
    (folder / "12.txt").write_text("The end.\n")
    book = read_book(folder)
    assert book.title == "The Lighthouse" and book.author == "A. Writer" and book.language == "en"
    assert [(c.title, c.read_title) for c in book.chapters] == [
        ("Chapter 1: The Storm", True), ("Chapter 2", True), ("The Keeper", False), ("Chapter 12", False)]
    assert book.cover.startswith(b"\xff\xd8") and book.cover_type == "image/jpeg"
    assert "11.txt: no speakable text, left out" in caplog.text
    with pytest.raises(InputError, match="MiB of chapter files is over the input limit"):
        read_book(folder, Limits(max_file_bytes=60))
    (tmp_path / "none").mkdir()
    with pytest.raises(InputError, match="is a folder without .txt or .md files"):
        read_book(tmp_path / "none")


def test_a_folder_of_chapters_in_the_order_a_person_numbers_them(tmp_path, caplog):
    """A prologue first and an epilogue last, numbers as numbers (10 before 10.5, 第二章 before 第十章), volumes in
    their place, a README or notes file left out, a UTF-16 file as Notepad saves it read."""
    folder = tmp_path / "web novel"
    (folder / "Volume 2").mkdir(parents=True)
    for name in ["Epilogue.txt", "10.5.txt", "Prologue.txt", "2.txt", "10.txt", "README.txt", "notes.md"]:
        (folder / name).write_text(f"Text of {name}.\n")
    (folder / "Volume 2" / "第十章.txt").write_text("第十章\n\n十。\n")
    (folder / "Volume 2" / "第二章.txt").write_bytes("第二章 试炼\n\n山路崎岖。\n".encode("utf-16"))
    (folder / "Cover.PNG").write_bytes(b"\x89PNG\r\n\x1a\n")
    (folder / "book.epub").write_bytes(b"PK")
    book = read_book(folder)
    assert [c.title for c in book.chapters] == ["Prologue", "Chapter 2", "Chapter 10", "Chapter 10.5", "第二章 试炼",
                                                "第十章", "Epilogue"]
    assert book.chapters[4].text == "山路崎岖。" and book.title == "Web Novel" and book.cover_type == "image/png"
    assert "README.txt: left out" in caplog.text and "notes.md: left out" in caplog.text
    assert "book.epub: left out of the book" in caplog.text
    only_epub = tmp_path / "bought"
    only_epub.mkdir()
    (only_epub / "novel.epub").write_bytes(b"PK")
    with pytest.raises(InputError, match=r"it holds novel.epub: give that file"):
        read_book(only_epub)
    (tmp_path / "notepad.txt").write_bytes(("第三章 试炼\n\n" + "山路崎岖，" * 300).encode("utf-16"))
    assert read_book(tmp_path / "notepad.txt").chapters[0].text.startswith("山路崎岖")


def test_a_markdown_heading_with_nothing_under_it_joins_the_next_ones_title(tmp_path):
    """As in a .txt: "## Chapter 1" over "## The Storm" is one chapter, "Chapter 1. The Storm" (it was dropped)."""
    path = tmp_path / "b.md"
    path.write_text("# Part One\n\n## Chapter 1\n\n## The Storm\n\nRain.\n\n## Two\n\nSun.\n\n# Part Two\n\n"
                    "## Three\n\nWind.\n\n## Trailing\n", encoding="utf-8")
    assert [(c.title, c.read_title) for c in read_book(path).chapters] == [
        ("Part One. Chapter 1. The Storm", True), ("Two", True), ("Part Two. Three", True)]


def test_a_books_date_is_kept_as_exactly_as_it_is_given():
    for given, kept in (("2019", "2019"), ("2019-03", "2019-03"), ("2019-03-14T00:00:00+00:00", "2019-03-14"),
                        ("March 2019", "2019"), ("", "")):
        assert book_tags({"date": given})["year"] == kept


def test_a_spanish_text_has_its_chapters_contents_and_byline(tmp_path):
    """Capítulo, Prólogo, Epílogo, Índice and "por" as Chapter, Prologue, Contents and "by" are: the contents
    page was read aloud and the whole book was one chapter."""
    path = tmp_path / "libro.txt"
    path.write_text("La casa del río\npor Ana Torres\n\nÍndice\n\nPrólogo\nCapítulo I. La llegada\n\nPrólogo\n\n"
                    "Era una noche oscura.\n\nCapítulo I. La llegada\n\nLlegaron tarde.\n\nCAPÍTULO TERCERO\n\n"
                    "Fin de todo.\n\nEpílogo\n\nY así acabó.\n", encoding="utf-8")
    book = read_book(path)
    assert (book.title, book.author) == ("La casa del río", "Ana Torres")
    assert [c.title for c in book.chapters] == ["Prólogo", "Capítulo I. La llegada", "CAPÍTULO TERCERO", "Epílogo"]
    assert book.chapters[0].text == "Era una noche oscura."


@pytest.mark.parametrize("name, text, title, author, chapters", [
    ("roman.txt", "LE ROMAN DE LA MER\npar Jeanne Dubois\n\nTABLE DES MATIÈRES\n\nPréface\nChapitre premier\n"
     "CHAPITRE II\nÉpilogue\n\nPréface\n\nUn mot d'abord.\n\nChapitre premier\n\nIl pleuvait.\n\nCHAPITRE II\n\n"
     "Le vent tourna.\n\nÉpilogue\n\nTout finit.\n", "Le Roman de la Mer", "Jeanne Dubois",
     ["Préface", "Chapitre premier", "CHAPITRE II", "Épilogue"]),
    ("romanzo.txt", "Il giardino\ndi Lucia Rossi\n\nIndice\n\nPrefazione\nCapitolo primo\nCapitolo 2\nEpilogo\n\n"
     "Prefazione\n\nPoche parole.\n\nCapitolo primo\n\nPioveva.\n\nCapitolo 2\n\nIl vento.\n\nEpilogo\n\nFine.\n",
     "Il giardino", "Lucia Rossi", ["Prefazione", "Capitolo primo", "Capitolo 2", "Epilogo"]),
    ("casa.txt", "A CASA DA RUA DAS FLORES\npor Ana Souza\n\nSUMÁRIO\n\nPrefácio\nCapítulo Um\nCapítulo Dois\n\n"
     "Prefácio\n\nUma palavra.\n\nCapítulo Um\n\nChovia.\n\nCapítulo Dois\n\nO vento.\n\nPosfácio\n\nFim.\n",
     "A Casa da Rua das Flores", "Ana Souza", ["Prefácio", "Capítulo Um", "Capítulo Dois", "Posfácio"]),
    ("kahani.txt", "गंगा की कहानी\nलेखक: राम शर्मा\n\nअनुक्रमणिका\n\nप्रस्तावना\nअध्याय 1\nअध्याय 2\n\nप्रस्तावना\n\n"
     "कुछ शब्द।\n\nअध्याय 1\n\nबारिश हो रही थी।\n\nअध्याय 2\n\nहवा चली।\n", "गंगा की कहानी", "राम शर्मा",
     ["प्रस्तावना", "अध्याय 1", "अध्याय 2"]),
])
def test_french_italian_portuguese_and_hindi_texts_have_their_chapters(tmp_path, name, text, title, author, chapters):
    """Their headings, contents pages and bylines as English and Spanish ones are: the contents page was read
    aloud, the book was one chapter and its byline read as prose."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    book = read_book(path)
    assert (book.title, book.author) == (title, author)
    assert [c.title for c in book.chapters] == chapters
    assert not any("TABLE" in c.text or "Indice" in c.text or "SUMÁRIO" in c.text for c in book.chapters)


def test_a_folder_puts_french_italian_and_portuguese_front_matter_first(tmp_path):
    folder = tmp_path / "livre"
    folder.mkdir()
    for name in ("chapitre-10.txt", "chapitre-2.txt", "préface.txt", "épilogue.txt", "table-des-matières.txt"):
        (folder / name).write_text(f"Texte de {name}.", encoding="utf-8")
    book = read_book(folder)
    assert [c.text for c in book.chapters] == ["Texte de préface.txt.", "Texte de chapitre-2.txt.",
                                               "Texte de chapitre-10.txt.", "Texte de épilogue.txt."]


def test_a_wrapped_line_that_looks_like_a_heading_ends_its_sentence(tmp_path):
    """"... because it was told in" / "Chapter 12." is prose wrapped at 70 columns: it opened a chapter and cut the
    sentence."""
    path = tmp_path / "wrapped.txt"
    path.write_text("She had read it all, because it was told in\nChapter 12.\n\nCHAPTER 2\n\nMore text here.\n")
    book = read_book(path)
    assert [c.title for c in book.chapters] == ["Wrapped", "CHAPTER 2"]
    assert book.chapters[0].text == "She had read it all, because it was told in\nChapter 12."


def test_a_folder_of_chapters_named_every_which_way_is_read_by_number(tmp_path):
    for n in ("1", "02", "5", "Chapter 3", "Chapter 10", "ch_4", "ch_100"):
        (tmp_path / f"{n}.txt").write_text(f"Text of {n}.\n")
    assert [c.text for c in read_book(tmp_path).chapters] == [
        f"Text of {n}." for n in ("1", "02", "Chapter 3", "ch_4", "5", "Chapter 10", "ch_100")]
    assert read_book(tmp_path).chapters[3].title == "Chapter 4"


def test_a_markdown_part_with_words_of_its_own_is_said_once(tmp_path):
    path = tmp_path / "parts.md"
    path.write_text("# Part One\n\nIntro of part.\n\n## Chapter 1\n\nText one.\n\n# Part Two\n\n## Chapter 2\n\n"
                    "Text two.\n")
    assert [c.title for c in read_book(path).chapters] == ["Part One", "Chapter 1", "Part Two. Chapter 2"]
