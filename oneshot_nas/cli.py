"""`python -m oneshot_nas <command>`: parse, resolve the config once, call one library function.

Flag names follow the original codebase (``--use-se``, ``--last-conv-after-pooling``,
``--channels-layout``, ``--block-choices`` ...) so its users' habits carry over.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import List, Optional

from . import zoo
from .checkpoints import preflight
from .errors import OneShotError
from .space import CHANNEL_LAYOUTS, Candidate, SearchSpace, parse_gene_list


# ---------------------------------------------------------------------------------------------
# shared argument groups
# ---------------------------------------------------------------------------------------------
NETWORK_DEFAULTS = {"channels_layout": None, "use_se": False, "last_conv_after_pooling": False, "input_size": 224,
                    "num_classes": 1000, "first_conv_stride": 0}


def add_network_args(parser: argparse.ArgumentParser, inherited_from: Optional[str] = None) -> None:
    """The network flags; with ``inherited_from`` their defaults come from that file (resolved later)."""
    g = parser.add_argument_group("network (search space) options"
                                  + (f"; defaults: {inherited_from}" if inherited_from else ""))
    g.add_argument("--channels-layout", choices=sorted(CHANNEL_LAYOUTS), default=None,
                   help="stage widths: OneShot [64,160,320,640] or ShuffleNetV2+ [48,128,256,512] "
                        "(default: the --model's, else OneShot)")
    g.add_argument("--use-se", action="store_true", default=None if inherited_from else False,
                   help="hard-swish in stages 1-3 and SE in stages 2-3 (ShuffleNetV2+ style)")
    g.add_argument("--last-conv-after-pooling", action="store_true", default=None if inherited_from else False,
                   help="MobileNetV3 tail: global pooling, then the 1024-wide 1x1 conv (no BN)")
    g.add_argument("--input-size", type=int, default=None if inherited_from else 224,
                   help="input resolution, a multiple of 32; below 64 the stem keeps stride 1 (default 224)")
    g.add_argument("--first-conv-stride", type=int, choices=(1, 2), default=None if inherited_from else 0,
                   help="stride of the stem conv (default: 1 below 64 px, else 2; 2 at 32 px is the "
                        "original's network, whose last stage is 1x1)")
    g.add_argument("--num-classes", type=int, default=None if inherited_from else 1000,
                   help="number of classes (default 1000)")


def inherit_network_args(args, space: dict) -> None:
    """Fill network flags left unset (None) from a saved space, then from the usual defaults."""
    for name, default in NETWORK_DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, space.get(name, default))


def add_candidate_args(parser: argparse.ArgumentParser, many: bool = False) -> None:
    g = parser.add_argument_group("architecture (one of)")
    g.add_argument("architecture", nargs="?", default=None,
                   help="compact architecture string BLOCKS-CHANNELS, e.g. "
                        "00311100202110202132-65352634257546744543")
    g.add_argument("--model", default=None, help=f"a published architecture: {', '.join(zoo.ZOO)}")
    g.add_argument("--block-choices", default=None, help="comma list of 20 block genes 0..3, e.g. 0,0,3,1,...")
    g.add_argument("--channel-choices", default=None,
                   help="comma list of 20 channel genes 0..9 (scales 0.2..2.0), e.g. 6,5,3,5,...")
    if many:
        g.add_argument("--candidates", default=None, metavar="FILE",
                       help="file with one compact architecture string per line ('#' starts a comment)")


def add_sampling_args(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("path sampling (supernet training)")
    g.add_argument("--use-all-channels", action="store_true", help="always use the widest channels (no channel selection)")
    g.add_argument("--epoch-start-cs", type=int, default=0,
                   help="epoch (0-based count of finished epochs) from which channel selection starts (default 0)")
    g.add_argument("--cs-warm-up", action="store_true",
                   help="widen the channel choices gradually after --epoch-start-cs (8, 7, 6, ... down to 0)")
    g.add_argument("--ignore-first-two-cs", action="store_true", help="never use the two smallest scales (0.2, 0.4)")
    g.add_argument("--train-upper-constraints", default=None, metavar="flops-M-params-M",
                   help="upper corner of the FLOPs/params box, e.g. flops-330-params-5.0")
    g.add_argument("--train-bottom-constraints", default=None, metavar="flops-M-params-M",
                   help="lower corner of the box, e.g. flops-190-params-2.8")
    g.add_argument("--train-constraint-method", choices=("none", "random", "evolution"), default=None,
                   help="how sampled paths meet the box: rejection sampling or strolling evolution "
                        "(default: evolution when a box is given, else none)")


SPLIT_DEFAULTS = {"holdout": 0, "holdout_seed": 0, "val_split": "test"}


def add_data_args(parser: argparse.ArgumentParser, inherited_from: Optional[str] = None) -> None:
    """The data options; with ``inherited_from`` the split's defaults come from that file (resolved later)."""
    g = parser.add_argument_group("data source" + (f"; split defaults: {inherited_from}" if inherited_from else ""))
    g.add_argument("--dataset", choices=("imagenet", "fashion-mnist"), default="imagenet")
    g.add_argument("--data-dir", default=None, help="Fashion-MNIST IDX folder, or ImageNet folder with train/ val/")
    g.add_argument("--use-rec", action="store_true", help="ImageNet from RecordIO files")
    g.add_argument("--rec-train", default="~/.mxnet/datasets/imagenet/rec/train.rec")
    g.add_argument("--rec-train-idx", default="~/.mxnet/datasets/imagenet/rec/train.idx")
    g.add_argument("--rec-val", default="~/.mxnet/datasets/imagenet/rec/val.rec")
    g.add_argument("--rec-val-idx", default="~/.mxnet/datasets/imagenet/rec/val.idx")
    g.add_argument("--crop-ratio", type=float, default=0.875, help="val: resize to input/crop-ratio, centre crop")
    g.add_argument("-j", "--num-data-workers", "--num-workers", dest="num_workers", type=int, default=4,
                   help="decoding workers")
    g.add_argument("--holdout", type=int, default=None if inherited_from else 0, metavar="N",
                   help="hold N training images out of training (a fixed, seeded draw) for validation and search, "
                        "as the official SPOS held 50,000 ImageNet training images out (default 0: none)")
    g.add_argument("--holdout-seed", type=int, default=None if inherited_from else 0,
                   help="seed of the hold-out draw; independent of --seed, so a supernet and its searches share it")
    g.add_argument("--val-split", choices=data_splits(), default=None if inherited_from else "test",
                   help="validate on the hold-out, or on the test split: Fashion-MNIST's t10k files, ImageNet's "
                        "--rec-val or val/ folder (default %(default)s)")


def preflight_out(out: str, need_bytes: int) -> None:
    """Before any work: the folder of an --out file (or prefix) takes a file and has ``need_bytes`` free."""
    preflight(os.path.dirname(os.path.abspath(out)), need_bytes, "the output folder of --out")


def data_splits():
    from .data import VAL_SPLITS
    return VAL_SPLITS


def data_source_from_args(args) -> dict:
    """The DataSource fields among the parsed options (their names are the options' destinations)."""
    import dataclasses

    from .data import DataSource
    return {f.name: getattr(args, f.name) for f in dataclasses.fields(DataSource)}


def sampler_from_args(args, space: SearchSpace, seed: int, table=None):
    from .sampling import Box, PathSampler
    box = None
    if args.train_upper_constraints or args.train_bottom_constraints:
        if not (args.train_upper_constraints and args.train_bottom_constraints):
            raise OneShotError("--train-upper-constraints and --train-bottom-constraints go together; give both")
        box = Box.parse(args.train_upper_constraints, args.train_bottom_constraints)
    method = args.train_constraint_method or ("evolution" if box else "none")
    return PathSampler(space, seed, epoch_start_cs=args.epoch_start_cs, cs_warm_up=args.cs_warm_up,
                       ignore_first_two_cs=args.ignore_first_two_cs, use_all_channels=args.use_all_channels,
                       constraint_method=method, box=box, table=table)


def space_from_args(args, entry: Optional[zoo.ZooEntry] = None) -> SearchSpace:
    """The search space from the network flags; a zoo entry contributes the flags it implies."""
    flags = entry.space_flags() if entry else {}
    layout = args.channels_layout or flags.get("channels_layout", "OneShot")
    if entry and args.channels_layout and args.channels_layout != entry.channels_layout:
        raise OneShotError(f"--model {entry.name} uses the {entry.channels_layout} channels layout, "
                           f"not {args.channels_layout}; drop --channels-layout")
    return SearchSpace(channels_layout=layout,
                       use_se=args.use_se or flags.get("use_se", False),
                       last_conv_after_pooling=args.last_conv_after_pooling
                       or flags.get("last_conv_after_pooling", False),
                       input_size=args.input_size, num_classes=args.num_classes,
                       first_conv_stride=args.first_conv_stride)


def candidates_from_args(args) -> tuple[Optional[zoo.ZooEntry], List[Candidate]]:
    """Resolve exactly one way of naming the architecture(s)."""
    given = [name for name, value in (("architecture string", args.architecture), ("--model", args.model),
                                      ("--block-choices/--channel-choices",
                                       args.block_choices or args.channel_choices),
                                      ("--candidates", getattr(args, "candidates", None))) if value]
    if len(given) != 1:
        raise OneShotError("name the architecture exactly one way: an architecture string, --model NAME, "
                           "--block-choices with --channel-choices"
                           + (", or --candidates FILE" if hasattr(args, "candidates") else "")
                           + (f" (got {' and '.join(given)})" if given else ""))
    if args.model:
        entry = zoo.get(args.model)
        return entry, [entry.candidate]
    if args.architecture:
        return None, [Candidate.parse(args.architecture)]
    if args.block_choices or args.channel_choices:
        if not (args.block_choices and args.channel_choices):
            raise OneShotError("--block-choices and --channel-choices go together; give both")
        return None, [Candidate.from_lists(args.block_choices, args.channel_choices)]
    return None, read_candidates_file(args.candidates)


def read_candidates_file(path: str) -> List[Candidate]:
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise OneShotError(f"cannot read candidates file {path}: {e.strerror}") from None
    out = []
    for number, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            out.append(Candidate.parse(text))
        except OneShotError as e:
            raise OneShotError(f"{path}:{number}: {e}") from None
    if not out:
        raise OneShotError(f"candidates file {path} holds no architecture strings")
    return out


# ---------------------------------------------------------------------------------------------
# commands
# ---------------------------------------------------------------------------------------------
def cmd_count(args) -> int:
    from .complexity import LookupTable, costs, normalized_score
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
    from .complexity import LookupTable
    space = space_from_args(args)
    preflight_out(args.out, 1 << 20)
    table = LookupTable.build(space, method=args.method, progress=sys.stderr.isatty() or args.progress)
    table.save(args.out)
    bounds = table.bounds()
    print(f"wrote {args.out}: {space.describe()}, {space.num_layers}x{space.num_blocks}x{space.num_scales} "
          f"entries by {args.method}; FLOPs {bounds['min'].flops / 1e6:.1f}M..{bounds['max'].flops / 1e6:.1f}M, "
          f"params {bounds['min'].params / 1e6:.3f}M..{bounds['max'].params / 1e6:.3f}M")
    return 0


def cmd_sample_paths(args) -> int:
    import os

    from . import plots
    from .utils import atomic_write_text
    space = space_from_args(args)
    if args.num_samples < 1:
        raise OneShotError(f"--num-samples must be at least 1, not {args.num_samples}")
    preflight_out(args.out, 1 << 20)
    if not (args.train_upper_constraints and args.train_bottom_constraints):
        raise OneShotError("sample-paths draws the target box: give --train-upper-constraints and "
                           "--train-bottom-constraints (e.g. flops-330-params-5.0 and flops-190-params-2.8)")
    points, chosen = {}, None
    for method in ("none", "random", "evolution"):
        sampler = sampler_from_args(argparse.Namespace(**{**vars(args), "train_constraint_method": method}),
                                    space, args.seed)
        cands = [sampler.sample(args.epoch) for _ in _progress(range(args.num_samples), f"sampling ({method})")]
        costs = [sampler.table.cost(c) for c in cands]
        points[method] = [(c.flops, c.params) for c in costs]
        if method == args.train_constraint_method:
            chosen = (cands, costs, sampler.box)
    cands, costs, box = chosen
    atomic_write_text(args.out, "".join(json.dumps({"step": i, "candidate": str(c), "flops": k.flops,
                                                    "params": k.params}) + "\n"
                                        for i, (c, k) in enumerate(zip(cands, costs))))
    stem = os.path.splitext(args.out)[0]
    title = f"{space.describe()}, seed {args.seed}"
    plots.distribution_figure(points, box, stem + ".png", title=title)
    plots.distribution_gif(points[args.train_constraint_method], box, stem + ".gif",
                           title=plots.TITLES[args.train_constraint_method])
    cover = plots.coverage(points, box)
    atomic_write_text(stem + "-coverage.json", json.dumps(cover, indent=1))
    print(f"wrote {args.out} ({len(cands)} paths, {args.train_constraint_method}), {stem}.png, {stem}.gif, "
          f"{stem}-coverage.json")
    print(f"{'method':<10} {'in box':>7} {'occupied cells':>15} {'share':>6} {'chi2/N':>7}   (grid 20M x 0.25M)")
    for method, c in cover.items():
        print(f"{method:<10} {c['in_box']:>7} {c['occupied_cells']:>7}/{c['reachable_cells']:<7} "
              f"{c['occupied_share']:>6.2f} {c['chi2_per_sample']:>7.3f}")
    return 0


def train_config_from_args(args):
    """(TrainConfig, the architecture's SearchSpace, its Candidate or None for the supernet) of `train` options."""
    from .training import TrainConfig
    entry, cand = None, None
    if args.model not in (None, "ShuffleNas", "ShuffleNas_fixArch"):
        entry = zoo.get(args.model)
        cand = entry.candidate
    elif args.candidate_file:
        cand = _candidate_from_file(args.candidate_file)
    elif args.architecture or args.block_choices or args.channel_choices:
        args.model = None
        _, [cand] = candidates_from_args(argparse.Namespace(**{**vars(args), "candidates": None}))
    elif args.model == "ShuffleNas_fixArch":
        raise OneShotError("--model ShuffleNas_fixArch needs --block-choices/--channel-choices, "
                           "an architecture string or --candidate-file")
    space = space_from_args(args, entry)
    if cand is not None:
        space.validate(cand)
    cfg = TrainConfig(
        space=space.to_dict(), candidate=str(cand) if cand else None, **data_source_from_args(args),
        batch_size=args.batch_size, num_gpus=args.num_gpus, num_cpu_contexts=args.num_cpu_contexts,
        num_epochs=args.num_epochs, lr=args.lr, momentum=args.momentum, wd=args.wd, lr_mode=args.lr_mode,
        lr_decay=args.lr_decay, lr_decay_epoch=args.lr_decay_epoch, warmup_lr=args.warmup_lr,
        warmup_epochs=args.warmup_epochs, label_smoothing=args.label_smoothing, mixup=args.mixup,
        mixup_alpha=args.mixup_alpha, mixup_off_epoch=args.mixup_off_epoch, no_wd=args.no_wd, dtype=args.dtype,
        mode=args.mode, dropout=args.dropout, use_all_blocks=args.use_all_blocks,
        sampling={k: getattr(args, k) for k in ("use_all_channels", "epoch_start_cs", "cs_warm_up",
                                                "ignore_first_two_cs", "train_upper_constraints",
                                                "train_bottom_constraints", "train_constraint_method")},
        save_frequency=args.save_frequency, save_dir=args.save_dir, log_interval=args.log_interval,
        reduced_dataset_scale=args.reduced_dataset_scale, train_limit=args.train_limit, val_limit=args.val_limit,
        bn_images=args.bn_images, kvstore=args.kvstore, seed=args.seed, overwrite=args.overwrite,
        deterministic=args.deterministic)
    return cfg, space, cand


def cmd_train(args) -> int:
    import dataclasses
    import logging

    from .training import Run
    cfg, space, cand = train_config_from_args(args)
    os.makedirs(args.save_dir, exist_ok=True)
    _setup_logging(args.logging_file and os.path.join(args.save_dir, args.logging_file))
    sampler = sampler_from_args(args, space, args.seed) if cand is None else None
    logging.getLogger("oneshot_nas").info("config: %s", json.dumps(dataclasses.asdict(cfg)))
    record = Run(cfg, sampler, resume=args.resume).run()
    if record:
        print(json.dumps({"save_dir": args.save_dir, **record}))
    return 0


def search_config_from_args(args, log_name: str):
    """The SearchConfig of `search` (and `rank-study`) options; sets up logging into the output folder."""
    import dataclasses
    import logging

    from .search.run import SearchConfig
    params = args.supernet_params
    if os.path.isdir(params):
        params = os.path.join(params, "last.params")  # a `train` save dir: its newest checkpoint
    if not os.path.exists(params):
        raise OneShotError(f"supernet params {params} do not exist; train one with scripts/train_supernet.sh "
                           "(runs/supernet/last.params) or pass --supernet-params")
    saved = os.path.join(os.path.dirname(os.path.abspath(params)), "config.json")
    saved_config = {}
    if os.path.exists(saved):  # the supernet's training config: its network flags and split are the defaults
        try:
            with open(saved) as f:
                saved_config = json.load(f)
        except ValueError:
            pass
    saved_config = saved_config if isinstance(saved_config, dict) else {}
    inherit_network_args(args, saved_config.get("space", {}) if isinstance(saved_config.get("space"), dict) else {})
    for name, default in SPLIT_DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, saved_config.get(name, default))
    space = space_from_args(args)
    os.makedirs(args.out_dir, exist_ok=True)
    _setup_logging(os.path.join(args.out_dir, log_name))
    fixed = {}
    for name in ("fixed_block_choices", "fixed_channel_choices"):
        value = getattr(args, name, None)
        fixed[name] = list(parse_gene_list(value, name.split("_")[1])) if value else None
    constraints = constraint_options(args)
    search = {k: getattr(args, k) for k in ("search_mode", "search_space", "two_stage", "population_size",
                                            "retain_length", "random_select", "mutate_chance", "search_iters",
                                            "search_target", "score_acc_ratio") if hasattr(args, k)}
    cfg = SearchConfig(
        space=space.to_dict(), supernet_params=params, out_dir=args.out_dir, **data_source_from_args(args),
        batch_size=args.batch_size, num_gpus=args.num_gpus, num_cpu_contexts=args.num_cpu_contexts,
        update_bn_images=args.update_bn_images, val_images=args.val_images, **search, **fixed,
        topk=getattr(args, "topk", 3), constraints=constraints, lookup_table=args.lookup_table,
        latency_table=args.latency_table, latency_batch_size=args.latency_batch_size, seed=args.seed)
    logging.getLogger("oneshot_nas").info("config: %s", json.dumps(dataclasses.asdict(cfg)))
    return cfg


def cmd_benchmark(args) -> int:
    from .benchmark import Benchmark, make_plan, seed_agreement, train_one
    from .search.constraints import Constraints
    seeds = [int(x) for x in args.seeds.split(",") if x.strip()] if args.seeds else []
    if not seeds:
        raise OneShotError(f"--seeds must list at least one seed, e.g. 0,1, not {args.seeds!r}")
    if args.num_subnets < 0:
        raise OneShotError(f"--num-subnets must be 0 or more, not {args.num_subnets}")
    args.model, args.architecture, args.candidate_file = "ShuffleNas", None, None  # subnets come from the plan
    template, _, _ = train_config_from_args(args)
    os.makedirs(args.save_dir, exist_ok=True)
    _setup_logging(os.path.join(args.save_dir, "benchmark.log"))
    constraints = Constraints(**constraint_options(args))
    zoo_names = [n for n in args.zoo.split(",") if n.strip()] if args.zoo else []
    plan = make_plan(template, constraints, args.num_subnets, seeds, args.sample_seed, zoo_names)
    rows = Benchmark(args.out, args.save_dir, plan, " ".join(["python -m oneshot_nas", *sys.argv[1:]])).run(train_one)
    agreement = seed_agreement(rows)
    print(json.dumps({"out": args.out, "runs": len(rows), "seed_agreement": agreement}))
    return 0


def cmd_search(args) -> int:
    from .search.run import Search
    cfg = search_config_from_args(args, "search.log")
    best = Search(cfg, resume=args.resume).run()
    print(json.dumps({k: best[k] for k in ("candidate", "top1", "top5", "flops", "params", "normalized_score")}
                     | {"best_json": os.path.join(args.out_dir, "best.json")}))
    return 0


def cmd_rank_study(args) -> int:
    from .rank_study import benchmark_rank_study, rank_study
    cfg = search_config_from_args(args, "rank_study.log")
    if args.bootstrap < 100:
        raise OneShotError(f"--bootstrap must be at least 100 resamples, not {args.bootstrap}")
    if args.benchmark:
        result = benchmark_rank_study(cfg, args.benchmark, args.bootstrap)
        print(json.dumps({k: result[k] for k in ("kendall_tau", "kendall_tau_ci95", "spearman_rho",
                                                 "spearman_rho_ci95", "n")}
                         | {"flops_kendall_tau": result["baselines"]["flops"]["kendall_tau"],
                            "out": os.path.join(args.out_dir, "rank_study.json")}))
        return 0
    if args.num_subnets < 3:
        raise OneShotError(f"--num-subnets must be at least 3 for a rank correlation, not {args.num_subnets}")
    from .search.run import network_flags
    flags = network_flags(cfg.search_space_obj)
    network = [f"--{k}={v}" for k, v in flags.items() if not isinstance(v, bool)] + \
              [f"--{k}" for k, v in flags.items() if v is True]
    data = ["--dataset", args.dataset] + (["--data-dir", args.data_dir] if args.data_dir else [])
    extra = args.train_args.split() if args.train_args else []

    def train(candidate: str, run_dir: str) -> None:
        """One from-scratch run through `train` itself (same options, checkpoints and resume)."""
        argv = ["train", candidate, "--model", "ShuffleNas_fixArch", *(["--config", args.train_config]
                                                                     if args.train_config else []),
                *data, *network, "--seed", str(args.seed), "--save-dir", run_dir, *extra]
        if os.path.exists(os.path.join(run_dir, "last.json")):
            argv.append("--resume")
        parser = build_parser()
        apply_presets(parser, argv)
        train_args = parser.parse_args(argv)
        code = train_args.func(train_args)
        if code:
            raise OneShotError(f"training {candidate} in {run_dir} failed")
        _setup_logging(os.path.join(args.out_dir, "rank_study.log"))  # `train` pointed the log elsewhere

    result = rank_study(cfg, args.num_subnets, train, resume=os.path.exists(
        os.path.join(args.out_dir, "supernet-scores", "state.json")))
    print(json.dumps({k: result[k] for k in ("kendall_tau", "spearman_rho", "n")}
                     | {"out": os.path.join(args.out_dir, "rank_study.json")}))
    return 0


def _candidate_from_file(path: str) -> Candidate:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise OneShotError(f"cannot read candidate file {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise OneShotError(f"candidate file {path} is not text: give a search's best.json or a file of compact "
                           "architecture strings") from None
    try:
        best = json.loads(text)
    except ValueError:
        return read_candidates_file(path)[0]
    value = best.get("candidate") if isinstance(best, dict) else (
        best[0].get("candidate") if isinstance(best, list) and best and isinstance(best[0], dict) else None)
    if not isinstance(value, str):
        raise OneShotError(f"candidate file {path} holds JSON without a \"candidate\" string (found {value!r}); give a "
                           "search's best.json or a file of compact architecture strings")
    try:
        return Candidate.parse(value)
    except OneShotError as e:
        raise OneShotError(f"candidate file {path}: {e}") from None


def _setup_logging(path: Optional[str]) -> None:
    import logging
    handlers = [logging.StreamHandler()]
    if path:
        handlers.append(logging.FileHandler(path))
    logging.basicConfig(level=logging.INFO, format="%(message)s", handlers=handlers, force=True)
    logging.getLogger("matplotlib").setLevel(logging.WARNING)  # it logs every animation it saves


def cmd_pack_rec(args) -> int:
    from .data import pack_folder
    n = pack_folder(args.folder, args.prefix, resize=args.resize, quality=args.quality,
                    progress=sys.stderr.isatty())
    print(f"wrote {args.prefix}.rec, {args.prefix}.idx and {args.prefix}.lst ({n} images)")
    return 0


def cmd_plot_curves(args) -> int:
    from .plots import training_curves
    from .training import read_history
    histories = {}
    for path in args.history:
        records = read_history(path)
        if not records or "val_err_top1" not in records[0]:
            raise OneShotError(f"{path} holds no epoch records of `train`")
        histories[os.path.basename(os.path.dirname(os.path.abspath(path))) or path] = records
    training_curves(histories, args.out, title=args.title)
    print(f"wrote {args.out}")
    return 0


def cmd_report(args) -> int:
    """The final table of trained-from-scratch runs: one row per architecture, seeds pooled."""
    import re

    import numpy as np

    from .complexity import LookupTable, normalized_score
    from .training import read_history
    from .utils import atomic_write_text
    groups = {}
    for run_dir in args.runs:
        try:
            with open(os.path.join(run_dir, "config.json")) as f:
                config = json.load(f)
            last = read_history(os.path.join(run_dir, "history.jsonl"))[-1]
        except (OSError, ValueError, IndexError, OneShotError):
            raise OneShotError(f"{run_dir} is not a finished `train` run (config.json and history.jsonl "
                               "with at least one epoch)") from None
        if not config.get("candidate"):
            raise OneShotError(f"{run_dir} trained a supernet; `report` compares fixed architectures")
        label = re.sub(r"-seed\d+$", "", os.path.basename(os.path.normpath(run_dir)))
        group = groups.setdefault(label, {"candidate": config["candidate"], "space": config["space"], "runs": []})
        if group["candidate"] != config["candidate"]:
            raise OneShotError(f"runs labelled {label} trained different architectures; name their folders apart")
        group["runs"].append((config["seed"], 1.0 - last["val_err_top1"], last["epoch"] + 1))
        group.setdefault("splits", set()).add(last.get("val_split", config.get("val_split", "test")))
    splits = set().union(*(g["splits"] for g in groups.values()))
    split = splits.pop() if len(splits) == 1 else "mixed: " + ", ".join(sorted(splits))
    lines = ["| architecture | candidate | FLOPs | params | norm. score | seeds | "
             f"top-1 on the {split} split (mean ± std) | per seed |",
             "| :-- | :-- | --: | --: | --: | --: | --: | :-- |"]
    for label, group in groups.items():
        space = SearchSpace.from_dict(group["space"])
        cost = LookupTable.build(space, method="formula").cost(Candidate.parse(group["candidate"]))
        top1 = np.array([t for _, t, _ in sorted(group["runs"])])
        spread = f" ± {top1.std(ddof=1):.4f}" if len(top1) > 1 else ""
        lines.append(f"| {label} | `{group['candidate']}` | {cost.flops / 1e6:.2f}M | {cost.params / 1e6:.3f}M | "
                     f"{normalized_score(cost, args.comparison_model):.4f} | {len(top1)} | "
                     f"{top1.mean():.4f}{spread} | "
                     + ", ".join(f"{t:.4f} (seed {s}, {e} ep.)" for s, t, e in sorted(group["runs"])) + " |")
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.out:
        atomic_write_text(args.out, text)
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


def cmd_micronet(args) -> int:
    from . import micronet
    from .utils import atomic_write_text
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
        flags = "" if entry else "".join(f" {f}" for f, on in (("--use-se", space.use_se),
                                                               ("--last-conv-after-pooling", space.last_conv_after_pooling)) if on)
        size = f" --input-size {space.input_size}" if space.input_size != 224 else ""
        size += f" --first-conv-stride {space.first_conv_stride}" if space.first_conv_stride else ""
        command = f"python -m oneshot_nas micronet {named}{flags}{size} --out {args.out}"
        atomic_write_text(args.out, micronet.markdown(rows, entry.name if entry else str(cands[0]), command))
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{summary.get('model', summary['candidate'])} ({space.describe()}): params {summary['params'] / 1e6:.3f}M, "
              f"mults {summary['mults'] / 1e6:.1f}M, adds {summary['adds'] / 1e6:.1f}M; MicroNet score fp32 "
              f"{summary['score_fp32']:.4f}, fp16 {summary['score_fp16']:.4f}, int8 {summary['score_int8']:.4f}"
              + (f"; wrote {args.out}" if args.out else ""))
    return 0


def cmd_export(args) -> int:
    from .deploy.merge_bn import export, load_trained_subnet, run_config, write_sidecar
    preflight_out(args.out, 64 << 20)
    net = load_trained_subnet(args.params)
    by_conv = args.shuffle_by_conv or bool(args.onnx)  # ONNX has no reshape-based shuffle
    prefix = export(net, args.out, shuffle_by_conv=by_conv, fold=not args.keep_bn)
    write_sidecar(prefix, run_config(args.params), source_params=args.params, precision="fp32")
    print(f"wrote {prefix}-symbol.json and {prefix}-0000.params ({net.candidate}, "
          f"{'BN kept' if args.keep_bn else 'BN folded into the convs'}"
          f"{', shuffle as a 1x1 conv' if by_conv else ''})")
    if args.onnx:
        from .deploy.onnx_export import export_onnx
        size = net.space.input_size
        export_onnx(prefix, args.onnx, (args.onnx_batch_size, 3, size, size))
        print(f"wrote {args.onnx} (ONNX opset 13, input {args.onnx_batch_size}x3x{size}x{size})")
    return 0


def cmd_profile(args) -> int:
    from .deploy import profile
    from .deploy.merge_bn import load_trained_subnet, merge_bn
    from .nn import build_subnet
    from .utils import atomic_write_text
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

    from .deploy.latency import LatencyTable, prediction_errors
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


def _deploy_data(config: dict, batch_size: int, val_images: Optional[int]):
    """(train, val) pipelines of the run a model came from (its data source and input size)."""
    from . import data
    space = SearchSpace.from_dict(config["space"])
    return data.make_pipelines(data.DataSource.from_dict(config), space, batch_size, config.get("seed", 0),
                               val_limit=val_images)


# naive calibration kept 95-96% agreement on our trained subnets (0.2-0.5 points of top-1 lost); the entropy
# collapse of the plain OneShot network (45 points lost) kept 35%
QUANTIZE_AGREEMENT_WARNING = 0.8


def cmd_quantize(args) -> int:
    from .deploy.merge_bn import load_trained_subnet, merge_bn, run_config, write_sidecar
    from .deploy.quantize import quantize, top1_agreement
    preflight_out(args.out, 64 << 20)
    config = run_config(args.params)
    net = merge_bn(load_trained_subnet(args.params))
    train, _ = _deploy_data(config, args.batch_size, None)
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
    if agreement < QUANTIZE_AGREEMENT_WARNING:
        print(f"warning: int8 changes the top-1 class of {100 * (1 - agreement):.1f}% of the calibration images. "
              "Entropy calibration clips the heavy-tailed outputs of linear layers in some networks: try "
              "--calib-mode naive, and measure with `evaluate` before deploying", file=sys.stderr)
    return 0


def cmd_evaluate(args) -> int:
    from .deploy.quantize import evaluate, images_per_second, load_symbol_model
    sidecar = f"{args.model}-config.json"
    config = _read_json(sidecar, "model config", required=True)
    net = load_symbol_model(args.model)
    _, val = _deploy_data(config, args.batch_size, args.val_images)
    result = evaluate(net, val.epoch_batches(0))
    size = config["space"]["input_size"]
    speed = {f"images_per_sec_batch{b}": images_per_second(net, (b, 3, size, size)) for b in (1, args.batch_size)}
    print(json.dumps({"model": args.model, "precision": config.get("precision"), **result, **speed}))
    return 0


def options_markdown() -> str:
    """Every option of `train` and `search`, from the parsers themselves (so the page cannot drift)."""
    parser = build_parser()
    parts = ["# Options of `train` and `search`", "",
             "Generated by `python -m oneshot_nas options-doc --out logs/train_search_options.md` from the argument",
             "parsers; `tests/test_cli.py` checks that it is current. JSON presets (`--config`, see `configs/`) take",
             "the same names without the dashes.", ""]
    for command in ("train", "search"):
        sub = _subparser(parser, command)
        sub.formatter_class = lambda prog: argparse.HelpFormatter(prog, width=110, max_help_position=34)
        parts += [f"## `{command}`", "", "```", sub.format_help().rstrip(), "```", ""]
    return "\n".join(parts)


def cmd_options_doc(args) -> int:
    from .utils import atomic_write_text
    text = options_markdown()
    if args.out:
        atomic_write_text(args.out, text)
        print(f"wrote {args.out}")
    else:
        print(text)
    return 0


def _progress(iterable, desc):
    if sys.stderr.isatty():
        from tqdm import tqdm
        return tqdm(iterable, desc=desc)
    return iterable


def build_parser() -> argparse.ArgumentParser:
    from .complexity import COMPARISON_MODELS, DEFAULT_COMPARISON
    parser = argparse.ArgumentParser(prog="python -m oneshot_nas",
                                     description="Single Path One-Shot NAS (joint block + channel search) in MXNet Gluon")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

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
    p.set_defaults(func=cmd_count)

    p = sub.add_parser("lookup-table", help="build the FLOPs/params lookup table of a search space",
                       description="Build stem + tail + per (layer, block, channel) FLOPs/params table.")
    p.add_argument("--out", required=True, metavar="FILE", help="where to write the table (JSON)")
    add_network_args(p)
    p.add_argument("--method", choices=("symbol", "formula"), default="symbol",
                   help="measure each block on its symbol graph (default) or use the formulas")
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
    add_sampling_args(p)
    p.set_defaults(func=cmd_sample_paths, train_constraint_method="evolution")

    p = sub.add_parser("pack-rec", help="pack an image folder (one sub-folder per class) into RecordIO",
                       description="Pack FOLDER/<class>/<image> into PREFIX.rec + PREFIX.idx (+ PREFIX.lst), classes "
                                   "numbered in sorted folder order; what MXNet's im2rec.py does for ImageNet.")
    p.add_argument("folder", help="folder with one sub-folder per class (e.g. ILSVRC2012 train/ or val/)")
    p.add_argument("prefix", help="output prefix, e.g. ~/.mxnet/datasets/imagenet/rec/train")
    p.add_argument("--resize", type=int, default=0, help="scale the shorter side to N pixels first (ImageNet: 480)")
    p.add_argument("--quality", type=int, default=95, help="JPEG quality (default 95)")
    p.set_defaults(func=cmd_pack_rec)

    p = sub.add_parser("plot-curves", help="draw train/val curves from history.jsonl files of `train`")
    p.add_argument("history", nargs="+", help="history.jsonl files (one line per run, labelled by its folder)")
    p.add_argument("--out", required=True, help="PNG to write")
    p.add_argument("--title", default="")
    p.set_defaults(func=cmd_plot_curves)

    p = sub.add_parser("train", help="train the supernet or a fixed subnet from scratch",
                       description="Train the supernet (--model ShuffleNas, the default) with one sampled path per "
                                   "iteration, or a fixed architecture from scratch.")
    add_train_args(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("search", help="search a trained supernet (genetic or random, under constraints)",
                       description="Score candidates with the trained supernet (BN recalibrated per candidate on a "
                                   "fixed training subset, then validated on a fixed validation subset) and search "
                                   "them with the genetic algorithm or at random. Writes OUT_DIR/records.jsonl, "
                                   "state.json, best.json (for `train --candidate-file`), plots and search.log.")
    g = add_supernet_eval_args(p, "runs/search")
    g.add_argument("--resume", action="store_true", help="continue the search in --out-dir where it stopped")
    g = p.add_argument_group("search")
    g.add_argument("--search-mode", choices=("genetic", "random"), default="genetic")
    g.add_argument("--search-space", choices=("joint", "block", "channel"), default="joint",
                   help="which genes are searched; block search keeps channels at --fixed-channel-choices "
                        "(default: scale 1.0), channel search needs --fixed-block-choices")
    g.add_argument("--two-stage", action="store_true",
                   help="genetic block search, then channel search on the best blocks (each --search-iters generations)")
    g.add_argument("--fixed-block-choices", default=None, help="comma list of 20 block genes kept fixed")
    g.add_argument("--fixed-channel-choices", default=None, help="comma list of 20 channel genes kept fixed")
    g.add_argument("--population-size", type=int, default=50,
                   help="genetic: population per generation; random: candidates per logged chunk")
    g.add_argument("--retain-length", type=int, default=10, help="genetic: best members kept as parents")
    g.add_argument("--random-select", type=float, default=0.1, help="genetic: chance to keep any other member")
    g.add_argument("--mutate-chance", type=float, default=0.1, help="genetic: per-gene mutation probability")
    g.add_argument("--search-iters", type=int, default=20,
                   help="genetic: generations (per stage); random: candidates evaluated")
    g.add_argument("--topk", type=int, default=3, help="candidates in the final table and best.json")
    g.add_argument("--search-target", choices=("acc", "balanced_flop_acc"), default="acc",
                   help="fitness: top-1, or top-1 - score-acc-ratio x normalised score")
    g.add_argument("--score-acc-ratio", type=float, default=0.1, help="balanced_flop_acc: weight of the score")
    add_constraint_args(p)
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("rank-study", help="does the supernet rank subnets like training from scratch does?",
                       description="Draw --num-subnets subnets under the constraints, score each with the supernet "
                                   "(BN recalibration + validation, as `search` does) and by training it from "
                                   "scratch (`train` with --train-config), and report Kendall tau and Spearman rho "
                                   "between the two, with a scatter plot. Resumes when run again.")
    g = add_supernet_eval_args(p, "runs/rank-study")
    g.add_argument("--num-subnets", type=int, default=10, help="subnets to compare (default 10)")
    g.add_argument("--train-config", default=None, metavar="FILE",
                   help="`train` preset for the from-scratch runs, e.g. configs/oneshot_fashion-mnist.json")
    g.add_argument("--train-args", default=None, help="extra `train` options, e.g. '--num-epochs 2 --train-limit 10240'")
    g.add_argument("--benchmark", default=None, metavar="FILE.jsonl",
                   help="score the subnets of this stand-alone benchmark (`benchmark`) with the supernet instead of "
                        "drawing and training subnets; compares with ranking by FLOPs and by params alone")
    g.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples for the 95%% intervals")
    add_constraint_args(p)
    p.set_defaults(func=cmd_rank_study)

    p = sub.add_parser("benchmark", help="train subnets drawn under a constraint from scratch: ground truth for ranking",
                       description="Draw --num-subnets subnets uniformly (seeded) under the constraints, add the "
                                   "--zoo architectures with the same network flags, train each from scratch for every "
                                   "seed in --seeds with one recipe (the `train` options, e.g. --config "
                                   "configs/benchmark_fashion-mnist.json) and test each on the whole test split. "
                                   "Writes one JSON line per (subnet, seed) to --out as it goes, the plan to "
                                   "OUT.meta.json; resumes when run again.")
    add_train_args(p)
    g = p.add_argument_group("benchmark")
    g.add_argument("--out", required=True, metavar="FILE.jsonl", help="benchmark file, e.g. benchmarks/fashion-mnist.jsonl")
    g.add_argument("--num-subnets", type=int, default=20, help="subnets drawn under the constraints (default 20)")
    g.add_argument("--seeds", default="0,1", help="comma list of training seeds per subnet (default 0,1)")
    g.add_argument("--sample-seed", type=int, default=0, help="seed of the subnet draw (default 0)")
    g.add_argument("--zoo", default="OneShot,OneShot-S+,SPOS-block-only",
                   help="published architectures added, with the same network flags (comma list; '' for none)")
    add_constraint_args(p, latency=False)
    p.set_defaults(func=cmd_benchmark, save_dir="runs/benchmark")

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

    p = sub.add_parser("report", help="table of trained-from-scratch runs: FLOPs, params, score, top-1 over seeds",
                       description="One row per architecture (run folders named LABEL-seedN are pooled): FLOPs, "
                                   "params, normalised score and the last epoch's validation top-1, mean and std "
                                   "over seeds.")
    p.add_argument("runs", nargs="+", help="`train` save dirs")
    p.add_argument("--out", default=None, help="also write the markdown table here")
    p.add_argument("--comparison-model", default=DEFAULT_COMPARISON, help="reference of the normalised score")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("options-doc", help="write the option reference of `train` and `search` (markdown)")
    p.add_argument("--out", default=None, help="file to write (default: print)")
    p.set_defaults(func=cmd_options_doc)
    return parser


def add_train_args(p: argparse.ArgumentParser) -> None:
    """Every option of `train` (also the recipe options of `benchmark`)."""
    p.add_argument("--config", default=None, metavar="FILE",
                   help="JSON preset of option values (see configs/); command-line flags override it")
    g = p.add_argument_group("model")
    g.add_argument("--model", default="ShuffleNas",
                   help=f"ShuffleNas (supernet), ShuffleNas_fixArch (with --block/--channel-choices) or a published "
                        f"architecture: {', '.join(zoo.ZOO)}")
    g.add_argument("architecture", nargs="?", default=None, help="compact architecture string to train from scratch")
    g.add_argument("--block-choices", default=None, help="comma list of 20 block genes (fixed architecture)")
    g.add_argument("--channel-choices", default=None, help="comma list of 20 channel genes (fixed architecture)")
    g.add_argument("--candidate-file", default=None, help="best.json of a search, or a file of compact strings")
    g.add_argument("--use-all-blocks", action="store_true", help="supernet: average all four blocks per layer")
    g.add_argument("--dropout", type=float, default=None, help="dropout before the classifier (default 0.2 with SE, else 0.1)")
    add_network_args(p)
    add_sampling_args(p)
    add_data_args(p)
    g = p.add_argument_group("data")
    g.add_argument("--reduced-dataset-scale", type=int, default=1, help="train only 1/N of the batches each epoch")
    g.add_argument("--train-limit", type=int, default=None, help="use only the first N training images (small runs)")
    g.add_argument("--val-limit", type=int, default=None, help="use only the first N validation images")
    g.add_argument("--bn-images", type=int, default=1000,
                   help="supernet validation: training images (fixed, seeded) for BN recalibration")
    g = p.add_argument_group("optimisation")
    g.add_argument("--batch-size", type=int, default=32, help="per device")
    g.add_argument("--num-gpus", type=int, default=0, help="0 = CPU")
    g.add_argument("--num-cpu-contexts", type=int, default=1, help="data-parallel CPU contexts (tests the multi-device path)")
    g.add_argument("--kvstore", default="device",
                   help="device, local, dist_sync (launched with DMLC_* variables) or horovod (launched with "
                        "horovodrun, one process per device; needs WITH_HOROVOD=1 sh scripts/setup.sh)")
    g.add_argument("--num-epochs", type=int, default=3)
    g.add_argument("--lr", type=float, default=0.1)
    g.add_argument("--momentum", type=float, default=0.9)
    g.add_argument("--wd", type=float, default=4e-5)
    g.add_argument("--lr-mode", choices=("step", "poly", "cosine"), default="cosine")
    g.add_argument("--lr-decay", type=float, default=0.1)
    g.add_argument("--lr-decay-epoch", default="40,60", help="step mode: comma list of epochs")
    g.add_argument("--warmup-lr", type=float, default=0.0)
    g.add_argument("--warmup-epochs", type=int, default=0)
    g.add_argument("--label-smoothing", action="store_true", help="label smoothing 0.1")
    g.add_argument("--mixup", action="store_true")
    g.add_argument("--mixup-alpha", type=float, default=0.2)
    g.add_argument("--mixup-off-epoch", type=int, default=0, help="no mixup in the last N epochs")
    g.add_argument("--no-wd", action="store_true", help="no weight decay on BN gamma/beta and biases")
    g.add_argument("--dtype", choices=("float32", "float16"), default="float32", help="float16 uses multi-precision")
    g.add_argument("--mode", choices=("imperative", "hybrid"), default="imperative",
                   help="hybrid: hybridize the fixed subnet (the supernet always runs imperatively)")
    g.add_argument("--seed", type=int, default=0)
    g = p.add_argument_group("checkpoints and logs")
    g.add_argument("--save-dir", default="runs/train")
    g.add_argument("--save-frequency", type=int, default=10, help="also keep epoch-N checkpoints every N epochs")
    g.add_argument("--resume", action="store_true", help="continue from SAVE_DIR's last complete checkpoint exactly "
                                                          "where it stopped")
    g.add_argument("--overwrite", action="store_true",
                   help="delete the run in --save-dir and start over (without it, `train` refuses a folder that holds one)")
    g.add_argument("--deterministic", action="store_true",
                   help="bit-identical runs for the same seed: MKL-DNN off (MXNET_MKLDNN_ENABLED=0), slower on CPU")
    g.add_argument("--log-interval", type=int, default=50)
    g.add_argument("--logging-file", default="train.log", help="log file inside --save-dir")


def _subparser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command]


def set_option_defaults(sub: argparse.ArgumentParser, preset: dict, source: str, command: str) -> None:
    """Option values (names as on the command line, without the dashes) become the command's defaults,
    so flags given on the command line still win; an unknown name is an error naming ``source``."""
    names = {}  # every flag name (without dashes) and every destination -> destination
    for action in sub._actions:
        if action.dest in ("help", "config") or not action.option_strings:
            continue
        names[action.dest.replace("_", "-")] = action.dest
        names.update({o.lstrip("-"): action.dest for o in action.option_strings if o.startswith("--")})
    values = {}
    for key, value in preset.items():
        name = key.lstrip("-").replace("_", "-")
        if name not in names:
            raise OneShotError(f"{source}: unknown option {key!r} for `{command}`; valid: " + ", ".join(sorted(names)))
        values[names[name]] = value
    sub.set_defaults(**values)


def add_supernet_eval_args(p: argparse.ArgumentParser, out_dir: str):
    """Options of every command that scores candidates with a trained supernet; leaves the first group
    (supernet and outputs) open for the command's own options."""
    p.add_argument("--config", default=None, metavar="FILE",
                   help="JSON preset of option values (see configs/); command-line flags override it")
    g = p.add_argument_group("supernet and outputs")
    g.add_argument("--supernet-params", default="runs/supernet",
                   help="supernet .params file, or a `train` save dir (its last.params); the network flags default "
                        "to the config.json beside it (default %(default)s)")
    g.add_argument("--out-dir", default=out_dir, help="where records, state, plots and results go (default %(default)s)")
    g.add_argument("--lookup-table", default=None, metavar="FILE",
                   help="FLOPs/params table of this network config (default: built in memory from the formulas)")
    g.add_argument("--seed", type=int, default=0)
    add_network_args(p, inherited_from="the supernet's config.json, else as for `train`")
    add_data_args(p, inherited_from="the supernet's config.json, else as for `train`")
    e = p.add_argument_group("evaluation")
    e.add_argument("--batch-size", type=int, default=128, help="per device")
    e.add_argument("--num-gpus", type=int, default=0, help="0 = CPU")
    e.add_argument("--num-cpu-contexts", type=int, default=1, help="data-parallel CPU contexts (tests the multi-device path)")
    e.add_argument("--update-bn-images", type=int, default=20000,
                   help="training images (fixed, seeded subset, validation transform) for BN recalibration")
    e.add_argument("--val-images", type=int, default=None, help="validate on the first N validation images (default all)")
    return g


def constraint_options(args) -> dict:
    """The Constraints fields among the options of add_constraint_args (--max-latency only where it exists)."""
    import dataclasses

    from .search.constraints import Constraints
    return {f.name: getattr(args, f.name) for f in dataclasses.fields(Constraints) if hasattr(args, f.name)}


def add_constraint_args(p: argparse.ArgumentParser, latency: bool = True) -> None:
    from .complexity import COMPARISON_MODELS, DEFAULT_COMPARISON
    g = p.add_argument_group("constraints (checked on the lookup table before any evaluation; -1 = off)")
    g.add_argument("--comparison-model", default=DEFAULT_COMPARISON,
                   help=f"reference of ratios and scores: {', '.join(COMPARISON_MODELS)} (default %(default)s)")
    g.add_argument("--flop-max", type=float, default=-1, help="FLOPs <= this x the comparison model's")
    g.add_argument("--param-max", type=float, default=-1, help="params <= this x the comparison model's")
    g.add_argument("--max-flops", type=float, default=-1, help="FLOPs <= this many millions")
    g.add_argument("--min-flops", type=float, default=-1, help="FLOPs >= this many millions")
    g.add_argument("--max-params", type=float, default=-1, help="params <= this many millions")
    g.add_argument("--min-params", type=float, default=-1, help="params >= this many millions")
    g.add_argument("--max-normalized-score", type=float, default=2.0,
                   help="F/F_ref + P/P_ref <= this (the original's 0.5 F/F_ref + 0.5 P/P_ref <= 1; default 2)")
    if not latency:
        return
    g.add_argument("--max-latency", type=float, default=-1,
                   help="predicted latency <= this many ms (needs --latency-table)")
    g.add_argument("--latency-table", default=None, metavar="FILE",
                   help="latency table of this network config (`python -m oneshot_nas latency-table`)")
    g.add_argument("--latency-batch-size", type=int, default=None,
                   help="which of the table's batch sizes the latency limit is for (default: its first)")


def apply_presets(parser: argparse.ArgumentParser, argv: List[str]) -> None:
    """Defaults from files named on the command line, weakest first: the network flags of a search's
    ``best.json`` (``train --candidate-file``), then a ``--config`` preset; explicit flags beat both."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("command", nargs="?")
    pre.add_argument("--config")
    pre.add_argument("--candidate-file")
    known, _ = pre.parse_known_args(argv)
    if known.command == "train" and known.candidate_file:
        flags = _read_json(known.candidate_file, "candidate file", required=False)
        if isinstance(flags, dict) and isinstance(flags.get("flags"), dict):
            set_option_defaults(_subparser(parser, "train"), flags["flags"], known.candidate_file, "train")
    if known.config and known.command:
        preset = _read_json(known.config, "config", required=True)
        if not isinstance(preset, dict):
            raise OneShotError(f"config {known.config} must hold a JSON object of option values")
        set_option_defaults(_subparser(parser, known.command), preset, f"config {known.config}", known.command)


def _read_json(path: str, what: str, required: bool):
    try:
        with open(path) as f:
            return json.load(f)
    except OSError as e:
        raise OneShotError(f"cannot read {what} {path}: {e.strerror}") from None
    except ValueError as e:
        if required:
            raise OneShotError(f"{what} {path} is not valid JSON: {e}") from None
        return None


# What --deterministic sets: MKL-DNN keeps updated weights in blocked layouts whose float order differs from
# run to run (measured: 2.7% of weights differ between two same-seed runs); without it runs are bit-identical.
DETERMINISTIC_ENV = {"MXNET_MKLDNN_ENABLED": "0", "MXNET_ENFORCE_DETERMINISM": "1"}


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        apply_presets(parser, argv)  # presets become defaults before the flags are parsed
        args = parser.parse_args(argv)
        if getattr(args, "deterministic", False) and os.environ.get("MXNET_MKLDNN_ENABLED") != "0":
            # MXNet reads this when it is imported, which parsing already did: start again with it set
            env = {**os.environ, **DETERMINISTIC_ENV}
            os.execve(sys.executable, [sys.executable, "-m", "oneshot_nas", *argv], env)
        return args.func(args)
    except OneShotError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a write that failed midway (disk full, folder removed): one line, not a traceback
        where = f" {e.filename}" if e.filename else ""
        print(f"error: cannot write or read{where}: {e.strerror or e}; free space or fix the path, then run the "
              "same command again (long jobs resume with --resume)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
