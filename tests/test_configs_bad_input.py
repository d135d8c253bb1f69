"""Bad and hostile framework configs: one line naming the file and the key or line, exit 1 or
2, nothing executed (payloads that would create a file if run leave no file), nothing written.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from anchorctl.configs import reading

from support import run


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in folder.rglob("*")
    }


def refused(tmp_path: Path, files: dict[str, str], *args: str) -> str:
    """Write ``files``, run ``count --config`` on the first, assert a clean refusal."""
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    before = snapshot(tmp_path)
    config = tmp_path / next(iter(files))
    result = run("count", "--config", str(config), *args)
    assert result.exit_code in (1, 2), result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert snapshot(tmp_path) == before  # nothing written
    return lines[0]


# -- 9.6: no anchors, levels that do not match, unknown generators -----------------------------

MMDET_FCOS = """model = dict(type='FCOS', neck=dict(type='FPN', num_outs=5),
    bbox_head=dict(type='FCOSHead', num_classes=80, strides=[8, 16, 32, 64, 128]))
"""


def mmdet_model(generator: str, neck: str = "dict(type='FPN', num_outs=5)") -> str:
    return (
        f"model = dict(type='RetinaNet', neck={neck},\n"
        f"    bbox_head=dict(type='RetinaHead',\n        anchor_generator={generator}))\n"
        "test_pipeline = [dict(type='Resize', scale=(640, 480), keep_ratio=True)]\n"
    )


RETINA_GEN = (
    "dict(type='AnchorGenerator', octave_base_scale=4, scales_per_octave=3, "
    "ratios=[0.5, 1.0, 2.0], strides=[8, 16, 32, 64, 128])"
)
YOLO_HEAD = "head:\n  [[-1, 1, Conv, [256, 3, 2]],\n   [[-1, 0], 1, Detect, [nc, anchors]]]\n"
YOLO_BACKBONE = (
    "backbone:\n  [[-1, 1, Conv, [64, 3, 2]],\n   [-1, 1, Conv, [128, 3, 2]],\n"
    "   [-1, 1, Conv, [256, 3, 2]]]\n"
)
D2_RETINA = """MODEL:
  META_ARCHITECTURE: "RetinaNet"
  BACKBONE: {NAME: "build_retinanet_resnet_fpn_backbone"}
  ANCHOR_GENERATOR:
"""
TF_SSD = """model {{
  ssd {{
    image_resizer {{ fixed_shape_resizer {{ height: 300 width: 300 }} }}
    feature_extractor {{ type: "{extractor}" {fpn} }}
    anchor_generator {{
      {generator}
    }}
  }}
}}
"""
SSD_GEN = "ssd_anchor_generator { num_layers: %d aspect_ratios: [1.0, 2.0, 0.5] }"


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        # a config without anchors
        ({"fcos.py": MMDET_FCOS}, ["fcos.py", "no anchor_generator", "anchor-free"]),
        (
            {"points.py": mmdet_model("dict(type='MlvlPointGenerator', strides=[8, 16])")},
            ["points.py", "model.bbox_head.anchor_generator.type", "anchor-free"],
        ),
        ({"v8.yaml": "nc: 80\n" + YOLO_BACKBONE}, ["v8.yaml", "no key 'anchors'"]),
        (
            {"scratch.yaml": "nc: 80\nanchors: 3\n" + YOLO_BACKBONE + YOLO_HEAD},
            ["scratch.yaml", "key 'anchors' is 3, a count", "AutoAnchor", "anchorctl suggest"],
        ),
        (
            {"seg.yaml": 'MODEL:\n  META_ARCHITECTURE: "SemanticSegmentor"\n'},
            ["seg.yaml", "MODEL.META_ARCHITECTURE 'SemanticSegmentor'"],
        ),
        (
            {"pre.yaml": "MODEL:\n  PROPOSAL_GENERATOR: {NAME: PrecomputedProposals}\n"},
            ["pre.yaml", "MODEL.PROPOSAL_GENERATOR.NAME 'PrecomputedProposals'", "no anchors"],
        ),
        (
            {"cn.config": "model { center_net { num_classes: 90 } }\n"},
            ["cn.config", "center_net", "anchor-free"],
        ),
        (
            {"noanchor.config": "model { ssd { num_classes: 90 } }\n"},
            ["noanchor.config", "no model.ssd.anchor_generator block"],
        ),
        # levels that do not match the feature maps
        (
            {"neck.py": mmdet_model(RETINA_GEN, "dict(type='FPN', num_outs=4)")},
            ["neck.py", "strides has 5 levels", "model.neck (FPN) makes 4 feature maps"],
        ),
        (
            {
                "bases.py": mmdet_model(
                    "dict(type='AnchorGenerator', scales=[8], ratios=[1.0], "
                    "strides=[8, 16, 32, 64, 128], base_sizes=[8, 16, 32])"
                )
            },
            ["bases.py", "anchor_generator.base_sizes has 3 entries", "5 levels"],
        ),
        (
            {
                "ssd.py": "model = dict(bbox_head=dict(anchor_generator=dict("
                "type='SSDAnchorGenerator', input_size=300, strides=[8, 16, 32, 64, 100, 300], "
                "ratios=[[2], [2, 3], [2, 3], [2], [2]])))\n"
            },
            ["ssd.py", "anchor_generator.ratios has 5 entries", "6 levels"],
        ),
        (
            {"rows.yaml": "nc: 80\nanchors:\n  - [10,13, 16,30]\n" + YOLO_BACKBONE + YOLO_HEAD},
            ["rows.yaml", "key 'anchors' has 1 rows", "reads 2 feature maps"],
        ),
        (
            {"sizes.yaml": D2_RETINA + "    SIZES: [[32], [64], [128], [256]]\n"},
            [
                "sizes.yaml",
                "MODEL.ANCHOR_GENERATOR.SIZES has 4 lists",
                "MODEL.RETINANET.IN_FEATURES has 5 features",
            ],
        ),
        (
            {
                "layers.config": TF_SSD.format(
                    extractor="ssd_mobilenet_v1", fpn="", generator=SSD_GEN % 5
                )
            },
            ["layers.config:", "num_layers is 5", "makes 6 feature maps"],
        ),
        (
            {
                "levels.config": TF_SSD.format(
                    extractor="ssd_resnet50_v1_fpn",
                    fpn="fpn { min_level: 3 max_level: 7 }",
                    generator="multiscale_anchor_generator { min_level: 3 max_level: 6 "
                    "aspect_ratios: 1.0 }",
                )
            },
            ["levels.config:", "levels 3..6 (4)", "makes 5 feature maps"],
        ),
        # unknown generator types
        (
            {"fancy.py": mmdet_model("dict(type='FancyAnchorGenerator', strides=[8])")},
            ["fancy.py", "anchor_generator.type 'FancyAnchorGenerator'", "unknown"],
        ),
        (
            {"fancy.yaml": D2_RETINA + "    NAME: FancyAnchorGenerator\n"},
            ["fancy.yaml", "MODEL.ANCHOR_GENERATOR.NAME 'FancyAnchorGenerator'", "unknown"],
        ),
        (
            {
                "fancy.config": TF_SSD.format(
                    extractor="ssd_mobilenet_v1", fpn="", generator="fancy_anchor_generator { }"
                )
            },
            ["fancy.config:6:", "fancy_anchor_generator: unknown anchor generator"],
        ),
        (
            {"arg.py": mmdet_model(RETINA_GEN.replace("strides=", "stride_list=[1], strides="))},
            ["arg.py", "anchor_generator.stride_list is not an argument of AnchorGenerator"],
        ),
        (
            {
                "unknown_extractor.config": TF_SSD.format(
                    extractor="ssd_my_own_net", fpn="", generator=SSD_GEN % 6
                )
            },
            ["unknown_extractor.config", "'ssd_my_own_net'", "cannot derive its feature maps"],
        ),
        # values the convention refuses, named with the file and the key
        (
            {"ratio.py": mmdet_model(RETINA_GEN.replace("0.5, 1.0", "-0.5, 1.0"))},
            ["ratio.py", "model.bbox_head.anchor_generator", "-0.5 is not a positive"],
        ),
    ],
    ids=lambda v: next(iter(v)) if isinstance(v, dict) else None,
)
def test_bad_configs_get_one_line_naming_file_and_key(
    tmp_path: Path, files: dict[str, str], expected: list[str]
) -> None:
    line = refused(tmp_path, files)
    for part in expected:
        assert part in line


# -- code inside a config is never run ---------------------------------------------------------

PAYLOADS_PY = [
    "model = dict(a=__import__('os').system('touch {marker}'))",
    "import os\nos.system('touch {marker}')",
    "from mmengine.config import read_base\nwith read_base():\n    from .base import *",
    "x = open('{marker}', 'w')",
    "x = exec(\"open('{marker}', 'w')\")",
    "x = (lambda: open('{marker}', 'w'))()",
    "x = [c for c in ().__class__.__base__.__subclasses__()]",
    "x = (y := open('{marker}', 'w'))",
    "x = f\"{{open('{marker}', 'w')}}\"",
    "class A:\n    x = open('{marker}', 'w')",
    "for i in [1]:\n    open('{marker}', 'w')",
    "if True:\n    open('{marker}', 'w')",
    "def f():\n    pass",
    "model = dict(type=eval(\"open('{marker}', 'w')\"))",
    "model = dict(x=dict.fromkeys(open('{marker}', 'w')))",
    "x = {{}}.__class__",
    "x = 1\nx.real = open('{marker}', 'w')",
]
PAYLOADS_YAML = [
    "MODEL:\n  X: !!python/object/apply:os.system ['touch {marker}']",
    "MODEL:\n  X: !!python/object/new:subprocess.Popen [['touch', '{marker}']]",
    "MODEL:\n  X: !!python/name:os.system",
    "MODEL:\n  X: !!python/module:os",
    "MODEL:\n  X: !!python/object:builtins.dict {{}}",
    "MODEL:\n  ANCHOR_GENERATOR:\n    SIZES: !!python/object/apply:eval [\"open('{marker}', 'w')\"]",
    'MODEL:\n  ANCHOR_GENERATOR:\n    SIZES: !!python/object/apply:eval ["[x for x in ().__class__.__bases__]"]',
    "MODEL:\n  ANCHOR_GENERATOR:\n    SIZES: !!python/object/apply:eval [\"__import__('os').system('touch {marker}')\"]",
    "anchors: !!python/object/apply:os.system ['touch {marker}']\nbackbone: []\n",
    "MODEL:\n  X: !custom 3",
]


@pytest.mark.parametrize("payload", PAYLOADS_PY)
def test_python_configs_are_never_executed(tmp_path: Path, payload: str) -> None:
    marker = tmp_path / "PWNED"
    line = refused(tmp_path, {"evil.py": payload.format(marker=marker) + "\n"})
    assert not marker.exists()
    assert line.startswith("anchorctl: error: ")
    assert str(tmp_path / "evil.py") + ":" in line  # file and line
    assert "not allowed in a config" in line or "not assigned earlier" in line


@pytest.mark.parametrize("payload", PAYLOADS_YAML)
def test_yaml_python_tags_are_never_executed(tmp_path: Path, payload: str) -> None:
    marker = tmp_path / "PWNED"
    line = refused(tmp_path, {"evil.yaml": payload.format(marker=marker) + "\n"})
    assert not marker.exists()
    assert str(tmp_path / "evil.yaml") + ":" in line
    assert "nothing was run" in line or "unknown YAML tag" in line


def test_read_base_configs_get_a_hint(tmp_path: Path) -> None:
    line = refused(tmp_path, {"new.py": PAYLOADS_PY[2]})
    assert "new.py:1: an import" in line
    assert "read_base" in line
    lazy = "from detectron2.config import LazyCall as L\nmodel = L(dict)(x=1)\n"
    line = refused(tmp_path, {"lazy.py": lazy})
    assert "lazy.py:1: an import" in line
    assert "Detectron2 LazyConfig" in line


# -- bounded reading -----------------------------------------------------------------------------


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
@pytest.mark.parametrize("fmt", [None, "toml", "yolo", "mmdet", "detectron2", "tf"])
def test_endless_devices_are_refused(device: str, fmt: str | None) -> None:
    args = ["count", "--config", device] + (["--config-format", fmt] if fmt else [])
    result = run(*args)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"anchorctl: error: config '{device}': larger than 1 MiB; a config file is a few KiB, "
        "is this the right file?"
    )


def test_an_endless_fifo_is_cut_at_the_cap(tmp_path: Path) -> None:
    fifo = tmp_path / "endless.yaml"
    os.mkfifo(fifo)
    written = [0]

    def feed() -> None:
        try:
            with open(fifo, "wb") as handle:
                chunk = b"MODEL: {}\n" * 6554  # 64 KiB of valid YAML, forever
                while written[0] < 64 * reading.MAX_BYTES:
                    handle.write(chunk)
                    written[0] += len(chunk)
        except BrokenPipeError:
            pass

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    result = run("count", "--config", str(fifo))
    writer.join(timeout=30)
    assert result.exit_code == 1
    assert "larger than 1 MiB" in result.stderr
    assert written[0] < 4 * reading.MAX_BYTES  # the reader stopped, the writer was cut off


def test_a_large_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    big = tmp_path / "big.py"
    with open(big, "wb") as handle:
        handle.truncate(3 * reading.MAX_BYTES)
    result = run("count", "--config", str(big))
    assert result.exit_code == 1
    assert f"({3 * reading.MAX_BYTES:,} bytes)" in result.stderr


def test_too_many_values_are_refused_before_parsing(tmp_path: Path) -> None:
    numbers = ", ".join(["1"] * (reading.MAX_WORDS + 10))
    line = refused(tmp_path, {"many.py": f"x = [{numbers}]\n"})
    assert f"a config has at most {reading.MAX_WORDS:,}" in line


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("deep.py", "x = " + "[" * 300 + "]" * 300 + "\n", "too many nested parentheses"),
        ("deep2.py", "x = " + "[" * 90 + "]" * 90 + "\n", "nest more than 64 levels"),
        ("deep3.py", "x = " + "1 + " * 150 + "1\n", "nested more than 100 levels"),
        ("deep4.py", "x = " + "1 + " * 5000 + "1\n", "nest too deeply"),
        ("deep.yaml", "MODEL: " + "[" * 90 + "]" * 90 + "\n", "nest more than 64 levels"),
        ("deep.config", "model { " + "a { " * 100 + "}" * 101 + "\n", "more than 64 levels"),
        ("power.py", "x = 10 ** 10 ** 10\n", "too large a number"),
        ("product.py", "x = 10 ** 2000\ny = x * x * x\n", "too large a number"),
        ("repeat.py", "x = 'a' * 10 ** 9\n", "longer than 100,000"),
        ("lists.py", "a = [1] * 1000\nb = [a] * 1000\n", "more than 200,000 values"),
        (
            "shared.py",
            "a = [1, 2, 3, 4, 5, 6, 7, 8]\n"
            + "".join(
                f"{n} = [{p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}]\n"
                for p, n in zip("abcdefghi", "bcdefghij", strict=True)
            ),
            "more than 200,000 values",
        ),
        (
            "comprehension.py",
            "a = [1] * 1000\nx = [[i, j] for i in a for j in a]\n",
            "more than 200,000 values",
        ),
        ("zero.py", "x = 1 / 0\n", "division by zero"),
        ("name.py", "model = dict(x=undefined)\n", "name 'undefined' is not assigned earlier"),
        ("syntax.py", "model = dict(\n", "not valid Python"),
        ("syntax.yaml", "MODEL: [1, 2\n", "not valid YAML"),
        ("syntax.config", "model { ssd { num_layers: } }\n", "expected a value"),
        ("nul.py", "x = 1\x00\n", "NUL"),
        ("recursive.yaml", "a: &a [*a]\nMODEL: {}\n", "a recursive alias"),
    ],
)
def test_hostile_values_are_refused(tmp_path: Path, name: str, text: str, expected: str) -> None:
    line = refused(tmp_path, {name: text})
    assert expected in line
    assert name in line


def billion_laughs() -> str:
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    lines.append("MODEL: {ANCHOR_GENERATOR: {SIZES: *i}}")
    return "\n".join(lines) + "\n"


def merge_key_laughs() -> str:
    lines = ["a: &a {x1: 1, x2: 2, x3: 3, x4: 4, x5: 5, x6: 6, x7: 7, x8: 8, x9: 9}"]
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} {{<<: [" + ", ".join([f"*{prev}"] * 9) + "]}")
    lines.append("MODEL: {X: *i}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("text", [billion_laughs(), merge_key_laughs()], ids=["lists", "merge"])
def test_alias_bombs_are_refused(tmp_path: Path, text: str) -> None:
    line = refused(tmp_path, {"laughs.yaml": text})
    assert "expands to more than 200,000 values" in line


def test_alias_bombs_are_refused_within_bounded_memory(tmp_path: Path) -> None:
    """9**9 = 387,420,489 strings if expanded; refused under a 1 GiB address-space limit."""
    bomb = tmp_path / "laughs.yaml"
    bomb.write_text(billion_laughs())
    code = (
        "import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30)); "
        "from anchorctl.cli import main; sys.argv = ['anchorctl', 'count', '--config', "
        f"{str(bomb)!r}]; main()"
    )
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    assert proc.returncode == 1, proc.stderr
    assert "expands to more than 200,000 values" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


# -- inheritance chains ---------------------------------------------------------------------------


def test_missing_bases_are_named(tmp_path: Path) -> None:
    line = refused(tmp_path, {"child.py": "_base_ = ['./base.py', '../models/missing.py']\n",
                              "base.py": "x = 1\n"})  # fmt: skip
    assert "child.py: _base_ '../models/missing.py' not found" in line
    assert "models/missing.py')" in line  # where it was looked for
    line = refused(tmp_path, {"child.yaml": '_BASE_: "Base-Missing.yaml"\nMODEL: {}\n'})
    assert "child.yaml: _BASE_ 'Base-Missing.yaml' not found" in line


def test_base_cycles_are_refused(tmp_path: Path) -> None:
    line = refused(tmp_path, {"a.py": "_base_ = './b.py'\n", "b.py": "_base_ = ['./a.py']\n"})
    assert "inherits from itself (a.py -> b.py -> a.py)" in line
    line = refused(tmp_path, {"self.yaml": "_BASE_: self.yaml\nMODEL: {}\n"})
    assert "inherits from itself" in line


def test_deep_base_chains_are_refused(tmp_path: Path) -> None:
    files = {f"c{i}.py": f"_base_ = './c{i + 1}.py'\n" for i in range(30)}
    files["c30.py"] = "x = 1\n"
    line = refused(tmp_path, files)
    assert f"chain is more than {reading.MAX_BASE_DEPTH} files deep" in line


def test_diamond_chains_cannot_multiply_reads(tmp_path: Path) -> None:
    # d_i inherits d_i+1 and e_i+1, e_i inherits d_i: about 2**8 reads, 14 files deep
    files = {f"d{i}.py": f"_base_ = ['./d{i + 1}.py', './e{i + 1}.py']\n" for i in range(7)}
    files.update({f"e{i}.py": f"_base_ = ['./d{i}.py']\n" for i in range(1, 8)})
    files["d7.py"] = "# nothing\n"
    line = refused(tmp_path, files)
    assert "more than 64 _base_ files to read" in line


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"pkg.py": "_base_ = 'mmdet::_base_/models/retinanet_r50_fpn.py'\n"}, "names a package"),
        ({"url.yaml": '_BASE_: "https://example.com/Base.yaml"\nMODEL: {}\n'}, "or a URL"),
        ({"dev.py": "_base_ = '/dev/zero'\n"}, "_base_ '/dev/zero' is not a regular file"),
        ({"dir.yaml": "_BASE_: .\nMODEL: {}\n"}, "_BASE_ '.' is not a regular file"),
        (
            {"dup.py": "_base_ = ['./a.py', './b.py']\n", "a.py": "k = 1\n", "b.py": "k = 2\n"},
            "two _base_ files set 'k'",
        ),
        (
            {
                "clash.py": "_base_ = './a.py'\nmodel = dict(x=dict(y=1))\n",
                "a.py": "model = dict(x=3)\n",
            },
            "key 'model.x' is a dict here",
        ),
    ],
)
def test_inheritance_errors(tmp_path: Path, files: dict[str, str], expected: str) -> None:
    assert expected in refused(tmp_path, files)


def test_refusal_mentions_where_to_give_the_input(tmp_path: Path) -> None:
    line = refused(tmp_path, {"noinput.py": "model = dict(bbox_head=dict(anchor_generator="
                                            + RETINA_GEN + "))\n"})  # fmt: skip
    assert "no test Resize scale" in line
    assert "--input-size WxH" in line
