"""The report and viewer in a real browser: headless Chromium driven through WebDriver.

Why selenium (the `test` extra) rather than the DevTools protocol by hand: WebDriver moves a
real pointer (the viewer reacts to `mousemove` exactly as for a person), reads the browser's
console log, and takes screenshots, with no websocket client of our own to maintain.
Debian's ``chromium`` and ``chromium-driver`` are one version, so no driver download is
needed (``.ci/run`` installs them when they are missing). The tests load each page from disk
(``file://``) with the network closed, fail on any console message of level SEVERE (script
errors, blocked loads), hover cells and compare what the page shows with ``anchorctl
explain``, and save screenshots under the pytest temporary folder (``ANCHORCTL_SCREENSHOTS``
names another folder to keep them).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support import ROOT, SAMPLES, run

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
)
DATA = ROOT / "tests" / "data" / "annotations"

if not (os.path.exists(CHROMIUM) and os.path.exists(DRIVER)):
    pytest.skip(
        "no Chromium here: install Debian's chromium and chromium-driver "
        "(apt-get install -y chromium chromium-driver; .ci/run does) to run the browser tests",
        allow_module_level=True,
    )

from selenium import webdriver  # noqa: E402 - after the skip: only needed with a browser
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def screenshots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("ANCHORCTL_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def load(browser: Any, page: Path) -> None:
    """Open ``page`` from disk; fail on any SEVERE console message (script errors included)."""
    browser.get_log("browser")  # drop what an earlier page left
    browser.get(page.resolve().as_uri())
    browser.execute_script("return document.readyState")
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, severe


def no_errors_since(browser: Any) -> None:
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, severe


# --- the report -----------------------------------------------------------------------------


def test_report_opens_offline_and_its_toggles_work(browser: Any, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    result = run("report", str(DATA / "coco.json"), "--preset", "ssd300", "--suggest",
                 "--image-root", str(SAMPLES), "-o", str(page))  # fmt: skip
    assert result.exit_code == 0, result.output
    load(browser, page)
    # every crop decoded (inline JPEG), every chart laid out
    sizes = browser.execute_script(
        "return Array.from(document.images).map(function (i) { return i.naturalWidth; })"
    )
    assert len(sizes) == 12 and all(w > 0 for w in sizes)
    charts = browser.find_elements(By.CSS_SELECTOR, "svg.chart")
    assert len(charts) >= 4 and all(c.size["width"] > 200 for c in charts)
    shown = "return Array.from(document.querySelectorAll('svg.scatter .L0'))" \
            ".filter(function (e) { return getComputedStyle(e).display !== 'none'; }).length"  # fmt: skip
    before = browser.execute_script(shown)
    assert before > 0
    browser.find_element(By.CSS_SELECTOR, 'input[data-layer="L0"]').click()
    assert browser.execute_script(shown) == 0
    browser.find_element(By.CSS_SELECTOR, 'input[data-layer="L0"]').click()
    assert browser.execute_script(shown) == before
    # hovering the scatter reads a width x height off the log axes
    scatter = browser.find_element(By.CSS_SELECTOR, "svg.scatter")
    ActionChains(browser).move_to_element(scatter).perform()
    assert browser.find_element(By.ID, "scatter-readout").text.startswith("w ")
    no_errors_since(browser)
    height = browser.execute_script("return document.body.scrollHeight")
    browser.set_window_size(1400, min(height + 100, 8000))
    assert browser.save_screenshot(str(screenshots(tmp_path) / "report.png"))
    browser.set_window_size(1400, 1000)


# --- the viewer -----------------------------------------------------------------------------


def hover_cell(browser: Any, level: int, row: int, col: int) -> dict[str, Any]:
    """Move the pointer over the middle of cell (row, col) of ``level`` (the only level
    ticked), and return what the page shows for it."""
    for box in browser.find_elements(By.CSS_SELECTOR, "#levels input[data-level]"):
        if box.is_selected() != (int(box.get_attribute("data-level")) == level):
            box.click()
    data = browser.execute_script("return window.anchorctlView.data")
    lv = next(v for v in data["levels"] if v["index"] == level)
    sx, sy = data["scale"]
    x = (col + 0.5) * lv["stride"][0] * sx  # image pixels
    y = (row + 0.5) * lv["stride"][1] * sy
    stage = browser.find_element(By.ID, "stage")
    rect = browser.execute_script("return arguments[0].getBoundingClientRect().toJSON()", stage)
    per_px = rect["width"] / data["image"]["width"]
    dx = x * per_px - rect["width"] / 2  # WebDriver offsets are from the element's centre
    dy = y * per_px - rect["height"] / 2
    ActionChains(browser).move_to_element_with_offset(stage, round(dx), round(dy)).perform()
    section = browser.find_element(By.CSS_SELECTOR, f'.cell-level[data-level="{level}"]')
    rows = browser.find_elements(By.CSS_SELECTOR, f'tr.slot-row[data-level="{level}"]')
    return {
        "cell": (int(section.get_attribute("data-row")), int(section.get_attribute("data-col"))),
        "text": section.text,
        "boxes": [json.loads(r.get_attribute("data-box")) for r in rows],
        "shown": [
            [float(v) for v in r.find_element(By.CSS_SELECTOR, "td.box").text.split(",")]
            for r in rows
        ],
        "anchors": len(
            browser.find_elements(By.CSS_SELECTOR, f'#anchors rect[data-level="{level}"]')
        ),
    }


def explain(*args: str) -> dict[str, Any]:
    result = run("explain", *args, "--format", "json")
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


VIEW_CASES = {
    # name: (image, view options, explain options (without --cell/--level), level, row, col)
    "mxnet-seed": ("cat.jpg", ("--sizes", "0.2,0.5", "--ratios", "1,4,0.25", "--feature-map", "4x4"),
                   ("--sizes", "0.2,0.5", "--ratios", "1,4,0.25", "--feature-map", "4x4",
                    "--input-size", "451x300"), 0, 1, 2),
    "ssd300": ("rocket.jpg", ("--preset", "ssd300"), ("--preset", "ssd300"), 1, 9, 4),
    "retinanet-p5": ("coffee.jpg", ("--preset", "retinanet", "--input-size", "640x448"),
                     ("--preset", "retinanet", "--input-size", "640x448"), 3, 2, 3),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(VIEW_CASES))
def test_hovering_a_cell_shows_anchorctls_anchors_for_it(
    browser: Any, tmp_path: Path, case: str
) -> None:
    image, options, explain_options, level, row, col = VIEW_CASES[case]
    page = tmp_path / f"{case}.html"
    result = run("view", str(SAMPLES / image), *options, "-o", str(page))
    assert result.exit_code == 0, result.output
    load(browser, page)
    shown = hover_cell(browser, level, row, col)
    no_errors_since(browser)
    assert shown["cell"] == (row, col)
    truth = explain(*explain_options, "--level", str(level), "--cell", f"{row},{col}")
    expected = truth["anchors_px"]
    assert len(shown["boxes"]) == len(expected) == shown["anchors"]
    for got, want, text in zip(shown["boxes"], expected, shown["shown"], strict=True):
        assert got == pytest.approx(want, rel=1e-6, abs=1e-4)  # float32 vs float64 print
        assert text == pytest.approx(want, abs=0.006)  # shown to 2 decimals
    cx, cy = truth["center_px"]
    sx, sy = truth["stride_px"]
    g = "{:g}".format
    assert f"centre ({g(round(cx, 2))}, {g(round(cy, 2))}) px" in shown["text"]
    assert f"stride {g(round(sx, 2))} x {g(round(sy, 2))} px" in shown["text"]
    browser.save_screenshot(str(screenshots(tmp_path) / f"view-{case}.png"))


def test_view_with_boxes_draws_them_numbered_with_best_anchors(
    browser: Any, tmp_path: Path
) -> None:
    page = tmp_path / "boxes.html"
    result = run("view", str(SAMPLES / "cat.jpg"), "--preset", "ssd300", "--boxes",
                 str(DATA / "coco.json"), "-o", str(page))  # fmt: skip
    assert result.exit_code == 0, result.output
    load(browser, page)
    truth = browser.find_elements(By.CSS_SELECTOR, "#truth rect")
    labels = [t.text for t in browser.find_elements(By.CSS_SELECTOR, "#truth text")]
    assert len(truth) == 8  # 4 boxes, each with its best anchor
    assert [label.split()[0] for label in labels] == ["#0", "#1", "#2", "#3"]
    dashed = [t for t in truth if t.get_attribute("stroke-dasharray")]
    assert len(dashed) == 4
    rows = browser.find_elements(By.CSS_SELECTOR, "#truth-list tr")
    assert len(rows) == 5 and "covered" in rows[1].text
    # pin a cell with a click, then the pointer leaves: the cell stays
    stage = browser.find_element(By.ID, "stage")
    ActionChains(browser).move_to_element(stage).click().perform()
    pinned = browser.find_element(By.CSS_SELECTOR, ".cell-level").get_attribute("data-row")
    ActionChains(browser).move_to_element_with_offset(stage, -150, -100).perform()
    assert browser.find_element(By.CSS_SELECTOR, ".cell-level").get_attribute("data-row") == pinned
    no_errors_since(browser)
    browser.save_screenshot(str(screenshots(tmp_path) / "view-boxes.png"))
