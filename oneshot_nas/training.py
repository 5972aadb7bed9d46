"""Supernet and fixed-subnet training (the original's modified GluonCV ImageNet trainer, minus its bugs).

One path per iteration is sampled (a Candidate value) and shared by all devices. Checkpoints hold
params, trainer states, the epoch, the sampler/RNG state and the config, are written atomically at the
end of every epoch, and `resume` continues exactly: the data order and augmentation of an epoch depend
only on (seed, epoch), and MXNet's RNG is reseeded per epoch.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import sys
import time
from typing import List, Optional

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon, nd

from . import bn_recalibration, data
from .checkpoints import Checkpoints, disk_error, preflight
from .devices import device_description, evaluate, split
from .distributed import horovod_trainer, init_horovod
from .errors import OneShotError, first_line
from .nn import Supernet, build_subnet
from .schedules import averaged_blocks, lr_schedule
from .space import Candidate
from .run_folder import RUN_FILES, RunFolder
from .train_config import RESUME_MAY_CHANGE, TrainConfig, config_changes
from .utils import FolderLock, atomic_write_text, changed_settings
from .weights import load_weights

LOG = logging.getLogger("oneshot_nas")


def build_data(cfg: TrainConfig, num_devices: int, num_parts: int = 1, part_index: int = 0):
    return data.make_pipelines(cfg, cfg.search_space, cfg.batch_size * num_devices,
                               cfg.seed, num_parts, part_index, train_limit=cfg.train_limit, val_limit=cfg.val_limit)


# ---------------------------------------------------------------------------------------------
# network, optimiser, checkpoints
# ---------------------------------------------------------------------------------------------
def gluoncv_network(cfg: TrainConfig, ctx):
    """``cfg.gluoncv_model`` from GluonCV's model zoo with the original trainer's options (GluonCV's
    train_imagenet.py): GroupNorm, VGG batch norm, zero last gamma, pretrained weights from GluonCV's cache."""
    from gluoncv import model_zoo
    kwargs = {"classes": cfg.search_space.num_classes, "pretrained": cfg.use_pretrained}
    if cfg.use_gn:
        from gluoncv.nn import GroupNorm
        kwargs["norm_layer"] = GroupNorm
    if cfg.batch_norm:
        kwargs["batch_norm"] = True
    if cfg.last_gamma:
        kwargs["last_gamma"] = True
    try:
        net = model_zoo.get_model(cfg.gluoncv_model, **kwargs)
    except TypeError as e:
        raise OneShotError(f"--model {cfg.gluoncv_model} does not take one of --use-gn, --batch-norm, --last-gamma "
                           f"({e}); drop it") from None
    except (OSError, ValueError, AssertionError) as e:  # no network and no cached file, or a bad pretrained request
        raise OneShotError(f"--model {cfg.gluoncv_model}: cannot get its pretrained weights ({first_line(e)}); GluonCV "
                           "downloads them into ~/.mxnet/models: connect once, or train without --use-pretrained") \
            from None
    if cfg.use_pretrained:
        net.collect_params().reset_ctx(ctx)
    else:
        net.initialize(mx.init.MSRAPrelu(), ctx=ctx)
    settle_shapes(net, f"--model {cfg.gluoncv_model}", cfg.search_space.input_size, ctx,
                  "check --input-size and drop --use-gn/--batch-norm/--last-gamma where it has none")
    return net


def settle_shapes(net, what: str, size: int, ctx, hint: str) -> None:
    """Zoo layers infer their shapes at the first forward: run one now, so that a network that cannot take
    ``size`` px inputs is one error line here, not a traceback in the first training step."""
    try:
        net(mx.nd.zeros((1, 3, size, size), ctx=ctx[0]))
    except (mx.base.MXNetError, ValueError) as e:
        raise OneShotError(f"{what} cannot run on {size} px inputs with these options ({first_line(e, 200)}); "
                           f"{hint}") from None


def load_teacher(cfg: TrainConfig, ctx):
    """``--teacher NAME``: a GluonCV model-zoo network with its pretrained weights (GluonCV's cache, else a
    download), as the original's trainer loaded it, or with ``--teacher-params FILE``'s; it only predicts, so
    it is hybridized and never trained."""
    from gluoncv import model_zoo
    own = bool(cfg.teacher_params)
    try:
        teacher = model_zoo.get_model(cfg.teacher, pretrained=not own, classes=cfg.search_space.num_classes)
    except ValueError as e:  # an unknown name, or no pretrained weights for it
        raise OneShotError(f"--teacher {cfg.teacher}: {first_line(e)}") from None
    except (OSError, AssertionError) as e:
        raise OneShotError(f"--teacher {cfg.teacher}: cannot get its pretrained weights ({first_line(e)}); GluonCV "
                           "downloads them into ~/.mxnet/models: connect once, give --teacher-params FILE, or train "
                           "without --teacher") from None
    if own:
        teacher.initialize(ctx=ctx)
        settle_shapes(teacher, f"--teacher {cfg.teacher}", cfg.search_space.input_size, ctx,
                      "check --input-size, or choose another teacher")
        load_weights(teacher, cfg.teacher_params, ctx)
    else:
        teacher.collect_params().reset_ctx(ctx)
    teacher.hybridize(static_alloc=True, static_shape=True)
    return teacher


def build_net(cfg: TrainConfig, ctx):
    space = cfg.search_space
    if cfg.gluoncv_model:
        net = gluoncv_network(cfg, ctx)
    elif cfg.candidate is None:
        net = Supernet(space, dropout=cfg.dropout, use_all_blocks=cfg.use_all_blocks)
        net.initialize(ctx=ctx)
    else:
        net = build_subnet(space, Candidate.parse(cfg.candidate), dropout=cfg.dropout)
        net.initialize(ctx=ctx)
    if cfg.dtype != "float32":
        net.cast(cfg.dtype)
    if cfg.no_wd:
        for name, p in net.collect_params().items():
            if name.endswith(("_gamma", "_beta", "_bias")):
                p.wd_mult = 0.0
    if (cfg.candidate is not None or cfg.gluoncv_model) and cfg.mode in ("hybrid", "symbolic"):
        net.hybridize(static_alloc=True, static_shape=True)
    return net


def make_trainer(cfg: TrainConfig, net, kvstore, hvd=None):
    opt = {"learning_rate": cfg.lr, "wd": cfg.wd, "momentum": cfg.momentum}
    if cfg.dtype != "float32":
        opt["multi_precision"] = True
    if hvd is not None:
        return horovod_trainer(hvd, net.collect_params(), opt)
    # Update locally after the all-reduce: updating on the kvstore pushes every gradient, and the stale
    # gradients of blocks off the current path would move them on every step (measured: they do).
    return gluon.Trainer(net.collect_params(), "nag", opt, kvstore=kvstore, update_on_kvstore=False)


# ---------------------------------------------------------------------------------------------
# loss, metrics
# ---------------------------------------------------------------------------------------------
def soft_targets(label: nd.NDArray, num_classes: int, smoothing: float) -> nd.NDArray:
    on, off = 1.0 - smoothing, smoothing / num_classes
    return nd.one_hot(label, num_classes, on_value=on + off, off_value=off)


# ---------------------------------------------------------------------------------------------
# the loop
# ---------------------------------------------------------------------------------------------
class Run:
    def __init__(self, cfg: TrainConfig, sampler=None, resume: bool = False):
        cfg.validate()
        self.cfg, self.sampler = cfg, sampler
        self.ctx = cfg.contexts()
        self.is_supernet = cfg.candidate is None and not cfg.gluoncv_model
        hvd = init_horovod(cfg) if cfg.kvstore == "horovod" else None
        if hvd is not None:
            self.ctx = [mx.gpu(hvd.local_rank())] if cfg.num_gpus else [mx.cpu()]
            kv, parts = None, (hvd.size(), hvd.rank())
        else:
            kv = mx.kv.create(cfg.kvstore) if cfg.kvstore.startswith("dist") else cfg.kvstore
            parts = (kv.num_workers, kv.rank) if not isinstance(kv, str) else (1, 0)
        self.device = device_description(self.ctx[0])
        # Several processes (dist_sync, Horovod): each trains on its share of the data; only rank 0 writes files.
        self.is_chief = parts[1] == 0
        self.checkpoints = Checkpoints(cfg.save_dir)
        self.folder = RunFolder(cfg.save_dir)
        self.history_path = self.folder.history_path
        self.lock = FolderLock(cfg.save_dir, "another `train` run").acquire() if self.is_chief else None
        if self.is_chief:
            self._claim_folder(resume)
        self.train_data, self.val_data = build_data(cfg, len(self.ctx), *parts)
        self.schedule = lr_schedule(cfg.lr, cfg.num_epochs, self.batches_per_epoch, cfg.lr_mode, cfg.warmup_epochs,
                                    cfg.warmup_lr, cfg.lr_decay,
                                    [int(e) for e in cfg.lr_decay_epoch.split(",") if e.strip()], cfg.lr_decay_period)
        LOG.info("data: %s", self.train_data.split.describe())
        warm_up = self.sampler.block_warm_up if self.is_supernet else 0  # the sampler the loop draws from
        if warm_up >= cfg.num_epochs > 0:
            LOG.warning("--block-warm-up %d covers all %d epoch(s): the supernet never trains single paths, which "
                        "the search scores; give more --num-epochs or a shorter --block-warm-up", warm_up,
                        cfg.num_epochs)
        mx.random.seed(cfg.seed)  # the initial weights come from MXNet's RNG
        self.net = build_net(cfg, self.ctx)
        self.trainer = make_trainer(cfg, self.net, kv, hvd)
        self.loss_fn = gluon.loss.SoftmaxCrossEntropyLoss(sparse_label=False)
        self.teacher = load_teacher(cfg, self.ctx) if cfg.teacher and cfg.hard_weight < 1 else None
        if self.teacher is not None:  # GluonCV's loss: hard-label and temperature-softened teacher terms
            from gluoncv.loss import DistillationSoftmaxCrossEntropyLoss
            self.loss_fn = DistillationSoftmaxCrossEntropyLoss(temperature=cfg.temperature,
                                                               hard_weight=cfg.hard_weight, sparse_label=False)
        self.start_epoch, self.best_err = 0, 1.0
        if self.is_chief:
            preflight(cfg.save_dir, self._checkpoint_bytes(), "the run folder")
        changes = self._resume() if resume else None
        if self.start_epoch == 0:  # not continued from this folder's checkpoint
            self._start_from_files()
        if self.is_chief:  # only now, after the resume check: a refused resume leaves config.json as it was
            self._write_config(changes)
            self.folder.write_split(self.train_data.split)
        if hvd is not None:  # the same seed gives the same weights; rank 0's are the reference all the same
            hvd.broadcast_parameters(self.net.collect_params(), root_rank=0)
        self.bn_batches = self.train_data.fixed_subset(cfg.bn_images, cfg.seed + 1, cfg.batch_size) \
            if self.is_supernet else None

    def _claim_folder(self, resume: bool) -> None:
        """Refuse to start over on a finished epoch unless told; clear what a kill left half-written."""
        removed = self.checkpoints.remove_leftovers()
        if removed:
            LOG.info("removed %d temporary file(s) left by an interrupted write in %s", removed, self.cfg.save_dir)
        if resume:
            return
        if self._finished_epochs():
            if not self.cfg.overwrite:
                raise OneShotError(f"{self.cfg.save_dir} holds a training run ({self._finished_epochs()} epoch(s) "
                                   "done): continue it with --resume, choose another --save-dir, or pass "
                                   "--overwrite to delete it and start over")
            LOG.info("--overwrite: deleting the run in %s and starting over", self.cfg.save_dir)
        self._clear_run()

    def _finished_epochs(self) -> int:
        """Epochs saved in a complete checkpoint (an epoch without one is trained again in any case)."""
        newest = self.checkpoints.newest("last")
        return newest[1]["epoch"] + 1 if newest else 0

    def _clear_run(self) -> None:
        import shutil
        shutil.rmtree(self.checkpoints.units, ignore_errors=True)
        for name in os.listdir(self.cfg.save_dir):
            if name in RUN_FILES or name.startswith(("last.", "best.", "epoch-")):
                os.unlink(os.path.join(self.cfg.save_dir, name))

    def _checkpoint_bytes(self) -> int:
        """About one checkpoint: the params, as much again for the optimiser's momentum, and some slack."""
        size = sum(p.data(self.ctx[0]).size * 4 for p in self.net.collect_params().values())
        return int(2.2 * size) + (1 << 20)

    def _write_config(self, changes: Optional[dict]) -> None:
        history = self.folder.config_or_empty().get("changes", []) if changes is not None else []
        if changes:
            history.append({"at_epoch": self.start_epoch, "time": time.strftime("%Y-%m-%d %H:%M:%S"),
                            "changed": changes})
        self.folder.write_config({**dataclasses.asdict(self.cfg), "changes": history})

    def _start_from_files(self) -> None:
        """--resume-params / --resume-states / --resume-epoch: the original's way to start from any checkpoint."""
        c = self.cfg
        if c.resume_params:
            kind = load_weights(self.net, c.resume_params, self.ctx)
            LOG.info("weights from %s (%s format)", c.resume_params, kind)
        if c.resume_states:
            try:
                self.trainer.load_states(c.resume_states)
            except (ValueError, OSError, AssertionError, mx.base.MXNetError) as e:
                raise OneShotError(f"--resume-states {c.resume_states} does not fit this network's optimiser "
                                   f"({type(e).__name__}); give the .states file saved with --resume-params") from None
            LOG.info("optimiser states from %s", c.resume_states)
        self.start_epoch = c.resume_epoch
        if c.resume_epoch:
            LOG.info("starting at epoch %d (--resume-epoch)", c.resume_epoch)

    def _resume(self) -> Optional[dict]:
        newest = self.checkpoints.newest("last")
        if newest is None and self.checkpoints.damaged("last"):
            raise OneShotError(f"every checkpoint in {self.checkpoints.units} is damaged ({', '.join(self.checkpoints.damaged('last'))} "
                               "fail their hash check); start over with --overwrite, or restore the folder from a backup")
        if newest is None:  # killed before its first checkpoint was complete: nothing to lose
            LOG.warning("no complete checkpoint in %s to resume from: starting at epoch 0", self.cfg.save_dir)
            self._clear_run()
            return None
        unit, state = newest
        saved = state.get("config")
        if not isinstance(saved, dict):
            raise OneShotError(f"checkpoint {unit} holds no config; resume from another run or start afresh")
        changes, refused = config_changes(saved, dataclasses.asdict(self.cfg))
        if refused:
            raise OneShotError(f"the run in {self.cfg.save_dir} was started with other options ({'; '.join(refused)}); "
                               "resume with the same options (only the optimisation options "
                               f"{', '.join('--' + n.replace('_', '-') for n in RESUME_MAY_CHANGE)} may change), or "
                               "use another --save-dir")
        try:
            self.net.load_parameters(self.checkpoints.unit_file(unit, "last", "params"), ctx=self.ctx)
            self.trainer.load_states(self.checkpoints.unit_file(unit, "last", "states"))
        except (ValueError, OSError, AssertionError, mx.base.MXNetError) as e:
            raise OneShotError(f"checkpoint {unit} does not load into this network ({type(e).__name__}); resume with "
                               "the options it was written with, or start afresh with --overwrite") from None
        self.start_epoch, self.best_err = state["epoch"] + 1, state["best_err"]
        if self.sampler is not None and state.get("sampler"):
            self.sampler.load_state_dict(state["sampler"])
        if self.is_chief:
            self._truncate_history(self.start_epoch)
            self._repair_units(state)
        if changes:
            LOG.info("resuming with changed options: %s", ", ".join(changed_settings(
                {k: a for k, (a, b) in changes.items()}, {k: b for k, (a, b) in changes.items()}, flags=True)))
        LOG.info("resumed from %s at epoch %d", unit, self.start_epoch)
        return changes

    def _truncate_history(self, epochs: int) -> None:
        if os.path.exists(self.history_path):
            with open(self.history_path) as f:
                lines = [ln for ln in f if ln.strip() and json.loads(ln)["epoch"] < epochs]
            atomic_write_text(self.history_path, "".join(lines))

    # ---- one epoch -------------------------------------------------------------------------
    def _lr(self, epoch: int, batch: int) -> float:
        return self.schedule(epoch * self.batches_per_epoch + batch)

    def _stop_on_nan(self, batch_loss: float, epoch: int, batch: int) -> None:
        raise OneShotError(f"loss became {batch_loss} at epoch {epoch} batch {batch} (lr {self._lr(epoch, batch):g}); "
                           f"training stopped; {self.checkpoints.describe_last_good()}. Continue from it with a lower "
                           f"learning rate: the same command with --resume --lr {self.cfg.lr / 2:g} (or add "
                           "--warmup-epochs)")

    def _teacher_soft(self, x):
        """The teacher's temperature-softened prediction for the (mixed) images, or None without a teacher;
        computed once per batch part, whatever the number of paths trained on it."""
        if self.teacher is None:
            return None
        with autograd.pause():
            return nd.softmax(self.teacher(x).astype("float32", copy=False) / self.cfg.temperature)

    def _loss(self, out, target, soft):
        """Cross-entropy on the (smoothed, mixed) targets; with a teacher (``soft`` from :meth:`_teacher_soft`),
        GluonCV's distillation loss, as the original's trainer."""
        return self.loss_fn(out, target) if soft is None else self.loss_fn(out, target, soft)

    @property
    def batches_per_epoch(self) -> int:
        return max(1, len(self.train_data) // max(1, self.cfg.reduced_dataset_scale))

    def train_epoch(self, epoch: int) -> dict:
        c, n_cls = self.cfg, self.cfg.search_space.num_classes
        mx.random.seed(c.seed * 100003 + epoch)
        mix_rng = np.random.default_rng([c.seed, epoch, 7])
        tic = time.time()
        loss_sum, seen, images, steps, correct, btic = 0.0, 0, 0, 0, 0, time.time()
        flops, paths = [], set()
        batches = self.train_data.epoch_batches(epoch)
        if sys.stderr.isatty():  # a progress bar for people; logs stay line-based for files
            from tqdm import tqdm
            batches = tqdm(batches, total=self.batches_per_epoch, desc=f"epoch {epoch}", leave=False)
        for b, (x, y) in enumerate(batches):
            if b >= self.batches_per_epoch:
                break
            self.trainer.set_learning_rate(self._lr(epoch, b))
            step_paths = self.sampler.paths(epoch) if self.is_supernet else [None]
            companions = self.sampler.companions(step_paths[0], epoch) if self.is_supernet else None
            for candidate in step_paths if self.is_supernet else ():
                paths.add(str(candidate))
                flops.append(self.sampler.table.cost(candidate).flops)
            parts = split(x, y, self.ctx, c.dtype)
            smoothing = 0.1 if c.label_smoothing else 0.0
            lam = mix_rng.beta(c.mixup_alpha, c.mixup_alpha) if c.mixup and epoch < c.num_epochs - c.mixup_off_epoch else None
            with autograd.record():
                outs, losses = [], []
                for xi, yi in parts:
                    target = soft_targets(yi, n_cls, smoothing)
                    if lam is not None:
                        xi = lam * xi + (1 - lam) * xi[::-1]
                        target = lam * target + (1 - lam) * target[::-1]
                    soft = self._teacher_soft(xi)
                    for candidate in step_paths:
                        out = self.net(xi, candidate, companions) if self.is_supernet else self.net(xi)
                        outs.append((out, yi))
                        losses.append(self._loss(out.astype("float32", copy=False), target, soft))
            autograd.backward(losses)
            # averaged over the paths: under --fair-blocks each block then moves by a quarter of its path's step
            # every step, as much as single paths move it on average; summed, the shared stem and head took 4x
            # steps and the preset's supernet diverged at once (README, "Fair block sampling")
            self.trainer.step(x.shape[0] * len(step_paths), ignore_stale_grad=True)
            batch_loss = sum(float(l.sum().asscalar()) for l in losses)
            if not math.isfinite(batch_loss):
                self._stop_on_nan(batch_loss, epoch, b)
            loss_sum += batch_loss
            seen += x.shape[0] * len(step_paths)  # loss and accuracy are per image and path
            images, steps = images + x.shape[0], steps + 1
            correct += sum(int((o.argmax(axis=1) == yi.astype(o.dtype)).sum().asscalar()) for o, yi in outs)
            if c.log_interval and (b + 1) % c.log_interval == 0:
                speed = c.log_interval * x.shape[0] / (time.time() - btic)
                # the original's line (its plotting reads one metric), then the loss on a line of its own
                LOG.info("Epoch[%d] Batch [%d]\tSpeed: %f samples/sec\taccuracy=%f\tlr=%f",
                         epoch, b + 1, speed, correct / seen, self.trainer.learning_rate)
                LOG.info("Epoch[%d] Batch [%d]\tloss=%f", epoch, b + 1, loss_sum / seen)
                btic = time.time()
        elapsed = time.time() - tic
        LOG.info("[Epoch %d] training: accuracy=%f", epoch, correct / max(1, seen))
        LOG.info("[Epoch %d] loss=%f", epoch, loss_sum / max(1, seen))
        LOG.info("[Epoch %d] speed: %d samples/sec\ttime cost: %f", epoch, images / elapsed, elapsed)
        stats = {"train_acc": correct / max(1, seen), "train_loss": loss_sum / max(1, seen), "train_seconds": elapsed,
                 "images_per_sec": images / elapsed, "lr": self.trainer.learning_rate}
        if flops:
            stats.update(blocks_averaged=averaged_blocks(epoch, self.sampler.block_warm_up,
                                                         len(self.sampler.block_choices)),
                         paths_per_step=len(flops) / max(1, steps),
                         distinct_paths=len(paths), path_flops_mean=float(np.mean(flops)),
                         path_flops_min=float(np.min(flops)), path_flops_max=float(np.max(flops)))
        return stats

    def validate(self, epoch: int) -> dict:
        candidate = None
        if self.is_supernet:
            candidate = self.sampler.sample(epoch)
            bn_recalibration.recalibrate(self.net, lambda x: self.net(x, candidate), self.bn_batches, self.ctx)
        forward = (lambda x: self.net(x, candidate)) if self.is_supernet else self.net
        result = evaluate(forward, self.val_data.epoch_batches(0), self.ctx, self.cfg.dtype)
        err1, err5, total = 1 - result["top1"], 1 - result["top5"], result["images"]
        LOG.info("[Epoch %d] validation: err-top1=%f err-top5=%f", epoch, err1, err5)
        return {"val_err_top1": err1, "val_err_top5": err5, "val_split": self.cfg.val_split, "val_images": total,
                **({"val_path": str(candidate)} if candidate else {})}

    def _save_epoch(self, epoch: int, record: dict) -> None:
        c = self.cfg
        state = {"epoch": epoch, "best_err": min(self.best_err, record["val_err_top1"]),
                 "config": dataclasses.asdict(c), "sampler": self.sampler.state_dict() if self.sampler else None,
                 "record": record}
        is_best = record["val_err_top1"] < self.best_err
        state["is_best"] = is_best
        self.best_err = state["best_err"]
        if not self.is_chief:
            return
        try:
            with open(self.history_path, "a") as f:  # before "last": a resume truncates what it did not checkpoint
                f.write(json.dumps(record) + "\n")
            self._save("last", epoch, state)  # first: the others are repaired from it after a kill
            for tag in self._other_units(epoch, is_best):
                self._save(tag, epoch, state)
        except (OSError, mx.base.MXNetError) as e:
            raise disk_error(e, c.save_dir, self.checkpoints.describe_last_good()) from None

    def _other_units(self, epoch: int, is_best: bool) -> List[str]:
        """The checkpoints besides ``last`` that ``epoch`` writes."""
        c = self.cfg
        return (["best"] if is_best else []) + (
            [f"epoch-{epoch:04d}"] if c.save_frequency and (epoch + 1) % c.save_frequency == 0 else [])

    def _repair_units(self, state: dict) -> None:
        """A kill after ``last`` was committed but before ``best``/``epoch-N`` of the same epoch: write them now
        from the resumed (identical) weights, so best.* always names the best epoch."""
        epoch = state["epoch"]
        for tag in self._other_units(epoch, state.get("is_best", False)):
            if not any(m["epoch"] == epoch for _, m in self.checkpoints.verified(tag)):
                LOG.info("writing the %s checkpoint of epoch %d that an interrupted run did not finish", tag, epoch)
                self._save(tag, epoch, state)

    def _save(self, tag: str, epoch: int, state: dict) -> None:
        self.checkpoints.save(tag, epoch, self.net.save_parameters, self.trainer.save_states, state)

    def run(self) -> dict:
        c = self.cfg
        record = {}
        if self.start_epoch >= c.num_epochs:
            LOG.info("nothing to do: %s already finished %d epochs (raise --num-epochs to train longer)",
                     c.save_dir, c.num_epochs)
        for epoch in range(self.start_epoch, c.num_epochs):
            record = {"epoch": epoch, **self.train_epoch(epoch), **self.validate(epoch)}
            if self.sampler is not None:
                record["paths_outside_box"] = self.sampler.unmet
            record["device"] = self.device  # where this epoch was trained (a resumed run may move)
            self._save_epoch(epoch, record)
        if self.lock is not None:
            self.lock.release()
        return record


def train_to_end(cfg: TrainConfig) -> dict:
    """Train a fixed architecture from scratch, or finish the run a kill left in ``cfg.save_dir``, logging into
    its train.log; returns the last epoch's record (also when the run had already finished)."""
    os.makedirs(cfg.save_dir, exist_ok=True)
    resume = os.path.exists(os.path.join(cfg.save_dir, "last.json"))
    handler = logging.FileHandler(os.path.join(cfg.save_dir, "train.log"))
    LOG.addHandler(handler)
    try:
        record = Run(cfg, None, resume=resume).run()
    finally:
        LOG.removeHandler(handler)
        handler.close()
    return record or RunFolder(cfg.save_dir).last_record()
