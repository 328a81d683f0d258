"""Long articles -> passages. A passage is what BM25 and FAISS index; its id (the FAISS id)
maps back to its article through the `passages` table of the article store.

Each passage text starts with a header naming the act and the article
("Трудовой кодекс ... Статья 113. Title"), so a passage cut from the middle of a long
article still says where it comes from. Bodies are packed paragraph by paragraph up to
`chunk_chars`; a paragraph longer than that is cut at whitespace; the next passage repeats
about `chunk_overlap` characters of the previous one.
"""

from __future__ import annotations

import re

from index.article import Article


# Amendment footnotes: one paragraph each, "Сноска. ..." (Russian) or "Ескерту. / Ескертпе. ..."
# (Kazakh), plain or as an italic blockquote "> *Сноска. ...*". They record which law changed the
# article and when: history, not content, so the dense side leaves them out.
_FOOTNOTE = re.compile(r"^[ \t]*(?:>[ \t]*)?\*?[ \t]*(?:Сноска|Ескерту|Ескертпе)\b.*(?:\n|$)", re.M)


def strip_footnotes(text: str) -> str:
    """`text` without its amendment footnote paragraphs (and the blank lines they leave)."""
    return re.sub(r"\n{3,}", "\n\n", _FOOTNOTE.sub("", text)).strip()


def article_heading(article: Article) -> str:
    """"Статья 113. Title" / "113-бап. Title" (no title: just the number part)."""
    head = f"{article.number}-бап" if article.lang == "kaz" else f"Статья {article.number}"
    return f"{head}. {article.title}" if article.title else head


def passage_header(article: Article) -> str:
    return f"{article.act_title}. {article_heading(article)}"


def _cut_long(par: str, size: int) -> list[str]:
    """Cut one over-long paragraph into pieces of at most `size` chars at whitespace."""
    pieces, rest = [], par
    while len(rest) > size:
        cut = rest.rfind(" ", size // 2, size)
        cut = cut if cut > 0 else size
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces


def _tail(text: str, overlap: int) -> str:
    if overlap <= 0 or len(text) <= overlap:
        return "" if overlap <= 0 else text
    start = text.find(" ", len(text) - overlap)
    return text[start + 1:] if start >= 0 else text[-overlap:]


def chunk_text(text: str, chunk_chars: int = 1200, chunk_overlap: int = 150) -> list[str]:
    """Split an article body into chunks of at most about `chunk_chars` characters."""
    text = text.strip()
    if len(text) <= chunk_chars:
        return [text]
    pars: list[str] = []
    for par in re.split(r"\n\s*\n", text):
        par = par.strip()
        if par:
            pars.extend(_cut_long(par, chunk_chars - chunk_overlap))
    chunks: list[str] = []
    current = ""
    for par in pars:
        if current and len(current) + 2 + len(par) > chunk_chars:
            chunks.append(current)
            tail = _tail(current, chunk_overlap)
            current = f"{tail}\n\n{par}" if tail and len(tail) + 2 + len(par) <= chunk_chars else par
        else:
            current = f"{current}\n\n{par}" if current else par
    if current:
        chunks.append(current)
    return chunks


def dense_passage_text(passage: str, strip: bool = True) -> str:
    """The text embedded for one passage: the passage without footnotes (its header line always stays)."""
    if not strip:
        return passage
    header, _, body = passage.partition("\n")
    body = strip_footnotes(body)
    return f"{header}\n{body}" if body else header


def article_passages(article: Article, chunk_chars: int = 1200, chunk_overlap: int = 150) -> list[str]:
    """The passage texts of one article (header + chunk), in order."""
    header = passage_header(article)
    return [f"{header}\n{chunk}" for chunk in chunk_text(article.text, chunk_chars, chunk_overlap)]
