"""The report in a real browser: headless Chromium loads index.html from disk, every image
decodes (the seed-noise figure included: the study's top trials are confirmed first),
and a screenshot is kept for the record.

Needs Debian's chromium and chromium-driver (``apt-get install chromium
chromium-driver``) and selenium (test extra); skips with the reason otherwise.
The screenshots are written next to the report and, when REPORT_SCREENSHOT_DIR is
set, copied there.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from sweep.report import write_report
from sweep.study.results import load

pytestmark = pytest.mark.slow

CHROMIUM = next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser",
                                                        "google-chrome")) if p), None)
DRIVER = shutil.which("chromedriver") or next(
    (p for p in ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")
     if os.path.exists(p)), None)
# the browser checks layout and images, not the importance numbers: the report's
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1366,800")


def load_images(browser, index: Path) -> list[dict]:
    """Open ``index`` and wait until the page and every image have loaded."""
    browser.get(index.resolve().as_uri())
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        images = browser.execute_script(ALL_IMAGES)
        if browser.execute_script("return document.readyState") == "complete" and \
                all(i["complete"] for i in images):
            break
        time.sleep(0.2)
    return images


ALL_IMAGES = """
return Array.from(document.images).map(i => ({src: i.getAttribute('src'),
    complete: i.complete, width: i.naturalWidth, height: i.naturalHeight}));
"""


@pytest.fixture
def browser(tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver",
                                    reason="selenium not installed (test extra)")
    if CHROMIUM is None or DRIVER is None:
        pytest.skip("no Chromium found (apt-get install chromium chromium-driver)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def test_report_opens_in_chromium_with_every_image(browser, main_study, sweep_cli, tmp_path):
    studies = tmp_path / "studies"  # a copy: confirm writes into the study's folder
    shutil.copytree(main_study.root, studies / main_study.name)
    proc = sweep_cli("confirm", "--studies-dir", studies, "--study", main_study.name,
                     "--within", 1000, "--max-candidates", 2, "--jobs", 2, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    index = write_report(load(main_study.name, studies), tmp_path / "report")
    images = load_images(browser, index)
    assert len(images) >= 7, images
    broken = [i["src"] for i in images if not (i["complete"] and i["width"] > 0)]
    assert not broken, f"images that did not load: {broken}"
    srcs = [i["src"] for i in images]
    assert "figures/seed_noise.png" in srcs
    for name in ("parallel", "sampler", "timeline", "best_per_class"):
        assert f"figures/{name}.png" in srcs, (name, srcs)
    text = browser.execute_script("return document.body.innerText")
    for markup in ("`", "**", "](", "!["):  # the page shows no raw Markdown
        assert markup not in text, (markup, text[max(0, text.find(markup) - 80):][:160])
    assert browser.execute_script("return !!document.getElementById('seed-noise')")
    assert browser.title.startswith(f"Study {main_study.name}")
    # laptop screen: the page fits its width, nothing needs a horizontal scroll
    width = browser.execute_script("return document.documentElement.scrollWidth")
    assert width <= 1366, width
    shots = [index.parent / "screenshot-top.png", index.parent / "screenshot-full.png"]
    assert browser.save_screenshot(str(shots[0]))
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1366, min(int(height) + 100, 20000))
    assert browser.save_screenshot(str(shots[1]))
    for shot in shots:
        assert shot.stat().st_size > 10_000, shot
    keep = os.environ.get("REPORT_SCREENSHOT_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        for shot in shots:
            shutil.copy(shot, Path(keep) / shot.name)


def test_the_rungs_figure_of_a_pruned_study_opens_in_chromium(browser, tmp_path):
    """A study with pruned trials (written through Optuna, values from a known function)
    gets the rungs figure; it and every other image load in the browser."""
    from optuna.trial import TrialState

    from tests.sweep.studies import add_known, api_study

    study, dists, rng = api_study(tmp_path, "pruned")
    for k in range(20):
        add_known(study, dists, rng, k, *((TrialState.PRUNED, 1) if k % 4 == 1 else ()))
    index = write_report(load("pruned", tmp_path))
    images = load_images(browser, index)
    srcs = [i["src"] for i in images]
    assert "figures/rungs.png" in srcs and "figures/edf.png" in srcs, srcs
    broken = [i["src"] for i in images if not (i["complete"] and i["width"] > 0)]
    assert not broken, f"images that did not load: {broken}"
