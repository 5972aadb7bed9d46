"""What a training run is: :class:`TrainConfig` (every option of `train`, resolved once and written to the run's
config.json) and how a resumed run's options are compared with the saved ones."""
from __future__ import annotations

import dataclasses
import json
import os
from typing import List, Optional, Tuple

from . import options
from .splits import DATA_PATHS, DataSource
from .devices import Devices
from .errors import OneShotError
from .options import option
from .space import SearchSpace
from .utils import changed_settings, with_resolved_paths


MODEL, OPTIMISATION, RUN = "model", "optimisation", "checkpoints and logs"
GLUONCV = "the original trainer's GluonCV options"
LR_MODES = ("step", "poly", "cosine")


@dataclasses.dataclass
class TrainConfig(DataSource, Devices):
    """Everything a training run depends on; resolved once by the CLI and dumped next to the outputs."""

    space: dict
    candidate: Optional[str]            # None = supernet (or a GluonCV network)
    gluoncv_model: Optional[str] = None  # --model NAME of GluonCV's model zoo: trained as it is
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
    lr_decay_period: int = option(0, "step mode: decay every N epochs instead (0: use --lr-decay-epoch)",
                                  group=OPTIMISATION)
    warmup_lr: float = option(0.0, "", group=OPTIMISATION)
    warmup_epochs: int = option(0, "", group=OPTIMISATION)
    label_smoothing: bool = option(False, "label smoothing 0.1", group=OPTIMISATION)
    mixup: bool = option(False, "", group=OPTIMISATION)
    mixup_alpha: float = option(0.2, "", group=OPTIMISATION)
    mixup_off_epoch: int = option(0, "no mixup in the last N epochs", group=OPTIMISATION)
    no_wd: bool = option(False, "no weight decay on BN gamma/beta and biases", group=OPTIMISATION)
    dtype: str = option("float32", "float16 uses multi-precision", choices=("float32", "float16"),
                        group=OPTIMISATION)
    mode: str = option("imperative", "hybrid: hybridize the fixed subnet (the supernet always runs imperatively); "
                                     "symbolic, the original's static graph, trains as hybrid (a static graph too)",
                       choices=("imperative", "hybrid", "symbolic"), group=OPTIMISATION)
    seed: int = option(0, "", group=OPTIMISATION)
    save_dir: str = option("runs/train", "", group=RUN)
    # GluonCV's (and the original's) default: the checkpoints of every 10th epoch are kept besides last/best
    save_frequency: int = option(10, "also keep epoch-N checkpoints every N epochs", group=RUN)
    log_interval: int = option(50, "", group=RUN)
    overwrite: bool = option(False, "delete the run in --save-dir and start over (without it, `train` refuses a "
                                    "folder that holds one)", group=RUN)
    deterministic: bool = option(False, "bit-identical runs for the same seed: MKL-DNN off "
                                        "(MXNET_MKLDNN_ENABLED=0), slower on CPU", group=RUN)
    # the original trainer's GluonCV options: model-zoo networks and distillation
    use_pretrained: bool = option(False, "start from GluonCV's pretrained weights (model-zoo networks only)",
                                  group=GLUONCV)
    teacher: Optional[str] = option(None, "distil from this GluonCV model-zoo network, with its pretrained weights "
                                          "(GluonCV's distillation loss)", type=str, group=GLUONCV)
    teacher_params: str = option("", "the teacher's weights from this file (e.g. the best.params of a `train "
                                     "--model NAME` run on your data) instead of GluonCV's pretrained ones",
                                 metavar="FILE", group=GLUONCV)
    temperature: float = option(20.0, "distillation temperature", group=GLUONCV)
    hard_weight: float = option(0.5, "distillation: weight of the hard-label loss", group=GLUONCV)
    batch_norm: bool = option(False, "BN in GluonCV's VGG networks", group=GLUONCV)
    use_gn: bool = option(False, "GroupNorm in GluonCV's ResNet-v1b networks", group=GLUONCV)
    last_gamma: bool = option(False, "zero-init the last BN gamma of GluonCV's residual blocks", group=GLUONCV)
    # the original's way to start from any checkpoint file (ours: --resume continues a run folder exactly)
    resume_params: str = option("", "start from the weights of this parameter file: any checkpoint of this network, "
                                    "ours or the original codebase's", metavar="FILE", group=RUN)
    resume_states: str = option("", "and from the optimiser states of this .states file (saved by a trainer of "
                                    "this network)", metavar="FILE", group=RUN)
    resume_epoch: int = option(0, "start counting epochs (the LR schedule, the channel warm-up, the data order) "
                                  "at this epoch", group=RUN)

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
        for name in ("lr", "wd", "momentum", "warmup_lr", "warmup_epochs", "save_frequency", "log_interval",
                     "resume_epoch"):
            if getattr(self, name) < 0:
                raise OneShotError(f"--{name.replace('_', '-')} must not be negative, not {getattr(self, name)}")
        self._refuse_gluoncv_options()
        if self.resume_epoch >= self.num_epochs:
            raise OneShotError(f"--resume-epoch {self.resume_epoch} leaves nothing to train in --num-epochs "
                               f"{self.num_epochs}; raise --num-epochs")
        for name in ("resume_params", "resume_states"):
            path = getattr(self, name)
            if path and not os.path.isfile(path):
                raise OneShotError(f"--{name.replace('_', '-')} {path} does not exist")
        if self.use_all_blocks and (self.sampling or {}).get("split_layer") is not None:
            raise OneShotError("--use-all-blocks averages all four blocks in every layer, so a sub-supernet's "
                               "--split-layer would not fix one there; give one of them")
        if self.use_all_blocks and (self.sampling or {}).get("fair_blocks"):
            raise OneShotError("--fair-blocks trains four single paths per step and --use-all-blocks averages all "
                               "four blocks in every path: each path would be the same network; give one of them")


    def _refuse_gluoncv_options(self) -> None:
        """The original trainer's options for GluonCV model-zoo networks and distillation: one line each where they
        cannot apply (ShuffleNas networks) or make no sense."""
        zoo_only = [name for name in ("use_gn", "batch_norm", "last_gamma") if getattr(self, name)]
        if zoo_only and not self.gluoncv_model:
            raise OneShotError(f"--{zoo_only[0].replace('_', '-')} applies to GluonCV's ResNet/VGG networks, not to "
                               "ShuffleNas networks; drop it")
        if self.use_pretrained and not self.gluoncv_model:
            raise OneShotError("--use-pretrained: GluonCV's model zoo holds no ShuffleNas weights; to start from the "
                               "original codebase's released weights pass them with --resume-params FILE")
        if not 0 <= self.hard_weight <= 1 or self.temperature <= 0:
            raise OneShotError(f"--hard-weight must be in [0, 1] and --temperature positive, not {self.hard_weight:g} "
                               f"and {self.temperature:g}")
        if self.teacher_params and not self.teacher:
            raise OneShotError(f"--teacher-params {self.teacher_params}: name the teacher's network with --teacher "
                               "(e.g. --teacher cifar_resnet20_v1)")
        if self.teacher_params and not os.path.exists(self.teacher_params):
            raise OneShotError(f"--teacher-params {self.teacher_params} does not exist; train the teacher first "
                               "(train --model NAME) and pass its best.params")


# Options that may change when a run is resumed (after a NaN stop: a lower --lr; a longer run: --num-epochs);
# the change is recorded in config.json's "changes". Any other difference is refused.
RESUME_MAY_CHANGE = ("num_epochs", "lr", "momentum", "wd", "lr_mode", "lr_decay", "lr_decay_epoch", "lr_decay_period",
                     "warmup_lr",
                     "warmup_epochs", "batch_size", "log_interval", "save_frequency")
# Not part of what a run is: where it is, and how this invocation was started.
RESUME_IGNORES = ("save_dir", "overwrite", "deterministic", "changes")
PATH_FIELDS = DATA_PATHS + ("resume_params", "resume_states")


def with_defaults(config: dict) -> dict:
    """A TrainConfig in dict form with the options it lacks (saved by an older version) at their defaults,
    the path-sampling options included."""
    from .sampling import SamplingOptions
    config = {**options.defaults(TrainConfig), **config}
    config["sampling"] = {**dataclasses.asdict(SamplingOptions()), **(config.get("sampling") or {})}
    return config


def comparable(config: dict) -> dict:
    """A config in JSON form with paths resolved, for comparing a resumed run's options with the saved ones;
    options missing from it (saved by an older version) take their defaults."""
    out = json.loads(json.dumps({k: v for k, v in with_defaults(config).items() if k not in RESUME_IGNORES}))
    return with_resolved_paths(out, PATH_FIELDS)


def config_changes(saved: dict, given: dict) -> Tuple[dict, List[str]]:
    """(allowed changes {name: [saved, given]}, refused differences as 'name: saved -> given')."""
    old, new = comparable(saved), comparable(given)
    names = sorted(set(old) | set(new))
    allowed = {name: [old.get(name), new.get(name)] for name in names
               if name in RESUME_MAY_CHANGE and old.get(name) != new.get(name)}
    return allowed, changed_settings(old, new, [name for name in names if name not in RESUME_MAY_CHANGE], flags=True)


# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------
