"""What ``anchorctl suggest`` prints: the JSON report, the table for people, the TOML config,
the k table, and the progress of the search on stderr.

The words about units, sizes and ratios come from the convention's ``RULES``; the numbers
from :class:`anchorctl.suggest.LevelSuggestion`.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from anchorctl.cli.dataset import Resize
    from anchorctl.suggest import LevelSuggestion, Metrics

Progress = Callable[[str, int, int], None]


@contextlib.contextmanager
def search_progress(quiet: bool) -> Iterator[Progress | None]:
    """``progress(stage, done, total)`` drawing a bar on stderr; ``None`` when quiet or when
    stderr is not a terminal."""
    if quiet or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress as Bar

    with Bar(console=Console(file=sys.stderr), transient=True) as bar:
        task = bar.add_task("fitting", total=None)

        def advance(stage: str, done: int, total: int) -> None:
            bar.update(task, description=stage, completed=done, total=total)

        yield advance


def _number(value: float) -> str:
    from anchorctl.export import format_number

    return format_number(float(value))


def command_line(convention: str, params: Mapping[str, Any]) -> str:
    """The convention options of ``params`` as command-line flags, per-level ones repeated."""
    from anchorctl import conventions

    options = {o.name: o for o in conventions.load(convention).OPTIONS}
    parts = [f"--convention {convention}"]
    for name, value in params.items():
        option = options.get(name)
        if option is None or value is None:
            continue
        flag = "--" + name.replace("_", "-")
        values = list(value) if option.per_level else [value]
        for item in values:
            if option.kind == "flag":
                parts.append(flag if item else f"--no-{flag[2:]}")
            elif option.kind in ("float", "int"):
                parts.append(f"{flag} {_number(item)}")
            elif option.kind == "yx":
                pair = (item, item) if isinstance(item, (int, float)) else tuple(item)
                text = _number(pair[0]) if pair[0] == pair[1] else ",".join(map(_number, pair))
                parts.append(f"{flag} {text}")
            elif option.kind == "whs":
                parts.append(f"{flag} " + ",".join(f"{_number(w)}x{_number(h)}" for w, h in item))
            else:
                seq = [item] if isinstance(item, (int, float)) else list(item)
                if seq:
                    parts.append(f"{flag} " + ",".join(_number(v) for v in seq))
    for fm in params.get("feature_maps", ()):
        parts.append(f"--feature-map {int(fm[0])}x{int(fm[1])}")
    return " ".join(parts)


def _metrics(m: Metrics | None) -> dict[str, Any] | None:
    if m is None:
        return None
    out: dict[str, Any] = {
        "mean_best_iou": m.mean_iou,
        "bpr": m.bpr,
        "fitness": m.fitness,
        "anchors_per_target": m.anchors_per_target,
    }
    if m.recall is not None:
        out["recall"] = {f"{t:g}": v for t, v in m.recall.items()}
        out["mean_position_iou"] = m.mean_position_iou
    return out


def _levels(levels: Sequence[Any]) -> list[dict[str, Any]]:
    return [
        {
            "level": lv.level,
            "stride": lv.stride,
            "anchors": [[float(w), float(h)] for w, h in lv.anchors.tolist()],
        }
        for lv in levels
    ]


def report(
    result: LevelSuggestion,
    *,
    model: bool,
    preset: str | None,
    input_size: tuple[int, int],
    skipped: int,
    resize: Resize,
) -> dict[str, Any]:
    """The JSON report (its keys are documented in the README and stable).

    ``resize`` says how the boxes were mapped to the network input (``resize`` the mode,
    ``resize_from`` where that choice came from; ``resize_text`` words it for people).
    """
    from anchorctl import conventions

    rules = conventions.load(result.convention).RULES
    return {
        "boxes": result.sampling.boxes,
        "skipped": skipped,
        "sample": {
            "boxes": result.sampling.used,
            "of": result.sampling.boxes,
            "seed": result.sampling.seed,
            "sampled": result.sampling.sampled,
        },
        "k": result.k,
        "seed": result.seed,
        "method": result.method,
        "objective": result.objective.name,
        "objective_label": result.objective.label(),
        "anchor_t": result.objective.anchor_t,
        "iou": result.objective.iou,
        "score": result.score,
        "mean_iou": result.mean_iou,
        "anchors": [[float(w), float(h)] for w, h in result.anchors.tolist()],
        "levels": _levels(result.levels),
        "input_size": list(input_size),
        "resize": resize.mode,
        "resize_from": resize.origin,
        "resize_text": resize.describe(),
        "convention": result.convention if model else None,
        "preset": preset,
        "units": "network-input pixels (w, h)",
        "ratio_meaning": rules.ratio_meaning if model else None,
        "options": command_line(result.convention, result.params) if model else None,
        "constraint": result.constraint or None,
        "free": {
            "levels": _levels(result.free),
            "score": result.free_score,
            "cost": result.cost,
            "metrics": _metrics(result.free_metrics),
        },
        "before": _metrics(result.current) if model else None,
        "after": _metrics(result.metrics),
    }


def toml_text(result: LevelSuggestion, header: Sequence[str]) -> str:
    """A config that ``--config`` reads back to the suggested anchors."""
    from anchorctl.configs.toml import Config, dump_config

    return dump_config(Config(result.convention, dict(result.params)), header)


def _fmt(value: float | None, pct: bool = False) -> str:
    if value is None or value != value:
        return "-"
    return f"{100 * value:.1f}%" if pct else f"{value:.4f}"


def print_report(data: dict[str, Any], out: Any = None) -> None:
    """The report for people (stdout)."""
    from rich.table import Table

    from anchorctl.tables import console

    con = console(out or sys.stdout)
    sample = data["sample"]
    seen = (
        f"a seeded sample of {sample['boxes']:,} of {sample['of']:,} boxes (seed "
        f"{sample['seed']}; every number below is on all of them)"
        if sample["sampled"]
        else f"{data['boxes']:,} boxes"
    )
    source = data["preset"] or data["convention"] or "free anchors (no model given)"
    con.print(
        f"{data['k']} anchors on {len(data['levels'])} level(s) for {source}, fitted to {seen} · "
        f"objective: {data['objective_label']} = {data['score']:.4f} · boxes resized by "
        f"{data['resize_text']} · w x h in network-input pixels "
        f"({data['input_size'][0]}x{data['input_size'][1]})",
        style="bold cyan",
        soft_wrap=True,
    )
    table = Table(header_style="bold magenta")
    for name in ("level", "stride", "anchors (w x h px)"):
        table.add_column(name, justify="left" if name.startswith("anchors") else "right")
    for lv in data["levels"]:
        shapes = "  ".join(f"{w:.1f}x{h:.1f}" for w, h in lv["anchors"])
        table.add_row(str(lv["level"]), f"{lv['stride']:g}", shapes)
    con.print(table)
    if data["options"]:
        words = data["ratio_meaning"] or ""
        ratio = "" if words.startswith("none") else f" (ratio = {words})"
        con.print(f"as {data['convention']} options{ratio}:", soft_wrap=True, markup=False)
        con.print(f"  {data['options']}", soft_wrap=True, markup=False)
    free = data["free"]
    if data["constraint"]:
        con.print(
            f"constraint: {data['constraint']}. Free (w, h) anchors with the same count per "
            f"level score {free['score']:.4f}: the constraint costs {free['cost']:.4f}.",
            soft_wrap=True,
        )
    rows = [
        ("objective score", "score"),
        ("mean best IoU (centred)", "mean_best_iou"),
        ("recall at IoU 0.5 (position-aware)", "recall:0.5"),
        ("recall at IoU 0.7 (position-aware)", "recall:0.7"),
        (f"BPR (anchor_t {data['anchor_t']:g})", "bpr"),
        ("anchors per target", "anchors_per_target"),
    ]
    table = Table(header_style="bold magenta")
    table.add_column("measure (all boxes)")
    columns = [("current", data["before"]), ("suggested", data["after"])]
    if data["constraint"]:
        columns.append(("free optimum", free["metrics"]))
    columns = [(name, m) for name, m in columns if m is not None]
    for name, _ in columns:
        table.add_column(name, justify="right")
    scores = {"current": None, "suggested": data["score"], "free optimum": free["score"]}
    for label, key in rows:
        cells = []
        for name, m in columns:
            if key == "score":
                value = scores[name] if name != "current" else objective_of(m, data)
            elif key.startswith("recall:"):
                value = (m.get("recall") or {}).get(key.split(":")[1])
            else:
                value = m.get(key)
            cells.append(_fmt(value, pct=key in ("bpr",) or key.startswith("recall")))
        table.add_row(label, *cells)
    con.print(table)


def objective_of(m: Mapping[str, Any], data: Mapping[str, Any]) -> float | None:
    name = data["objective"]
    if name == "bpr":
        return float(m["fitness"])
    if name == "recall":
        return (m.get("recall") or {}).get(f"{data['iou']:g}")
    return float(m["mean_best_iou"])


def k_rows(results: Sequence[LevelSuggestion]) -> list[dict[str, Any]]:
    """One row per k: the score and the measures users compare k by."""
    out = []
    for r in results:
        m = r.metrics
        row: dict[str, Any] = {
            "k": r.k,
            "per_level": [len(lv.anchors) for lv in r.levels],
            "score": r.score,
            "mean_iou": m.mean_iou,
            "bpr": m.bpr,
        }
        if m.recall is not None:
            row["recall"] = {f"{t:g}": v for t, v in m.recall.items()}
        out.append(row)
    return out


def print_k_table(rows: Sequence[Mapping[str, Any]], label: str, boxes: int) -> None:
    """The k-versus-score table (stdout)."""
    from rich.table import Table

    from anchorctl.tables import console

    con = console(sys.stdout)
    con.print(f"score by k on {boxes:,} boxes · objective: {label}", style="bold cyan",
              soft_wrap=True)  # fmt: skip
    table = Table(header_style="bold magenta")
    for name in ("k", "per level", "score", "gain", "mean best IoU", "BPR", "recall@0.5"):
        table.add_column(name, justify="right")
    previous = None
    for row in rows:
        gain = "-" if previous is None else f"{row['score'] - previous:+.4f}"
        previous = row["score"]
        recall = (row.get("recall") or {}).get("0.5")
        table.add_row(
            str(row["k"]), ",".join(map(str, row["per_level"])), f"{row['score']:.4f}", gain,
            f"{row['mean_iou']:.4f}", _fmt(row["bpr"], True), _fmt(recall, True),
        )  # fmt: skip
    con.print(table)
