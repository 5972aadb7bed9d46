"""Data pipelines: ImageNet RecordIO (ImageRecordIter), ImageNet-style image folders (Gluon DataLoader),
the embedded Fashion-MNIST dataset (IDX files) and fixed seeded subsets (packing a folder: packing.py).

Every pipeline yields ``(data, label)`` NDArrays on the CPU, one epoch per ``epoch_batches(epoch)``.
The order and augmentation of an epoch depend only on (seed, epoch), so a run resumed from a
checkpoint replays exactly the batches an uninterrupted run would have seen.
"""
from __future__ import annotations

import gzip
import math
import os
import struct
from typing import Callable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from .errors import OneShotError
from .splits import DataSource, Split, check_split
from .utils import atomic_write_text, to_nd

MEAN_RGB = (123.68, 116.779, 103.939)
STD_RGB = (58.393, 57.12, 57.375)
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte",
}
# Fashion-MNIST pixel statistics (of the training set, on the 0..1 scale).
FASHION_MEAN, FASHION_STD = 0.2860, 0.3530
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                         "Ankle boot")


# ---------------------------------------------------------------------------------------------
# Fashion-MNIST (IDX files, read directly: no download, no hash re-check)
# ---------------------------------------------------------------------------------------------
def read_idx(path: str) -> np.ndarray:
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise OneShotError(f"cannot read IDX file {path}: {e}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise OneShotError(f"{path} is not an unsigned-byte IDX file")
    ndim = raw[3]
    dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != math.prod(dims):
        raise OneShotError(f"{path} is truncated: {data.size} bytes for shape {dims}")
    return data.reshape(dims)


def _find_idx(data_dir: str, stem: str) -> str:
    for name in (stem + ".gz", stem):
        path = os.path.join(data_dir, name)
        if os.path.exists(path):
            return path
    raise OneShotError(
        f"Fashion-MNIST file {stem}[.gz] not found in {data_dir}; install the Debian package "
        f"dataset-fashion-mnist (apt-get install dataset-fashion-mnist) or pass --data-dir with the four IDX files")


def load_fashion_mnist(data_dir: Optional[str] = None, splits: Sequence[str] = ("train", "test")) -> dict:
    """``{"train": (images, labels), "test": (images, labels)}`` as uint8 arrays (N, 28, 28), for the
    requested files only: a run that validates on the hold-out never opens (or needs) the t10k files."""
    data_dir = data_dir or FASHION_MNIST_DIR
    out = {}
    for split in splits:
        images = read_idx(_find_idx(data_dir, FASHION_MNIST_FILES[f"{split}_images"]))
        labels = read_idx(_find_idx(data_dir, FASHION_MNIST_FILES[f"{split}_labels"]))
        if len(images) != len(labels):
            raise OneShotError(f"Fashion-MNIST {split} images and labels differ in count in {data_dir}")
        out[split] = (images, labels)
    return out


class _Pipeline:
    """Shared epoch length rule of every pipeline."""

    num_examples: int
    batch_size: int
    train: bool

    def __len__(self) -> int:
        # Training drops the last partial batch (BN on a 1-image batch is meaningless); eval keeps it.
        return self.num_examples // self.batch_size if self.train else math.ceil(self.num_examples / self.batch_size)

    def iter_fixed_subset(self, num_images: int, seed: int, batch_size: int) -> Iterator[Tuple[object, object]]:
        raise NotImplementedError

    def fixed_subset(self, num_images: int, seed: int, batch_size: int) -> List[Tuple[object, object]]:
        """A fixed, seeded subset of ``num_images`` with the validation transform (BN recalibration)."""
        return list(self.iter_fixed_subset(num_images, seed, batch_size))


def grey_to_input(grey: np.ndarray, input_size: int):
    """N x 32 x 32 uint8 grey images (Fashion-MNIST padded from 28) -> the network's normalised N x 3 x S x S."""
    from mxnet import nd
    x = (grey.astype(np.float32) / 255.0 - FASHION_MEAN) / FASHION_STD
    x = np.repeat(x[:, None], 3, axis=1)
    out = to_nd(x)
    if input_size != x.shape[-1]:
        out = nd.contrib.BilinearResize2D(out, height=input_size, width=input_size)
    return out


def imagenet_eval_transform(input_size: int, crop_ratio: float):
    """The validation transform of ImageNet-style images (HWC uint8 -> normalised CHW): resize the short side
    to input_size / crop_ratio, centre crop, normalise."""
    from mxnet.gluon.data.vision import transforms as T
    return T.Compose([T.Resize(int(math.ceil(input_size / crop_ratio)), keep_ratio=True), T.CenterCrop(input_size),
                      T.ToTensor(), T.Normalize([m / 255 for m in MEAN_RGB], [s / 255 for s in STD_RGB])])


class ArrayPipeline(_Pipeline):
    """In-memory grey images -> 3 x S x S batches: zero-pad 28 -> 32 (then resize if S != 32),
    training augmentation = random crop from a 4-pixel padded image + horizontal flip, vectorised."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, batch_size: int, train: bool, seed: int = 0,
                 input_size: int = 32, num_classes: Optional[int] = None):
        pad = (32 - images.shape[1]) // 2
        self.images = np.pad(images, ((0, 0), (pad, pad), (pad, pad))) if pad > 0 else images
        self.labels = labels.astype(np.float32)
        self.batch_size, self.train, self.seed, self.input_size = batch_size, train, seed, input_size
        self.num_examples = len(self.images)
        self.num_classes = num_classes or int(labels.max()) + 1

    def _normalise(self, grey: np.ndarray):
        return grey_to_input(grey, self.input_size)

    def _augment(self, grey: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n, h, w = grey.shape
        padded = np.pad(grey, ((0, 0), (4, 4), (4, 4)))
        dy, dx = rng.integers(0, 9, n), rng.integers(0, 9, n)
        rows = dy[:, None] + np.arange(h)[None]
        cols = dx[:, None] + np.arange(w)[None]
        out = padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
        flip = rng.random(n) < 0.5
        out[flip] = out[flip, :, ::-1]
        return out

    def epoch_batches(self, epoch: int, start_batch: int = 0) -> Iterator[Tuple[object, object]]:
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(self.num_examples) if self.train else np.arange(self.num_examples)
        for b in range(start_batch, len(self)):
            idx = np.sort(order[b * self.batch_size:(b + 1) * self.batch_size])
            grey = self.images[idx]
            if self.train:
                grey = self._augment(grey, np.random.default_rng([self.seed, epoch, b]))
            yield self._normalise(grey), to_nd(self.labels[idx])

    def iter_fixed_subset(self, num_images: int, seed: int, batch_size: int):
        idx = np.sort(np.random.default_rng(seed).permutation(self.num_examples)[:num_images])
        for i in range(0, len(idx), batch_size):
            yield self._normalise(self.images[idx[i:i + batch_size]]), to_nd(self.labels[idx[i:i + batch_size]])


# ---------------------------------------------------------------------------------------------
# ImageNet RecordIO
# ---------------------------------------------------------------------------------------------
def require_path(path: str, what: str, hint: str) -> str:
    path = os.path.expanduser(path)
    if not os.path.exists(path):
        raise OneShotError(f"{what} {path} does not exist; {hint}")
    return path


def count_records(idx_path: str) -> int:
    with open(idx_path) as f:
        return sum(1 for line in f if line.strip())


def subset_index(idx_path: str, positions: np.ndarray) -> str:
    """An index file listing only the records at ``positions`` (line numbers of ``idx_path``), cached under
    ~/.cache/oneshot_nas/splits by the source index's path, size, mtime and the positions."""
    import hashlib
    stat = os.stat(idx_path)
    key = hashlib.sha1(f"{os.path.abspath(idx_path)}:{stat.st_size}:{stat.st_mtime_ns}".encode()
                       + np.asarray(positions, dtype=np.int64).tobytes()).hexdigest()[:16]
    path = os.path.join(os.path.expanduser("~/.cache/oneshot_nas/splits"), f"{key}.idx")
    if not os.path.exists(path):
        with open(idx_path) as f:
            lines = [line if line.endswith("\n") else line + "\n" for line in f if line.strip()]
        atomic_write_text(path, "".join(lines[int(i)] for i in positions))
    return path


def record_labels(rec_path: str, idx_path: str, limit: int = 100000) -> int:
    """Number of classes = 1 + the largest label among the records (read from the headers)."""
    import mxnet as mx
    record = mx.recordio.MXIndexedRecordIO(idx_path, rec_path, "r")
    largest = 0
    for key in record.keys[:limit]:
        header, _ = mx.recordio.unpack(record.read_idx(key))
        label = header.label if np.isscalar(header.label) else header.label[0]
        largest = max(largest, int(label))
    record.close()
    return largest + 1


class RecordPipeline(_Pipeline):
    """ImageRecordIter with the original's augmentations (train) or resize + centre crop (val)."""

    def __init__(self, rec: str, idx: str, batch_size: int, train: bool, seed: int = 0, input_size: int = 224,
                 crop_ratio: float = 0.875, num_workers: int = 4, num_classes: Optional[int] = None,
                 num_parts: int = 1, part_index: int = 0, keys: Optional[np.ndarray] = None):
        hint = "pack an image folder with `python -m oneshot_nas pack-rec` or pass --rec-train/--rec-val"
        self.rec = require_path(rec, "RecordIO file", hint)
        self.idx = require_path(idx, "RecordIO index", hint)
        if keys is not None:  # ImageRecordIter reads the records its index lists: a subset is an index file
            self.idx = subset_index(self.idx, keys)
        self.batch_size, self.train, self.seed, self.input_size = batch_size, train, seed, input_size
        self.crop_ratio, self.num_workers = crop_ratio, num_workers
        self.num_parts, self.part_index = num_parts, part_index
        self.num_examples = count_records(self.idx) // num_parts
        self.num_classes = num_classes or record_labels(self.rec, self.idx)

    def _iter(self, epoch: int, train: bool, batch_size: int, shuffle_seed: Optional[int] = None):
        import mxnet as mx
        common = dict(path_imgrec=self.rec, path_imgidx=self.idx, batch_size=batch_size,
                      data_shape=(3, self.input_size, self.input_size), preprocess_threads=self.num_workers,
                      mean_r=MEAN_RGB[0], mean_g=MEAN_RGB[1], mean_b=MEAN_RGB[2],
                      std_r=STD_RGB[0], std_g=STD_RGB[1], std_b=STD_RGB[2],
                      num_parts=self.num_parts, part_index=self.part_index)
        if train:
            return mx.io.ImageRecordIter(
                shuffle=True, seed=self.seed + epoch, seed_aug=self.seed + epoch, round_batch=True,
                random_resized_crop=True, max_random_area=1.0, min_random_area=0.08,
                max_aspect_ratio=4.0 / 3.0, min_aspect_ratio=3.0 / 4.0, rand_mirror=True,
                brightness=0.4, contrast=0.4, saturation=0.4, pca_noise=0.1, **common)
        return mx.io.ImageRecordIter(shuffle=shuffle_seed is not None, seed=shuffle_seed or 0,
                                     resize=int(math.ceil(self.input_size / self.crop_ratio)),
                                     round_batch=True, **common)

    def epoch_batches(self, epoch: int, start_batch: int = 0):
        it = self._iter(epoch, self.train, self.batch_size)
        for b, batch in enumerate(it):
            if b >= len(self):
                break
            if b < start_batch:
                continue
            n = min(batch.data[0].shape[0] - batch.pad, self.num_examples - b * self.batch_size)
            yield batch.data[0][:n], batch.label[0][:n]

    def iter_fixed_subset(self, num_images: int, seed: int, batch_size: int):
        seen = 0
        for batch in self._iter(0, False, batch_size, shuffle_seed=seed):
            n = min(batch.data[0].shape[0] - batch.pad, num_images - seen)
            yield batch.data[0][:n].copy(), batch.label[0][:n].copy()
            seen += n
            if seen >= num_images:
                break


# ---------------------------------------------------------------------------------------------
# ImageNet-style image folder (class sub-folders) through Gluon DataLoader
# ---------------------------------------------------------------------------------------------
class FolderPipeline(_Pipeline):
    def __init__(self, root: str, batch_size: int, train: bool, seed: int = 0, input_size: int = 224,
                 crop_ratio: float = 0.875, num_workers: int = 4, num_classes: Optional[int] = None):
        from mxnet.gluon.data.vision import ImageFolderDataset
        self.root = require_path(root, "image folder", "point --data-dir at a folder with train/ and val/ class folders")
        self.dataset = ImageFolderDataset(self.root)
        if len(self.dataset) == 0:
            raise OneShotError(f"image folder {self.root} holds no images in class sub-folders")
        self.batch_size, self.train, self.seed, self.input_size = batch_size, train, seed, input_size
        self.crop_ratio, self.num_workers = crop_ratio, num_workers
        self.indices = np.arange(len(self.dataset))  # the dataset images this pipeline reads
        self.num_examples = len(self.dataset)
        self.num_classes = num_classes or len(self.dataset.synsets)

    def subset(self, indices: Optional[np.ndarray], train: bool) -> "FolderPipeline":
        """The same folder restricted to ``indices`` (None = all of it), for training or validation."""
        import copy
        out = copy.copy(self)
        out.train = train
        if indices is not None:
            out.indices = np.asarray(indices)
            out.num_examples = len(out.indices)
        return out

    def _transform(self, train: bool):
        from mxnet.gluon.data.vision import transforms as T
        normalise = T.Normalize([m / 255 for m in MEAN_RGB], [s / 255 for s in STD_RGB])
        if train:
            return T.Compose([T.RandomResizedCrop(self.input_size, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)),
                              T.RandomFlipLeftRight(),
                              T.RandomColorJitter(brightness=0.4, contrast=0.4, saturation=0.4),
                              T.RandomLighting(0.1), T.ToTensor(), normalise])
        return imagenet_eval_transform(self.input_size, self.crop_ratio)

    def _loader(self, dataset, train: bool, batch_size: int, sampler=None):
        from mxnet.gluon.data import DataLoader
        return DataLoader(dataset.transform_first(self._transform(train)), batch_size=batch_size,
                          sampler=sampler, last_batch="discard" if train else "keep",
                          num_workers=self.num_workers)

    def epoch_batches(self, epoch: int, start_batch: int = 0):
        import mxnet as mx
        mx.random.seed(self.seed + epoch)  # the augmentations draw from MXNet's RNG
        order = (np.random.default_rng([self.seed, epoch]).permutation(self.num_examples)
                 if self.train else np.arange(self.num_examples))
        sampler = _ListSampler(self.indices[order].tolist())
        for b, batch in enumerate(self._loader(self.dataset, self.train, self.batch_size, sampler=sampler)):
            if b >= start_batch:
                yield batch[0], batch[1].astype("float32")

    def iter_fixed_subset(self, num_images: int, seed: int, batch_size: int):
        idx = sorted(self.indices[np.random.default_rng(seed).permutation(self.num_examples)[:num_images]].tolist())
        for d, l in self._loader(self.dataset, False, batch_size, sampler=_ListSampler(idx)):
            yield d, l.astype("float32")


class _ListSampler:
    def __init__(self, indices):
        self.indices = indices

    def __iter__(self):
        return iter(self.indices)

    def __len__(self):
        return len(self.indices)


# ---------------------------------------------------------------------------------------------
# choosing the pipelines of a run
def make_pipelines(src: DataSource, space, batch_size: int, seed: int, num_parts: int = 1, part_index: int = 0,
                   train_limit: Optional[int] = None, val_limit: Optional[int] = None):
    """(train, val) pipelines for ``space``'s input size; ``val`` is the hold-out of the training images or
    the test split (``src.val_split``), and the training pipeline never holds a hold-out image. The training
    data is split into ``num_parts`` (one per worker), ``train_limit`` caps the whole run's training images
    before that split. Both pipelines carry the ``Split`` as ``.split``."""
    check_split(src)
    if src.dataset == "fashion-mnist":
        train, val, split = _fashion_mnist_pipelines(src, space, batch_size, seed, num_parts, part_index)
    else:
        common = dict(seed=seed, input_size=space.input_size, crop_ratio=src.crop_ratio, num_workers=src.num_workers)
        if src.use_rec:
            whole = RecordPipeline(src.rec_train, src.rec_train_idx, batch_size, True, **common)
            split = Split(src.val_split, src.holdout, src.holdout_seed, whole.num_examples)
            train = RecordPipeline(src.rec_train, src.rec_train_idx, batch_size, True, num_parts=num_parts,
                                   part_index=part_index, keys=split.train_indices(),
                                   num_classes=whole.num_classes, **common)
            val = (RecordPipeline(src.rec_train, src.rec_train_idx, batch_size, False, keys=split.holdout_indices(),
                                  num_classes=whole.num_classes, **common) if src.val_split == "holdout" else
                   RecordPipeline(src.rec_val, src.rec_val_idx, batch_size, False, num_classes=whole.num_classes,
                                  **common))
        else:
            root = os.path.expanduser(src.data_dir or "~/.mxnet/datasets/imagenet")
            whole = FolderPipeline(os.path.join(root, "train"), batch_size, True, **common)
            split = Split(src.val_split, src.holdout, src.holdout_seed, whole.num_examples)
            train = whole.subset(split.train_indices(), train=True)
            val = (whole.subset(split.holdout_indices(), train=False) if src.val_split == "holdout" else
                   FolderPipeline(os.path.join(root, "val"), batch_size, False, num_classes=train.num_classes, **common))
    for pipeline, limit in ((train, train_limit // num_parts if train_limit else None), (val, val_limit)):
        if limit:
            pipeline.num_examples = min(pipeline.num_examples, limit)  # read as far as len() batches
    if train.num_classes != space.num_classes:
        raise OneShotError(f"the training data has {train.num_classes} classes but the network was built for "
                           f"{space.num_classes}; pass --num-classes {train.num_classes}")
    train.split = val.split = split
    return train, val


def _fashion_mnist_pipelines(src: DataSource, space, batch_size: int, seed: int, num_parts: int, part_index: int):
    files = load_fashion_mnist(src.data_dir, ("train",) if src.val_split == "holdout" else ("train", "test"))
    tx, ty = files["train"]
    split = Split(src.val_split, src.holdout, src.holdout_seed, len(tx))
    keep = split.train_indices()
    if keep is not None:
        held = split.holdout_indices()
        hx, hy = tx[held], ty[held]
        tx, ty = tx[keep], ty[keep]
    vx, vy = (hx, hy) if src.val_split == "holdout" else files["test"]
    train = ArrayPipeline(tx[part_index::num_parts], ty[part_index::num_parts], batch_size, True, seed,
                          space.input_size)
    val = ArrayPipeline(vx, vy, batch_size, False, seed, space.input_size)
    return train, val, split


class ReplayableBatches:
    """Batches read once and kept in memory when they fit in ``budget_bytes``, else re-read on every pass
    (a search's ImageNet validation set does not fit in memory; its Fashion-MNIST one does)."""

    def __init__(self, read: Callable[[], Iterator[Tuple[object, object]]], num_images: int, input_size: int,
                 budget_bytes: float = 2 * 2 ** 30):
        self.read, self.num_images = read, num_images
        self.in_memory = num_images * 3 * input_size * input_size * 4 <= budget_bytes
        self._cache = list(read()) if self.in_memory else None

    def __iter__(self):
        return iter(self._cache) if self.in_memory else self.read()
