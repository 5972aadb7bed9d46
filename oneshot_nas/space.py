"""Search space and candidate architectures as plain values.

Pure Python + numpy: no MXNet import here, so searchers, samplers and tables can be used and
tested without building a network.

A candidate is 20 block genes (0..3) and 20 channel genes (0..9). Its one text form, used in logs,
files, the CLI and as a dedup key, is the block digits, a dash, the channel digits::

    00311100202110202132-65352634257546744543      (OneShot)
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Iterable, List, Sequence, Tuple

import numpy as np

from .errors import OneShotError
from .options import names, option

BLOCK_NAMES = ("SNB-3", "SNB-5", "SNB-7", "SXB-3")
# Channel scales are kept in tenths so that the width rule is exact integer arithmetic.
SCALE_TENTHS = (2, 4, 6, 8, 10, 12, 14, 16, 18, 20)
CHANNEL_LAYOUTS = {
    "OneShot": (64, 160, 320, 640),
    "ShuffleNetV2+": (48, 128, 256, 512),
}
STAGE_REPEATS = (4, 4, 8, 4)
FIRST_CONV_CHANNELS = 16
LAST_CONV_CHANNELS = 1024
# ShuffleNetV2+ tail (SE without last-conv-after-pooling) has a 768-wide conv before pooling.
SHUFFLENETV2PLUS_TAIL_CHANNELS = 768


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One architecture: a block gene and a channel gene per choice layer."""

    blocks: Tuple[int, ...]
    channels: Tuple[int, ...]

    def __post_init__(self):
        object.__setattr__(self, "blocks", tuple(int(b) for b in self.blocks))
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        if len(self.blocks) != len(self.channels):
            raise OneShotError(
                f"candidate has {len(self.blocks)} block genes but {len(self.channels)} channel genes; "
                "give one of each per choice layer")
        for kind, genes in (("block", self.blocks), ("channel", self.channels)):
            for i, g in enumerate(genes):
                if not 0 <= g <= 9:
                    raise OneShotError(f"{kind} gene {g} at layer {i} is out of range (genes are single "
                                       "digits: blocks 0..3, channels 0..9)")

    def __str__(self) -> str:
        return "".join(map(str, self.blocks)) + "-" + "".join(map(str, self.channels))

    @property
    def genes(self) -> Tuple[int, ...]:
        """Block genes followed by channel genes (the genetic algorithm's chromosome)."""
        return self.blocks + self.channels

    @classmethod
    def from_genes(cls, genes: Sequence[int]) -> "Candidate":
        half = len(genes) // 2
        return cls(tuple(genes[:half]), tuple(genes[half:]))

    @classmethod
    def parse(cls, text: str) -> "Candidate":
        """Parse the compact form ``BBBB...-CCCC...``."""
        text = text.strip()
        parts = text.split("-")
        if len(parts) != 2 or not parts[0] or not parts[1]:
            raise OneShotError(
                f"architecture string {text!r} is not of the form BLOCKDIGITS-CHANNELDIGITS, "
                "e.g. 00311100202110202132-65352634257546744543")
        for part in parts:
            bad = [ch for ch in part if ch not in "0123456789"]
            if bad:
                raise OneShotError(f"architecture string {text!r} holds the non-digit {bad[0]!r}")
        return cls(tuple(map(int, parts[0])), tuple(map(int, parts[1])))

    @classmethod
    def from_lists(cls, blocks: str | Sequence[int], channels: str | Sequence[int]) -> "Candidate":
        """Build from the original's comma lists (``--block-choices 0,0,3,... --channel-choices 6,5,...``)."""
        return cls(parse_gene_list(blocks, "block"), parse_gene_list(channels, "channel"))


def parse_gene_list(value: str | Sequence[int], kind: str) -> Tuple[int, ...]:
    if not isinstance(value, str):
        return tuple(int(v) for v in value)
    genes = []
    for item in value.replace(" ", "").split(","):
        if not item.isdigit():
            raise OneShotError(f"{kind} choice {item!r} in {value!r} is not a non-negative integer")
        genes.append(int(item))
    return tuple(genes)


NETWORK = "network (search space) options"


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """Everything that decides a network's shapes and costs; its fingerprint travels with artifacts."""

    channels_layout: str = option("OneShot", "stage widths: OneShot [64,160,320,640] or ShuffleNetV2+ "
                                  "[48,128,256,512] (default: the --model's, else OneShot)",
                                  choices=sorted(CHANNEL_LAYOUTS), group=NETWORK, show_default=False)
    use_se: bool = option(False, "hard-swish in stages 1-3 and SE in stages 2-3 (ShuffleNetV2+ style)",
                          group=NETWORK)
    last_conv_after_pooling: bool = option(False, "MobileNetV3 tail: global pooling, then the 1024-wide 1x1 "
                                           "conv (no BN)", group=NETWORK)
    input_size: int = option(224, "input resolution, a multiple of 32; below 64 the stem keeps stride 1",
                             group=NETWORK)
    num_classes: int = option(1000, "number of classes", group=NETWORK)
    stage_repeats: Tuple[int, ...] = STAGE_REPEATS
    scale_tenths: Tuple[int, ...] = SCALE_TENTHS
    block_names: Tuple[str, ...] = BLOCK_NAMES
    # 0: automatic (see stem_stride); 2 everywhere is the original's network
    first_conv_stride: int = option(0, "stride of the stem conv (default: 1 below 64 px, else 2; 2 at 32 px is "
                                    "the original's network, whose last stage is 1x1)", choices=(0, 1, 2),
                                    group=NETWORK, show_default=False)

    def __post_init__(self):
        if self.channels_layout not in CHANNEL_LAYOUTS:
            raise OneShotError(f"unknown channels layout {self.channels_layout!r}; "
                               f"choose one of {', '.join(CHANNEL_LAYOUTS)}")
        if self.input_size <= 0 or self.input_size % 32:
            raise OneShotError(f"input size {self.input_size} is not a positive multiple of 32 "
                               "(the network downsamples by 32); use e.g. 224 or 32")
        if self.num_classes < 2:
            raise OneShotError(f"num_classes {self.num_classes} must be at least 2")
        if self.first_conv_stride not in (0, 1, 2):
            raise OneShotError(f"first conv stride {self.first_conv_stride} must be 1 or 2 (0: 1 below 64 px, "
                               "else 2)")
        if self.first_conv_stride == (1 if self.input_size < 64 else 2):
            object.__setattr__(self, "first_conv_stride", 0)  # the automatic one: one space, one fingerprint
        object.__setattr__(self, "stage_repeats", tuple(self.stage_repeats))
        object.__setattr__(self, "scale_tenths", tuple(self.scale_tenths))
        object.__setattr__(self, "block_names", tuple(self.block_names))

    # ---- derived shape facts -------------------------------------------------------------
    @property
    def stage_widths(self) -> Tuple[int, ...]:
        return CHANNEL_LAYOUTS[self.channels_layout]

    @property
    def num_layers(self) -> int:
        return sum(self.stage_repeats)

    @property
    def num_blocks(self) -> int:
        return len(self.block_names)

    @property
    def num_scales(self) -> int:
        return len(self.scale_tenths)

    @property
    def channel_scales(self) -> Tuple[float, ...]:
        return tuple(t / 10 for t in self.scale_tenths)

    def scale_gene(self, scale: float, flag: str = "scale") -> int:
        """The channel gene of a channel scale (1.0 -> 4 with the default scales); ``flag`` names it in the error."""
        tenths = round(scale * 10)
        if abs(scale * 10 - tenths) > 1e-6 or tenths not in self.scale_tenths:
            raise OneShotError(f"{flag} {scale:g} is not one of the channel scales "
                               f"{', '.join(f'{s:g}' for s in self.channel_scales)}")
        return self.scale_tenths.index(tenths)

    @property
    def stem_stride(self) -> int:
        # Small images (CIFAR/Fashion-MNIST at 32x32) keep full resolution in the stem so that the
        # last stage still sees 2x2 instead of 1x1; ImageNet-sized inputs use the original stride 2.
        # first_conv_stride=2 gives the original's network at any size (its 32 px stages end at 1x1).
        if self.first_conv_stride:
            return self.first_conv_stride
        return 1 if self.input_size < 64 else 2

    def layers(self) -> Tuple["LayerSpec", ...]:
        """Static facts of each choice layer: stage, widths, stride and input resolution."""
        specs = []
        in_channels = FIRST_CONV_CHANNELS
        resolution = self.input_size // self.stem_stride
        for stage, (repeats, width) in enumerate(zip(self.stage_repeats, self.stage_widths)):
            for i in range(repeats):
                stride = 2 if i == 0 else 1
                specs.append(LayerSpec(index=len(specs), stage=stage, in_channels=in_channels,
                                       out_channels=width, stride=stride, in_resolution=resolution))
                resolution //= stride
                in_channels = width
        return tuple(specs)

    def mid_channels(self, layer: "LayerSpec", channel_gene: int) -> int:
        """The ONE width rule: int(stage_width // 2 * scale), used by supernet, subnet and tables."""
        return layer.out_channels // 2 * self.scale_tenths[channel_gene] // 10

    def max_mid_channels(self, layer: "LayerSpec") -> int:
        return max(self.mid_channels(layer, g) for g in range(self.num_scales))

    def stage_activation(self, stage: int) -> str:
        return "hard_swish" if self.use_se and stage >= 1 else "relu"

    def stage_uses_se(self, stage: int) -> bool:
        return self.use_se and stage >= 2

    @property
    def tail_kind(self) -> str:
        """'pool_conv' (MobileNetV3), 'shufflenetv2plus' (SE without it) or 'plain'."""
        if self.last_conv_after_pooling:
            return "pool_conv"
        return "shufflenetv2plus" if self.use_se else "plain"

    # ---- identity -----------------------------------------------------------------------
    def to_dict(self) -> dict:
        # the automatic first-conv stride is left out, so spaces (and the fingerprints in saved artifacts)
        # from before the option existed stay the same
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        if not values["first_conv_stride"]:
            del values["first_conv_stride"]
        return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}

    @classmethod
    def from_dict(cls, data: dict) -> "SearchSpace":
        """The inverse of :meth:`to_dict`: takes its JSON form back (lists become tuples again)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise OneShotError(f"unknown search-space keys {sorted(unknown)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})

    def to_flags(self) -> dict:
        """The network flags (option names without dashes) that rebuild this space with :meth:`from_flags`."""
        return {name: getattr(self, name) for name in names(SearchSpace)}

    @classmethod
    def from_flags(cls, *sources: dict) -> "SearchSpace":
        """The space of the network flags, each taken from the first source that sets it (not None), else the
        default: e.g. the command line, then a zoo model's flags, then a supernet's saved space."""
        values = {}
        for name in names(cls):
            given = [src[name] for src in sources if src.get(name) is not None]
            if given:
                values[name] = given[0]
        return cls(**values)

    @property
    def fingerprint(self) -> str:
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def describe(self) -> str:
        flags = [self.channels_layout]
        if self.use_se:
            flags.append("SE")
        if self.last_conv_after_pooling:
            flags.append("last-conv-after-pooling")
        if self.first_conv_stride:
            flags.append(f"first-conv-stride-{self.first_conv_stride}")
        return f"{'+'.join(flags)} {self.input_size}px {self.num_classes} classes [{self.fingerprint}]"

    # ---- candidates -----------------------------------------------------------------------
    def validate(self, candidate: Candidate) -> Candidate:
        """Raise a clear error unless ``candidate`` belongs to this space; return it."""
        n = self.num_layers
        for kind, genes, limit in (("block", candidate.blocks, self.num_blocks),
                                   ("channel", candidate.channels, self.num_scales)):
            if len(genes) != n:
                raise OneShotError(f"{kind} choices have {len(genes)} genes; this space has {n} "
                                   f"choice layers (stage repeats {list(self.stage_repeats)})")
            for i, g in enumerate(genes):
                if not 0 <= g < limit:
                    raise OneShotError(f"{kind} gene {g} at layer {i} is out of range 0..{limit - 1}")
        return candidate

    def per_layer(self, genes, count: int) -> List[List[int]]:
        """Allowed genes per layer from None (all ``count``), one list for every layer, or one list per layer."""
        genes = list(range(count) if genes is None else genes)
        if genes and hasattr(genes[0], "__iter__"):
            return [list(g) for g in genes]
        return [genes] * self.num_layers

    def sample(self, rng: np.random.Generator, block_choices: Iterable[int] | None = None,
               channel_choices: Iterable[int] | None = None) -> Candidate:
        """Uniform sample; optionally restricted to given allowed block / channel genes."""
        blocks = np.asarray(list(block_choices) if block_choices is not None else range(self.num_blocks))
        channels = np.asarray(list(channel_choices) if channel_choices is not None
                              else range(self.num_scales))
        n = self.num_layers
        return Candidate(tuple(rng.choice(blocks, n)), tuple(rng.choice(channels, n)))

    def mutate(self, candidate: Candidate, rng: np.random.Generator, prob: float,
               mutable: str = "joint") -> Candidate:
        """Resample each mutable gene with probability ``prob`` (``mutable``: joint|block|channel)."""
        blocks, channels = list(candidate.blocks), list(candidate.channels)
        if mutable in ("joint", "block"):
            blocks = [int(rng.integers(self.num_blocks)) if rng.random() < prob else b for b in blocks]
        if mutable in ("joint", "channel"):
            channels = [int(rng.integers(self.num_scales)) if rng.random() < prob else c for c in channels]
        return Candidate(tuple(blocks), tuple(channels))

    @staticmethod
    def crossover(a: Candidate, b: Candidate, rng: np.random.Generator) -> Candidate:
        """Uniform crossover: each gene from either parent with probability 1/2."""
        take_a = rng.random(len(a.genes)) < 0.5
        return Candidate.from_genes([ga if t else gb for ga, gb, t in zip(a.genes, b.genes, take_a)])

    def full_width(self, blocks: Sequence[int]) -> Candidate:
        """The candidate with the given blocks and every channel at the largest scale."""
        return Candidate(tuple(blocks), (self.num_scales - 1,) * self.num_layers)


@dataclasses.dataclass(frozen=True)
class LayerSpec:
    index: int
    stage: int
    in_channels: int
    out_channels: int
    stride: int
    in_resolution: int

    @property
    def out_resolution(self) -> int:
        return self.in_resolution // self.stride

    @property
    def main_in_channels(self) -> int:
        # Stride 1 blocks split the input in halves; stride 2 blocks feed both branches the whole input.
        return self.in_channels // 2 if self.stride == 1 else self.in_channels

    @property
    def main_out_channels(self) -> int:
        return self.out_channels - self.main_in_channels
