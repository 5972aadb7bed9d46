"""Deployment commands: export, profile, latency-table, quantize, evaluate."""
from __future__ import annotations

import json
import os
import sys
from typing import Optional

from ..errors import OneShotError
from ..space import SearchSpace
from .common import (add_candidate_args, add_network_args, candidates_from_args, preflight_out, read_json,
                     space_from_args)


def register(sub) -> None:
    p = sub.add_parser("export", help="export a trained subnet as symbol + params, BN folded into the convs",
                       description="Load the params of a `train` run of a fixed architecture (its config.json names "
                                   "the network), fold every BN into its conv and write PREFIX-symbol.json and "
                                   "PREFIX-0000.params for deployment (mx.gluon.SymbolBlock.imports).")
    p.add_argument("--params", required=True, help="e.g. runs/oneshot/best.params")
    p.add_argument("--out", required=True, metavar="PREFIX", help="e.g. runs/deploy/oneshot")
    p.add_argument("--shuffle-by-conv", action="store_true", help="channel shuffle as a fixed 1x1 conv")
    p.add_argument("--keep-bn", action="store_true", help="do not fold BN")
    p.add_argument("--onnx", default=None, metavar="FILE.onnx",
                   help="also write an ONNX model (needs pip install --no-deps -r requirements-onnx.txt)")
    p.add_argument("--onnx-batch-size", type=int, default=1, help="batch size fixed in the ONNX graph")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("profile", help="op-by-op time profile of a subnet (MXNet profiler, markdown)",
                       description="Time every operator of a hybridized subnet with MXNet's profiler, bulk "
                                   "execution off, and print (or write) a markdown table.")
    add_candidate_args(p)
    add_network_args(p)
    p.add_argument("--params", default=None, help="profile a trained `train` run's subnet instead (its config.json)")
    p.add_argument("--merge-bn", action="store_true", help="profile the deployed network (BN folded)")
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--out", default=None, help="write the markdown table here")
    p.set_defaults(func=cmd_profile)

    p = sub.add_parser("latency-table", help="measure the per-block latency table of a search space on this machine",
                       description="Time every (layer, block, channel) block, the stem and the tail (hybridized, "
                                   "median of --repeats after --warmup) at batch 1 and --batch-size; write the table "
                                   "with its config, device and date; --check N compares predictions with the "
                                   "measured latency of N random subnets.")
    p.add_argument("--out", required=True, help="where to write the table (JSON)")
    add_network_args(p)
    p.add_argument("--batch-size", type=int, default=None, help="a second batch size besides 1")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--check", type=int, default=0, metavar="N", help="report the error on N random subnets")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--progress", action="store_true", help="show the progress bar even when not on a terminal")
    p.set_defaults(func=cmd_latency_table)

    p = sub.add_parser("quantize", help="int8-quantize a trained subnet (MXNet quantization, MKL-DNN, CPU)",
                       description="Fold BN, calibrate on a fixed subset of the run's training images (validation "
                                   "transform) and write an int8 model PREFIX-symbol.json + PREFIX-0000.params.")
    p.add_argument("--params", required=True, help="params of a `train` run of a fixed architecture")
    p.add_argument("--out", required=True, metavar="PREFIX")
    p.add_argument("--calib-mode", choices=("naive", "entropy"), default="naive")
    p.add_argument("--num-calib-batches", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=32, help="calibration batch size")
    p.add_argument("--exclude-layers", default=None,
                   help="comma list of conv layers kept in fp32, e.g. stem_first_conv,tail_output")
    p.set_defaults(func=cmd_quantize)

    p = sub.add_parser("evaluate", help="top-1/top-5 and images/s of a saved model (fp32 export or int8)",
                       description="Evaluate PREFIX-symbol.json + PREFIX-0000.params on the validation data of the "
                                   "run it came from (PREFIX-config.json), and time it at batch 1 and --batch-size.")
    p.add_argument("model", metavar="PREFIX")
    p.add_argument("--val-images", type=int, default=None, help="first N validation images (default all)")
    p.add_argument("--batch-size", type=int, default=32)
    p.set_defaults(func=cmd_evaluate)


def cmd_export(args) -> int:
    from ..deploy.merge_bn import export, load_trained_subnet, run_config, write_sidecar
    preflight_out(args.out, 64 << 20)
    net = load_trained_subnet(args.params)
    by_conv = args.shuffle_by_conv or bool(args.onnx)  # ONNX has no reshape-based shuffle
    prefix = export(net, args.out, shuffle_by_conv=by_conv, fold=not args.keep_bn)
    write_sidecar(prefix, run_config(args.params), source_params=args.params, precision="fp32")
    print(f"wrote {prefix}-symbol.json and {prefix}-0000.params ({net.candidate}, "
          f"{'BN kept' if args.keep_bn else 'BN folded into the convs'}"
          f"{', shuffle as a 1x1 conv' if by_conv else ''})")
    if args.onnx:
        from ..deploy.onnx_export import export_onnx
        size = net.space.input_size
        export_onnx(prefix, args.onnx, (args.onnx_batch_size, 3, size, size))
        print(f"wrote {args.onnx} (ONNX opset 13, input {args.onnx_batch_size}x3x{size}x{size})")
    return 0


def cmd_profile(args) -> int:
    from ..deploy import profile
    from ..deploy.merge_bn import load_trained_subnet, merge_bn
    from ..nn import build_subnet
    from ..utils import atomic_write_text
    if args.params:
        net = load_trained_subnet(args.params)
        title = f"{net.candidate} ({args.params})"
    else:
        entry, cands = candidates_from_args(args)
        space = space_from_args(args, entry)
        net = build_subnet(space, space.validate(cands[0]))
        net.initialize()
        title = entry.name if entry else str(cands[0])
    if args.merge_bn:
        net = merge_bn(net)
    size = net.space.input_size
    result = profile.op_times(net, (args.batch_size, 3, size, size), repeats=args.repeats)
    title += f", {net.space.describe()}{', BN folded' if args.merge_bn else ''}"
    command = "python -m oneshot_nas profile " + " ".join(sys.argv[2:]) if len(sys.argv) > 2 else "python -m oneshot_nas profile"
    text = profile.markdown(result, title, command)
    if args.out:
        atomic_write_text(args.out, text)
    print(text)
    return 0


def cmd_latency_table(args) -> int:
    import numpy as np

    from ..costs.latency import LatencyTable, prediction_errors
    space = space_from_args(args)
    preflight_out(args.out, 1 << 20)
    sizes = sorted({1, *([args.batch_size] if args.batch_size else [])})
    table = LatencyTable.build(space, sizes, warmup=args.warmup, repeats=args.repeats,
                               progress=sys.stderr.isatty() or args.progress)
    table.save(args.out)
    print(f"wrote {args.out}: {space.describe()}, batch sizes {sizes}, device {table.meta['device']}")
    if args.check:
        rng = np.random.default_rng(args.seed)
        rows = []
        for b in sizes:
            rows += prediction_errors(table, [space.sample(rng) for _ in range(args.check)], b,
                                      warmup=args.warmup, repeats=args.repeats)
        print(f"{'candidate':<42} {'batch':>5} {'predicted':>10} {'measured':>9} {'error':>7}")
        for r in rows:
            print(f"{r['candidate']:<42} {r['batch_size']:>5} {r['predicted_ms']:>8.2f}ms {r['measured_ms']:>7.2f}ms "
                  f"{100 * r['error']:>6.1f}%")
        for b in sizes:
            errors = [abs(r["error"]) for r in rows if r["batch_size"] == b]
            print(f"batch {b}: median |error| {100 * float(np.median(errors)):.1f}% over {len(errors)} random subnets")
    return 0


def run_data(config: dict, batch_size: int, val_images: Optional[int]):
    """(train, val) pipelines of the run a model came from (its data source and input size)."""
    from .. import data
    space = SearchSpace.from_dict(config["space"])
    return data.make_pipelines(data.DataSource.from_dict(config), space, batch_size, config.get("seed", 0),
                               val_limit=val_images)


def cmd_quantize(args) -> int:
    from ..deploy.merge_bn import load_trained_subnet, merge_bn, run_config, write_sidecar
    from ..deploy.quantize import agreement_warning, quantize, top1_agreement
    preflight_out(args.out, 64 << 20)
    config = run_config(args.params)
    net = merge_bn(load_trained_subnet(args.params))
    train, _ = run_data(config, args.batch_size, None)
    calib = train.fixed_subset(args.num_calib_batches * args.batch_size, config.get("seed", 0) + 2, args.batch_size)
    excluded = [x.strip() for x in args.exclude_layers.split(",") if x.strip()] if args.exclude_layers else []
    qnet = quantize(net, calib, args.calib_mode, args.num_calib_batches, excluded, args.batch_size)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    agreement = top1_agreement(net, qnet, calib)
    qnet.export(args.out, epoch=0)
    write_sidecar(args.out, config, source_params=args.params, precision="int8", calib_mode=args.calib_mode,
                  num_calib_batches=args.num_calib_batches, exclude_layers=excluded,
                  calib_top1_agreement=agreement)
    print(f"wrote {args.out}-symbol.json and {args.out}-0000.params (int8, {args.calib_mode} calibration on "
          f"{args.num_calib_batches} x {args.batch_size} training images); int8 and fp32 agree on the top-1 "
          f"class of {100 * agreement:.1f}% of those images")
    warning = agreement_warning(agreement)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def cmd_evaluate(args) -> int:
    from ..deploy.quantize import images_per_second, load_symbol_model
    from ..devices import evaluate
    config = read_json(f"{args.model}-config.json", "model config", required=True)
    if not isinstance(config, dict) or "space" not in config:
        raise OneShotError(f"{args.model}-config.json is not the config `export` or `quantize` writes beside a model")
    net = load_symbol_model(args.model)
    _, val = run_data(config, args.batch_size, args.val_images)
    result = evaluate(net, val.epoch_batches(0))
    size = config["space"]["input_size"]
    speed = {f"images_per_sec_batch{b}": images_per_second(net, (b, 3, size, size)) for b in (1, args.batch_size)}
    print(json.dumps({"model": args.model, "precision": config.get("precision"), **result, **speed}))
    return 0
