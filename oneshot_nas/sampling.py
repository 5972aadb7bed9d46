"""Path samplers for supernet training: uniform, channel warm-up, constrained random, strolling evolution.

A sampler hands out one :class:`Candidate` per iteration (shared by all devices). Its whole state (numpy
RNG state, evolution parents and position) is a JSON-able dict saved with every checkpoint.
Every loop is bounded; an unreachable constraint box is a clear error, not a hang.
"""
from __future__ import annotations

import dataclasses
import re
from typing import List, Optional, Sequence, Tuple

import numpy as np

from .costs import Cost, CostModel, Limit, LimitCheck, LookupTable
from .errors import OneShotError
from .options import option
from .schedules import allowed_channel_genes, averaged_blocks
from .space import Candidate, SearchSpace

CONSTRAINT_METHODS = ("none", "random", "evolution")


def constraint_method(text: str) -> Optional[str]:
    """``--train-constraint-method``: one of CONSTRAINT_METHODS, or '' (the original's default) for ours."""
    if text == "":
        return None
    if text not in CONSTRAINT_METHODS:
        raise ValueError(f"{text!r} is not one of {', '.join(CONSTRAINT_METHODS)}")
    return text


constraint_method.__name__ = "none|random|evolution"  # argparse names the type in its error message

MAX_REJECTION_TRIES = 20000


@dataclasses.dataclass(frozen=True)
class Box:
    """FLOPs and params limits (absolute counts)."""

    flops_min: float
    flops_max: float
    params_min: float
    params_max: float

    @classmethod
    def parse(cls, upper: str, bottom: str) -> "Box":
        """From the original's flags: ``flops-330-params-5.0`` (upper) and ``flops-190-params-2.8`` (bottom)."""
        hi, lo = _parse_limit(upper, "--train-upper-constraints"), _parse_limit(bottom, "--train-bottom-constraints")
        if lo[0] >= hi[0] or lo[1] >= hi[1]:
            raise OneShotError(f"constraint box is empty: bottom {bottom} is not below upper {upper}")
        return cls(lo[0] * 1e6, hi[0] * 1e6, lo[1] * 1e6, hi[1] * 1e6)

    def limits(self) -> List[Limit]:
        """The box in the one vocabulary of :mod:`oneshot_nas.costs`."""
        upper = f"--train-upper-constraints flops-{self.flops_max / 1e6:g}-params-{self.params_max / 1e6:g}"
        bottom = f"--train-bottom-constraints flops-{self.flops_min / 1e6:g}-params-{self.params_min / 1e6:g}"
        return [Limit(upper, "flops", "max", self.flops_max), Limit(upper, "params", "max", self.params_max),
                Limit(bottom, "flops", "min", self.flops_min), Limit(bottom, "params", "min", self.params_min)]

    def contains(self, cost: Cost) -> bool:
        return self.flops_min <= cost.flops <= self.flops_max and self.params_min <= cost.params <= self.params_max

    def describe(self) -> str:
        return (f"FLOPs {self.flops_min / 1e6:g}M..{self.flops_max / 1e6:g}M, "
                f"params {self.params_min / 1e6:g}M..{self.params_max / 1e6:g}M")


def _parse_limit(text: str, flag: str):
    m = re.fullmatch(r"flops-([0-9.]+)-params-([0-9.]+)", text.strip())
    if not m:
        raise OneShotError(f"{flag} {text!r} is not of the form flops-<MFLOPs>-params-<Mparams>, e.g. flops-330-params-5.0")
    return float(m.group(1)), float(m.group(2))


SAMPLING = "path sampling (supernet training)"


@dataclasses.dataclass(frozen=True)
class SamplingOptions:
    """How supernet training draws its paths (saved as a run config's ``sampling``)."""

    use_all_channels: bool = option(False, "always use the widest channels (no channel selection)", group=SAMPLING)
    epoch_start_cs: int = option(0, "epoch (0-based count of finished epochs) from which channel selection "
                                    "starts", group=SAMPLING)
    cs_warm_up: bool = option(False, "widen the channel choices gradually after --epoch-start-cs (8, 7, 6, ... "
                                     "down to 0)", group=SAMPLING)
    ignore_first_two_cs: bool = option(False, "never use the two smallest scales (0.2, 0.4)", group=SAMPLING)
    # SPOS's own block search trains a supernet of block choices only, every block at its standard width; search
    # it with `search --search-space block` (channels at scale 1.0 by default)
    fixed_channel_scale: Optional[float] = option(None, "train a block-only supernet: every path's channels at "
                                                        "this scale in every layer (1.0: SPOS's block search; "
                                                        "no channel selection)", type=float, metavar="SCALE",
                                                  group=SAMPLING)
    # ours, not the original's: a supernet of random single blocks stays near chance for hundreds of steps
    # (README, "A supernet that learns"); averaging shrinking random subsets of blocks first does not
    block_warm_up: int = option(0, "for the first N epochs every layer averages a random subset of its blocks "
                                   "besides the path's own: all of them, then one fewer in each following part "
                                   "of the N epochs, then single paths (0: single paths from the start, as the "
                                   "original)", metavar="N", group=SAMPLING)
    # ours (FairNAS's strict fairness), not the original's: with one random path per step, the blocks of a
    # layer get unequal numbers of updates over any stretch of steps, which FairNAS blames for biased ranks
    fair_blocks: bool = option(False, "after the block warm-up, train one path per block choice in each step, "
                                      "their blocks a random permutation of the choices in every layer (each "
                                      "with its own channels, in the box) and their gradients averaged: every "
                                      "block gets an update in every step (FairNAS); about 4x the work per step", group=SAMPLING)
    # ours (few-shot NAS, Zhao et al. 2021), not the original's: one supernet's shared weights serve every block
    # of a layer in every context; a sub-supernet per block of one layer shares them among fewer paths
    split_layer: Optional[int] = option(None, "train a few-shot sub-supernet: every path takes --split-block at "
                                              "this choice layer (0-based); start it from a trained supernet "
                                              "(--resume-params) and score with `search --few-shot-params`",
                                        type=int, metavar="L", group=SAMPLING)
    split_block: Optional[int] = option(None, "the block (0..3) every path takes at --split-layer", type=int,
                                        metavar="B", group=SAMPLING)
    train_upper_constraints: Optional[str] = option(None, "upper corner of the FLOPs/params box, e.g. "
                                                    "flops-330-params-5.0", type=str, metavar="flops-M-params-M",
                                                    group=SAMPLING)
    train_bottom_constraints: Optional[str] = option(None, "lower corner of the box, e.g. flops-190-params-2.8",
                                                     type=str, metavar="flops-M-params-M", group=SAMPLING)
    flop_param_method: str = option("lookup_table", "how the box's FLOPs/params are counted: the lookup table "
                                                    "(from the formulas) or each block measured on its symbol graph "
                                                    "(the same numbers, tested; slower to build)",
                                    choices=("lookup_table", "symbol"), group=SAMPLING)
    train_constraint_method: Optional[str] = option(None, "how sampled paths meet the box: rejection sampling or "
                                                    "strolling evolution (default, or '' as the original's "
                                                    "default: evolution when a box is given, else none)",
                                                    type=constraint_method, metavar="{none,random,evolution}",
                                                    group=SAMPLING)

    def box(self) -> Optional["Box"]:
        if not (self.train_upper_constraints or self.train_bottom_constraints):
            return None
        if not (self.train_upper_constraints and self.train_bottom_constraints):
            raise OneShotError("--train-upper-constraints and --train-bottom-constraints go together; give both")
        return Box.parse(self.train_upper_constraints, self.train_bottom_constraints)

    def split(self) -> Optional[Tuple[int, int]]:
        """(layer, block) of a few-shot sub-supernet, or None."""
        if self.split_layer is None and self.split_block is None:
            return None
        if self.split_layer is None or self.split_block is None:
            raise OneShotError("--split-layer and --split-block go together (a sub-supernet fixes one block at one "
                               "layer); give both, or neither")
        return self.split_layer, self.split_block

    def constraint_method(self) -> str:
        """The method paths meet the box by: as given, else the original's default (evolution when a box is
        given, else none)."""
        return self.train_constraint_method or ("evolution" if self.box() else "none")

    def fixed_channel_gene(self, space: SearchSpace) -> Optional[int]:
        """The channel gene of ``--fixed-channel-scale`` (None without it); refused beside a channel schedule."""
        if self.fixed_channel_scale is None:
            return None
        gene = space.scale_gene(self.fixed_channel_scale, "--fixed-channel-scale")
        scheduled = [flag for flag, on in (("--use-all-channels", self.use_all_channels),
                                           (f"--epoch-start-cs {self.epoch_start_cs}", self.epoch_start_cs > 0),
                                           ("--cs-warm-up", self.cs_warm_up),
                                           ("--ignore-first-two-cs", self.ignore_first_two_cs)) if on]
        if scheduled:
            raise OneShotError(f"--fixed-channel-scale keeps every channel at one scale, so channel selection has "
                               f"nothing to schedule: drop {', '.join(scheduled)} (a preset's --epoch-start-cs: "
                               "pass --epoch-start-cs 0)")
        if self.fair_blocks and self.constraint_method() != "none":
            # a fair step's other paths get their blocks by permutation and their channels are fixed too
            raise OneShotError("--fixed-channel-scale with --fair-blocks and a training box: nothing could move a "
                               "fair step's other paths into the box; train the block-only supernet without the "
                               "box (as SPOS did) or without --fair-blocks")
        return gene

    def sampler(self, space: SearchSpace, seed: int, table: Optional[LookupTable] = None) -> "PathSampler":
        box = self.box()
        return PathSampler(space, seed, epoch_start_cs=self.epoch_start_cs, cs_warm_up=self.cs_warm_up,
                           ignore_first_two_cs=self.ignore_first_two_cs, use_all_channels=self.use_all_channels,
                           fixed_channel_gene=self.fixed_channel_gene(space),
                           block_warm_up=self.block_warm_up, fair_blocks=self.fair_blocks, split=self.split(),
                           constraint_method=self.constraint_method(),
                           box=box, table=table if table is not None or box is None else LookupTable.build(
                               space, method="symbol" if self.flop_param_method == "symbol" else "formula"))


def draw_companions(rng: np.random.Generator, candidate: Candidate, block_choices: Sequence[int],
                    size: int, split_layer: Optional[int] = None) -> tuple:
    """Per layer, ``size - 1`` distinct blocks other than the candidate's own, drawn uniformly (sorted); none at a
    sub-supernet's split layer, whose block is fixed."""
    return tuple(() if layer == split_layer else
                 tuple(sorted(int(b) for b in rng.choice([o for o in block_choices if o != gene], size - 1,
                                                         replace=False)))
                 for layer, gene in enumerate(candidate.blocks))


class PathSampler:
    """One candidate per iteration under the warm-up schedule and an optional FLOPs/params box."""

    def __init__(self, space: SearchSpace, seed: int, *, epoch_start_cs: int = 0, cs_warm_up: bool = False,
                 ignore_first_two_cs: bool = False, use_all_channels: bool = False,
                 fixed_channel_gene: Optional[int] = None, block_choices: Optional[Sequence[int]] = None,
                 constraint_method: str = "none",
                 box: Optional[Box] = None, table: Optional[LookupTable] = None, block_warm_up: int = 0,
                 fair_blocks: bool = False, split: Optional[Tuple[int, int]] = None):
        if constraint_method not in CONSTRAINT_METHODS:
            raise OneShotError(f"unknown --train-constraint-method {constraint_method!r}; "
                               f"choose one of {', '.join(CONSTRAINT_METHODS)}")
        if block_warm_up < 0:
            raise OneShotError(f"--block-warm-up must be 0 or more epochs, not {block_warm_up}")
        if constraint_method != "none" and box is None:
            raise OneShotError(f"--train-constraint-method {constraint_method} needs --train-upper-constraints "
                               "and --train-bottom-constraints")
        self.space, self.rng = space, np.random.default_rng(seed)
        self.schedule = dict(num_scales=space.num_scales, epoch_start_cs=epoch_start_cs, cs_warm_up=cs_warm_up,
                             ignore_first_two_cs=ignore_first_two_cs, use_all_channels=use_all_channels,
                             fixed_gene=fixed_channel_gene)
        self.block_choices = tuple(block_choices) if block_choices is not None else tuple(range(space.num_blocks))
        self.method, self.box, self.block_warm_up = constraint_method, box, block_warm_up
        self.fair_blocks = fair_blocks
        self.split = split
        # the blocks each layer may take: a sub-supernet's split layer only its own
        self.layer_blocks = [list(self.block_choices)] * space.num_layers
        if split is not None:
            layer, block = split
            if not 0 <= layer < space.num_layers or block not in self.block_choices:
                raise OneShotError(f"--split-layer {layer} --split-block {block}: the layer is one of 0.."
                                   f"{space.num_layers - 1} and the block one of {list(self.block_choices)}")
            self.layer_blocks[layer] = [block]
        self.table = table if table is not None else LookupTable.build(space)
        self.check = LimitCheck(CostModel(self.table), box.limits()) if box is not None else None
        self._reachable_cache = {}
        if self.check is not None:
            self.check.require_reachable(self.layer_blocks, fix=f"the box {box.describe()} is unreachable in the "
                                                              "whole search space: widen it")
        self.evolution = (StrollingEvolution(self.table, box, self.rng, fix=self._split)
                          if constraint_method == "evolution" else None)
        self.unmet = 0  # paths handed out outside the box (box unreachable under the warm-up range)

    # ---- schedule -------------------------------------------------------------------------
    def channel_genes(self, epoch: int):
        return allowed_channel_genes(epoch, **self.schedule)

    def _reachable(self, channels) -> bool:
        """Can paths over these channel genes land in the box? (cached: asked once per iteration)"""
        if channels not in self._reachable_cache:
            self._reachable_cache[channels] = not self.check.unreachable(self.layer_blocks, channels)
        return self._reachable_cache[channels]

    # ---- sampling -------------------------------------------------------------------------
    def _split_blocks(self, blocks: tuple) -> tuple:
        """The blocks with a sub-supernet's split block at its split layer (drawn as a whole supernet draws, then
        fixed: the same random numbers as without a split, and the box checked after)."""
        if self.split is None:
            return blocks
        layer, block = self.split
        return blocks[:layer] + (block,) + blocks[layer + 1:]

    def _split(self, candidate: Candidate) -> Candidate:
        return Candidate(self._split_blocks(candidate.blocks), candidate.channels)

    def _draw(self, channels) -> Candidate:
        return self._split(self.space.sample(self.rng, self.block_choices, channels))

    def sample(self, epoch: int) -> Candidate:
        channels = self.channel_genes(epoch)
        if self.method == "none" or not self._reachable(channels):
            # Before channel selection widens, the box may be out of reach: train unconstrained then.
            if self.method != "none":
                self.unmet += 1
            return self._draw(channels)
        if self.method == "random":
            return self._rejection(channels)
        return self.evolution.step(self.block_choices, channels)

    def paths(self, epoch: int) -> List[Candidate]:
        """The paths of one training step: one, or under ``--fair-blocks`` (once single paths are trained) one per
        block choice, the first drawn as :meth:`sample` draws it, the others' blocks, layer by layer, the other
        choices in random order, so that each layer's blocks are a permutation of the choices (but at a
        sub-supernet's split layer, where every path takes the split block)."""
        first = self.sample(epoch)
        if not self.fair_blocks or averaged_blocks(epoch, self.block_warm_up, len(self.block_choices)) > 1:
            return [first]
        others = [self.rng.permutation([b for b in self.block_choices if b != gene]) for gene in first.blocks]
        channels = self.channel_genes(epoch)
        return [first] + [self._with_channels(self._split_blocks(tuple(int(layer[k]) for layer in others)), channels)
                          for k in range(len(self.block_choices) - 1)]

    def _with_channels(self, blocks: tuple, channels) -> Candidate:
        """These blocks with channel genes drawn uniformly, in the box if there is one (by rejection)."""
        def propose():
            return Candidate(blocks, tuple(int(g) for g in self.rng.choice(channels, len(blocks))))
        if self.method == "none" or not self._reachable(channels):
            return propose()
        return self.check.draw(propose, MAX_REJECTION_TRIES, f"no channels put the blocks "
                               f"{''.join(map(str, blocks))} in the box {self.box.describe()}: widen it or "
                               "train without --fair-blocks")

    def companions(self, candidate: Candidate, epoch: int) -> Optional[tuple]:
        """The blocks averaged with each layer's own during ``--block-warm-up`` (per layer, distinct others drawn
        uniformly), or None when single paths are trained."""
        size = averaged_blocks(epoch, self.block_warm_up, len(self.block_choices))
        return (draw_companions(self.rng, candidate, self.block_choices, size,
                                 self.split[0] if self.split else None)
                if size > 1 else None)

    def _rejection(self, channels) -> Candidate:
        return self.check.draw(lambda: self._draw(channels), MAX_REJECTION_TRIES,
                               "the box is too small a corner of the space: widen it or use "
                               "--train-constraint-method evolution")

    # ---- state ----------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"rng": self.rng.bit_generator.state, "unmet": self.unmet,
                "evolution": self.evolution.state_dict() if self.evolution else None}

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]
        self.unmet = state.get("unmet", 0)
        if self.evolution and state.get("evolution"):
            self.evolution.load_state_dict(state["evolution"])


class StrollingEvolution:
    """Walk the constraint box so that sampled paths cover it evenly (the original's "strolling evolution").

    The FLOPs range is cut into 7 bins (20M each for 190M..330M), walked from the top down and back up; within a bin, the
    params range is cut into 7 bands (8 levels), walked alternately downwards and upwards. At each step,
    children bred from the parents (uniform crossover, per-gene mutation 0.1) are drawn until some land in
    the current (FLOPs bin, params band) cell; the one at a fixed rank (largest or smallest params,
    alternating) is the path, and the children closest to the cell become the next parents. Cells that
    cannot be hit within the try budget fall back to the bin, then to the box: never a hang.
    """

    def __init__(self, table: LookupTable, box: Box, rng: np.random.Generator, flops_bins: int = 7,
                 param_levels: int = 8, parents: int = 5, children: int = 10, mutate: float = 0.1,
                 max_rounds: int = 40, fix=lambda candidate: candidate):
        self.table, self.box, self.rng = table, box, rng
        self.fix = fix  # applied to every proposal before its costs are looked at (a sub-supernet's split)
        self.space = table.space
        self.check = LimitCheck(CostModel(table), box.limits())
        # 7 bins: 20M each for the original's 190M..330M box, and the same shape for any other box
        width = (box.flops_max - box.flops_min) / flops_bins
        bins = [(box.flops_max - (i + 1) * width, box.flops_max - i * width) for i in range(flops_bins)]
        self.walk = bins + bins[::-1]
        levels = np.linspace(box.params_max, box.params_min, param_levels)
        self.bands = [(float(levels[i + 1]), float(levels[i])) for i in range(param_levels - 1)]
        self.n_parents, self.n_children, self.mutate, self.max_rounds = parents, children, mutate, max_rounds
        self.position = 0
        self.parents: List[Candidate] = []

    def target(self):
        per_bin = len(self.bands)
        bin_index, band_index = divmod(self.position % (len(self.walk) * per_bin), per_bin)
        downward = bin_index % 2 == 0
        band = self.bands[band_index if downward else per_bin - 1 - band_index]
        return self.walk[bin_index], band, downward

    def _in_box_samples(self, blocks, channels, n):
        return [self.check.draw(lambda: self.fix(self.space.sample(self.rng, blocks, channels)), MAX_REJECTION_TRIES,
                                "strolling evolution found no parents: widen the box") for _ in range(n)]

    def _child(self, blocks, channels) -> Candidate:
        i, j = self.rng.choice(len(self.parents), 2, replace=len(self.parents) < 2)
        child = self.space.crossover(self.parents[i], self.parents[j], self.rng)
        genes_b = [int(self.rng.choice(blocks)) if (self.rng.random() < self.mutate or g not in blocks) else g
                   for g in child.blocks]
        genes_c = [int(self.rng.choice(channels)) if (self.rng.random() < self.mutate or g not in channels) else g
                   for g in child.channels]
        return self.fix(Candidate(tuple(genes_b), tuple(genes_c)))

    def step(self, blocks, channels) -> Candidate:
        if len(self.parents) < self.n_parents or any(
                g not in channels for p in self.parents for g in p.channels):
            self.parents = self._in_box_samples(blocks, channels, self.n_parents)
        (f_lo, f_hi), (p_lo, p_hi), seek_large = self.target()
        centre = ((f_lo + f_hi) / 2, (p_lo + p_hi) / 2)
        scale = (self.box.flops_max - self.box.flops_min, self.box.params_max - self.box.params_min)
        hits, in_bin, in_box = [], [], []
        for _ in range(self.max_rounds):
            for _ in range(self.n_children):
                cand = self._child(blocks, channels)
                cost = self.table.cost(cand)
                if not self.box.contains(cost):
                    continue
                in_box.append((cand, cost))
                if f_lo <= cost.flops <= f_hi:
                    in_bin.append((cand, cost))
                    if p_lo <= cost.params <= p_hi:
                        hits.append((cand, cost))
            if hits:
                break
        pool = hits or in_bin or in_box
        if not pool:  # no child in the box at all: restart from fresh parents
            self.parents = self._in_box_samples(blocks, channels, self.n_parents)
            pool = [(p, self.table.cost(p)) for p in self.parents]
        pool.sort(key=lambda cc: cc[1].params, reverse=seek_large)
        chosen = pool[0][0]

        def distance(cc):
            return abs(cc[1].flops - centre[0]) / scale[0] + abs(cc[1].params - centre[1]) / scale[1]
        ranked = sorted(in_box or pool, key=distance)
        self.parents = [c for c, _ in ranked[:self.n_parents]] + self.parents[:max(0, self.n_parents - len(ranked))]
        self.position += 1
        return chosen

    def state_dict(self) -> dict:
        return {"position": self.position, "parents": [str(p) for p in self.parents]}

    def load_state_dict(self, state: dict) -> None:
        self.position = state["position"]
        self.parents = [Candidate.parse(p) for p in state["parents"]]


def compare_methods(space: SearchSpace, sampling: SamplingOptions, seed: int, epoch: int, num_samples: int,
                    progress=lambda iterable, desc: iterable) -> tuple:
    """``num_samples`` paths drawn as supernet training would at ``epoch`` with each constraint method on the
    box of ``sampling``: ({method: [(flops, params), ...]}, (candidates, costs) of sampling's own method)."""
    points, chosen = {}, None
    for method in CONSTRAINT_METHODS:
        sampler = dataclasses.replace(sampling, train_constraint_method=method).sampler(space, seed)
        cands = [sampler.sample(epoch) for _ in progress(range(num_samples), f"sampling ({method})")]
        costs = [sampler.table.cost(c) for c in cands]
        points[method] = [(c.flops, c.params) for c in costs]
        if method == sampling.train_constraint_method:
            chosen = (cands, costs)
    return points, chosen
