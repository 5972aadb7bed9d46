"""Commands that count, tabulate and draw: count, lookup-table, sample-paths, micronet, report, plot-curves,
pack-rec, options-doc."""
from __future__ import annotations

import json
import os
import sys

from .. import options
from ..costs.tables import COMPARISON_MODELS, DEFAULT_COMPARISON
from ..errors import OneShotError, first_line
from ..sampling import SamplingOptions
from .common import (add_candidate_args, add_network_args, candidates_from_args, preflight_out, progress,
                     space_from_args)


def register(sub) -> None:
    p = sub.add_parser("count", help="FLOPs, params and normalised score of architectures",
                       description="Count FLOPs (conv/FC multiply-accumulates + bias adds + pooling) and params "
                                   "(trainable, incl. BN gamma/beta) of one or many architectures.")
    add_candidate_args(p, many=True)
    add_network_args(p)
    p.add_argument("--method", choices=("lut", "symbol", "formula"), default="lut",
                   help="lookup table (default), measured on the exported symbol, or closed-form formula")
    p.add_argument("--lookup-table", default=None, metavar="FILE",
                   help="use this table with --method lut (default: build one in memory)")
    p.add_argument("--comparison-model", default=DEFAULT_COMPARISON,
                   help=f"reference for the normalised score: {', '.join(COMPARISON_MODELS)} (default %(default)s)")
    p.add_argument("--json", action="store_true", help="print one JSON object per candidate")
    p.add_argument("--symbol", default=None, metavar="FILE-symbol.json",
                   help="count any exported MXNet symbol instead (the original's calculate_flops.py -s), on an "
                        "input of 1 x 3 x --input-size x --input-size")
    p.set_defaults(func=cmd_count)

    p = sub.add_parser("lookup-table", help="build the FLOPs/params lookup table of a search space",
                       description="Build stem + tail + per (layer, block, channel) FLOPs/params table.")
    p.add_argument("--out", required=True, metavar="FILE", help="where to write the table (JSON)")
    add_network_args(p)
    p.add_argument("--method", choices=("symbol", "formula"), default="symbol",
                   help="measure each block on its symbol graph (default) or use the formulas")
    p.add_argument("--format", choices=("oneshot-nas", "original"), default="oneshot-nas",
                   help="original: the original codebase's models/lookup_table.json layout (stride-2 stems only)")
    p.add_argument("--progress", action="store_true", help="show the progress bar even when not on a terminal")
    p.set_defaults(func=cmd_lookup_table)

    p = sub.add_parser("sample-paths", help="draw supernet training paths and plot how they cover the box",
                       description="Sample paths as supernet training would (no constraint, random, strolling "
                                   "evolution), write the chosen method's paths as JSON lines, draw the three-panel "
                                   "FLOPs/params figure (PNG) and an animated GIF, and report box coverage.")
    p.add_argument("--out", required=True, metavar="FILE.jsonl", help="paths of the chosen method (PNG/GIF beside it)")
    p.add_argument("--num-samples", type=int, default=5000, help="paths per method (default 5000)")
    p.add_argument("--epoch", type=int, default=10 ** 6,
                   help="training epoch whose channel range applies (default: after any warm-up)")
    p.add_argument("--seed", type=int, default=0)
    add_network_args(p)
    options.add_options(p, SamplingOptions, defaults={"train_constraint_method": "evolution"})
    p.set_defaults(func=cmd_sample_paths)
    _register_reports(sub)


def _register_reports(sub) -> None:
    p = sub.add_parser("micronet", help="MicroNet Challenge counting and score of an architecture, op by op",
                       description="Count params, mults and adds per op in the MicroNet Challenge convention (BN "
                                   "folded, activations counted, shuffle as a sparse 1x1 conv) and the score "
                                   "ops/1170M + params/6.9M at fp32, fp16 and int8.")
    add_candidate_args(p)
    add_network_args(p)
    p.add_argument("--json", action="store_true", help="print the totals and scores as one JSON object")
    p.add_argument("--out", default=None, help="write the op-by-op table (markdown) here, e.g. "
                                               "MicroNetChallenge/detailed_profiling.md")
    p.set_defaults(func=cmd_micronet)

    p = sub.add_parser("report", help="table of trained-from-scratch runs: FLOPs, params, score, top-1 over seeds",
                       description="One row per architecture (run folders named LABEL-seedN are pooled): FLOPs, "
                                   "params, normalised score and the last epoch's validation top-1, mean and std "
                                   "over seeds.")
    p.add_argument("runs", nargs="+", help="`train` save dirs")
    p.add_argument("--out", default=None, help="also write the markdown table here")
    p.add_argument("--comparison-model", default=DEFAULT_COMPARISON, help="reference of the normalised score")
    p.add_argument("--benchmark", default=None, metavar="FILE",
                   help="a `benchmark` file trained with the runs' recipe: add where each architecture falls among "
                        "its random subnets")
    p.add_argument("--pool-architectures", action="store_true",
                   help="pool a label's runs even when their architectures differ (each pipeline seed's own pick)")
    p.add_argument("--paired", default=None, metavar="A,B",
                   help="two labels, e.g. searched,random-best: A minus B top-1 paired by seed, with a 95%% "
                        "t-interval (needs 2 or more shared seeds)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("plot-curves", help="draw train/val curves from history.jsonl files of `train`")
    p.add_argument("history", nargs="+", help="history.jsonl files (one line per run, labelled by its folder)")
    p.add_argument("--out", required=True, help="PNG to write")
    p.add_argument("--title", default="")
    p.set_defaults(func=cmd_plot_curves)

    p = sub.add_parser("pack-rec", help="pack an image folder (one sub-folder per class) into RecordIO",
                       description="Pack FOLDER/<class>/<image> into PREFIX.rec + PREFIX.idx (+ PREFIX.lst), classes "
                                   "numbered in sorted folder order; what MXNet's im2rec.py does for ImageNet.")
    p.add_argument("folder", help="folder with one sub-folder per class (e.g. ILSVRC2012 train/ or val/)")
    p.add_argument("prefix", help="output prefix, e.g. ~/.mxnet/datasets/imagenet/rec/train")
    p.add_argument("--resize", type=int, default=0, help="scale the shorter side to N pixels first (ImageNet: 480)")
    p.add_argument("--quality", type=int, default=95, help="JPEG quality (default 95)")
    p.set_defaults(func=cmd_pack_rec)

    p = sub.add_parser("options-doc", help="write the option reference of `train` and `search` (markdown)")
    p.add_argument("--out", default=None, help="file to write (default: print)")
    p.set_defaults(func=cmd_options_doc)


def count_symbol(path: str, input_size: int) -> int:
    """FLOPs and params of an exported symbol graph (conv, dense and pooling, BN parameters counted)."""
    import mxnet as mx

    from ..costs.tables import measure_symbol
    try:
        sym = mx.sym.load(path)
        cost = measure_symbol(sym, (1, 3, input_size, input_size))
    except FileNotFoundError:
        raise OneShotError(f"--symbol {path} does not exist") from None
    except (mx.base.MXNetError, ValueError, KeyError) as e:
        raise OneShotError(f"cannot count --symbol {path} on a 1 x 3 x {input_size} x {input_size} input "
                           f"({first_line(e)}); is it an MXNet symbol JSON with one input named data, and the right "
                           "--input-size?") from None
    print(json.dumps({"symbol": path, "input_shape": [1, 3, input_size, input_size], "flops": cost.flops,
                      "params": cost.params, "mflops": round(cost.flops / 1e6, 3),
                      "mparams": round(cost.params / 1e6, 4)}))
    return 0


def cmd_count(args) -> int:
    from ..costs.tables import LookupTable, costs, normalized_score
    if args.symbol:
        return count_symbol(args.symbol, args.input_size or 224)
    entry, cands = candidates_from_args(args)
    space = space_from_args(args, entry)
    for cand in cands:
        try:
            space.validate(cand)
        except OneShotError as e:
            raise OneShotError(f"{cand}: {e}") from None
    table = LookupTable.load(args.lookup_table, expected_space=space) if args.lookup_table else None
    if not args.json:
        print(f"# space {space.describe()}  method {args.method}  comparison {args.comparison_model}")
        print(f"{'candidate':<42} {'FLOPs':>12} {'params':>10} {'norm.score':>10}")
    for cand, cost in costs(space, cands, args.method, table):
        score = normalized_score(cost, args.comparison_model)
        if args.json:
            print(json.dumps({"candidate": str(cand), "flops": cost.flops, "params": cost.params,
                              "normalized_score": round(score, 6), "comparison_model": args.comparison_model,
                              "method": args.method, "fingerprint": space.fingerprint,
                              **({"model": entry.name} if entry else {})}))
        else:
            print(f"{str(cand):<42} {cost.flops / 1e6:>11.2f}M {cost.params / 1e6:>9.3f}M {score:>10.4f}")
    return 0


def cmd_lookup_table(args) -> int:
    from ..costs.tables import LookupTable
    space = space_from_args(args)
    preflight_out(args.out, 1 << 20)
    table = LookupTable.build(space, method=args.method, progress=sys.stderr.isatty() or args.progress)
    table.save(args.out, args.format)
    bounds = table.bounds()
    print(f"wrote {args.out}: {space.describe()}, {space.num_layers}x{space.num_blocks}x{space.num_scales} "
          f"entries by {args.method}, {args.format} format; FLOPs {bounds['min'].flops / 1e6:.1f}M..{bounds['max'].flops / 1e6:.1f}M, "
          f"params {bounds['min'].params / 1e6:.3f}M..{bounds['max'].params / 1e6:.3f}M")
    return 0


def cmd_sample_paths(args) -> int:
    from .. import plots
    from ..sampling import compare_methods
    from ..utils import atomic_write_text
    space = space_from_args(args)
    if args.num_samples < 1:
        raise OneShotError(f"--num-samples must be at least 1, not {args.num_samples}")
    preflight_out(args.out, 1 << 20)
    sampling = options.from_args(SamplingOptions, args)
    box = sampling.box()
    if box is None:
        raise OneShotError("sample-paths draws the target box: give --train-upper-constraints and "
                           "--train-bottom-constraints (e.g. flops-330-params-5.0 and flops-190-params-2.8)")
    points, (cands, costs) = compare_methods(space, sampling, args.seed, args.epoch, args.num_samples, progress)
    atomic_write_text(args.out, "".join(json.dumps({"step": i, "candidate": str(c), "flops": k.flops,
                                                    "params": k.params}) + "\n"
                                        for i, (c, k) in enumerate(zip(cands, costs))))
    stem = os.path.splitext(args.out)[0]
    plots.distribution_figure(points, box, stem + ".png", title=f"{space.describe()}, seed {args.seed}")
    plots.distribution_gif(points[sampling.train_constraint_method], box, stem + ".gif",
                           title=plots.TITLES[sampling.train_constraint_method])
    cover = plots.coverage(points, box)
    atomic_write_text(stem + "-coverage.json", json.dumps(cover, indent=1))
    print(f"wrote {args.out} ({len(cands)} paths, {sampling.train_constraint_method}), {stem}.png, {stem}.gif, "
          f"{stem}-coverage.json")
    print(f"{'method':<10} {'in box':>7} {'occupied cells':>15} {'share':>6} {'chi2/N':>7}   (grid 20M x 0.25M)")
    for method, c in cover.items():
        print(f"{method:<10} {c['in_box']:>7} {c['occupied_cells']:>7}/{c['reachable_cells']:<7} "
              f"{c['occupied_share']:>6.2f} {c['chi2_per_sample']:>7.3f}")
    return 0


def cmd_micronet(args) -> int:
    from .. import micronet
    from ..utils import atomic_write_text
    entry, cands = candidates_from_args(args)
    if len(cands) != 1:
        raise OneShotError("micronet profiles one architecture at a time")
    space = space_from_args(args, entry)
    space.validate(cands[0])
    rows = micronet.subnet_profile(space, cands[0])
    summary = {"candidate": str(cands[0]), **({"model": entry.name} if entry else {}), "space": space.describe(),
               **{k: round(v, 6) for k, v in micronet.summary(rows).items()}}
    if args.out:
        named = f"--model {entry.name}" if entry else str(cands[0])
        implied = entry.space_flags() if entry else {}
        defaults = type(space)()
        flags = "".join(f" {options.flag(k)}" + ("" if v is True else f" {v}")
                        for k, v in space.to_flags().items()
                        if k not in implied and v != getattr(defaults, k) and v is not False)
        command = f"python -m oneshot_nas micronet {named}{flags} --out {args.out}"
        atomic_write_text(args.out, micronet.markdown(rows, entry.name if entry else str(cands[0]), command))
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{summary.get('model', summary['candidate'])} ({space.describe()}): params {summary['params'] / 1e6:.3f}M, "
              f"mults {summary['mults'] / 1e6:.1f}M, adds {summary['adds'] / 1e6:.1f}M; MicroNet score fp32 "
              f"{summary['score_fp32']:.4f}, fp16 {summary['score_fp16']:.4f}, int8 {summary['score_int8']:.4f}"
              + (f"; wrote {args.out}" if args.out else ""))
    return 0


def cmd_report(args) -> int:
    from .. import report
    from ..utils import atomic_write_text
    groups = report.group_runs(args.runs, args.pool_architectures)
    text = report.markdown(groups, args.comparison_model)
    standing = report.benchmark_standing(groups, args.benchmark) if args.benchmark else None
    difference = None
    if args.paired:
        labels = args.paired.split(",")
        if len(labels) != 2:
            raise OneShotError(f"--paired {args.paired!r} names two labels, e.g. searched,random-best")
        difference = report.paired_difference(groups, *labels)
        if difference is None:
            print(f"report: {args.paired} share fewer than 2 seeds: no paired interval", file=sys.stderr)
    text += report.comparison_text(standing, difference, args.benchmark or "")
    print(text, end="")
    if args.out:
        atomic_write_text(args.out, text)
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


def cmd_plot_curves(args) -> int:
    from ..plots import training_curves
    from ..run_folder import read_history
    histories = {}
    for path in args.history:
        records = read_history(path)
        if not records or "val_err_top1" not in records[0]:
            raise OneShotError(f"{path} holds no epoch records of `train`")
        histories[os.path.basename(os.path.dirname(os.path.abspath(path))) or path] = records
    training_curves(histories, args.out, title=args.title)
    print(f"wrote {args.out}")
    return 0


def cmd_pack_rec(args) -> int:
    from ..packing import pack_folder
    n = pack_folder(args.folder, args.prefix, resize=args.resize, quality=args.quality,
                    progress=sys.stderr.isatty())
    print(f"wrote {args.prefix}.rec, {args.prefix}.idx and {args.prefix}.lst ({n} images)")
    return 0


def cmd_options_doc(args) -> int:
    from ..utils import atomic_write_text
    from . import options_markdown
    text = options_markdown()
    if args.out:
        atomic_write_text(args.out, text)
        print(f"wrote {args.out}")
    else:
        print(text)
    return 0
