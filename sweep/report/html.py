"""The report as one HTML page: opens from disk, inline CSS, no scripts, no network,
images by relative link."""

from __future__ import annotations

from html import escape

from .document import Document, FigureRef, Notes, Text
from .findings import Table

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
ul.notes { border-radius: 6px; padding: 0.6rem 1rem 0.6rem 2rem; margin: 0.8rem 0; }
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


def render(doc: Document) -> str:
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{escape(doc.title)} – sweep report</title>",
             f"<style>{CSS}</style>", "</head>", "<body>", "<main>",
             f"<h1>{escape(doc.title)}</h1>",
             f'<p class="generated">Report generated {escape(doc.generated)} from the study\'s '
             "storage and trial directories; regenerate with <code>python -m sweep report"
             "</code>.</p>",
             '<dl class="facts">']
    for label, value in doc.facts:
        parts.append(f"<dt>{escape(label)}</dt><dd>{escape(value)}</dd>")
    parts.append("</dl>")
    parts.append("<nav>" + "".join(f'<a href="#{s.id}">{escape(s.title)}</a>'
                                   for s in doc.sections) + "</nav>")
    for section in doc.sections:
        parts.append(f'<section id="{section.id}">')
        parts.append(f"<h2>{escape(section.title)}</h2>")
        for block in section.blocks:
            parts.append(_block(block))
        parts.append("</section>")
    parts.append("<footer>Figures are PNG for this page; each has an SVG twin in "
                 "<code>figures/</code>. The same content is in <code>report.md</code>."
                 "</footer>")
    parts += ["</main>", "</body>", "</html>", ""]
    return "\n".join(parts)


def _block(block) -> str:
    if isinstance(block, FigureRef):
        return (f'<figure><img src="{escape(block.png)}" alt="{escape(block.title)}" '
                f'><figcaption><b>{escape(block.title)}.</b> '
                f'{escape(block.caption)} <a href="{escape(block.svg)}">SVG</a>'
                "</figcaption></figure>")
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Notes):
        items = "".join(f"<li>{escape(i)}</li>" for i in block.items)
        return f'<ul class="notes {block.kind}">{items}</ul>'
    if isinstance(block, Text):
        return f"<p>{escape(block.text)}</p>"
    raise TypeError(f"unknown block {type(block).__name__}")


def _table(t: Table) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in t.columns)
    body = []
    marks = t.highlight or [""] * len(t.rows)
    for row, mark in zip(t.rows, marks, strict=True):
        cells = "".join(f'<td class="num">{escape(v)}</td>' if _numeric(v)
                        else f"<td>{escape(v)}</td>" for v in row)
        cls = f' class="{mark}"' if mark else ""
        body.append(f"<tr{cls}>{cells}</tr>")
    caption = f"<caption>{escape(t.caption)}</caption>" if t.caption else ""
    return (f'<div class="table-wrap"><table>{caption}<thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")


def _numeric(v: str) -> bool:
    s = v.replace(",", "").replace("%", "").replace(" s", "").strip()
    try:
        float(s)
    except ValueError:
        return False
    return True
