"""The report as one HTML page: the Markdown document rendered by markdown-it-py (a
CommonMark parser), with inline CSS; opens from disk, no scripts, no network, images
by relative link."""

from __future__ import annotations

from html import escape
from typing import Any

from . import markdown
from .document import Document

CSS = """
:root { --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --bg: #ffffff; --soft: #f6f8fa;
        --accent: #0173B2; --best: #029E73; --classic: #CC78BC; --warn: #D55E00; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: var(--bg);
       font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
       sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 1.2rem 1.5rem 3rem; }
h1 { font-size: 1.7rem; margin: 0.2rem 0 0.3rem; }
h2 { font-size: 1.3rem; margin: 2.2rem 0 0.8rem; padding-bottom: 0.3rem;
     border-bottom: 1px solid var(--line); }
h3 { font-size: 1.05rem; margin: 1.4rem 0 0.5rem; }
.generated { color: var(--muted); margin: 0 0 1rem; font-size: 0.9rem; }
nav { background: var(--soft); border: 1px solid var(--line); border-radius: 6px;
      padding: 0.5rem 0.9rem; margin: 0.8rem 0 1rem; }
nav a { margin-right: 1.1rem; color: var(--accent); text-decoration: none; white-space: nowrap; }
nav a:hover { text-decoration: underline; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 0.25rem 1rem;
           margin: 0.5rem 0 1rem; }
dl.facts dt { font-weight: 600; color: var(--muted); }
dl.facts dd { margin: 0; }
img { display: block; max-width: 100%; height: auto; border: 1px solid var(--line);
      border-radius: 4px; background: #fff; margin: 1.2rem 0 0.4rem; }
p > em:first-child { color: var(--muted); }
ul.notes { border-radius: 6px; padding: 0.6rem 1rem; margin: 0.8rem 0; list-style: none; }
ul.notes li { margin: 0.25rem 0; }
ul.finding { background: #eef6fb; border-left: 4px solid var(--accent); }
ul.warning { background: #fdf1ea; border-left: 4px solid var(--warn); }
ul.note { background: var(--soft); border-left: 4px solid var(--line); color: var(--muted); }
figure { margin: 1.2rem 0 1.8rem; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid var(--line);
             border-radius: 4px; background: #fff; }
figcaption { color: var(--muted); font-size: 0.9rem; margin-top: 0.4rem; }
figcaption b { color: var(--fg); }
.table-wrap { overflow-x: auto; margin: 0.8rem 0 1.4rem; }
table { border-collapse: collapse; font-size: 0.88rem; }
caption { caption-side: bottom; text-align: left; color: var(--muted); font-size: 0.85rem;
          padding-top: 0.35rem; }
th, td { border: 1px solid var(--line); padding: 0.3rem 0.55rem; text-align: left;
         vertical-align: top; }
th { background: var(--soft); font-weight: 600; }
tr.best td { background: #e7f5ef; }
tr.classic td { background: #f8edf6; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
footer { margin-top: 2.5rem; color: var(--muted); font-size: 0.85rem; }
"""


def render(doc: Document, text: str | None = None) -> str:
    """The page: the document's Markdown (``text``, `markdown.render`'s) rendered by a
    CommonMark parser, inside a template with the style. Every word on the page comes
    through the parser, so no Markdown can reach the reader raw, and raw HTML in a text
    (a trial's reason) is shown as text, never run."""
    ids = {markdown.anchor(s.title): s.id for s in doc.sections}
    body = _parser().render(text if text is not None else markdown.render(doc), {"ids": ids})
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(doc.title)} – sweep report</title>", f"<style>{CSS}</style>",
        "</head>", "<body>", "<main>", body, "</main>", "</body>", "</html>", ""])


def _parser() -> Any:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False, "typographer": False}).enable("table")
    md.core.ruler.push("heading_ids", _heading_ids)
    md.core.ruler.push("note_lists", _note_lists)
    return md


def _heading_ids(state: Any) -> None:
    """A section's heading gets the section's id (its title's slug elsewhere, which
    report.md's links use on a code host), and the contents' links follow."""
    ids: dict[str, str] = state.env.get("ids", {})
    for i, token in enumerate(state.tokens):
        if token.type == "heading_open" and i + 1 < len(state.tokens):
            slug = markdown.anchor(state.tokens[i + 1].content)
            token.attrSet("id", ids.get(slug, slug))
        for child in token.children or ():
            href = child.attrGet("href") if child.type == "link_open" else None
            if isinstance(href, str) and href.startswith("#") and href[1:] in ids:
                child.attrSet("href", "#" + ids[href[1:]])


def _note_lists(state: Any) -> None:
    """A list whose first item starts with a kind marker (`markdown.KIND`) gets that
    kind as its class, so that findings and warnings are boxed as such."""
    tokens = state.tokens
    for i, token in enumerate(tokens):
        if token.type != "bullet_list_open":
            continue
        inline = next((t for t in tokens[i:i + 4] if t.type == "inline"), None)
        kind = next((k for k, mark in markdown.KIND.items()
                     if inline is not None and inline.content.startswith(mark)), None)
        if kind:
            token.attrSet("class", f"notes {kind}")
