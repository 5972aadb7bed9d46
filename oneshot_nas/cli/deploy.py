"""Deployment commands: export, profile, latency-table, quantize, evaluate, predict."""
from __future__ import annotations

import json
import os
import sys
from typing import Optional

from ..errors import OneShotError
from ..space import SearchSpace
from ..splits import DataSource
from .common import (add_network_args, add_subnet_params_args, candidates_from_args, data_given, preflight_out,
                     space_from_args, subnet_config_from_args)


def register(sub) -> None:
    p = sub.add_parser("export", help="export a trained subnet as symbol + params, BN folded into the convs",
                       description="Load the params of a trained subnet (a `train` run's, whose config.json names the "
                                   "network, or the original codebase's with the architecture and network flags "
                                   "given), fold every BN into its conv and write PREFIX-symbol.json and "
                                   "PREFIX-0000.params for deployment (mx.gluon.SymbolBlock.imports).")
    add_subnet_params_args(p)
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
    add_subnet_params_args(p, required=False, help="profile a trained subnet's params: a `train` run's (its "
                                                   "config.json) or, with the architecture given, any other")
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
    register_quantize_evaluate(sub)
    register_predict(sub)


def register_quantize_evaluate(sub) -> None:
    p = sub.add_parser("quantize", help="int8-quantize a trained subnet (MXNet quantization, MKL-DNN, CPU)",
                       description="Fold BN, calibrate on a fixed subset of the run's training images (validation "
                                   "transform) and write an int8 model PREFIX-symbol.json + PREFIX-0000.params. "
                                   "With the architecture given (e.g. for the original codebase's checkpoints), "
                                   "the data options say which training images.")
    add_subnet_params_args(p, data=True)
    p.add_argument("--out", required=True, metavar="PREFIX")
    p.add_argument("--calib-mode", choices=("naive", "entropy"), default="naive")
    p.add_argument("--num-calib-batches", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=32, help="calibration batch size")
    p.add_argument("--quantized-dtype", choices=("auto", "int8", "uint8"), default="auto",
                   help="MXNet's quantized type: auto (uint8 after ReLUs, int8 elsewhere; default), int8 or uint8")
    p.add_argument("--clip-weights", type=float, default=None, metavar="PERCENTILE",
                   help="clip each weight tensor to this percentile of its absolute values first, e.g. 99.99 (the "
                        "original's clip_weights.py)")
    p.add_argument("--exclude-layers", default=None,
                   help="comma list of conv layers kept in fp32, e.g. stem_first_conv,tail_output")
    p.set_defaults(func=cmd_quantize)

    p = sub.add_parser("evaluate", help="top-1/top-5 and images/s of a saved model (fp32 export, int8, or params)",
                       description="Evaluate PREFIX-symbol.json + PREFIX-0000.params on the validation data of the "
                                   "run it came from (PREFIX-config.json), or a subnet's --params (a `train` run's, "
                                   "or with the architecture, network flags and data options given any other, e.g. "
                                   "the original codebase's), and time it at batch 1 and --batch-size.")
    p.add_argument("prefix", metavar="PREFIX", nargs="?", default=None, help="an `export` or `quantize` --out")
    add_subnet_params_args(p, required=False, data=True, positional=False,
                           help="evaluate a subnet's params instead of a PREFIX")
    p.add_argument("--val-images", type=int, default=None, help="first N validation images (default all)")
    p.add_argument("--batch-size", type=int, default=32)
    p.set_defaults(func=cmd_evaluate)


def register_predict(sub) -> None:
    p = sub.add_parser("predict", help="run a trained network on images or a .npy batch and print the top classes",
                       description="Run a network in inference mode on image files (preprocessed as validation is) "
                                   "or a preprocessed .npy batch (N x 3 x S x S) and print each input's top classes "
                                   "(class names where the dataset has them). The network: a `train` run's params "
                                   "(its config.json beside), an `export`/`quantize` model (PREFIX-0000.params), or "
                                   "any subnet's params, e.g. the original codebase's, with the architecture "
                                   "(BLOCKS-CHANNELS first, or --model NAME) and network flags given.")
    p.add_argument("inputs", nargs="*", metavar="[BLOCKS-CHANNELS] IMAGE",
                   help="image files (JPEG/PNG/BMP); an architecture string may come first")
    p.add_argument("--npy", default=None, metavar="X.npy", help="a preprocessed batch instead of images")
    p.add_argument("--out", default=None, metavar="LOGITS.npy", help="save the logits (N x classes, float32)")
    p.add_argument("--top", type=int, default=5, help="classes printed per input (default 5)")
    add_subnet_params_args(p, data=True, positional=False,
                           help="a `train` run's params, an exported PREFIX-0000.params, or any subnet's params "
                                "with the architecture given")
    p.set_defaults(func=cmd_predict)


def cmd_predict(args) -> int:
    import re

    import numpy as np

    from .. import predict
    from ..utils import atomic_write_bytes
    images = list(args.inputs)
    if images and re.fullmatch(r"\d+-\d+", images[0]) and not os.path.exists(images[0]):
        if args.architecture:
            raise OneShotError(f"two architectures: {images[0]} and --architecture {args.architecture}")
        args.architecture = images.pop(0)
    if bool(images) == bool(args.npy):
        raise OneShotError("give the inputs one way: image files, or --npy X.npy")
    if args.top < 1:
        raise OneShotError(f"--top must be at least 1, not {args.top}")
    given = subnet_config_from_args(args)
    if args.out:
        preflight_out(args.out, 1 << 20)
    model = predict.load_model(args.params, given)
    batch = predict.read_npy(args.npy, model.input_size) if args.npy else predict.read_images(images, model.config)
    logits = predict.logits_of(model, batch)
    names = predict.class_names(model.config)
    labels = images or [f"{args.npy}[{i}]" for i in range(len(batch))]
    print(f"{model.source}: {len(batch)} input(s), {model.num_classes} classes")
    for label, top in zip(labels, predict.top_classes(logits, min(args.top, model.num_classes), names)):
        print(f"{label}: " + ", ".join(f"{c}{f' {n}' if n else ''} {p:.3f}" for c, n, p in top))
    if args.out:
        import io
        buffer = io.BytesIO()
        np.save(buffer, logits)
        atomic_write_bytes(args.out, buffer.getvalue())
        print(f"wrote {args.out} (logits {logits.shape[0]} x {logits.shape[1]})")
    return 0


def cmd_export(args) -> int:
    from ..deploy.merge_bn import export, load_trained_subnet, run_config, write_sidecar
    preflight_out(args.out, 64 << 20)
    config = run_config(args.params, subnet_config_from_args(args))
    net = load_trained_subnet(args.params, config=config)
    by_conv = args.shuffle_by_conv or bool(args.onnx)  # ONNX has no reshape-based shuffle
    prefix = export(net, args.out, shuffle_by_conv=by_conv, fold=not args.keep_bn)
    write_sidecar(prefix, config, source_params=args.params, precision="fp32")
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
    from ..deploy.merge_bn import load_trained_subnet, merge_bn, run_config
    from ..nn import build_subnet
    from ..utils import atomic_write_text
    if args.params:
        net = load_trained_subnet(args.params, config=run_config(args.params, subnet_config_from_args(args)))
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
    return data.make_pipelines(DataSource.from_dict(config), space, batch_size, config.get("seed", 0),
                               val_limit=val_images)


def cmd_quantize(args) -> int:
    from ..deploy.merge_bn import load_trained_subnet, merge_bn, run_config, write_sidecar
    from ..deploy.quantize import agreement_warning, quantize, top1_agreement
    preflight_out(args.out, 64 << 20)
    config = {**run_config(args.params, subnet_config_from_args(args)), **data_given(args)}
    net = merge_bn(load_trained_subnet(args.params, config=config))
    if args.clip_weights is not None:
        from ..deploy.quantize import clip_weights
        print(f"clipped {clip_weights(net, args.clip_weights)} weights to their {args.clip_weights:g}th percentile")
    train, _ = run_data(config, args.batch_size, None)
    calib = train.fixed_subset(args.num_calib_batches * args.batch_size, config.get("seed", 0) + 2, args.batch_size)
    excluded = [x.strip() for x in args.exclude_layers.split(",") if x.strip()] if args.exclude_layers else []
    qnet = quantize(net, calib, args.calib_mode, args.num_calib_batches, excluded, args.batch_size,
                    args.quantized_dtype)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    agreement = top1_agreement(net, qnet, calib)
    qnet.export(args.out, epoch=0)
    write_sidecar(args.out, config, source_params=args.params, precision="int8", calib_mode=args.calib_mode,
                  quantized_dtype=args.quantized_dtype, clip_weights=args.clip_weights,
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
    from ..deploy.quantize import images_per_second
    from ..devices import evaluate
    from ..predict import load_exported, load_trained
    if bool(args.prefix) == bool(args.params):
        raise OneShotError("evaluate one model: an exported PREFIX, or a subnet's --params")
    if args.params:
        loaded = load_trained(args.params, subnet_config_from_args(args))
        config, model = {**loaded.config, "precision": "fp32 (params)"}, args.params
    else:
        loaded = load_exported(args.prefix)
        config, model = loaded.config, args.prefix
    config = {**config, **data_given(args)}
    net = loaded.net
    _, val = run_data(config, args.batch_size, args.val_images)
    result = evaluate(net, val.epoch_batches(0))
    size = config["space"]["input_size"]
    speed = {f"images_per_sec_batch{b}": images_per_second(net, (b, 3, size, size)) for b in (1, args.batch_size)}
    split = DataSource.from_dict(config).val_split
    print(json.dumps({"model": model, "precision": config.get("precision"), "split": split, **result, **speed}))
    return 0
