"""Raw EPUB files for tests, built as their producers lay them out."""
import zipfile

XHTML = "application/xhtml+xml"


def xhtml(body: str) -> str:
    return ('<?xml version="1.0" encoding="utf-8"?>\n<html xmlns="http://www.w3.org/1999/xhtml" '
            'xmlns:epub="http://www.idpf.org/2007/ops"><head><title>x</title></head>'
            f"<body>{body}</body></html>")


def make_epub(path, documents, toc=(), metadata="", manifest="", extra=None, version="3.0", nav=None):
    """A raw EPUB: `documents` are (file name, body or None for an empty file) or (file name, body, linear);
    `toc` (href, title) pairs."""
    items, spine = [], []
    for n, (name, body, *linear) in enumerate(documents):
        items.append(f'<item id="d{n}" href="{name}" media-type="{XHTML}"/>')
        spine.append(f'<itemref idref="d{n}"/>' if not linear or linear[0] else f'<itemref idref="d{n}" linear="no"/>')
    nav_body, nav = nav, "".join(f'<li><a href="{href}">{title}</a></li>' for href, title in toc)
    opf = (f'<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="{version}" '
           'unique-identifier="id"><metadata xmlns:dc="http://purl.org/dc/elements/1.1/" '
           'xmlns:opf="http://www.idpf.org/2007/opf"><dc:identifier id="id">x</dc:identifier>'
           f'<dc:title>A Book</dc:title><dc:language>en</dc:language>{metadata}</metadata><manifest>'
           f'<item id="nav" href="nav.xhtml" media-type="{XHTML}" properties="nav"/>{"".join(items)}{manifest}'
           f'</manifest><spine>{"".join(spine)}</spine></package>')
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mimetype", "application/epub+zip")
        zf.writestr("META-INF/container.xml", '<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:'
                    'tc:opendocument:xmlns:container"><rootfiles><rootfile full-path="OEBPS/content.opf" '
                    'media-type="application/oebps-package+xml"/></rootfiles></container>')
        zf.writestr("OEBPS/content.opf", opf)
        zf.writestr("OEBPS/nav.xhtml", xhtml(nav_body if nav_body is not None
                                             else f'<nav epub:type="toc"><ol>{nav}</ol></nav>'))
        for name, body, *_ in documents:
            zf.writestr(f"OEBPS/{name}", xhtml(body) if body is not None else "")
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return path
