"""``densefb eval``: evaluates a TREC run against qrels with trec_eval's exact conventions.

    densefb eval --run RUN --qrels QRELS --metrics nDCG@10 R@100 AP
                 [--per-query] [--json OUT] [--rel-level N] [--average-over-qrels]
    densefb eval --compare-qrels QRELS_A QRELS_B [--run RUN ...] [--metrics nDCG@10] [--json OUT]

QRELS is TREC qrels or a BEIR qrels .tsv (told apart by its header line). Prints a table of
means (and with --per-query one row per query, like ``trec_eval -q``); --json also writes the
means and per-query values. With --compare-qrels it compares two qrels sets instead (e.g. LLM
judgments from ``densefb judge`` against human ones): Cohen's kappa on the pairs both judge
(graded and binary), and with runs Kendall's tau-b between the system rankings the two qrels
induce under the first metric. Errors are one line on stderr and exit status 2.
"""
from __future__ import annotations

import argparse
import sys
from typing import Dict, List, Optional, Sequence

from densefb import _cli_util as util
from densefb.evaluation import Measure, evaluate

__all__ = ["register", "run_eval", "main"]

_DESCRIPTION = ("Evaluates a TREC run against qrels (TREC or BEIR .tsv) with trec_eval's exact "
                "conventions; errors are one line on stderr and exit status 2.")


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", nargs="+", metavar="RUN",
                        help="TREC run file: qid Q0 docid rank score tag (with --compare-qrels: "
                             "several, the systems ranked)")
    parser.add_argument("--qrels", metavar="QRELS",
                        help="TREC qrels (qid iter docid grade) or BEIR qrels .tsv")
    parser.add_argument("--compare-qrels", nargs=2, metavar=("QRELS_A", "QRELS_B"),
                        help="compare two qrels sets: Cohen's kappa, and Kendall's tau over --run systems")
    parser.add_argument("--metrics", nargs="+", metavar="METRIC",
                        help="ir_measures names (nDCG@10 AP R@100 RR@10 P@5 Judged@10 "
                             "AP(rel=2)) or trec_eval names (ndcg_cut_10 map recall_100)")
    parser.add_argument("--per-query", action="store_true",
                        help="also print one row per query (like trec_eval -q)")
    parser.add_argument("--json", metavar="OUT",
                        help="write means and per-query values here, replaced only when complete "
                             "('-': stdout)")
    parser.add_argument("--rel-level", type=int, default=1, metavar="N",
                        help="minimum grade of a relevant document for AP/R/P/RR "
                             "(trec_eval -l; default 1)")
    parser.add_argument("--average-over-qrels", action="store_true",
                        help="average over every qrels query, missing ones as 0 (trec_eval -c)")


def register(subparsers) -> argparse.ArgumentParser:
    """Adds the ``eval`` subcommand to an argparse subparsers object; it runs :func:`run_eval`."""
    parser = subparsers.add_parser(
        "eval", help="evaluate a run against qrels (trec_eval conventions)",
        description=_DESCRIPTION)
    _add_arguments(parser)
    util.one_line_argparse_errors(parser)
    parser.set_defaults(func=run_eval)
    return parser


def _format_table(metrics: List[str], means: Dict[str, float],
                  rows: Optional[Dict[str, Dict[str, float]]]) -> str:
    """A fixed-width table: a header, optional per-query rows, then the 'all' row of means."""
    body = list((rows or {}).items()) + [("all", means)]
    qwidth = max(len("query"), *(len(qid) for qid, _ in body))
    widths = [max(len(m), 6) for m in metrics]
    lines = ["  ".join(["query".ljust(qwidth)] + [m.rjust(w) for m, w in zip(metrics, widths)])]
    for qid, values in body:
        cells = [f"{values[m]:.4f}".rjust(w) for m, w in zip(metrics, widths)]
        lines.append("  ".join([qid.ljust(qwidth)] + cells))
    return "\n".join(lines)


def run_eval(args: argparse.Namespace) -> int:
    """Runs ``densefb eval`` on parsed arguments; returns the exit status (0, 2 on error, 130
    on Ctrl-C)."""
    return util.run_guarded("eval", lambda: _eval(args))


def _compare(args: argparse.Namespace) -> int:
    from densefb.judge import compare_qrels
    metric = (args.metrics or ["nDCG@10"])[0]
    Measure(metric)
    util.check_output_parent(args.json, "--json")
    runs = {r: r for r in (args.run or [])}
    if len(runs) == 1:
        raise util.UserError("--compare-qrels ranks systems: give two or more --run files, or none")
    out = compare_qrels(args.compare_qrels[0], args.compare_qrels[1], runs or None, metric)
    if args.json:
        util.write_json_atomic(args.json, {"qrels_a": args.compare_qrels[0], "qrels_b": args.compare_qrels[1], **out})
    stream = sys.stderr if util.is_stdout(args.json) else sys.stdout
    print(f"pairs judged in both: {out['pairs']}", file=stream)
    print(f"Cohen's kappa (grades): {out['kappa']:.4f}", file=stream)
    print(f"Cohen's kappa (relevant or not): {out['kappa_binary']:.4f}", file=stream)
    if runs:
        width = max(len(n) for n in out["systems"])
        print(f"{'system'.ljust(width)}  {metric} (A)  {metric} (B)", file=stream)
        for n, a, b in zip(out["systems"], out["scores_a"], out["scores_b"]):
            print(f"{n.ljust(width)}  {a:.4f}  {b:.4f}", file=stream)
        print(f"Kendall's tau-b between the system rankings: {out['tau']:.4f}", file=stream)
    return 0


def _eval(args: argparse.Namespace) -> int:
    if args.compare_qrels:
        if args.qrels:
            raise util.UserError("--compare-qrels takes the two qrels itself; leave out --qrels")
        return _compare(args)
    for option, value in (("--run", args.run), ("--qrels", args.qrels), ("--metrics", args.metrics)):
        if not value:
            raise util.UserError(f"the following arguments are required: {option}")
    if len(args.run) != 1:
        raise util.UserError("give one --run (several only with --compare-qrels)")
    args.run = args.run[0]
    metrics = list(dict.fromkeys(args.metrics))  # a metric asked twice is shown once
    for name in metrics:
        Measure(name)  # unknown names fail before any file is read
    util.check_output_parent(args.json, "--json")
    means, rows = evaluate(args.run, args.qrels, metrics, rel_level=args.rel_level,
                           average_over_qrels=args.average_over_qrels, per_query=True)
    if args.json:
        util.write_json_atomic(args.json, {
            "run": args.run, "qrels": args.qrels, "rel_level": args.rel_level,
            "average_over_qrels": args.average_over_qrels, "num_queries": len(rows),
            "metrics": metrics, "mean": means, "per_query": rows})
    if not rows:
        print("densefb eval: warning: no query of the run is in the qrels", file=sys.stderr)
    out = sys.stderr if util.is_stdout(args.json) else sys.stdout  # --json -: the table on stderr
    print(_format_table(metrics, means, rows if args.per_query else None), file=out)
    scope = "every qrels query" if args.average_over_qrels else "queries in both run and qrels"
    noun = "query" if len(rows) == 1 else "queries"
    print(f"({len(rows)} {noun}: {scope}; rel_level {args.rel_level})", file=out)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m densefb.cli_eval ...``: the same as ``densefb eval ...``."""
    from densefb import cli

    return cli.main(["eval", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
