"""Score a candidate with the trained supernet: recalibrate BN, then top-1/top-5 on a fixed validation subset.

The supernet itself is never modified. For each candidate a narrow subnet is built and given the
supernet's sliced weights (``inherit_weights``): BN statistics are recalibrated on it (exact averages over
the fixed, seeded training subset, validation transform), then it runs the validation subset (hybridized
on GPUs). The supernet's trained running statistics therefore stay in memory untouched and nothing is
reloaded from disk; the subnet does only the candidate's own work. With an ensemble (``--ensemble-params``)
every supernet scores the candidate so, on the same images, and the candidate's score is their mean; with
few-shot sub-supernets (``--few-shot-params``) the one trained with the candidate's block at their split layer
scores it alone.
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import time
from typing import Dict, Iterable, Optional, Sequence, Tuple

import mxnet as mx
from mxnet import nd

from .. import bn_recalibration, data
from ..devices import evaluate
from ..errors import OneShotError
from ..nn import Supernet, build_subnet, inherit_weights
from ..run_folder import RunFolder
from ..space import Candidate, SearchSpace
from ..weights import ORIGINAL, load_weights
from .config import SearchConfig
from .stages import block_search_advice

LOG = logging.getLogger("oneshot_nas")


@dataclasses.dataclass(frozen=True)
class Evaluation:
    top1: float
    top5: float
    recal_seconds: float
    val_seconds: float
    bn_images: int
    val_images: int
    top1_by_supernet: Tuple[float, ...] = ()  # with an ensemble: each supernet's own top-1


def mean_evaluation(parts: Sequence[Evaluation]) -> Evaluation:
    """One candidate's scores on several supernets (the same images) as one: mean top-1 / top-5, summed time."""
    if len(parts) == 1:
        return parts[0]
    return Evaluation(sum(p.top1 for p in parts) / len(parts), sum(p.top5 for p in parts) / len(parts),
                      sum(p.recal_seconds for p in parts), sum(p.val_seconds for p in parts), parts[0].bn_images,
                      parts[0].val_images, tuple(p.top1 for p in parts))


class SubsetPerCandidate:
    """``--shuffle-train True``: each candidate is BN-recalibrated on its own random draw of ``num_images``
    training images, as the original's reshuffled RecordIO iterator gave it. The draw is seeded by the
    candidate string, so a candidate gets the same images however often, in whatever order and after
    whatever resume it is scored."""

    def __init__(self, train, num_images: int, seed: int, batch_size: int):
        self.train, self.num_images, self.seed, self.batch_size = train, num_images, seed, batch_size

    def for_candidate(self, candidate: Candidate) -> Iterable[Sequence]:
        digest = hashlib.sha256(f"{self.seed}:{candidate}".encode()).digest()
        return self.train.iter_fixed_subset(self.num_images, int.from_bytes(digest[:4], "little") % 2 ** 31,
                                            self.batch_size)


class Evaluator:
    """``evaluate(candidate) -> Evaluation``, memoised by the candidate string. ``bn_batches``: the same
    batches for every candidate, or a :class:`SubsetPerCandidate`. ``ensemble``: more supernets of the same
    network; the score is then the mean over ``supernet`` and them, each on the same batches. With
    ``few_shot_layer``, ``supernet`` and ``ensemble`` are instead the sub-supernets of blocks 0, 1, ... at that
    layer, and a candidate is scored on the one of its block there."""

    def __init__(self, supernet: Supernet, bn_batches: Iterable[Sequence], val_batches: Iterable[Sequence],
                 ctx_list: Sequence, hybridize: Optional[bool] = None, chunk: Optional[int] = None,
                 ensemble: Sequence[Supernet] = (), few_shot_layer: Optional[int] = None,
                 channel_scale: Optional[float] = None):
        self.space = supernet.space
        self.channel_scale = channel_scale  # a block-only supernet's: the only channels its weights were trained at
        self.supernets = [supernet, *ensemble]
        self.few_shot_layer = few_shot_layer
        if few_shot_layer is not None and len(self.supernets) != self.space.num_blocks:
            raise OneShotError(f"few-shot scoring needs one sub-supernet per block ({self.space.num_blocks}), "
                               f"not {len(self.supernets)}")
        self.bn_batches, self.val_batches = bn_batches, val_batches
        self.ctx = list(ctx_list)
        self.on_cpu = all(c.device_type == "cpu" for c in self.ctx)
        # Validation runs as a static graph: on CPU partitioned for MKL-DNN (conv + BN + activation fused,
        # ~10% faster than the plain graph on 2 cores, which is no faster than imperative); on GPUs
        # hybridized, which saves the kernel-launch overhead.
        self.hybridize = True if hybridize is None else hybridize
        # MKL-DNN on CPU runs ~1.3x faster on 16 images of 224 px per call than on 32-64 (cache); at 32 px
        # whole batches of 128 are fastest. GPUs take the data batches as they come.
        self.chunk = chunk or (max(8, round(16 * (224 / self.space.input_size) ** 2)) if self.on_cpu else None)
        self.memo: Dict[str, Evaluation] = {}

    def __call__(self, candidate: Candidate) -> Evaluation:
        self._require_trained_channels(candidate)
        key = str(candidate)
        if key not in self.memo:
            self.memo[key] = self._evaluate(candidate)
        return self.memo[key]

    def _require_trained_channels(self, candidate: Candidate) -> None:
        """A block-only supernet trained no channel but its scale's: any other width would be scored with weights
        no path ever updated."""
        if self.channel_scale is None:
            return
        gene = self.space.scale_gene(self.channel_scale)
        if any(c != gene for c in candidate.channels):
            raise OneShotError(f"{candidate}: this supernet is block-only (trained with --fixed-channel-scale "
                               f"{self.channel_scale:g}, channel gene {gene} in every layer) and cannot score other "
                               f"channels; {block_search_advice(self.space, self.channel_scale)}, and rank only "
                               "subnets with those channels (`benchmark --search-space block`)")

    def scorers(self, candidate: Candidate) -> Sequence[Supernet]:
        """The supernets that score ``candidate``: every one of an ensemble, or the sub-supernet of its block at
        the few-shot split layer."""
        if self.few_shot_layer is None:
            return self.supernets
        return [self.supernets[candidate.blocks[self.few_shot_layer]]]

    def subnet_with_supernet_weights(self, candidate: Candidate, supernet: Optional[Supernet] = None):
        subnet = build_subnet(self.space, candidate, dropout=0.0)
        subnet.initialize(ctx=self.ctx)
        return inherit_weights(supernet or self.scorers(candidate)[0], subnet)

    def _evaluate(self, candidate: Candidate) -> Evaluation:
        return mean_evaluation([self._evaluate_on(supernet, candidate) for supernet in self.scorers(candidate)])

    def _evaluate_on(self, supernet: Supernet, candidate: Candidate) -> Evaluation:
        tic = time.time()
        subnet = self.subnet_with_supernet_weights(candidate, supernet)
        bn_batches = (self.bn_batches.for_candidate(candidate) if isinstance(self.bn_batches, SubsetPerCandidate)
                      else self.bn_batches)
        bn_images = bn_recalibration.recalibrate(subnet, subnet, self._chunks(bn_batches), self.ctx)
        nd.waitall()  # the forwards run asynchronously: charge their time to recalibration
        recal = time.time() - tic
        tic = time.time()
        compile_graph = (lambda x: self._compile(subnet, x)) if self.hybridize else None
        result = evaluate(subnet, self._chunks(self.val_batches), self.ctx, before_first=compile_graph)
        return Evaluation(result["top1"], result["top5"], recal, time.time() - tic, bn_images, result["images"])

    def _compile(self, subnet, example) -> None:
        if self.on_cpu:
            try:
                subnet.optimize_for(example, backend="MKLDNN", static_alloc=True, static_shape=True)
                return
            except mx.base.MXNetError:  # an MXNet build without MKL-DNN: the plain graph
                pass
        subnet.hybridize(static_alloc=True, static_shape=True)

    def _chunks(self, batches):
        for x, y in batches:
            step = self.chunk or x.shape[0]
            for i in range(0, x.shape[0], step):
                yield x[i:i + step], y[i:i + step]


def build_evaluator(c: SearchConfig, space: SearchSpace, ctx) -> Evaluator:
    """The supernet of ``c`` loaded, BN recalibration batches from the training part, validation batches
    from ``c.val_split`` (the hold-out, unless told otherwise)."""
    supernets = []
    for path in c.supernets:
        supernet = Supernet(space)
        supernet.initialize(ctx=ctx)
        load_supernet(supernet, path, ctx)
        supernets.append(supernet)
    if c.few_shot_layer is not None:
        LOG.info("evaluation: each candidate is scored on the few-shot sub-supernet of its block at layer %d "
                 "(blocks 0..%d: %s)", c.few_shot_layer, len(supernets) - 1, ", ".join(c.supernets))
    elif len(supernets) > 1:
        LOG.info("evaluation: each candidate scores its mean over an ensemble of %d supernets (%s)", len(supernets),
                 ", ".join(c.supernets))
    batch = c.batch_size * len(ctx)
    train, val = data.make_pipelines(c, space, batch, c.seed, val_limit=c.val_images)
    size = space.input_size
    if c.shuffle_train:
        bn = SubsetPerCandidate(train, c.update_bn_images, c.seed + 1, c.batch_size)
    else:
        bn = data.ReplayableBatches(lambda: train.iter_fixed_subset(c.update_bn_images, c.seed + 1, c.batch_size),
                                    c.update_bn_images, size)
    validation = data.ReplayableBatches(lambda: val.epoch_batches(0), val.num_examples, size)
    LOG.info("evaluation: BN recalibration on %d training images (%s), validation on %d images of the %s split, "
             "%d device(s); %s", min(c.update_bn_images, train.num_examples),
             "a draw per candidate" if c.shuffle_train else "the same for every candidate", val.num_examples,
             c.val_split, len(ctx), train.split.describe())
    if c.val_split == "test":
        LOG.warning("candidates are scored on the test split: a result reported on that split is then biased by "
                    "the selection; hold training images out instead (--holdout N --val-split holdout)")
    RunFolder(c.out_dir).write_split(train.split)
    return Evaluator(supernets[0], bn, validation, ctx, ensemble=supernets[1:], few_shot_layer=c.few_shot_layer,
                     channel_scale=c.supernet_channel_scale)


def load_supernet(supernet: Supernet, path: str, ctx) -> None:
    if not os.path.exists(path):
        raise OneShotError(f"supernet params {path} do not exist; train one with scripts/train_supernet.sh "
                           "(runs/supernet/last.params) or pass --supernet-params")
    if load_weights(supernet, path, ctx) == ORIGINAL:
        LOG.info("loaded %s: a supernet saved by the original codebase, mapped onto ours", path)
