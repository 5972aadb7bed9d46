"""Learning-rate and channel-selection warm-up schedules, as closed formulas of the (0-based) epoch."""
from __future__ import annotations

import math
from typing import Sequence, Tuple

LR_MODES = ("step", "poly", "cosine")


def averaged_blocks(epoch: int, block_warm_up: int, num_blocks: int) -> int:
    """Blocks averaged per layer at ``epoch`` (0-based) under ``--block-warm-up N``: all of them in the first
    part of the warm-up, one fewer in each following part (N split evenly), then one (single paths, SPOS)."""
    if epoch >= block_warm_up:
        return 1
    return num_blocks - ((num_blocks - 1) * epoch) // block_warm_up


def learning_rate(epoch_float: float, base_lr: float, num_epochs: int, mode: str = "cosine",
                  warmup_epochs: float = 0, warmup_lr: float = 0.0, lr_decay: float = 0.1,
                  lr_decay_epochs: Sequence[int] = (), power: float = 2.0) -> float:
    """LR at a fractional epoch: linear warm-up from ``warmup_lr``, then step / poly / cosine to 0.

    The same formulas as GluonCV's LRSequential(warmup linear + mode), evaluated per iteration.
    """
    if mode not in LR_MODES:
        raise ValueError(f"unknown lr mode {mode!r}; choose one of {', '.join(LR_MODES)}")
    if epoch_float < warmup_epochs:
        return warmup_lr + (base_lr - warmup_lr) * epoch_float / warmup_epochs
    if mode == "step":
        return base_lr * lr_decay ** sum(1 for e in lr_decay_epochs if epoch_float >= e)
    progress = (epoch_float - warmup_epochs) / max(1e-12, num_epochs - warmup_epochs)
    progress = min(1.0, progress)
    if mode == "poly":
        return base_lr * (1 - progress) ** power
    return base_lr * (1 + math.cos(math.pi * progress)) / 2


def warm_up_lowest_gene(epochs_since_start: int, num_scales: int = 10, floor: int = 0) -> int:
    """Lowest channel gene allowed in the ``epochs_since_start``-th (1-based) epoch of channel selection.

    The original's table (epoch_start_cs 60, 1-based epochs): 61 -> 8, 62 -> 7, 63 -> 6, 64 -> 5,
    65-66 -> 4, 67-69 -> 3, 70-73 -> 2, 74-78 -> 1, 79+ -> 0: gene g stays lowest for max(1, 6 - g) epochs.
    """
    gene, left = num_scales - 2, epochs_since_start
    while gene > floor:
        duration = max(1, 6 - gene)
        if left <= duration:
            return gene
        left -= duration
        gene -= 1
    return floor


def allowed_channel_genes(epoch: int, num_scales: int = 10, epoch_start_cs: int = 0, cs_warm_up: bool = False,
                          ignore_first_two_cs: bool = False, use_all_channels: bool = False) -> Tuple[int, ...]:
    """Channel genes a path may use in (0-based) ``epoch``; only the widest before ``epoch_start_cs``."""
    widest = num_scales - 1
    if use_all_channels or epoch < epoch_start_cs:
        return (widest,)
    floor = 2 if ignore_first_two_cs else 0
    lowest = warm_up_lowest_gene(epoch - epoch_start_cs + 1, num_scales, floor) if cs_warm_up else floor
    return tuple(range(max(lowest, floor), num_scales))
