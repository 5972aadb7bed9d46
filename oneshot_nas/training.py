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
from typing import List, Optional, Tuple

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon, nd

from . import bn_recalibration, data
from .checkpoints import Checkpoints, disk_error, preflight
from .devices import Devices, evaluate, split
from .distributed import horovod_trainer, init_horovod
from .errors import OneShotError
from .nn import Supernet, build_subnet
from . import options
from .options import option
from .schedules import averaged_blocks, learning_rate
from .space import Candidate, SearchSpace
from .run_folder import RUN_FILES, RunFolder
from .utils import FolderLock, atomic_write_text

LOG = logging.getLogger("oneshot_nas")


MODEL, OPTIMISATION, RUN = "model", "optimisation", "checkpoints and logs"
LR_MODES = ("step", "poly", "cosine")


@dataclasses.dataclass
class TrainConfig(data.DataSource, Devices):
    """Everything a training run depends on; resolved once by the CLI and dumped next to the outputs."""

    space: dict
    candidate: Optional[str]            # None = supernet
    use_all_blocks: bool = option(False, "supernet: average all four blocks per layer", group=MODEL)
    dropout: Optional[float] = option(None, "dropout before the classifier (default 0.2 with SE, else 0.1)",
                                      type=float, group=MODEL)
    sampling: dict = dataclasses.field(default_factory=dict)  # SamplingOptions (supernet only)
    reduced_dataset_scale: int = option(1, "train only 1/N of the batches each epoch", group="data")
    train_limit: Optional[int] = option(None, "use only the first N training images (small runs)", type=int,
                                        group="data")
    val_limit: Optional[int] = option(None, "use only the first N validation images", type=int, group="data")
    bn_images: int = option(1000, "supernet validation: training images (fixed, seeded) for BN recalibration",
                            group="data")
    batch_size: int = option(32, "per device", group=OPTIMISATION)
    kvstore: str = option("device", "device, local, dist_sync (launched with DMLC_* variables) or horovod "
                                    "(launched with horovodrun, one process per device; needs WITH_HOROVOD=1 sh "
                                    "scripts/setup.sh)", group=OPTIMISATION)
    num_epochs: int = option(3, "", group=OPTIMISATION)
    lr: float = option(0.1, "", group=OPTIMISATION)
    momentum: float = option(0.9, "", group=OPTIMISATION)
    wd: float = option(4e-5, "", group=OPTIMISATION)
    lr_mode: str = option("cosine", "", choices=LR_MODES, group=OPTIMISATION)
    lr_decay: float = option(0.1, "", group=OPTIMISATION)
    lr_decay_epoch: str = option("40,60", "step mode: comma list of epochs", group=OPTIMISATION)
    warmup_lr: float = option(0.0, "", group=OPTIMISATION)
    warmup_epochs: int = option(0, "", group=OPTIMISATION)
    label_smoothing: bool = option(False, "label smoothing 0.1", group=OPTIMISATION)
    mixup: bool = option(False, "", group=OPTIMISATION)
    mixup_alpha: float = option(0.2, "", group=OPTIMISATION)
    mixup_off_epoch: int = option(0, "no mixup in the last N epochs", group=OPTIMISATION)
    no_wd: bool = option(False, "no weight decay on BN gamma/beta and biases", group=OPTIMISATION)
    dtype: str = option("float32", "float16 uses multi-precision", choices=("float32", "float16"),
                        group=OPTIMISATION)
    mode: str = option("imperative", "hybrid: hybridize the fixed subnet (the supernet always runs imperatively)",
                       choices=("imperative", "hybrid"), group=OPTIMISATION)
    seed: int = option(0, "", group=OPTIMISATION)
    save_dir: str = option("runs/train", "", group=RUN)
    # GluonCV's (and the original's) default: the checkpoints of every 10th epoch are kept besides last/best
    save_frequency: int = option(10, "also keep epoch-N checkpoints every N epochs", group=RUN)
    log_interval: int = option(50, "", group=RUN)
    overwrite: bool = option(False, "delete the run in --save-dir and start over (without it, `train` refuses a "
                                    "folder that holds one)", group=RUN)
    deterministic: bool = option(False, "bit-identical runs for the same seed: MKL-DNN off "
                                        "(MXNET_MKLDNN_ENABLED=0), slower on CPU", group=RUN)

    @property
    def search_space(self) -> SearchSpace:
        return SearchSpace.from_dict(self.space)

    def validate(self) -> None:
        """Every value that would otherwise be read as something else, refused with the fix."""
        for name in ("batch_size", "num_epochs", "reduced_dataset_scale", "bn_images"):
            if getattr(self, name) < 1:
                raise OneShotError(f"--{name.replace('_', '-')} must be at least 1, not {getattr(self, name)}")
        for name in ("train_limit", "val_limit"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise OneShotError(f"--{name.replace('_', '-')} must be at least 1 image (leave it out to use "
                                   f"all of them), not {value}")
        images = (self.train_limit or 0) // max(1, self.reduced_dataset_scale)
        if self.train_limit and images < self.batch_size * max(1, self.num_gpus or self.num_cpu_contexts):
            raise OneShotError(f"--train-limit {self.train_limit} gives {images} images per epoch, less than one "
                               f"batch of {self.batch_size} per device: nothing would be trained; raise "
                               "--train-limit or lower --batch-size")
        for name in ("lr", "wd", "momentum", "warmup_lr", "warmup_epochs", "save_frequency", "log_interval"):
            if getattr(self, name) < 0:
                raise OneShotError(f"--{name.replace('_', '-')} must not be negative, not {getattr(self, name)}")


# Options that may change when a run is resumed (after a NaN stop: a lower --lr; a longer run: --num-epochs);
# the change is recorded in config.json's "changes". Any other difference is refused.
RESUME_MAY_CHANGE = ("num_epochs", "lr", "momentum", "wd", "lr_mode", "lr_decay", "lr_decay_epoch", "warmup_lr",
                     "warmup_epochs", "batch_size", "log_interval", "save_frequency")
# Not part of what a run is: where it is, and how this invocation was started.
RESUME_IGNORES = ("save_dir", "overwrite", "deterministic", "changes")
PATH_FIELDS = ("data_dir", "rec_train", "rec_train_idx", "rec_val", "rec_val_idx")


def comparable(config: dict) -> dict:
    """A config in JSON form with paths resolved, for comparing a resumed run's options with the saved ones;
    options missing from it (saved by an older version) take their defaults."""
    from .sampling import SamplingOptions
    defaults = {f.name: options.default_of(f) for f in dataclasses.fields(TrainConfig)
                if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING}
    config = {**defaults, **config}
    config["sampling"] = {**dataclasses.asdict(SamplingOptions()), **(config.get("sampling") or {})}
    out = json.loads(json.dumps({k: v for k, v in config.items() if k not in RESUME_IGNORES}))
    for name in PATH_FIELDS:
        if out.get(name):
            out[name] = os.path.realpath(os.path.expanduser(out[name]))
    return out


def config_changes(saved: dict, given: dict) -> Tuple[dict, List[str]]:
    """(allowed changes {name: [saved, given]}, refused differences as 'name: saved -> given')."""
    old, new = comparable(saved), comparable(given)
    allowed, refused = {}, []
    for name in sorted(set(old) | set(new)):
        if old.get(name) != new.get(name):
            if name in RESUME_MAY_CHANGE:
                allowed[name] = [old.get(name), new.get(name)]
            else:
                refused.append(f"--{name.replace('_', '-')}: {old.get(name)!r} -> {new.get(name)!r}")
    return allowed, refused


# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------
def build_data(cfg: TrainConfig, num_devices: int, num_parts: int = 1, part_index: int = 0):
    return data.make_pipelines(cfg, cfg.search_space, cfg.batch_size * num_devices,
                               cfg.seed, num_parts, part_index, train_limit=cfg.train_limit, val_limit=cfg.val_limit)


# ---------------------------------------------------------------------------------------------
# network, optimiser, checkpoints
# ---------------------------------------------------------------------------------------------
def build_net(cfg: TrainConfig, ctx):
    space = cfg.search_space
    if cfg.candidate is None:
        net = Supernet(space, dropout=cfg.dropout, use_all_blocks=cfg.use_all_blocks)
    else:
        net = build_subnet(space, Candidate.parse(cfg.candidate), dropout=cfg.dropout)
    net.initialize(ctx=ctx)
    if cfg.dtype != "float32":
        net.cast(cfg.dtype)
    if cfg.no_wd:
        for name, p in net.collect_params().items():
            if name.endswith(("_gamma", "_beta", "_bias")):
                p.wd_mult = 0.0
    if cfg.candidate is not None and cfg.mode == "hybrid":
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
        self.is_supernet = cfg.candidate is None
        hvd = init_horovod(cfg) if cfg.kvstore == "horovod" else None
        if hvd is not None:
            self.ctx = [mx.gpu(hvd.local_rank())] if cfg.num_gpus else [mx.cpu()]
            kv, parts = None, (hvd.size(), hvd.rank())
        else:
            kv = mx.kv.create(cfg.kvstore) if cfg.kvstore.startswith("dist") else cfg.kvstore
            parts = (kv.num_workers, kv.rank) if not isinstance(kv, str) else (1, 0)
        # Several processes (dist_sync, Horovod): each trains on its share of the data; only rank 0 writes files.
        self.is_chief = parts[1] == 0
        self.checkpoints = Checkpoints(cfg.save_dir)
        self.folder = RunFolder(cfg.save_dir)
        self.history_path = self.folder.history_path
        self.lock = FolderLock(cfg.save_dir, "another `train` run").acquire() if self.is_chief else None
        if self.is_chief:
            self._claim_folder(resume)
        self.train_data, self.val_data = build_data(cfg, len(self.ctx), *parts)
        LOG.info("data: %s", self.train_data.split.describe())
        mx.random.seed(cfg.seed)  # the initial weights come from MXNet's RNG
        self.net = build_net(cfg, self.ctx)
        self.trainer = make_trainer(cfg, self.net, kv, hvd)
        self.loss_fn = gluon.loss.SoftmaxCrossEntropyLoss(sparse_label=False)
        self.start_epoch, self.best_err = 0, 1.0
        if self.is_chief:
            preflight(cfg.save_dir, self._checkpoint_bytes(), "the run folder")
        changes = self._resume() if resume else None
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
            LOG.info("resuming with changed options: %s", ", ".join(f"--{k.replace('_', '-')} {a!r} -> {b!r}"
                                                                   for k, (a, b) in changes.items()))
        LOG.info("resumed from %s at epoch %d", unit, self.start_epoch)
        return changes

    def _truncate_history(self, epochs: int) -> None:
        if os.path.exists(self.history_path):
            with open(self.history_path) as f:
                lines = [ln for ln in f if ln.strip() and json.loads(ln)["epoch"] < epochs]
            atomic_write_text(self.history_path, "".join(lines))

    # ---- one epoch -------------------------------------------------------------------------
    def _lr(self, epoch: int, batch: int) -> float:
        c = self.cfg
        steps = [int(e) for e in c.lr_decay_epoch.split(",") if e.strip()]
        return learning_rate(epoch + batch / max(1, self.batches_per_epoch), c.lr, c.num_epochs, c.lr_mode,
                             c.warmup_epochs, c.warmup_lr, c.lr_decay, steps)

    @property
    def batches_per_epoch(self) -> int:
        return max(1, len(self.train_data) // max(1, self.cfg.reduced_dataset_scale))

    def train_epoch(self, epoch: int) -> dict:
        c, n_cls = self.cfg, self.cfg.search_space.num_classes
        mx.random.seed(c.seed * 100003 + epoch)
        mix_rng = np.random.default_rng([c.seed, epoch, 7])
        tic = time.time()
        loss_sum, seen, correct, btic = 0.0, 0, 0, time.time()
        flops, paths = [], set()
        batches = self.train_data.epoch_batches(epoch)
        if sys.stderr.isatty():  # a progress bar for people; logs stay line-based for files
            from tqdm import tqdm
            batches = tqdm(batches, total=self.batches_per_epoch, desc=f"epoch {epoch}", leave=False)
        for b, (x, y) in enumerate(batches):
            if b >= self.batches_per_epoch:
                break
            self.trainer.set_learning_rate(self._lr(epoch, b))
            candidate = self.sampler.sample(epoch) if self.is_supernet else None
            companions = self.sampler.companions(candidate, epoch) if self.is_supernet else None
            if candidate is not None:
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
                    out = self.net(xi, candidate, companions) if self.is_supernet else self.net(xi)
                    outs.append(out)
                    losses.append(self.loss_fn(out.astype("float32", copy=False), target))
            autograd.backward(losses)
            self.trainer.step(x.shape[0], ignore_stale_grad=True)
            batch_loss = sum(float(l.sum().asscalar()) for l in losses)
            if not math.isfinite(batch_loss):
                lr = self._lr(epoch, b)
                raise OneShotError(f"loss became {batch_loss} at epoch {epoch} batch {b} (lr {lr:g}); training stopped; "
                                   f"{self.checkpoints.describe_last_good()}. Continue from it with a lower learning "
                                   f"rate: the same command with --resume --lr {c.lr / 2:g} (or add --warmup-epochs)")
            loss_sum += batch_loss
            seen += x.shape[0]
            correct += sum(int((o.argmax(axis=1) == yi.astype(o.dtype)).sum().asscalar()) for o, (_, yi) in zip(outs, parts))
            if c.log_interval and (b + 1) % c.log_interval == 0:
                speed = c.log_interval * x.shape[0] / (time.time() - btic)
                LOG.info("Epoch[%d] Batch [%d]\tSpeed: %f samples/sec\taccuracy=%f\tloss=%f\tlr=%f",
                         epoch, b + 1, speed, correct / seen, loss_sum / seen, self.trainer.learning_rate)
                btic = time.time()
        elapsed = time.time() - tic
        LOG.info("[Epoch %d] training: accuracy=%f\tloss=%f", epoch, correct / max(1, seen), loss_sum / max(1, seen))
        LOG.info("[Epoch %d] speed: %d samples/sec\ttime cost: %f", epoch, seen / elapsed, elapsed)
        stats = {"train_acc": correct / max(1, seen), "train_loss": loss_sum / max(1, seen), "train_seconds": elapsed,
                 "images_per_sec": seen / elapsed, "lr": self.trainer.learning_rate}
        if flops:
            stats.update(blocks_averaged=averaged_blocks(epoch, self.sampler.block_warm_up,
                                                         len(self.sampler.block_choices)), distinct_paths=len(paths), path_flops_mean=float(np.mean(flops)),
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
