"""The supernet: every choice block at maximum width; a forward runs one candidate's path.

Choices are Python ints taken from a :class:`Candidate` value, so no NDArray is read back per block.
A path runs only its active width: the chosen block's weights are sliced to the candidate's mid
channels, which makes the path compute exactly the narrow subnet (``inherit_weights`` copies the same
slices into a :class:`Subnet`) and costs only the narrow block's work (on CPU rounded up to 16 channels
held at zero, which oneDNN runs faster: ``layers.compute_width``).
"""
from __future__ import annotations

from typing import Optional

from mxnet import nd
from mxnet.gluon import Block

from ..space import Candidate, LayerSpec, SearchSpace
from .blocks import ShuffleBlock, Stem, Tail, default_dropout
from .layers import compute_width
from .subnet import Subnet


class ChoiceLayer(Block):
    """The candidate blocks of one layer (SNB-3, SNB-5, SNB-7, SXB-3), built at the largest width."""

    def __init__(self, space: SearchSpace, layer: LayerSpec, **kwargs):
        super().__init__(**kwargs)
        self.layer = layer
        self.max_mid = space.max_mid_channels(layer)
        self.choices = []
        with self.name_scope():
            for gene in range(space.num_blocks):
                block = ShuffleBlock(layer, gene, self.max_mid, space.stage_activation(layer.stage),
                                     space.stage_uses_se(layer.stage), prefix=f"choice{gene}_")
                self.register_child(block)
                self.choices.append(block)

    def forward(self, x, block_gene: int, mid: int, use_all_blocks: bool = False, companions: tuple = ()):
        """The chosen block at width ``mid``, or the mean of it and the ``companions`` blocks (the block warm-up),
        or of all blocks (``use_all_blocks``)."""
        blocks = self.choices if use_all_blocks else [self.choices[g] for g in (block_gene, *companions)]
        width = compute_width(x, mid, self.max_mid)
        outs = [b.compute(nd, x, b.sliced_params(x.context, mid, width), width) for b in blocks]
        return outs[0] if len(outs) == 1 else nd.add_n(*outs) / len(outs)


class Supernet(Block):
    def __init__(self, space: SearchSpace, dropout: Optional[float] = None, use_all_blocks: bool = False,
                 **kwargs):
        super().__init__(**kwargs)
        self.space, self.use_all_blocks = space, use_all_blocks
        self.choice_layers = []
        with self.name_scope():
            self.stem = Stem(space, prefix="stem_")
            for layer in space.layers():
                choice = ChoiceLayer(space, layer, prefix=f"layer{layer.index}_")
                self.register_child(choice)
                self.choice_layers.append(choice)
            self.tail = Tail(space, default_dropout(space) if dropout is None else dropout, prefix="tail_")

    def forward(self, x, candidate: Candidate, companions: Optional[tuple] = None):
        """``candidate``'s path; ``companions`` (per layer, block genes averaged with the path's own) during the
        block warm-up of supernet training."""
        self.space.validate(candidate)
        x = self.stem(x)
        for choice, layer, b, c, extra in zip(self.choice_layers, self.space.layers(), candidate.blocks,
                                              candidate.channels, companions or ((),) * self.space.num_layers):
            x = choice(x, b, self.space.mid_channels(layer, c), self.use_all_blocks, extra)
        return self.tail(x)


def inherit_weights(supernet: Supernet, subnet: Subnet) -> Subnet:
    """Copy the supernet's weights of ``subnet.candidate``'s path (sliced) into ``subnet``."""
    if supernet.space != subnet.space:
        raise ValueError(f"supernet space {supernet.space.describe()} != subnet space {subnet.space.describe()}")
    ctx = supernet.stem.first_conv_weight.list_ctx()[0]
    pairs = [(supernet.stem.param_arrays(ctx), subnet.stem), (supernet.tail.param_arrays(ctx), subnet.tail)]
    for choice, sub_block in zip(supernet.choice_layers, subnet.features):
        src = choice.choices[sub_block.block_gene]
        pairs.append((src.sliced_params(ctx, sub_block.mid), sub_block))
    for arrays, dst in pairs:
        for name, param in dst._reg_params.items():
            if name in arrays:
                param.set_data(arrays[name].copy())
    return subnet
