"""`anchorctl count`: per-level arithmetic and --expect for CI jobs."""

from __future__ import annotations

import json
from pathlib import Path

from support import run


def test_count_preset_json() -> None:
    data = json.loads(run("count", "--preset", "mxnet-ssd300", "--format", "json").stdout)
    assert data["total"] == 8732 and data["preset"] == "mxnet-ssd300"
    assert [lv["feature_map"] for lv in data["levels"]] == [
        [38, 38],
        [19, 19],
        [10, 10],
        [5, 5],
        [3, 3],
        [1, 1],
    ]
    assert [lv["per_cell"] for lv in data["levels"]] == [4, 6, 6, 6, 4, 4]
    assert [lv["count"] for lv in data["levels"]] == [5776, 2166, 600, 150, 36, 4]
    assert [lv["first_index"] for lv in data["levels"]] == [0, 5776, 7942, 8542, 8692, 8728]


def test_expect_passes_and_fails_with_the_table() -> None:
    ok = run("count", "--preset", "mxnet-ssd300", "--expect", "8732")
    assert ok.exit_code == 0 and "38 x 38 x 4 = 5,776" in ok.stdout
    bad = run("count", "--preset", "mxnet-ssd300", "--expect", "6792")
    assert bad.exit_code == 1
    assert "38 x 38 x 4 = 5,776" in bad.stdout  # the per-level table, to find the culprit
    assert (
        bad.stderr.strip()
        == "anchorctl: expected 6,792 anchors, got 8,732 (1,940 more); see the per-level table"
    )


def test_count_from_options_and_config(tmp_path: Path) -> None:
    data = json.loads(run("count", "--sizes", "0.2,0.5", "--ratios", "1,4,0.25", "--feature-map",
                          "16x16", "--format", "json").stdout)  # fmt: skip
    assert data["total"] == 16 * 16 * 4 and data["convention"] == "mxnet"
    config = tmp_path / "c.toml"
    config.write_text(run("presets", "show", "mxnet-ssd300").stdout)
    again = json.loads(run("count", "--config", str(config), "--format", "json").stdout)
    assert again["total"] == 8732


def test_sources_cannot_be_mixed(tmp_path: Path) -> None:
    mixed = run("count", "--preset", "mxnet-ssd300", "--sizes", "0.2")
    assert mixed.exit_code == 2 and "--sizes cannot be combined with --preset" in mixed.stderr
    both = run("count", "--preset", "mxnet-ssd300", "--config", str(tmp_path / "x.toml"))
    assert both.exit_code == 2 and "not both" in both.stderr
    missing = run("count", "--config", str(tmp_path / "x.toml"))
    assert missing.exit_code == 1 and "no such file" in missing.stderr
