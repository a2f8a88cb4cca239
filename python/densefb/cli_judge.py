"""``densefb judge``: LLM relevance judgments for the unjudged documents of runs' top k.

    densefb judge --dataset DIR --run RUN [RUN ...] [--qrels QRELS] [--k 10] -o OUT.qrels
                  [--llm-base-url URL] [--llm-model NAME] [--llm-* ...] [--cache DIR]
                  [--prompt-file FILE]

Each run's top k documents per query that QRELS does not judge are graded 0-3 by the generator
with the documented UMBRELA-style prompt (``densefb.default_judge_prompt()``; --prompt-file
replaces it). OUT is TREC qrels: QRELS's judgments plus the generated ones. Beside it,
OUT.json marks the file as generated and records the model, prompt, runs, depth, the pairs
graded and the LLM cost (the API key is never written). Both are replaced only when complete.
The API key comes from DENSEFB_LLM_API_KEY or OPENAI_API_KEY. Errors are one line on stderr and
exit status 2.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Optional, Sequence

from densefb import _cli_util as util
from densefb._cli_util import UserError

__all__ = ["register", "run_judge", "main"]


def register(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "judge", help="LLM relevance judgments for the unjudged top-k documents of runs",
        description="Grades (0-3) the unjudged documents of runs' top k with an LLM and writes TREC "
                    "qrels marked as generated (OUT.json beside it).")
    parser.add_argument("--dataset", required=True, metavar="DIR", help="BEIR folder: corpus and queries")
    parser.add_argument("--split", default="test", metavar="SPLIT", help="queries of this qrels split (default test)")
    parser.add_argument("--run", required=True, nargs="+", metavar="RUN", help="TREC run files")
    parser.add_argument("--qrels", metavar="QRELS", help="existing judgments: kept, their pairs not asked again")
    parser.add_argument("--k", type=util.positive_int, default=10, metavar="K",
                        help="depth judged in each run (default 10)")
    parser.add_argument("-o", "--output", required=True, metavar="OUT", help="qrels file written")
    parser.add_argument("--prompt-file", metavar="FILE", help="prompt template with {query} and {passage}")
    parser.add_argument("--cache", metavar="DIR", help="persistent response cache (a re-run costs nothing)")
    llm = parser.add_argument_group("LLM (OpenAI-compatible server; else DENSEFB_LLM_* / OPENAI_* variables)")
    llm.add_argument("--llm-base-url", metavar="URL")
    llm.add_argument("--llm-model", metavar="NAME")
    llm.add_argument("--llm-max-concurrency", type=util.positive_int, metavar="N")
    llm.add_argument("--llm-timeout", type=float, metavar="SECONDS")
    llm.add_argument("--llm-max-retries", type=util.non_negative_int, metavar="N")
    llm.add_argument("--llm-completions", action="store_true", help="use /completions instead of /chat/completions")
    util.one_line_argparse_errors(parser)
    parser.set_defaults(func=run_judge)
    return parser


def run_judge(args: argparse.Namespace) -> int:
    return util.run_guarded("judge", lambda: _judge(args))


def _judge(args: argparse.Namespace) -> int:
    import densefb
    from densefb.cli_experiment import llm_settings
    from densefb.judge import default_judge_prompt, judge

    util.check_output_parent(args.output, "--output")
    for run in args.run:
        if not os.path.isfile(run):
            raise UserError(f"--run {run}: no such file")
    prompt = ""
    if args.prompt_file:
        prompt = Path(args.prompt_file).read_text(encoding="utf-8")
    settings = {k: v for k, v in llm_settings(args).items() if v is not None}
    if args.cache:
        settings["cache_dir"] = args.cache
    gen = densefb.OpenAIGenerator(**settings)
    ds = densefb.load_beir(args.dataset, args.split)
    before = gen.stats()
    result = judge(args.run, ds.corpus, ds.queries, gen, k=args.k, qrels=args.qrels, prompt=prompt)
    after = gen.stats()
    qrels = densefb.Qrels.from_dict(result["qrels"])
    with util.atomic_output(args.output) as tmp:
        densefb.write_trec_qrels(tmp, qrels)
    util.write_json_atomic(args.output + ".json", {
        "generated": True, "judged_by": gen.model, "base_url": settings.get("base_url") or "(environment)",
        "prompt": prompt or default_judge_prompt(), "k": args.k, "runs": list(args.run),
        "dataset": str(args.dataset), "human_qrels": args.qrels, "pairs_graded": len(result["pairs"]),
        "generated_judgments": result["generated"], "unparseable": result["unparseable"],
        "llm_cost": {k: after[k] - before[k] for k in after}})
    print(f"densefb judge: {result['generated']} judgments generated for {len(result['pairs'])} unjudged pairs "
          f"({result['unparseable']} answers without a grade) -> {args.output}", file=sys.stderr)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    from densefb import cli
    return cli.main(["judge", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
