"""EPUBs as their producers make them (Project Gutenberg, Standard Ebooks, Calibre), read as a listener hears them."""
import logging

import pytest
from helpers.epub import XHTML, make_epub
from helpers.synthetic_engine import SyntheticEngine

from indexstudio.books.reader import book_tags, read_book
from indexstudio.errors import InputError
from indexstudio.pipeline.plan import make_plan

def chapters(path):
    return [(c.title, c.heading, c.text) for c in read_book(path).chapters]


def test_gutenberg_epub_chapters_at_anchors_without_licence_contents_or_page_numbers(tmp_path):
    header = ('<section class="pg-boilerplate pgheader" id="pg-header"><h2>The Project Gutenberg eBook of Pride and '
              'Prejudice</h2><p>This ebook is for the use of anyone anywhere.</p><div id="pg-start-separator">'
              '*** START OF THE PROJECT GUTENBERG EBOOK PRIDE AND PREJUDICE ***</div></section>')
    front = ('<h1>PRIDE.<br/>and<br/>PREJUDICE</h1><h2 id="toc">CONTENTS</h2><table>'
             '<tr><td><a href="b.xhtml#chap01">CHAPTER I.</a></td><td><a href="b.xhtml#page_1">1</a></td></tr>'
             '<tr><td><a href="b.xhtml#chap02">CHAPTER II.</a></td><td><a href="b.xhtml#page_5">5</a></td></tr>'
             '<tr><td><a href="c.xhtml#chap03">CHAPTER III.</a></td><td><a href="c.xhtml#page_9">9</a></td></tr>'
             '</table>')
    two_chapters = ('<div class="chapter"><h2><a id="chap01"></a>CHAPTER I.</h2><p><span class="pagenum">'
                    '<a id="page_1">{1}</a></span>It is a truth universally acknowledged.</p></div>'
                    '<div class="chapter"><h2><a id="chap02"></a>CHAPTER II.</h2><p>Mr.&#160;Bennet waited.'
                    '<a id="FNanchor_1" href="#Footnote_1" class="fnanchor">[1]</a></p></div>')
    third = ('<div class="chapter"><h2 id="chap03">CHAPTER III.</h2><p>Not all that was<span class="pagenum">[Pg 10]'
             '</span> sufficient.</p><p>THE END.</p></div><section class="pg-boilerplate" id="pg-footer">'
             '<h2 id="pg-footer-heading">THE FULL PROJECT GUTENBERG LICENSE</h2><p>Section 1.</p></section>')
    path = make_epub(tmp_path / "pg.epub", [("a.xhtml", header + front), ("b.xhtml", two_chapters), ("c.xhtml", third)],
                     toc=[("a.xhtml#pg-header", "The Project Gutenberg eBook of Pride and Prejudice"),
                          ("a.xhtml#toc", "CONTENTS"), ("b.xhtml#chap01", "CHAPTER I."), ("b.xhtml#chap02", "CHAPTER II."),
                          ("c.xhtml#chap03", "CHAPTER III."),
                          ("c.xhtml#pg-footer-heading", "THE FULL PROJECT GUTENBERG LICENSE")],
                     metadata="<dc:creator>Austen, Jane</dc:creator>")
    book = read_book(path)
    assert book.author == "Jane Austen"
    assert chapters(path) == [
        ("PRIDE. and PREJUDICE", "", "PRIDE.\nand\nPREJUDICE"),
        ("CHAPTER I.", "CHAPTER I", "It is a truth universally acknowledged."),
        ("CHAPTER II.", "CHAPTER II", "Mr.\u00a0Bennet waited."),
        ("CHAPTER III.", "CHAPTER III", "Not all that was sufficient.\n\nTHE END.")]


def test_epub_text_is_read_as_printed(tmp_path):
    body = ('<h1>One</h1>'
            '<p>Line one<br/>line two</p>'                                      # a line break is a break, not glue
            '<p><ruby>吾輩<rp>(</rp><rt>わがはい</rt><rp>)</rp></ruby>は猫</p>'   # ruby readings are not said twice
            '<p><span class="dropcap">T</span>he day.</p><div class="dropcap">W</div><p>hen it rained.</p>'
            '<p><img class="initial" alt="I" src="i.png"/>t was late.</p>'
            '<p style="display:none">Hidden text.</p><p hidden="">Also hidden.</p>'
            '<p>10&#160;000 e\u00adggs, a \ufb01ne \u200bday.</p>'
            '<ul><li><p>Item in a paragraph.</p></li><li>Outer<ul><li>Inner</li></ul></li></ul>'
            '<div><blockquote>Quoted once.</blockquote>Loose text after it.</div>'
            '<table><caption>Exports</caption><tr><td>Year</td><td>Tons</td></tr></table>'
            '<p>A note<a href="notes.xhtml#n2"><sup>2</sup></a> and one<sup><a href="#n3">3</a></sup>, '
            'see chapter <a href="#c3">3</a>.</p>'
            '<p>The note itself. <a href="#ref1">\u21a9</a> <a href="#ref2">[Back]</a></p>'
            '<p>[Pg 17]</p><p>He counted: 1</p><p>2</p>'                      # a marked page number, a number
            '<p><span class="c1">Nobod</span><span class="c2">y</span> saw <em>it</em><strong>all</strong>.</p>'
            '<p>It fell in tor-<br/>rents.</p>')
    path = make_epub(tmp_path / "text.epub", [("a.xhtml", body)], toc=[("a.xhtml", "One")])
    (title, heading, text), = chapters(path)
    assert (title, heading) == ("One", "One")
    assert text.split("\n\n") == [
        "Line one\nline two", "吾輩は猫", "The day.", "When it rained.", "It was late.",
        "10\u00a0000 eggs, a fine day.", "Item in a paragraph.", "Outer", "Inner", "Quoted once.",
        "Loose text after it.", "Exports", "Year", "Tons", "A note and one, see chapter 3.", "The note itself.",
        "He counted: 1", "2", "Nobody saw itall.", "It fell in torrents."]


def test_epub_front_and_back_matter_contents_pages_and_non_linear_items_are_not_read(tmp_path):
    documents = [
        ("title.xhtml", '<section epub:type="titlepage"><h1>The Time Machine</h1><p>By H. G. Wells.</p></section>'),
        ("imprint.xhtml", '<section epub:type="imprint"><h2>Imprint</h2><p>This ebook is the product of work.</p>'
                          "</section>"),
        ("contents.xhtml", "<h2>Contents</h2>" + "".join(f'<p><a href="{name}.xhtml">{name.title()}</a></p>'
                                                          for name in ("c1", "c2", "notes"))),
        ("c1.xhtml", '<section epub:type="chapter"><hgroup><h2>Chapter <span>I</span></h2><p>Introduction</p>'
                     "</hgroup><p>The Time Traveller spoke.</p></section>"),
        ("popup.xhtml", "<p>A pop-up note.</p>", False),
        ("c2.xhtml", '<section epub:type="chapter"><h2 epub:type="ordinal">II</h2><p>None believed.</p></section>'),
        ("c3.xhtml", "<h2>Chapter III<br/>The Gate</h2><p>It opened.</p>"),        # a pause after the number
        ("c4.xhtml", "<h2>The Man<br/>Who Knew</h2><p>He knew.</p>"),              # a title on two lines: none
        ("notes.xhtml", '<section epub:type="endnotes"><ol><li id="note-1"><p>A note.</p></li></ol></section>'),
        ("colophon.xhtml", '<section epub:type="colophon"><p>Set in a typeface.</p></section>'),
    ]
    path = make_epub(tmp_path / "se.epub", documents, toc=[
        ("title.xhtml", "Titlepage"), ("imprint.xhtml", "Imprint"), ("c1.xhtml", "I: Introduction"),
        ("c2.xhtml", "II"), ("c3.xhtml", "III"), ("c4.xhtml", "IV"), ("notes.xhtml", "Endnotes"),
        ("colophon.xhtml", "Colophon")])
    assert chapters(path) == [("I: Introduction", "Chapter I. Introduction", "The Time Traveller spoke."),
                              ("II", "II", "None believed."), ("III", "Chapter III. The Gate", "It opened."),
                              ("IV", "The Man Who Knew", "He knew.")]
    plan = make_plan(read_book(path), SyntheticEngine(), "tone")
    assert [s.text for s in plan.segments if s.chapter == 1][0] == "two."    # a chapter "II" is its number
    italian = make_epub(tmp_path / "it.epub", [("c1.xhtml", "<h1>Capitolo primo<br/>L'arrivo</h1><p>Pioveva.</p>")],
                        toc=[("c1.xhtml", "Capitolo primo")])
    assert chapters(italian) == [("Capitolo primo", "Capitolo primo. L'arrivo", "Pioveva.")]   # (other languages too)


def test_epub_without_contents_entries_for_every_file_and_with_broken_anchors(tmp_path):
    documents = [("a.xhtml", "<h1>Part One</h1>"),                      # a part's title page: said once
                 ("b.xhtml", "<h2>Departure</h2><p>We left.</p>"),
                 ("c.xhtml", "<p>More of it.</p>"),                     # no entry: the chapter goes on
                 ("d.xhtml", "<h2>Storm</h2><p>It rained.</p>")]
    path = make_epub(tmp_path / "parts.epub", documents, toc=[
        ("a.xhtml", "Part One"), ("b.xhtml", "Departure"), ("d.xhtml#nowhere", "Storm")])
    assert chapters(path) == [("Part One", "", "Part One"), ("Departure", "Departure", "We left.\n\nMore of it."),
                              ("Storm", "Storm", "It rained.")]
    assert read_book(path).chapters[0].read_title is False


def test_epub_metadata_authors_language_and_epub2_cover(tmp_path):
    metadata = ('<dc:creator opf:role="trl">A Translator</dc:creator><dc:creator id="a1">Terry Pratchett</dc:creator>'
                '<dc:creator id="a2">Neil Gaiman</dc:creator><meta refines="#a2" property="role">aut</meta>'
                '<dc:creator id="a3">An Illustrator</dc:creator><meta refines="#a3" property="role">ill</meta>'
                '<meta name="cover" content="cov"/>')
    path = make_epub(tmp_path / "meta.epub", [("a.xhtml", "<p>Text.</p>")], toc=[("a.xhtml", "One")],
                     metadata=metadata.replace("<dc:language>en</dc:language>", ""),
                     manifest='<item id="cov" href="cover.jpg" media-type="image/jpeg"/>',
                     extra={"OEBPS/cover.jpg": b"\xff\xd8\xff\xe0jpeg"})
    book = read_book(path)
    assert book.author == "Terry Pratchett & Neil Gaiman"
    assert book.cover == b"\xff\xd8\xff\xe0jpeg" and book.cover_type == "image/jpeg"


def test_broken_and_protected_epubs_are_named(tmp_path, caplog):
    good = [("a.xhtml", "<h1>One</h1><p>Text one.</p>"), ("b.xhtml", None)]
    missing_image = make_epub(tmp_path / "img.epub", good, toc=[("a.xhtml", "One")],
                              manifest='<item id="i" href="images/fig.jpg" media-type="image/jpeg"/>')
    with caplog.at_level(logging.WARNING, logger="indexstudio"):
        assert chapters(missing_image) == [("One", "One", "Text one.")]
    assert "lacks 1 file(s) its manifest lists (OEBPS/images/fig.jpg)" in caplog.text
    assert "b.xhtml, a document of the book, is empty" in caplog.text

    missing_text = make_epub(tmp_path / "text.epub", good, manifest=f'<item id="x" href="gone.xhtml" media-type="{XHTML}"/>')
    with pytest.raises(InputError, match="lacks OEBPS/gone.xhtml, a file of its text"):
        read_book(missing_text)
    adobe = make_epub(tmp_path / "adobe.epub", good, extra={"META-INF/rights.xml": "<rights/>"})
    with pytest.raises(InputError, match=r"DRM-protected \(META-INF/rights.xml\)"):
        read_book(adobe)

    def encryption(algorithm):
        return {"META-INF/encryption.xml": '<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container" '
                'xmlns:enc="http://www.w3.org/2001/04/xmlenc#"><enc:EncryptedData><enc:EncryptionMethod '
                f'Algorithm="{algorithm}"/><enc:CipherData><enc:CipherReference URI="OEBPS/a.xhtml"/>'
                "</enc:CipherData></enc:EncryptedData></encryption>"}
    aes = make_epub(tmp_path / "aes.epub", good, extra=encryption("http://www.w3.org/2001/04/xmlenc#aes128-cbc"))
    with pytest.raises(InputError, match=r"DRM-protected \(1 encrypted file"):
        read_book(aes)
    fonts = make_epub(tmp_path / "fonts.epub", good, toc=[("a.xhtml", "One")],
                      extra=encryption("http://www.idpf.org/2008/embedding"))
    assert chapters(fonts) == [("One", "One", "Text one.")]           # obfuscated fonts are no DRM


def test_a_book_in_a_language_without_a_voice_asks_for_one(tmp_path):
    from indexstudio.engines.kokoro import KokoroEngine

    kokoro = KokoroEngine()
    assert kokoro.voice_for("Good day.", "en-US") == kokoro.voice_for("Good day.", "") == kokoro.default_voice
    assert kokoro.voice_for("Good day.", "en-GB").startswith("bf_")
    assert kokoro.voice_for("你好。", "zh-CN").startswith("zf_")
    assert kokoro.voice_for("An English text, mislabelled.", "zh") == kokoro.default_voice
    with pytest.raises(InputError, match="the text is in language 'de'.*give --voice"):
        kokoro.voice_for("Es war einmal ein Mann.", "de")


def test_epub_matter_the_book_does_not_mark_and_headings_set_as_paragraphs_or_images(tmp_path):
    documents = [
        ("copy.xhtml", "<p>Copyright 2020 A. Author. All rights reserved.</p><p>ISBN 978-1-2345-6789-0</p>"),
        ("ded.xhtml", "<p>For my mother.</p>"),
        ("c1.xhtml", '<p class="chapter-title">CHAPTER ONE</p><p class="first">It began.</p>'),
        ("c2.xhtml", '<h1><img src="c2.png" alt="Chapter Two"/></h1><p>It went on.</p>'),
        ("c3.xhtml", '<h1><img src="f.png" alt="decorative flourish"/>Chapter Three</h1><p>It ended.</p>'),
        ("index.xhtml", '<p class="index">apple, 4, 12-15</p><p class="index">orchard, 22</p>'),
    ]
    path = make_epub(tmp_path / "retail.epub", documents, toc=[
        ("copy.xhtml", "Copyright"), ("ded.xhtml", "Dedication"), ("c1.xhtml", "Chapter 1"), ("c2.xhtml", "Chapter 2"),
        ("c3.xhtml", "Chapter 3"), ("index.xhtml", "Index")])
    book = read_book(path)
    assert [(c.title, c.heading, c.text, c.read_title) for c in book.chapters] == [
        ("Dedication", "", "For my mother.", False),          # a label, not a heading: not said
        ("Chapter 1", "CHAPTER ONE", "It began.", True),       # said once, as printed
        ("Chapter 2", "Chapter Two", "It went on.", True),
        ("Chapter 3", "Chapter Three", "It ended.", True)]        # an ornament's alt text beside words: not said
    untitled = make_epub(tmp_path / "tail.epub", [("c1.xhtml", "<h1>One</h1><p>Text.</p>"),
                                                   ("copy.xhtml", "<p>All rights reserved.</p>")],
                         toc=[("c1.xhtml", "One")])
    assert chapters(untitled) == [("One", "One", "Text.")]      # a copyright page no entry names


def test_a_broken_navigation_document_leaves_the_headings_to_make_chapters(tmp_path, caplog):
    import logging
    path = make_epub(tmp_path / "nav.epub", [("a.xhtml", "<h1>One</h1><p>First.</p>"), ("b.xhtml", "<h1>Two</h1><p>Second.</p>")],
                     nav='<nav epub:type="toc"><p>Contents, with no list</p></nav>')
    with caplog.at_level(logging.WARNING, logger="indexstudio"):
        assert chapters(path) == [("One", "One", "First."), ("Two", "Two", "Second.")]
    assert "its navigation document is broken" in caplog.text


def test_date_publisher_and_description_become_the_audiobooks_tags(tmp_path):
    """An EPUB's dc:date (its day), dc:publisher and dc:description (escaped HTML, as stores write it) are the
    audiobook's year, publisher and description; a book without them gives empty tags."""
    meta = ('<dc:date>1843-12-19T00:00:00+00:00</dc:date><dc:publisher>Chapman &amp; Hall</dc:publisher>'
            '<dc:description>&lt;p&gt;A &lt;i&gt;ghost&lt;/i&gt; story\n of Christmas.&lt;/p&gt;&lt;p&gt;A classic.&lt;/p&gt;'
            '</dc:description>')
    book = read_book(make_epub(tmp_path / "b.epub", [("c1.xhtml", "<h1>One</h1><p>Marley was dead.</p>")],
                               metadata=meta))
    assert book_tags(book.extra) == {"year": "1843-12-19", "publisher": "Chapman & Hall",
                                     "description": "A ghost story of Christmas.\n\nA classic."}
    plain = read_book(make_epub(tmp_path / "p.epub", [("c1.xhtml", "<h1>One</h1><p>Marley was dead.</p>")]))
    assert book_tags(plain.extra) == {"year": "", "publisher": "", "description": ""}


def test_a_parts_title_in_a_nested_contents_joins_its_first_chapters(tmp_path):
    """A part listed over its chapters - without a page of its own, or pointing where its first chapter does -
    names that chapter's mark with it, as a Markdown part does; it was dropped."""
    nav = ('<nav epub:type="toc"><ol>'
           '<li><span>Part One</span><ol><li><a href="c1.xhtml">Chapter 1</a></li>'
           '<li><a href="c2.xhtml">Chapter 2</a></li></ol></li>'
           '<li><a href="c3.xhtml">Book Two</a><ol><li><a href="c3.xhtml">Chapter 3</a></li></ol></li></ol></nav>')
    path = make_epub(tmp_path / "parts.epub", [(f"c{n}.xhtml", f"<h1>Chapter {n}</h1><p>Text {n}.</p>")
                                               for n in (1, 2, 3)], nav=nav)
    assert [c.title for c in read_book(path).chapters] == ["Part One. Chapter 1", "Chapter 2",
                                                          "Book Two. Chapter 3"]
