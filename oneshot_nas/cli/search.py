"""`search` (genetic or random, over a trained supernet) and `rank-study` (does the supernet rank subnets as
training from scratch does?)."""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import shlex

from .. import options
from ..errors import OneShotError
from ..run_folder import RunFolder
from ..search.constraints import Constraints
from ..search.config import SearchConfig
from ..space import parse_gene_list
from .common import (add_config_arg, add_data_args, add_network_args, add_print_config_arg, print_config,
                     setup_logging, space_from_args)
from .presets import read_preset, set_option_defaults

INHERITED = "the supernet's config.json, else as for `train`"


def register(sub) -> None:
    p = sub.add_parser("search", help="search a trained supernet (genetic or random, under constraints)",
                       description="Score candidates with the trained supernet (BN recalibrated per candidate on a "
                                   "fixed training subset, then validated on a fixed validation subset) and search "
                                   "them with the genetic algorithm or at random. Writes OUT_DIR/records.jsonl, "
                                   "state.json, best.json (for `train --candidate-file`), plots and search.log.")
    add_supernet_eval_args(p, "runs/search")
    options.section(p, "supernet and outputs").add_argument(
        "--resume", action="store_true", help="continue the search in --out-dir where it stopped")
    add_print_config_arg(options.section(p, "supernet and outputs"))
    options.add_options(p, SearchConfig, only=("search_mode", "searched_genes", "two_stage", "fixed_block_choices",
                                               "fixed_channel_choices", "population_size", "retain_length",
                                               "random_select", "mutate_chance", "search_iters", "topk",
                                               "search_target", "score_acc_ratio"))
    add_constraint_args(p)
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("rank-study", help="does the supernet rank subnets like training from scratch does?",
                       description="Draw --num-subnets subnets under the constraints, score each with the supernet "
                                   "(BN recalibration + validation, as `search` does) and by training it from "
                                   "scratch (`train` with --train-config), and report Kendall tau and Spearman rho "
                                   "between the two, with a scatter plot. Resumes when run again.")
    add_supernet_eval_args(p, "runs/rank-study")
    g = options.section(p, "supernet and outputs")
    g.add_argument("--num-subnets", type=int, default=10, help="subnets to compare (default 10)")
    g.add_argument("--train-config", default=None, metavar="FILE",
                   help="`train` preset for the from-scratch runs, e.g. configs/oneshot_fashion-mnist.json")
    g.add_argument("--train-args", default=None, help="extra `train` options, e.g. '--num-epochs 2 --train-limit 10240'")
    g.add_argument("--benchmark", default=None, metavar="FILE.jsonl",
                   help="score the subnets of this stand-alone benchmark (`benchmark`) with the supernet instead of "
                        "drawing and training subnets; compares with ranking by FLOPs and by params alone")
    g.add_argument("--scores", default=None, metavar="DIR",
                   help="with --benchmark: rank with the supernet scores an earlier `rank-study --benchmark` saved "
                        "in DIR (its --out-dir), no supernet needed; e.g. once the benchmark it scored is complete "
                        "(a study scores every subnet of the benchmark's plan, trained yet or not)")
    g.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples for the 95%% intervals")
    add_constraint_args(p)
    p.set_defaults(func=cmd_rank_study)


def add_supernet_eval_args(p: argparse.ArgumentParser, out_dir: str) -> None:
    """Options of every command that scores candidates with a trained supernet."""
    add_config_arg(p)
    options.add_options(p, SearchConfig, only=("supernet_params", "ensemble_params", "few_shot_params", "out_dir",
                                               "lookup_table", "seed"), defaults={"out_dir": out_dir})
    add_network_args(p, inherited_from=INHERITED)
    add_data_args(p, inherited_from=INHERITED)
    options.add_options(p, SearchConfig, only=("batch_size", "num_gpus", "num_cpu_contexts", "update_bn_images",
                                               "val_images", "dtype", "shuffle_train"), group="evaluation")


def add_constraint_args(p: argparse.ArgumentParser) -> None:
    options.add_options(p, Constraints)
    options.add_options(p, SearchConfig, only=("latency_table", "latency_batch_size"))


def supernet_params_path(given: str, must_exist: bool = True) -> str:
    params = os.path.join(given, "last.params") if os.path.isdir(given) else given  # a `train` save dir
    if must_exist and not os.path.exists(params):
        raise OneShotError(f"supernet params {params} do not exist; train one with scripts/train_supernet.sh "
                           "(runs/supernet/last.params) or pass --supernet-params")
    return params


def params_list(given, flag: str, must_exist: bool = True):
    """A comma list of supernets (.params files or `train` save dirs; a list in a preset, as --print-config shows it)
    as params files, or None."""
    if not given:
        return None
    items = given if isinstance(given, list) else given.split(",")
    members = [supernet_params_path(p.strip(), must_exist) for p in items if p.strip()]
    if not members:
        raise OneShotError(f"{flag} {given!r} names no supernet; give a comma list of .params files or `train` save "
                           "dirs")
    return members


def require_alike(path: str, flag: str, first: str, saved: dict) -> dict:
    """``path``'s run config, checked to be of the network flags, hold-out and dataset of --supernet-params
    (``saved``: its config.json), so that no supernet was trained on the images candidates are scored on."""
    other = RunFolder.of_params(path).config_or_empty()
    for name in ("space", "holdout", "holdout_seed", "dataset"):
        if saved and other and saved.get(name) != other.get(name):
            raise OneShotError(f"{flag} {path} was trained with another {name} ({other.get(name)!r}) than "
                               f"--supernet-params {first} ({saved.get(name)!r}); the supernets a search scores with "
                               "share the network and the hold-out")
    return other


def ensemble_from_args(given, first: str, saved: dict, must_exist: bool = True):
    """--ensemble-params A,B,... as params files, each of the network flags and hold-out of the first."""
    members = params_list(given, "--ensemble-params", must_exist)
    named = [os.path.abspath(p) for p in [first, *(members or [])]]
    for path in members or []:
        if named.count(os.path.abspath(path)) > 1:
            raise OneShotError(f"--ensemble-params names {path} twice (or as --supernet-params too): an ensemble "
                               "averages different supernets")
        require_alike(path, "--ensemble-params", first, saved)
    return members


def few_shot_from_args(given, first: str, saved: dict, num_blocks: int, must_exist: bool = True):
    """--few-shot-params A,B,C,D as (their split layer, the params files in block order), each of the network flags
    and hold-out of --supernet-params, all split on one layer, one for every block; (None, None) without it."""
    members = params_list(given, "--few-shot-params", must_exist)
    if not members:
        return None, None
    by_block, layers = {}, set()
    for path in members:
        config = require_alike(path, "--few-shot-params", first, saved)
        if not config and not must_exist:  # --print-config before the sub-supernets are trained
            return None, members
        sampling = config.get("sampling") or {}
        layer, block = sampling.get("split_layer"), sampling.get("split_block")
        if layer is None:
            raise OneShotError(f"--few-shot-params {path} is not a few-shot sub-supernet (its run config names no "
                               "--split-layer); train one per block with `train --split-layer L --split-block B "
                               "--resume-params SUPERNET.params`")
        if block in by_block:
            raise OneShotError(f"--few-shot-params {by_block[block]} and {path} are both the sub-supernet of block "
                               f"{block}; give one per block")
        by_block[block] = path
        layers.add(layer)
    if len(layers) > 1:
        raise OneShotError(f"--few-shot-params: the sub-supernets were split on different layers {sorted(layers)}; "
                           "give the sub-supernets of one split")
    missing = [b for b in range(num_blocks) if b not in by_block]
    if missing:
        raise OneShotError(f"--few-shot-params has no sub-supernet of block(s) {missing} at layer {min(layers)}: "
                           "candidates with them could not be scored; train one per block")
    return layers.pop(), [by_block[b] for b in range(num_blocks)]


def _print_benchmark_study(result: dict, out_dir: str) -> int:
    keys = ("kendall_tau", "kendall_tau_ci95", "spearman_rho", "spearman_rho_ci95", "n")
    print(json.dumps({k: result[k] for k in keys}
                     | {"flops_kendall_tau": result["baselines"]["flops"]["kendall_tau"],
                        "out": os.path.join(out_dir, "rank_study.json")}))
    return 0


def search_config_from_args(args, log_name: str, side_effects: bool = True) -> SearchConfig:
    """The SearchConfig of `search` (and `rank-study`) options; network flags and split left unset default to
    the supernet's training config. Sets up logging into the output folder (not with ``side_effects`` off: then
    a supernet file that does not exist yet is taken as named)."""
    params = supernet_params_path(args.supernet_params, must_exist=side_effects)
    saved = RunFolder.of_params(params).config_or_empty()  # {} for a file from elsewhere (the original's)
    saved_space = saved.get("space") if isinstance(saved.get("space"), dict) else {}
    space = space_from_args(args, saved=saved_space)
    split = {name: getattr(args, name) if getattr(args, name) is not None else saved.get(name)
             for name in ("holdout", "holdout_seed", "val_split")}
    fixed = {name: list(parse_gene_list(getattr(args, name), name.split("_")[1])) if getattr(args, name, None)
             else None for name in ("fixed_block_choices", "fixed_channel_choices")}
    constraints = options.values(options.from_args(Constraints, args))
    ensemble = ensemble_from_args(args.ensemble_params, params, saved, must_exist=side_effects)
    layer, few_shot = few_shot_from_args(args.few_shot_params, params, saved, space.num_blocks, side_effects)
    if ensemble and few_shot:
        raise OneShotError("--ensemble-params averages whole supernets and --few-shot-params routes each candidate to "
                           "one sub-supernet; give one of them")
    cfg = options.from_args(SearchConfig, args, space=space.to_dict(), supernet_params=params,
                            ensemble_params=ensemble, few_shot_params=few_shot, few_shot_layer=layer,
                            supernet_channel_scale=(saved.get("sampling") or {}).get("fixed_channel_scale"),
                            constraints=constraints,
                            **{k: v for k, v in split.items() if v is not None}, **fixed)
    if side_effects:
        os.makedirs(args.out_dir, exist_ok=True)
        setup_logging(os.path.join(args.out_dir, log_name))
        logging.getLogger("oneshot_nas").info("config: %s", json.dumps(dataclasses.asdict(cfg)))
    return cfg


def cmd_search(args) -> int:
    from ..search.run import Search
    if args.print_config:
        cfg = search_config_from_args(args, "search.log", side_effects=False)
        cfg.validate()
        return print_config(options.config_values(cfg.search_space), options.config_values(Constraints(
            **cfg.constraints)), options.config_values(cfg))
    cfg = search_config_from_args(args, "search.log")
    best = Search(cfg, resume=args.resume).run()
    print(json.dumps({k: best[k] for k in ("candidate", "top1", "top5", "flops", "params", "normalized_score")}
                     | {"best_json": os.path.join(cfg.out_dir, "best.json")}))
    return 0


def from_scratch_recipe(args, cfg: SearchConfig):
    """The TrainConfig every from-scratch run of a rank study shares: the --train-config preset, the supernet's
    network flags, data and seed, then --train-args (parsed as `train` options, weakest first)."""
    from .train import add_train_args, train_config_from_args
    parser = argparse.ArgumentParser(prog="rank-study --train-args", add_help=False)
    add_train_args(parser)
    if args.train_config:
        set_option_defaults(parser, read_preset(args.train_config), f"--train-config {args.train_config}", "train")
    parser.set_defaults(**cfg.search_space.to_flags(), dataset=cfg.dataset, data_dir=cfg.data_dir, seed=cfg.seed)
    try:
        train_args = parser.parse_args(shlex.split(args.train_args or ""))
    except SystemExit:
        raise OneShotError(f"--train-args {args.train_args!r} holds an option `train` does not take") from None
    return train_config_from_args(train_args)


def cmd_rank_study(args) -> int:
    from ..rank_study import benchmark_rank_study, rank_from_saved_scores, rank_study
    from ..training import train_to_end
    if args.bootstrap < 100:
        raise OneShotError(f"--bootstrap must be at least 100 resamples, not {args.bootstrap}")
    if args.scores:
        if not args.benchmark:
            raise OneShotError("--scores ranks against a benchmark: give --benchmark FILE too")
        os.makedirs(args.out_dir, exist_ok=True)
        setup_logging(os.path.join(args.out_dir, "rank_study.log"))
        return _print_benchmark_study(rank_from_saved_scores(args.scores, args.benchmark, args.out_dir,
                                                             args.bootstrap), args.out_dir)
    cfg = search_config_from_args(args, "rank_study.log")
    if args.benchmark:
        return _print_benchmark_study(benchmark_rank_study(cfg, args.benchmark, args.bootstrap), cfg.out_dir)
    if args.num_subnets < 3:
        raise OneShotError(f"--num-subnets must be at least 3 for a rank correlation, not {args.num_subnets}")
    recipe = from_scratch_recipe(args, cfg)

    def train(candidate: str, run_dir: str) -> None:
        """One from-scratch run with the study's recipe (checkpoints, and resume after a kill, as `train`)."""
        train_to_end(dataclasses.replace(recipe, candidate=candidate, save_dir=run_dir))

    result = rank_study(cfg, args.num_subnets, train, resume=os.path.exists(
        os.path.join(cfg.out_dir, "supernet-scores", "state.json")))
    print(json.dumps({k: result[k] for k in ("kendall_tau", "spearman_rho", "n")}
                     | {"out": os.path.join(cfg.out_dir, "rank_study.json")}))
    return 0
