"""TOML configs: the round trip, and one-line errors that name the file, the key and the form."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from anchorctl import conventions
from anchorctl.configs import load_config
from anchorctl.configs.toml import Config, config_from_mapping, dump_config
from anchorctl.errors import AnchorError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "anchors.toml"
    path.write_text(text)
    return path


TWO_LEVELS = """
convention = "mxnet"
image_size = [640, 480]
ratios = [1, 2, 0.5]

[[levels]]
feature_map = [4, 4]
sizes = [0.2, 0.3]

[[levels]]
feature_map = [2, 2]
sizes = [0.6]
"""


def test_levels_and_shared_options(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, TWO_LEVELS))
    assert config.convention == "mxnet"
    assert config.params["feature_maps"] == [(4, 4), (2, 2)]
    assert config.params["sizes"] == [(0.2, 0.3), (0.6,)]
    assert config.params["ratios"] == [(1.0, 2.0, 0.5)]
    assert config.params["image_size"] == (640, 480)
    levels = conventions.load("mxnet").generate(config.params)
    assert [lv.count for lv in levels] == [4 * 4 * 4, 2 * 2 * 3]


def test_dump_reads_back_to_the_same_anchors(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, TWO_LEVELS))
    again = load_config(write(tmp_path, dump_config(config, ["a comment"])))
    first = conventions.load("mxnet").generate(config.params)
    second = conventions.load("mxnet").generate(again.params)
    for a, b in zip(first, second, strict=True):
        assert a.array.tobytes() == b.array.tobytes()


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('convention = "caffe"\n[[levels]]\nfeature_map = [2, 2]\n', "key 'convention': 'caffe'"),
        ("[[levels]]\nfeature_map = [2]\n", "levels[0].feature_map: expected [rows, cols]"),
        ("[[levels]]\nsizes = [0.2]\n", "key 'feature_map' is missing"),
        ("sizes = [0.2]\n", "needs one or more [[levels]]"),
        ("[[levels]]\nfeature_map = [2, 2]\nsizes = ['a']\n", "levels[0].sizes: expected a list of numbers"),
        ("[[levels]]\nfeature_map = [2, 2]\nflip = true\n", "key 'flip' is not read by the mxnet convention"),
        ("clip = 1\n[[levels]]\nfeature_map = [2, 2]\n", "key 'clip': expected true or false"),
        ("sizes = [0.2]\n[[levels]]\nfeature_map = [2, 2]\nsizes = [0.3]\n", "also set at the top"),
        ("[[levels]]\nfeature_map = [2, 2]\nsizes = [0.3]\n[[levels]]\nfeature_map = [1, 1]\n",
         "'sizes' is set in 1 of 2 levels"),
        ("[[levels]]\nfeature_map = [2, 2]\nclip = true\n", "applies to every level"),
        ("image_size = [0, 3]\n[[levels]]\nfeature_map = [2, 2]\n", "key 'image_size'"),
        ("this is = not toml", "not valid TOML"),
    ],
)  # fmt: skip
def test_bad_configs_name_the_file_and_key(tmp_path: Path, text: str, needle: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(AnchorError) as info:
        load_config(path)
    message = str(info.value)
    assert needle in message and str(path) in message and "\n" not in message


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(AnchorError, match="no such file"):
        load_config(tmp_path / "nope.toml")


def test_values_a_convention_refuses_are_refused(tmp_path: Path) -> None:
    config = config_from_mapping({"levels": [{"feature_map": [2, 2], "sizes": [-1.0]}]})
    with pytest.raises(AnchorError, match="sizes: -1 is not a positive"):
        conventions.load("mxnet").generate(config.params)


def test_config_is_a_frozen_record() -> None:
    config = Config("mxnet", {"feature_maps": [(1, 1)]})
    assert config.feature_maps == [(1, 1)]
    assert np.array_equal(
        conventions.load("mxnet").generate(config.params)[0].array,
        np.array([[0.0, 0.0, 1.0, 1.0]], np.float32),
    )
