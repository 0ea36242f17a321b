"""Helpers and studies of the report tests: the report's files checked whole (every image
decodes and is not blank, every link resolves, no Markdown shows raw), the Markdown read
back as tables, and studies written through Optuna whose right answers are known."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np
import pytest
from optuna.trial import TrialState
from PIL import Image

from sweep.commands.cli import build_parser
from tests.sweep.studies import add_known, api_study

FIGURES = ("importance", "effects", "interactions", "history", "learning_curves", "cost",
           "best_confusion", "best_per_class", "best_confused_examples", "parallel",
           "sampler", "timeline")


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.scripts = 0
        self.styles_linked = 0
        self.text: list[str] = []
        self._skip = 0  # inside <style> or <title>

    def handle_endtag(self, tag):
        if tag in ("style", "title"):
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag in ("style", "title"):
            self._skip += 1
        if tag == "img":
            self.images.append(a.get("src", ""))
        elif tag == "a" and "href" in a:
            self.links.append(a["href"])
        elif tag == "script":
            self.scripts += 1
        elif tag == "link":
            self.styles_linked += 1


def parse_html(path: Path) -> _Links:
    p = _Links()
    p.feed(path.read_text())
    return p


def report_command(argv: list[str]) -> int:
    """The ``report`` command in this process, parsed by the CLI's own parser."""
    args = build_parser().parse_args(["report", *argv])
    return args.func(args)


def assert_real_png(path: Path) -> None:
    with Image.open(path) as im:
        assert im.format == "PNG", path
        pixels = np.asarray(im.convert("L"), dtype=np.float64)
    h, w = pixels.shape
    assert w >= 300 and h >= 200, (path, w, h)
    assert pixels.std() > 10.0, f"{path} looks blank"


def assert_nothing_cut(path: Path, frame: int = 2) -> None:
    """A figure saved with a bounding box that cuts a label or a legend leaves ink on the
    image's edge: the outermost ``frame`` pixels must all be the white background."""
    with Image.open(path) as im:
        pixels = np.asarray(im.convert("L"), dtype=np.float64)
    edge = np.concatenate([pixels[:frame].ravel(), pixels[-frame:].ravel(),
                           pixels[:, :frame].ravel(), pixels[:, -frame:].ravel()])
    dark = int((edge < 240).sum())
    assert dark == 0, f"{path.name}: {dark} pixels of ink on its edge (something is cut off)"


def check_report(report: Path) -> _Links:
    """index.html and report.md exist; every image decodes, is not blank and has nothing
    cut off at its edge; every image and link resolves to a file in the report; no figure
    failed to draw."""
    index, md = report / "index.html", report / "report.md"
    assert index.is_file() and md.is_file()
    html = index.read_text()
    assert "could not be drawn" not in html, html
    page = parse_html(index)
    assert page.scripts == 0 and page.styles_linked == 0  # one self-contained page
    assert page.images, "no images in index.html"
    for src in page.images:
        assert not urlsplit(src).scheme and not src.startswith("/"), src  # relative only
        assert_real_png(report / unquote(src))
        assert_nothing_cut(report / unquote(src))
    for href in page.links:
        parts = urlsplit(href)
        assert not parts.scheme and not parts.netloc, href  # nothing on the network
        if href.startswith("#"):
            assert href[1:] in page.ids, href
        else:
            target = report / unquote(parts.path)
            assert target.exists(), href
            if target.suffix == ".svg":
                assert ET.parse(target).getroot().tag.endswith("svg")
    md_text = md.read_text()
    for src in page.images:  # the Markdown refers to the same image files
        assert f"]({src})" in md_text, src
    shown = "".join(page.text)
    for markup in ("`", "**", "](", "![", "\\*"):  # nothing of the Markdown shows raw
        assert markup not in shown, (markup, shown[max(0, shown.find(markup) - 80):][:160])
    return page


def md_section(md: str, title: str) -> str:
    """The Markdown of one section, from its heading to the next."""
    start = md.index(f"\n## {title}\n")
    end = md.find("\n## ", start + 1)
    return md[start:end if end >= 0 else len(md)]


def md_tables(text: str) -> list[list[list[str]]]:
    """The Markdown tables in ``text``: rows of cells (header first), bold removed."""
    tables, current = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            if not line.startswith("|---"):
                current.append([c.strip().strip("*") for c in line.strip("|").split(" | ")])
        elif current:
            tables.append(current)
            current = []
    return tables


@pytest.fixture(scope="module")
def known_study(tmp_path_factory) -> Path:
    """40 completed trials and 12 pruned (at epochs 1 and 2) of the known function."""
    studies = tmp_path_factory.mktemp("known-studies")
    study, dists, rng = api_study(studies, "known")
    for k in range(52):
        if k % 13 in (3, 7, 11):
            add_known(study, dists, rng, k, TrialState.PRUNED, stop=1 + k % 2)
        else:
            add_known(study, dists, rng, k)
    return studies
