"""What a search depends on: :class:`SearchConfig`, resolved once by the CLI and written to OUT_DIR/config.json."""
from __future__ import annotations

import dataclasses
from typing import List, Optional

from ..splits import DataSource
from ..devices import Devices
from ..errors import OneShotError
from ..options import option, text_bool
from ..space import SearchSpace
from .constraints import GROUP

SEARCH_MODES = ("genetic", "random")
SEARCH_TARGETS = ("acc", "balanced_flop_acc")
SEARCHED_GENES = ("joint", "block", "channel")
SUPERNET, EVALUATION, SEARCH = "supernet and outputs", "evaluation", "search"


@dataclasses.dataclass
class SearchConfig(DataSource, Devices):
    """Everything a search depends on; resolved once by the CLI and written to OUT_DIR/config.json."""

    space: dict
    supernet_params: str = option("runs/supernet", "supernet .params file, or a `train` save dir (its last.params); "
                                  "the network flags default to the config.json beside it", group=SUPERNET)
    # one supernet's ranking is mostly its own training noise; several supernets' mean score ranks better
    # (README, "Does the supernet rank subnets correctly?")
    ensemble_params: Optional[List[str]] = option(
        None, "comma list of more supernets (.params files or `train` save dirs) trained like --supernet-params "
              "(same network flags and hold-out, other seeds): a candidate scores its mean top-1 / top-5 over all "
              "of them, at that many times the scoring work", type=str, metavar="A,B,...", group=SUPERNET)
    # few-shot NAS (Zhao et al. 2021): sub-supernets split on one layer's block rank better than one supernet
    few_shot_params: Optional[List[str]] = option(
        None, "comma list of few-shot sub-supernets (`train --split-layer L --split-block B`: one per block of the "
              "same layer L, with the network flags and hold-out of --supernet-params, normally the supernet they "
              "were started from, which then only lends those and scores nothing): each candidate is scored on "
              "the one trained with its block at layer L, at one supernet's scoring work", type=str,
        metavar="A,B,C,D", group=SUPERNET)
    few_shot_layer: Optional[int] = None  # the sub-supernets' split layer (from their config.json, by the CLI)
    # a block-only supernet's --fixed-channel-scale (from its config.json, by the CLI): it scores only candidates
    # with every channel at that scale
    supernet_channel_scale: Optional[float] = None
    out_dir: str = option("runs/search", "where records, state, plots and results go", group=SUPERNET)
    lookup_table: Optional[str] = option(None, "FLOPs/params table of this network config (default: built in "
                                               "memory from the formulas)", type=str, metavar="FILE",
                                         group=SUPERNET)
    seed: int = option(0, "", group=SUPERNET)
    batch_size: int = option(128, "per device", group=EVALUATION)
    update_bn_images: int = option(20000, "training images (fixed, seeded subset, validation transform) for BN "
                                          "recalibration", group=EVALUATION)
    val_images: Optional[int] = option(None, "validate on the first N validation images (default all)", type=int,
                                       group=EVALUATION)
    # the original's evaluation options; float16 evaluation is not implemented
    dtype: str = option("float32", "evaluation precision (float32 only)", choices=("float32", "float16"),
                        group=EVALUATION)
    shuffle_train: bool = option(False, "False (the original's default): every candidate is BN-recalibrated on the "
                                        "same fixed, seeded subset of training images; True: each on its own "
                                        "random subset (seeded by the candidate)", type=text_bool,
                                 metavar="True|False",
                                 group=EVALUATION)
    search_mode: str = option("random", "(default: random, as the original's)", choices=SEARCH_MODES, group=SEARCH)
    # "search space" is the SearchSpace (the network config); this says which of its genes are searched
    searched_genes: str = option("joint", "which genes are searched; block search keeps channels at "
                                          "--fixed-channel-choices (default: scale 1.0), channel search needs "
                                          "--fixed-block-choices", choices=SEARCHED_GENES, flags=("--search-space",),
                                 group=SEARCH)
    two_stage: bool = option(False, "genetic block search, then channel search on the best blocks (each "
                                    "--search-iters generations)", group=SEARCH)
    # comma lists on the command line, gene lists here (the CLI parses them)
    fixed_block_choices: Optional[List[int]] = option(None, "comma list of 20 block genes kept fixed", type=str,
                                                      group=SEARCH)
    fixed_channel_choices: Optional[List[int]] = option(None, "comma list of 20 channel genes kept fixed",
                                                        type=str, group=SEARCH)
    population_size: int = option(50, "genetic: population per generation; random: candidates per logged chunk",
                                  group=SEARCH)
    retain_length: int = option(10, "genetic: best members kept as parents", group=SEARCH)
    random_select: float = option(0.1, "genetic: chance to keep any other member", group=SEARCH)
    mutate_chance: float = option(0.1, "genetic: per-gene mutation probability", group=SEARCH)
    search_iters: int = option(20, "genetic: generations (per stage); random: candidates evaluated", group=SEARCH)
    topk: int = option(3, "candidates in the final table and best.json", group=SEARCH)
    search_target: str = option("acc", "fitness: top-1, or top-1 - score-acc-ratio x normalised score",
                                choices=SEARCH_TARGETS, group=SEARCH)
    score_acc_ratio: float = option(1.0, "balanced_flop_acc: fitness = top-1 - this x (0.5 FLOPs/F_ref + 0.5 "
                                         "params/P_ref), as the original", group=SEARCH)
    constraints: dict = dataclasses.field(default_factory=dict)  # Constraints options
    latency_table: Optional[str] = option(None, "latency table of this network config (`python -m oneshot_nas "
                                                "latency-table`)", type=str, metavar="FILE", group=GROUP)
    latency_batch_size: Optional[int] = option(None, "which of the table's batch sizes the latency limit is for "
                                                     "(default: its first)", type=int, group=GROUP)

    @property
    def supernets(self) -> List[str]:
        """The supernet files candidates are scored with: --supernet-params, then the ensemble's; or the few-shot
        sub-supernets, one per block of their split layer, in block order."""
        if self.few_shot_params:
            return list(self.few_shot_params)
        return [self.supernet_params, *(self.ensemble_params or [])]

    @property
    def search_space(self) -> SearchSpace:
        return SearchSpace.from_dict(self.space)

    def stages(self) -> List[str]:
        """Searched genes per stage: two-stage = blocks first, then channels on the best blocks."""
        return ["block", "channel"] if self.two_stage else [self.searched_genes]

    def validate(self) -> None:
        if self.dtype != "float32":
            raise OneShotError(f"--dtype {self.dtype}: the search evaluates candidates in float32 only (the original's "
                               "search scripts pass --dtype float32); drop the flag")
        if self.search_mode not in SEARCH_MODES:
            raise OneShotError(f"unknown --search-mode {self.search_mode!r}; choose one of {', '.join(SEARCH_MODES)}")
        if self.search_target not in SEARCH_TARGETS:
            raise OneShotError(f"unknown --search-target {self.search_target!r}; choose one of {', '.join(SEARCH_TARGETS)}")
        for name in ("population_size", "search_iters", "topk", "update_bn_images", "batch_size"):
            if getattr(self, name) < 1:
                raise OneShotError(f"--{name.replace('_', '-')} must be at least 1, not {getattr(self, name)}")
        if self.val_images is not None and self.val_images < 1:
            raise OneShotError(f"--val-images must be at least 1 (or left out for all), not {self.val_images}")
        if not 0 <= self.retain_length <= self.population_size:
            raise OneShotError(f"--retain-length {self.retain_length} must be between 0 and --population-size "
                               f"{self.population_size}")
        for name in ("random_select", "mutate_chance"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise OneShotError(f"--{name.replace('_', '-')} is a probability in [0, 1], not {getattr(self, name)}")
        if self.two_stage and self.search_mode != "genetic":
            raise OneShotError("--two-stage is a genetic search mode; drop it or use --search-mode genetic")
