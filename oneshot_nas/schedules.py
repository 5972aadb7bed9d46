"""Schedules: the learning rate (GluonCV's schedulers, as the original trainer), and the channel-selection and
block warm-ups as closed formulas of the (0-based) epoch."""
from __future__ import annotations

from typing import Callable, Optional, Sequence, Tuple

LR_MODES = ("step", "poly", "cosine")


def averaged_blocks(epoch: int, block_warm_up: int, num_blocks: int) -> int:
    """Blocks averaged per layer at ``epoch`` (0-based) under ``--block-warm-up N``: all of them in the first
    part of the warm-up, one fewer in each following part (N split evenly), then one (single paths, SPOS)."""
    if epoch >= block_warm_up:
        return 1
    return num_blocks - ((num_blocks - 1) * epoch) // block_warm_up


def lr_schedule(base_lr: float, num_epochs: int, iters_per_epoch: int, mode: str = "cosine",
                warmup_epochs: int = 0, warmup_lr: float = 0.0, lr_decay: float = 0.1,
                lr_decay_epochs: Sequence[int] = (), lr_decay_period: int = 0,
                power: float = 2.0) -> Callable[[int], float]:
    """``lr(num_update)``: GluonCV's LRSequential of a linear warm-up from ``warmup_lr`` and then ``mode`` (step /
    poly / cosine to 0), built as the original's trainer (GluonCV's train_imagenet.py) builds it: step epochs counted
    after the warm-up, ``lr_decay_period`` > 0 decays every that many epochs. Stateless in ``num_update``, so a
    resumed run gets exactly the rates of an uninterrupted one."""
    from gluoncv.utils import LRScheduler, LRSequential
    if mode not in LR_MODES:
        raise ValueError(f"unknown lr mode {mode!r}; choose one of {', '.join(LR_MODES)}")
    if lr_decay_period > 0:
        lr_decay_epochs = range(lr_decay_period, num_epochs, lr_decay_period)
    phases = []
    # GluonCV divides by a phase's iterations - 1: a phase of one iteration cannot be given to it
    if warmup_epochs * iters_per_epoch >= 2:
        phases.append(LRScheduler("linear", base_lr=warmup_lr, target_lr=base_lr, nepochs=warmup_epochs,
                                  iters_per_epoch=iters_per_epoch))
    if (num_epochs - warmup_epochs) * iters_per_epoch >= 2:
        phases.append(LRScheduler(mode, base_lr=base_lr, target_lr=0, nepochs=num_epochs - warmup_epochs,
                                  iters_per_epoch=iters_per_epoch, power=power, step_factor=lr_decay,
                                  step_epoch=[e - warmup_epochs for e in lr_decay_epochs]))
    if not phases:
        return lambda num_update: base_lr
    return LRSequential(phases)


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
                          ignore_first_two_cs: bool = False, use_all_channels: bool = False,
                          fixed_gene: Optional[int] = None) -> Tuple[int, ...]:
    """Channel genes a path may use in (0-based) ``epoch``; only the widest before ``epoch_start_cs``; only
    ``fixed_gene`` in a block-only supernet."""
    if fixed_gene is not None:
        return (fixed_gene,)
    widest = num_scales - 1
    if use_all_channels or epoch < epoch_start_cs:
        return (widest,)
    floor = 2 if ignore_first_two_cs else 0
    lowest = warm_up_lowest_gene(epoch - epoch_start_cs + 1, num_scales, floor) if cs_warm_up else floor
    return tuple(range(max(lowest, floor), num_scales))
