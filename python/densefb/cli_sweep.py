"""``densefb sweep``: one pipeline template over a grid of parameter values; a CSV of the
metrics and, with matplotlib, a plot.

    densefb sweep --dataset DIR --model NAME --pipeline 'dense >> rocchio(topk={k}) >> dense'
                  --param k=1..10 [--param alpha=0.1,0.2,0.4] --metric nDCG@10
                  --csv OUT.csv [--plot OUT.png] [--cache DIR] [--quiet]

Values: ``1..10`` (integers, inclusive), ``0.1..0.9:0.2`` (start..stop:step, inclusive),
or a comma list ``0.1,0.25,0.5``. The grid is the cartesian product of every --param.
Errors are one line on stderr and exit status 2.
"""
from __future__ import annotations

import argparse
import csv
import itertools
import io
import math
import re
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from densefb import _cli_util as util
from densefb._cli_util import UserError
from densefb.cli_experiment import (add_common_arguments, check_metrics, check_outputs,
                                    experiment_kwargs, resolve_dataset)

__all__ = ["register", "run_sweep", "main", "parse_param", "expand_grid"]

_DESCRIPTION = (
    "Runs a pipeline template, e.g. 'dense >> rocchio(topk={k}) >> dense', for every combination "
    "of the --param values, on the queries of a BEIR folder's split; writes one CSV row per "
    "setting (parameters, canonical spec, each metric) and, with --plot, a PNG of the first "
    "metric against the first parameter, one line per value of the others (needs matplotlib). "
    "Indexes are built once and cached. Errors are one line on stderr and exit status 2.")

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _number(text: str, param: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UserError(f"--param {param}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise UserError(f"--param {param}: {text!r} is not a finite number")
    return value


def _value_text(value: Any) -> str:
    """How a value is written into the spec: integers without a point, floats shortest."""
    return repr(value) if isinstance(value, float) else str(value)


def parse_param(text: str) -> Tuple[str, List[Any]]:
    """``"k=1..10"`` -> ``("k", [1, ..., 10])``; ``"a=0.1..0.5:0.2"`` -> ``("a", [0.1, 0.3,
    0.5])``; ``"a=0.1,0.2"`` -> ``("a", [0.1, 0.2])``; other words stay strings."""
    name, sep, values = text.partition("=")
    name = name.strip()
    if not sep or not _NAME.match(name) or not values.strip():
        raise UserError(f"--param {text!r}: expected NAME=VALUES (e.g. k=1..10, alpha=0.1,0.2)")
    values = values.strip()
    if ".." in values:
        rng, _, step_text = values.partition(":")
        lo_text, _, hi_text = rng.partition("..")
        lo, hi = _number(lo_text, name), _number(hi_text, name)
        integral = all(re.fullmatch(r"[+-]?\d+", t.strip()) for t in (lo_text, hi_text)) and \
            (not step_text or re.fullmatch(r"[+-]?\d+", step_text.strip()))
        step = _number(step_text, name) if step_text else 1.0
        if step <= 0:
            raise UserError(f"--param {name}: the step must be > 0, got {step_text}")
        if hi < lo:
            raise UserError(f"--param {name}: empty range {values} (stop below start)")
        count = int(math.floor((hi - lo) / step + 1e-9)) + 1
        if count > 10000:
            raise UserError(f"--param {name}: {count} values is too many")
        if integral:
            return name, [int(lo) + i * int(step) for i in range(count)]
        # Rounded to the step's decimals so that 0.1..0.3:0.1 gives 0.1, 0.2, 0.3 exactly.
        decimals = max(len(t.strip().split(".")[1]) if "." in t else 0
                       for t in (lo_text, step_text or "1"))
        return name, [round(lo + i * step, decimals + 6) for i in range(count)]
    out: List[Any] = []
    for item in values.split(","):
        item = item.strip()
        if not item:
            raise UserError(f"--param {name}: empty value in {values!r}")
        if re.fullmatch(r"[+-]?\d+", item):
            out.append(int(item))
        else:
            try:
                out.append(float(item))
            except ValueError:
                out.append(item)
    return name, out


def expand_grid(template: str, params: Sequence[Tuple[str, List[Any]]]
                ) -> List[Tuple[Dict[str, Any], str]]:
    """Every combination of the values, with the template filled in: [(values, spec)]."""
    names = [n for n, _ in params]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise UserError(f"--param {dup} is given twice")
    fields = set(re.findall(r"\{([^{}]*)\}", template))
    for f in fields:
        if f not in names:
            raise UserError(f"the pipeline template uses {{{f}}} but no --param {f}=... is given")
    for n in names:
        if n not in fields:
            raise UserError(f"--param {n} is not used by the pipeline template (no {{{n}}} in it)")
    grid = []
    for combo in itertools.product(*[v for _, v in params]):
        values = dict(zip(names, combo))
        spec = re.sub(r"\{([^{}]*)\}", lambda m: _value_text(values[m.group(1)]), template)
        grid.append((values, spec))
    return grid


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    parser.add_argument("--pipeline", required=True, metavar="TEMPLATE",
                        help="pipeline spec with {NAME} placeholders, e.g. "
                             "'dense >> rocchio(alpha={alpha},topk={k}) >> dense'")
    parser.add_argument("--param", required=True, action="append", metavar="NAME=VALUES",
                        help="values of one placeholder, repeatable: 1..10 (integers, inclusive), "
                             "0.1..0.9:0.1 (start..stop:step), or 0.1,0.2,0.4")
    parser.add_argument("--metric", nargs="+", default=["nDCG@10"], metavar="METRIC",
                        help="ir_measures names; the first is plotted (default: nDCG@10)")
    parser.add_argument("--csv", required=True, metavar="OUT",
                        help="CSV: one row per setting (parameters, spec, metrics); replaced only "
                             "when complete ('-': stdout)")
    parser.add_argument("--plot", metavar="OUT.png",
                        help="PNG plot of the first metric against the first parameter (needs "
                             "matplotlib)")
    parser.add_argument("--save-runs", metavar="DIR",
                        help="also write each run as a TREC file with its JSON sidecar")


def register(subparsers) -> argparse.ArgumentParser:
    """Adds the ``sweep`` subcommand; it runs :func:`run_sweep`."""
    parser = subparsers.add_parser("sweep", help="a pipeline over a grid of parameters (CSV, plot)",
                                   description=_DESCRIPTION)
    _add_arguments(parser)
    util.one_line_argparse_errors(parser)
    parser.set_defaults(func=run_sweep)
    return parser


def _need_matplotlib():
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UserError("--plot needs matplotlib, which is not installed "
                        "(pip install matplotlib), or leave out --plot") from None
    return plt


def write_plot(path: str, rows: List[Dict[str, Any]], names: List[str], metric: str,
               title: str) -> None:
    """The metric against the first parameter, one line per combination of the others."""
    plt = _need_matplotlib()
    x_name, others = names[0], names[1:]
    series: Dict[Tuple, List[Tuple[Any, float]]] = {}
    for r in rows:
        series.setdefault(tuple(r[n] for n in others), []).append((r[x_name], r[metric]))
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    numeric_x = all(isinstance(r[x_name], (int, float)) for r in rows)
    for key, points in series.items():
        xs = [p[0] for p in points] if numeric_x else [str(p[0]) for p in points]
        label = ", ".join(f"{n}={v}" for n, v in zip(others, key)) or None
        ax.plot(xs, [p[1] for p in points], marker="o", label=label)
    ax.set_xlabel(x_name)
    ax.set_ylabel(metric)
    ax.set_title(title, fontsize=9)
    ax.grid(True, alpha=0.3)
    if others:
        ax.legend(fontsize=8)
    fig.tight_layout()
    try:
        with util.atomic_output(path) as tmp:  # the format from the target's name, PNG by default
            fig.savefig(tmp, dpi=120, format=Path(path).suffix.lstrip(".").lower() or "png")
    finally:
        plt.close(fig)


def _write_csv(path: str, rows: List[Dict[str, Any]], columns: List[str]) -> None:
    text = io.StringIO(newline="")
    w = csv.DictWriter(text, fieldnames=columns)
    w.writeheader()
    for r in rows:
        w.writerow({c: r[c] for c in columns})
    util.write_text_atomic(path, text.getvalue())


def run_sweep(args: argparse.Namespace) -> int:
    """Runs ``densefb sweep`` on parsed arguments; returns the exit status (0, 2 on error, 130
    on Ctrl-C)."""
    return util.run_guarded("sweep", lambda: _sweep(args))


def _sweep(args: argparse.Namespace) -> int:
    from densefb.experiment import Experiment

    check_outputs(args, ["--csv", "--plot", "--save-runs"])
    if args.plot:
        _need_matplotlib()  # fail before any work
    metrics = check_metrics(args.metric, "--metric")
    params = [parse_param(t) for t in args.param]
    grid = expand_grid(args.pipeline, params)
    kwargs = experiment_kwargs(args, "sweep")
    exp = Experiment(resolve_dataset(args.dataset), [spec for _, spec in grid], metrics=metrics,
                     tests=[], save_runs=args.save_runs, **kwargs)
    result = exp.run()
    names = [n for n, _ in params]
    rows = []
    for (values, _), system in zip(grid, result.systems):
        rows.append({**values, "pipeline": system.spec, **system.means})
    _write_csv(args.csv, rows, names + ["pipeline"] + metrics)
    if args.plot:
        write_plot(args.plot, rows, names, metrics[0], args.pipeline)
    best = max(rows, key=lambda r: r[metrics[0]])
    out = sys.stderr if util.is_stdout(args.csv) else sys.stdout  # --csv -: the table on stderr
    print("  ".join(names + metrics), file=out)
    for r in rows:
        print("  ".join([str(r[n]) for n in names] + [f"{r[m]:.4f}" for m in metrics]), file=out)
    print(f"best {metrics[0]} {best[metrics[0]]:.4f} at "
          + ", ".join(f"{n}={best[n]}" for n in names), file=out)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m densefb.cli_sweep ...``: the same as ``densefb sweep ...``."""
    from densefb import cli

    return cli.main(["sweep", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
