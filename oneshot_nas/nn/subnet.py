"""Fixed subnets: a hybridizable, exportable network for one candidate."""
from __future__ import annotations

from typing import Optional

from mxnet.gluon import HybridBlock, nn

from ..space import Candidate, SearchSpace
from .blocks import ShuffleBlock, Stem, Tail, default_dropout


class Subnet(HybridBlock):
    """Stem -> 20 ShuffleBlocks at the candidate's widths -> tail and classifier."""

    def __init__(self, space: SearchSpace, candidate: Candidate, dropout: Optional[float] = None,
                 shuffle_by_conv: bool = False, fold_bn: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.space, self.candidate = space, space.validate(candidate)
        self.shuffle_by_conv, self.fold_bn = shuffle_by_conv, fold_bn
        with self.name_scope():
            self.stem = Stem(space, fold_bn=fold_bn, prefix="stem_")
            self.features = nn.HybridSequential(prefix="features_")
            with self.features.name_scope():
                for layer, b, c in zip(space.layers(), candidate.blocks, candidate.channels):
                    self.features.add(ShuffleBlock(
                        layer, b, space.mid_channels(layer, c), space.stage_activation(layer.stage),
                        space.stage_uses_se(layer.stage), shuffle_by_conv, fold_bn=fold_bn,
                        prefix=f"layer{layer.index}_"))
            self.tail = Tail(space, default_dropout(space) if dropout is None else dropout, fold_bn=fold_bn,
                             prefix="tail_")

    def hybrid_forward(self, F, x):
        return self.tail(self.features(self.stem(x)))


def build_subnet(space: SearchSpace, candidate: Candidate, dropout: Optional[float] = None,
                 shuffle_by_conv: bool = False, fold_bn: bool = False) -> Subnet:
    return Subnet(space, candidate, dropout=dropout, shuffle_by_conv=shuffle_by_conv, fold_bn=fold_bn)


def unit_blocks(subnet: Subnet):
    """The stem, the 20 blocks and the tail: every block that holds ConvUnits, in network order."""
    return [subnet.stem, *subnet.features, subnet.tail]
