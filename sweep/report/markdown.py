"""The report as Markdown: the one rendering of the document. report.md is this text,
and index.html is this text rendered by a CommonMark parser (html.py)."""

from __future__ import annotations

from .document import Document, FigureRef, Notes, Text
from .findings import Table

# the mark each item of a list of notes starts with, by kind; the page boxes the list
KIND = {"finding": "▸ ", "warning": "⚠ ", "note": "ℹ "}


def render(doc: Document) -> str:
    lines = [f"# {doc.title}", "",
             f"Report generated {doc.generated} from the study's storage and trial "
             "directories; regenerate with `python -m sweep report`.", ""]
    for label, value in doc.facts:
        lines.append(f"- **{label}:** {_inline(value)}")
    lines.append("")
    lines.append("Contents: " + " · ".join(f"[{s.title}](#{anchor(s.title)})"
                                           for s in doc.sections))
    lines.append("")
    for section in doc.sections:
        lines += [f"## {section.title}", ""]
        for block in section.blocks:
            lines += _block(block) + [""]
    lines.append("Figures are in `figures/` (PNG; SVG too with `sweep report --svg`). The same "
                 "content is in `index.html`.")
    return "\n".join(lines) + "\n"


def _block(block) -> list[str]:
    if isinstance(block, FigureRef):
        vector = f" ([SVG]({block.svg}))" if block.svg else ""
        return [f"![{_inline(block.title)}]({block.png})", "",
                f"*{_inline(block.title)}.* {_inline(block.caption)}{vector}"]
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Notes):
        head = ["**Warnings**", ""] if block.kind == "warning" else []
        return head + [f"- {KIND[block.kind]}{_inline(i)}" for i in block.items]
    if isinstance(block, Text):
        return [_inline(block.text)]
    raise TypeError(f"unknown block {type(block).__name__}")


def _table(t: Table) -> list[str]:
    out = ["| " + " | ".join(_cell(c) for c in t.columns) + " |",
           "|" + "|".join("---" for _ in t.columns) + "|"]
    marks = t.highlight or [""] * len(t.rows)
    for row, mark in zip(t.rows, marks, strict=True):
        cells = [_cell(v) for v in row]
        if mark == "best":
            cells = [f"**{c}**" if c else c for c in cells]
        out.append("| " + " | ".join(cells) + " |")
    if t.caption:
        out += ["", f"*{_inline(t.caption)}*"]
    return out


def _cell(v: str) -> str:
    return _inline(str(v)).replace("|", "\\|").replace("\n", " ")


def _inline(text: str) -> str:
    # the text is plain: keep Markdown from reading * or < in it as markup (an underscore
    # inside a word, as in hidden_size, is never emphasis in CommonMark)
    return text.replace("*", "\\*").replace("<", "&lt;")


def anchor(title: str) -> str:
    """The id of a heading, as GitHub makes it: lower case, spaces as dashes."""
    return "-".join("".join(ch for ch in title.lower() if ch.isalnum() or ch == " ").split())
