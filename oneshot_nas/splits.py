"""Where a run's images come from and how they are split: :class:`DataSource` (the data options, declared once and
extended by the configs of `train` and `search`), the seeded hold-out of training images, and :class:`Split`, which
every log line and record names."""
from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np

from .errors import OneShotError
from .options import option

DATA = "data source"
VAL_SPLITS = ("holdout", "test")


# The options of :class:`DataSource` that name files or folders.
DATA_PATHS = ("data_dir", "rec_train", "rec_train_idx", "rec_val", "rec_val_idx")


@dataclasses.dataclass(kw_only=True)
class DataSource:
    """Where the images come from: the embedded Fashion-MNIST, ImageNet RecordIO, or an image folder.
    The configs of `train` and `search` extend it, so their data options are declared once, here."""

    dataset: str = option("imagenet", "", choices=("imagenet", "fashion-mnist"), group=DATA)
    data_dir: Optional[str] = option(None, "Fashion-MNIST IDX folder, or ImageNet folder with train/ val/",
                                     type=str, group=DATA)
    use_rec: bool = option(False, "ImageNet from RecordIO files", group=DATA)
    rec_train: str = option("~/.mxnet/datasets/imagenet/rec/train.rec", "", group=DATA)
    rec_train_idx: str = option("~/.mxnet/datasets/imagenet/rec/train.idx", "", group=DATA)
    rec_val: str = option("~/.mxnet/datasets/imagenet/rec/val.rec", "", group=DATA)
    rec_val_idx: str = option("~/.mxnet/datasets/imagenet/rec/val.idx", "", group=DATA)
    crop_ratio: float = option(0.875, "val: resize to input/crop-ratio, centre crop", group=DATA)
    num_workers: int = option(4, "decoding workers", flags=("-j", "--num-data-workers", "--num-workers"),
                              group=DATA)
    holdout: int = option(0, "hold N training images out of training (a fixed, seeded draw) for validation and "
                             "search, as the official SPOS held 50,000 ImageNet training images out (0: none)",
                          metavar="N", group=DATA)
    holdout_seed: int = option(0, "seed of the hold-out draw; independent of --seed, so a supernet and its "
                                  "searches share it", group=DATA)
    val_split: str = option("test", "validate on the hold-out, or on the test split: Fashion-MNIST's t10k files, "
                                    "ImageNet's --rec-val or val/ folder", choices=VAL_SPLITS, group=DATA)

    @classmethod
    def from_dict(cls, config: dict) -> "DataSource":
        """The data options among a run's saved config (missing ones take their defaults)."""
        return cls(**{f.name: config[f.name] for f in dataclasses.fields(cls) if f.name in config})


def holdout_indices(num_images: int, holdout: int, seed: int) -> np.ndarray:
    """The sorted indices of the ``holdout`` training images held out for validation and search: a fixed,
    seeded draw that depends only on (number of training images, ``holdout``, ``seed``), never on the
    run's own --seed, so the supernet and every search of it see the same hold-out."""
    if not 0 < holdout < num_images:
        raise OneShotError(f"--holdout {holdout} must be between 1 and {num_images - 1} (the training set holds "
                           f"{num_images} images), or 0 to hold nothing out")
    return np.sort(np.random.default_rng([seed, holdout]).permutation(num_images)[:holdout])


@dataclasses.dataclass(frozen=True)
class Split:
    """Which images a run trains on and validates on; ``describe()`` goes into logs and records."""

    val_split: str           # "holdout" | "test"
    holdout: int             # training images held out (0 = none)
    holdout_seed: int
    num_train_images: int    # the training set before the hold-out

    def train_indices(self) -> Optional[np.ndarray]:
        if not self.holdout:
            return None
        return np.setdiff1d(np.arange(self.num_train_images), self.holdout_indices(), assume_unique=True)

    def holdout_indices(self) -> np.ndarray:
        return holdout_indices(self.num_train_images, self.holdout, self.holdout_seed)

    def describe(self) -> str:
        train = (f"{self.num_train_images - self.holdout} of {self.num_train_images} training images"
                 if self.holdout else f"all {self.num_train_images} training images")
        val = (f"the hold-out ({self.holdout} training images, seed {self.holdout_seed})"
               if self.val_split == "holdout" else "the test split (the dataset's evaluation files)")
        return f"train on {train}; validate on {val}"

    def to_dict(self) -> dict:
        return {"val_split": self.val_split, "holdout": self.holdout, "holdout_seed": self.holdout_seed,
                "num_train_images": self.num_train_images}


def check_split(src: "DataSource") -> None:
    if src.val_split not in VAL_SPLITS:
        raise OneShotError(f"unknown --val-split {src.val_split!r}; choose one of {', '.join(VAL_SPLITS)}")
    if src.holdout < 0:
        raise OneShotError(f"--holdout must be 0 (nothing held out) or a number of images, not {src.holdout}")
    if src.val_split == "holdout" and not src.holdout:
        raise OneShotError("--val-split holdout needs --holdout N (the number of training images to hold out, "
                           "e.g. 10000 for Fashion-MNIST, 50000 for ImageNet)")
