import zipfile

import pytest

from indexstudio.books.reader import Limits, read_book
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
