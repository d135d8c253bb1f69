"""The HTML pages without a browser: self-contained, their numbers, their size on COCO-sized data.

What a browser does with them (no script errors, hovering a cell) is in test_browser.py.
"""

from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from anchorctl.coverage import BoxCoverage, coverage_report
from anchorctl.iou import box_iou, grid_from_levels
from anchorctl.pages import report as pages
from anchorctl.pages import svg
from anchorctl.pages.page import json_script

from support import ROOT, SAMPLES, commands, run

DATA = ROOT / "tests" / "data" / "annotations"


class Links(HTMLParser):
    """Every URL-valued attribute, every tag, and the page's script and style text."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href", "xlink:href", "action", "poster", "srcset") and value:
                self.urls.append(value)


def assert_self_contained(html: str, pictures: bool = True) -> None:
    parser = Links()
    parser.feed(html)
    assert parser.urls or not pictures, "expected inline pictures"
    for url in parser.urls:
        assert url.startswith(("data:", "#")), url[:80]
    assert "link" not in parser.tags and "iframe" not in parser.tags
    assert not re.search(r"@import|url\(\s*['\"]?(https?:|//)", html)
    # the only http(s) text is SVG's namespace name, which nothing fetches
    assert set(re.findall(r"https?://[^\"' )<]+", html)) <= {"http://www.w3.org/2000/svg"}
    assert "default-src 'none'" in html  # and the page forbids loading anything else


@pytest.fixture(scope="module")
def report_html(tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("report") / "r.html"
    result = run("report", str(DATA / "coco.json"), "--preset", "ssd300", "--suggest",
                 "--image-root", str(SAMPLES), "-o", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    return out.read_text(encoding="utf-8")


def test_the_report_is_one_self_contained_file(report_html: str) -> None:
    assert_self_contained(report_html)
    assert report_html.count("data:image/jpeg;base64,") == 12  # a crop per worst box


def test_the_report_shows_what_coverage_computes(report_html: str) -> None:
    result = run("coverage", str(DATA / "coco.json"), "--preset", "ssd300", "--format", "json")
    data = json.loads(result.stdout)
    recall = data["recall"]["0.5"]
    assert f"{100 * recall:.1f}%" in report_html
    assert f"{data['mean_best_iou']:.3f}" in report_html
    for bucket in ("small", "medium", "large", "&lt;1/3", "2/3-3/2"):
        assert f"<td>{bucket}</td>" in report_html
    for section in ("shapes", "tables", "worst", "fit"):
        assert f'id="{section}"' in report_html
    # one diamond per anchor shape of every level: ssd300 has 4 + 6 + 6 + 6 + 4 + 4
    assert report_html.count('<path class="anc L') == 30
    assert report_html.count('<path class="region L') == 30
    # the suggestion is `anchorctl suggest --preset ssd300`'s: its 30 shapes per cell, fitted
    # inside SSD's scales and ratios per layer
    assert report_html.count('<path class="sug"') == 30
    suggested = json.loads(run("suggest", str(DATA / "coco.json"), "--preset", "ssd300",
                               "--sample", "50000", "--format", "json").stdout)  # fmt: skip
    assert suggested["options"].split(" --feature-map")[0] in html.unescape(report_html)
    assert f"{data['boxes']:,} boxes" in report_html
    assert "Plotted: all 18 boxes." in report_html


def headline_recall(html: str) -> str:
    match = re.search(r"<b>([0-9.]+%)</b><span>recall at IoU 0.5 \(position-aware\)", html)
    assert match, "no headline recall"
    return match.group(1)


@pytest.mark.parametrize(("resize", "said"), [
    ((), "letterbox (as yolov5 trains; --resize to change)"),
    (("--resize", "stretch"), "resize stretch ·"),
])  # fmt: skip
def test_report_resizes_the_boxes_as_coverage_does(
    tmp_path: Path, resize: tuple[str, ...], said: str
) -> None:
    # YOLOv5 trains on letterboxed images: its recall here differs from a stretched input's,
    # so the page's figure says which resize it used.
    out = tmp_path / "r.html"
    args = (str(DATA / "coco.json"), "--preset", "yolov5", *resize)
    assert run("report", *args, "-o", str(out)).exit_code == 0
    data = json.loads(run("coverage", *args, "--format", "json").stdout)
    html = out.read_text(encoding="utf-8")
    assert said in html
    assert headline_recall(html) == f"{100 * data['recall']['0.5']:.1f}%"


def test_report_and_coverage_take_the_same_data_set_options() -> None:
    import click

    def flags(name: str) -> set[str]:
        command = commands()[name]
        return {o for p in command.get_params(click.Context(command)) for o in p.opts}

    # coverage's own: its thresholds, CI gate, output format and shard reports
    shared = flags("coverage") - {"--thresholds", "--fail-under", "--format", "--merge"}
    assert shared <= flags("report")


def test_report_takes_coverage_s_anchor_t(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    args = (str(DATA / "coco.json"), "--preset", "yolov5", "--anchor-t", "1.5")
    assert run("report", *args, "-o", str(out)).exit_code == 0
    data = json.loads(run("coverage", *args, "--format", "json").stdout)
    assert data["bpr"] < 1.0  # a strict threshold: some boxes fail YOLO's ratio test
    page = out.read_text(encoding="utf-8")
    assert f"<b>{100 * data['bpr']:.1f}%</b><span>BPR (YOLO, thr 1.5)" in page


def test_report_refuses_to_overwrite_its_input(tmp_path: Path) -> None:
    target = tmp_path / "coco.json"
    target.write_bytes((DATA / "coco.json").read_bytes())
    result = run("report", str(target), "--preset", "ssd300", "-o", str(target))
    # The same refusal, in the same words, as draw's and list's (anchorctl.atomic.check_target)
    assert result.exit_code == 1, result.stderr
    assert result.stderr == (
        f"anchorctl: error: refusing to overwrite the input {str(target)!r}; choose another "
        "output\n"
    )
    assert target.read_bytes() == (DATA / "coco.json").read_bytes()


def test_report_needs_an_output() -> None:
    result = run("report", str(DATA / "coco.json"), "--preset", "ssd300")
    assert result.exit_code == 2 and "-o" in result.stderr


def test_view_page_is_self_contained_and_carries_anchorctls_numbers(tmp_path: Path) -> None:
    out = tmp_path / "v.html"
    result = run("view", str(SAMPLES / "cat.jpg"), "--preset", "ssd300", "--boxes",
                 str(DATA / "coco.json"), "-o", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert_self_contained(html)
    data = json.loads(re.search(r'id="view-data">(.*?)</script>', html, re.S).group(1))  # type: ignore[union-attr]
    assert data["input"] == [300, 300] and data["image"]["width"] == 451
    assert len(data["levels"]) == 6 and len(data["boxes"]) == 4
    # every anchor the page can show is the generated one, bit for bit
    from anchorctl import conventions
    from anchorctl.presets import load_preset

    preset = load_preset("ssd300", None)
    module = conventions.load(preset.config.convention)
    levels = module.generate(preset.config.params)
    for lv, level in zip(data["levels"], levels, strict=True):
        arr = level.array.astype(np.float64).reshape(*level.feature_map, level.per_cell, 4)
        x0 = np.array(lv["x0"])  # (k, cols)
        y1 = np.array(lv["y1"])  # (k, rows)
        assert np.array_equal(arr[0, :, :, 0].T, x0)
        assert np.array_equal(arr[:, 0, :, 3].T, y1)


# --- the report's numbers -------------------------------------------------------------------


@pytest.mark.parametrize(("w", "h", "t"), [(32.0, 32.0, 0.5), (90.5, 45.25, 0.7), (10, 300, 0.3)])
def test_iou_region_is_the_outline_of_centred_iou_t(w: float, h: float, t: float) -> None:
    outline = pages.iou_region(w, h, t, steps=64)

    def centred(bw: np.ndarray, bh: np.ndarray) -> np.ndarray:
        boxes = np.stack([-bw / 2, -bh / 2, bw / 2, bh / 2], axis=1)
        return box_iou(boxes, np.array([[-w / 2, -h / 2, w / 2, h / 2]]))[:, 0]

    on = centred(outline[:, 0], outline[:, 1])
    np.testing.assert_allclose(on, t, atol=1e-6)
    inward = centred(
        outline[:, 0] * (w / outline[:, 0]) ** 0.05, outline[:, 1] * (h / outline[:, 1]) ** 0.05
    )
    assert (inward > t).all()


def test_recall_curve_is_the_share_at_or_above_each_threshold() -> None:
    rng = np.random.default_rng(1)
    best = np.round(rng.uniform(0, 1, 500), 2)
    grid = np.linspace(0, 1, 21)
    expected = [(best >= t).mean() for t in grid]
    np.testing.assert_allclose(pages.recall_curve(best, grid), expected)


def test_sample_is_seeded_sorted_and_bounded() -> None:
    a = pages.sample(860_000, 20_000, seed=3)
    assert len(a) == 20_000 and len(np.unique(a)) == 20_000 and (np.diff(a) > 0).all()
    assert np.array_equal(a, pages.sample(860_000, 20_000, seed=3))
    assert not np.array_equal(a, pages.sample(860_000, 20_000, seed=4))
    assert np.array_equal(pages.sample(50, 20_000), np.arange(50))


def test_log_ticks_and_linear_ticks() -> None:
    assert svg.ticks(3, 700, log=True) == [5, 10, 20, 50, 100, 200, 500]
    assert svg.ticks(0.5, 50_000, log=True) == [1, 10, 100, 1000, 10_000]
    assert svg.ticks(0, 1) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]


def test_json_embedded_in_a_page_cannot_close_its_script() -> None:
    text = json_script("x", {"name": "</script><script>alert(1)</script> & more"})
    assert text.count("</script>") == 1 and "\\u003c/script" in text
    payload = text.split(">", 1)[1].rsplit("</script>", 1)[0]
    assert json.loads(payload)["name"].startswith("</script>")


# --- COCO-sized data: at most 20k points plotted, the file at most 3 MB ---------------------


def synthetic_coverage(n: int, seed: int = 0) -> tuple[np.ndarray, BoxCoverage, dict[str, object]]:
    """``n`` boxes shaped like COCO's (log-normal sizes in a 300x300 input) with per-box
    coverage numbers as measure() returns them; the page's size depends on these arrays'
    length, not on how they were computed (the benchmark measures the whole pipeline)."""
    rng = np.random.default_rng(seed)
    w = np.exp(rng.normal(3.5, 0.9, n)).clip(2, 299)
    h = (w * np.exp(rng.normal(0, 0.5, n))).clip(2, 299)
    x0, y0 = rng.uniform(0, 300 - w), rng.uniform(0, 300 - h)
    boxes = np.stack([x0, y0, x0 + w, y0 + h], axis=1)
    best = rng.beta(5, 3, n)
    level = rng.integers(0, 6, n)
    anchor = boxes + rng.normal(0, 3, (n, 4))
    cov = BoxCoverage(
        thresholds=(0.3, 0.5, 0.7), yolo_thr=4.0, best_iou=best,
        best_index=np.arange(n), above=np.zeros((n, 3), dtype=np.int64), level=level,
        row=np.zeros(n, dtype=np.int64), col=np.zeros(n, dtype=np.int64),
        slot=np.zeros(n, dtype=np.int64), anchor=anchor, shape_iou=np.minimum(1, best + 0.1),
        shape_index=np.zeros(n, dtype=np.int64), ratio_best=np.full(n, 0.5),
        ratio_count=np.ones(n, dtype=np.int64),
    )  # fmt: skip
    summary = coverage_report(boxes, (300, 300), None, (0.3, 0.5, 0.7), measured=cov, worst=12)  # type: ignore[arg-type]
    return boxes, cov, summary


def ssd_shapes() -> list[pages.AnchorShape]:
    from anchorctl import conventions
    from anchorctl.presets import load_preset

    preset = load_preset("ssd300", None)
    module = conventions.load(preset.config.convention)
    grid = grid_from_levels(module.generate(preset.config.params), module.RULES, (300, 300))
    wh, level, slot = grid.shapes()
    return [pages.AnchorShape(int(lv), int(s), float(a), float(b))
            for (a, b), lv, s in zip(wh.tolist(), level.tolist(), slot.tolist(), strict=True)]  # fmt: skip


def test_a_coco_sized_report_plots_20k_points_and_stays_under_3_mb() -> None:
    n = 860_000
    boxes, cov, summary = synthetic_coverage(n)
    html = pages.build_report(summary, boxes, cov, ssd_shapes(), title="860k boxes")
    size = len(html.encode("utf-8"))
    assert size <= 3 * 1024 * 1024, size
    assert "Plotted: 20,000 of 860,000 boxes (a uniform random sample, seed 0)" in html
    dots = sum(d.count("h0") for d in re.findall(r'<path class="ok [^"]*" d="([^"]*)"', html))
    crosses = sum(
        d.count("m0 -") for d in re.findall(r'<path class="miss [^"]*" d="([^"]*)"', html)
    )
    assert dots + crosses == 20_000
    assert_self_contained(html, pictures=False)


def test_a_small_report_plots_every_box() -> None:
    boxes, cov, summary = synthetic_coverage(300)
    html = pages.build_report(summary, boxes, cov, ssd_shapes(), title="small")
    dots = sum(d.count("h0") for d in re.findall(r'<path class="ok [^"]*" d="([^"]*)"', html))
    crosses = sum(
        d.count("m0 -") for d in re.findall(r'<path class="miss [^"]*" d="([^"]*)"', html)
    )
    assert dots + crosses == 300 and "Plotted: all 300 boxes." in html


# --- the commands: light imports, one-line errors -------------------------------------------


PROBE = """
import json, sys
from anchorctl.cli import cli
try:
    cli.main(args=sys.argv[1:], prog_name="anchorctl")
except SystemExit:
    pass
print(json.dumps([m for m in ("numpy", "PIL", "rich") if m in sys.modules]), file=sys.stderr)
"""


@pytest.mark.parametrize("command", ["report", "view"])
def test_help_of_the_page_commands_loads_neither_pillow_nor_rich(command: str) -> None:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", PROBE, command, "--help"], capture_output=True,
                          text=True, cwd=ROOT)  # fmt: skip
    assert set(json.loads(proc.stderr.strip().splitlines()[-1])) == {"numpy"}
    assert "Examples:" in proc.stdout


def test_view_of_an_unreadable_image_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "notes.jpg"
    bad.write_text("not a picture\n")
    result = run("view", str(bad), "--preset", "ssd300", "-o", str(tmp_path / "v.html"))
    assert result.exit_code == 1 and len(result.stderr.splitlines()) == 1
    assert "Traceback" not in result.output and not (tmp_path / "v.html").exists()


def test_view_boxes_for_another_image_is_one_line(tmp_path: Path) -> None:
    other = tmp_path / "other.png"
    from PIL import Image

    Image.new("RGB", (64, 48)).save(other)
    result = run("view", str(other), "--preset", "ssd300", "--boxes", str(DATA / "coco.json"),
                 "-o", str(tmp_path / "v.html"))  # fmt: skip
    assert result.exit_code == 1 and "no boxes for this image" in result.stderr


def test_view_refuses_a_level_that_does_not_exist(tmp_path: Path) -> None:
    result = run("view", str(SAMPLES / "cat.jpg"), "--preset", "ssd300", "--level", "9",
                 "-o", str(tmp_path / "v.html"))  # fmt: skip
    assert result.exit_code == 2 and "level 9 does not exist" in result.stderr


def test_view_of_one_level_embeds_only_that_level(tmp_path: Path) -> None:
    out = tmp_path / "v.html"
    result = run("view", str(SAMPLES / "coffee.jpg"), "--preset", "retinanet", "--level", "2",
                 "-o", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    data = json.loads(re.search(r'id="view-data">(.*?)</script>', html, re.S).group(1))  # type: ignore[union-attr]
    assert [lv["index"] for lv in data["levels"]] == [2]


def test_a_level_that_is_not_a_grid_is_embedded_whole() -> None:
    from anchorctl.conventions import mxnet
    from anchorctl.conventions.base import Level
    from anchorctl.pages.viewer import level_data

    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 50, (2 * 3 * 2, 2)).astype(np.float32)
    anchors = np.concatenate([xy, xy + 10], axis=1)  # (rows*cols*k, 4), no grid structure
    level = Level((2, 3), (20.0, 20.0), (10.0, 10.0), mxnet.generate(
        {"feature_maps": [(1, 1)], "sizes": [(0.2, 0.5)], "ratios": [(1.0,)]})[0].shapes,
        anchors, normalized=False)  # fmt: skip
    grid = grid_from_levels([level], mxnet.RULES, (60, 40))
    assert not grid.levels[0].separable
    data = level_data(level, 0, mxnet.RULES, grid)
    assert data["separable"] is False and "x0" not in data
    assert data["anchors"] == anchors.astype(np.float64).reshape(-1).tolist()
