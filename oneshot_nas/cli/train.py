"""`train` (supernet or a fixed architecture from scratch) and `benchmark` (many from-scratch runs)."""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
from typing import Optional

from .. import options, zoo
from ..errors import OneShotError
from ..sampling import SamplingOptions
from ..space import parse_gene_list
from ..train_config import MODEL, TrainConfig
from .common import (add_config_arg, add_network_args, add_print_config_arg, candidate_from_file,
                     candidates_from_args, log_file, print_config, setup_logging, space_from_args)

SUPERNET_MODELS = ("ShuffleNas", "ShuffleNas_fixArch")


def register(sub) -> None:
    p = sub.add_parser("train", help="train the supernet or a fixed subnet from scratch",
                       description="Train the supernet (--model ShuffleNas, the default) with one sampled path per "
                                   "iteration, or a fixed architecture from scratch.")
    add_train_args(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("benchmark", help="train subnets drawn under a constraint from scratch: ground truth for ranking",
                       description="Draw --num-subnets subnets uniformly (seeded) under the constraints, add the "
                                   "--zoo architectures with the same network flags, train each from scratch for every "
                                   "seed in --seeds with one recipe (the `train` options, e.g. --config "
                                   "configs/oneshot_fashion-mnist.json) and test each on the whole test split. "
                                   "Writes one JSON line per (subnet, seed) to --out as it goes, the plan to "
                                   "OUT.meta.json; resumes when run again.")
    add_train_args(p, save_dir="runs/benchmark", architecture=False)
    g = options.section(p, "benchmark")
    g.add_argument("--out", required=True, metavar="FILE.jsonl", help="benchmark file, e.g. benchmarks/fashion-mnist.jsonl")
    g.add_argument("--num-subnets", type=int, default=20, help="subnets drawn under the constraints (default 20)")
    g.add_argument("--seeds", default="0,1", help="comma list of training seeds per subnet (default 0,1)")
    g.add_argument("--sample-seed", type=int, default=0, help="seed of the subnet draw (default 0)")
    g.add_argument("--zoo", default="OneShot,OneShot-S+,SPOS-block-only",
                   help="published architectures added, with the same network flags (comma list; '' for none)")
    g.add_argument("--shard", default="1/1", metavar="K/N",
                   help="train only every N-th subnet from the K-th (both seeds) (default 1/1: all). Processes "
                        "share one file anyway (each skips the runs another is training), so shards are only a "
                        "fixed split; on a CPU box, two one-thread processes train ~28%% more images per second "
                        "than one two-thread process")
    from ..search.config import SearchConfig
    from ..search.constraints import Constraints
    options.add_options(p, SearchConfig, only=("searched_genes", "fixed_block_choices", "fixed_channel_choices"),
                        group="benchmark: the genes drawn, as `search` searches them (default: all)")
    options.add_options(p, Constraints, skip=("max_latency",))
    p.set_defaults(func=cmd_benchmark)


def add_train_args(p: argparse.ArgumentParser, save_dir: str = "runs/train", architecture: bool = True) -> None:
    """Every option of `train` (also the recipe options of `benchmark`, which names no architecture)."""
    add_config_arg(p)
    if architecture:
        g = options.section(p, MODEL)
        g.add_argument("--model", default="ShuffleNas",
                       help=f"ShuffleNas (supernet), ShuffleNas_fixArch (with --block/--channel-choices) or a "
                            f"published architecture: {', '.join(zoo.ZOO)}")
        g.add_argument("architecture", nargs="?", default=None, help="compact architecture string to train from scratch")
        g.add_argument("--block-choices", default=None, help="comma list of 20 block genes (fixed architecture)")
        g.add_argument("--channel-choices", default=None, help="comma list of 20 channel genes (fixed architecture)")
        g.add_argument("--candidate-file", default=None, help="best.json of a search, or a file of compact strings")
    add_network_args(p)
    options.add_options(p, SamplingOptions)
    options.add_options(p, TrainConfig, defaults={"save_dir": save_dir})
    g = options.section(p, "checkpoints and logs")
    g.add_argument("--resume", action="store_true", help="continue from SAVE_DIR's last complete checkpoint exactly "
                                                          "where it stopped")
    add_print_config_arg(g)
    g.add_argument("--logging-file", default=None, metavar="PATH",
                   help="log file, relative to the working directory as in the original, its folder created "
                        "(default: train.log inside --save-dir)")


def gluoncv_model_name(model: Optional[str]) -> Optional[str]:
    """``model`` when it names a network of GluonCV's model zoo rather than ours (None otherwise)."""
    if model in (None, *SUPERNET_MODELS) or model in zoo.ZOO:
        return None
    from gluoncv.model_zoo import get_model_list
    return model if model.lower() in get_model_list() else None


def architecture_from_args(args):
    """(zoo entry or None, Candidate or None for the supernet) named by `train`'s model options."""
    if gluoncv_model_name(args.model):
        return None, None
    if args.model not in (None, *SUPERNET_MODELS):
        entry = zoo.get(args.model)
        return entry, entry.candidate
    if args.candidate_file:
        return None, candidate_from_file(args.candidate_file)
    if args.architecture or args.block_choices or args.channel_choices:
        _, [cand] = candidates_from_args(argparse.Namespace(**{**vars(args), "model": None, "candidates": None}))
        return None, cand
    if args.model == "ShuffleNas_fixArch":
        raise OneShotError("--model ShuffleNas_fixArch needs --block-choices/--channel-choices, "
                           "an architecture string or --candidate-file")
    return None, None


def train_config_from_args(args, entry=None, candidate=None) -> TrainConfig:
    """The TrainConfig of `train` options for ``candidate`` (None: the supernet, with its path sampling)."""
    space = space_from_args(args, entry)
    if candidate is not None:
        space.validate(candidate)
    sampling = options.values(options.from_args(SamplingOptions, args))
    return options.from_args(TrainConfig, args, space=space.to_dict(),
                             candidate=str(candidate) if candidate else None, sampling=sampling,
                             gluoncv_model=gluoncv_model_name(getattr(args, "model", None)))


def cmd_train(args) -> int:
    from ..training import Run
    entry, candidate = architecture_from_args(args)
    cfg = train_config_from_args(args, entry, candidate)
    if args.print_config:
        cfg.validate()
        genes = ({"block_choices": candidate.blocks, "channel_choices": candidate.channels} if candidate else {})
        return print_config({"model": args.model or (entry.name if entry else "ShuffleNas_fixArch")}, genes,
                            options.config_values(cfg.search_space),
                            options.config_values(SamplingOptions(**cfg.sampling)), options.config_values(cfg),
                            {"logging_file": log_file(args.logging_file, cfg.save_dir, "train.log")})
    os.makedirs(cfg.save_dir, exist_ok=True)
    setup_logging(log_file(args.logging_file, cfg.save_dir, "train.log"))
    supernet = candidate is None and not cfg.gluoncv_model
    sampler = SamplingOptions(**cfg.sampling).sampler(cfg.search_space, cfg.seed) if supernet else None
    logging.getLogger("oneshot_nas").info("config: %s", json.dumps(dataclasses.asdict(cfg)))
    record = Run(cfg, sampler, resume=args.resume).run()
    if record:
        print(json.dumps({"save_dir": cfg.save_dir, **record}))
    return 0


def drawn_genes(args, space):
    """The genes a benchmark draws and the ones it keeps fixed, resolved as `search` resolves its
    --search-space (a block draw keeps every channel at scale 1.0 unless --fixed-channel-choices)."""
    from ..search.stages import plan_stage, validate_fixed_genes
    fixed = {name: list(parse_gene_list(getattr(args, name), name.split("_")[1])) if getattr(args, name) else None
             for name in ("fixed_block_choices", "fixed_channel_choices")}
    validate_fixed_genes(space, fixed["fixed_block_choices"], fixed["fixed_channel_choices"])
    return plan_stage(argparse.Namespace(**fixed), space, args.searched_genes, None)


def cmd_benchmark(args) -> int:
    from ..benchmark import Benchmark, make_plan, parse_shard, seed_agreement, train_one
    from ..search.constraints import Constraints
    seeds = [int(x) for x in args.seeds.split(",") if x.strip()] if args.seeds else []
    if not seeds:
        raise OneShotError(f"--seeds must list at least one seed, e.g. 0,1, not {args.seeds!r}")
    shard = parse_shard(args.shard)
    if args.num_subnets < 0:
        raise OneShotError(f"--num-subnets must be 0 or more, not {args.num_subnets}")
    template = train_config_from_args(args)  # the recipe; the plan names each run's subnet and seed
    os.makedirs(template.save_dir, exist_ok=True)
    setup_logging(os.path.join(template.save_dir, "benchmark.log"))
    constraints = options.from_args(Constraints, args)
    zoo_names = [n for n in args.zoo.split(",") if n.strip()] if args.zoo else []
    genes = drawn_genes(args, template.search_space)
    plan = make_plan(template, constraints, args.num_subnets, seeds, args.sample_seed, zoo_names, genes)
    command = " ".join(["python -m oneshot_nas", *sys.argv[1:]])
    rows = Benchmark(args.out, template.save_dir, plan, command, shard).run(train_one)
    print(json.dumps({"out": args.out, "runs": len(rows), "seed_agreement": seed_agreement(rows)}))
    return 0
