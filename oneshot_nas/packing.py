"""Packing an image folder into RecordIO (what MXNet's im2rec.py does for ImageNet), and writing
Fashion-MNIST images as class folders (test fixtures, demos)."""
from __future__ import annotations

import os
from typing import Optional

import numpy as np

from .data import load_fashion_mnist, require_path
from .errors import OneShotError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")


def pack_folder(root: str, prefix: str, resize: int = 0, quality: int = 95, progress: bool = False) -> int:
    """Pack ``root/<class>/<image>`` into ``prefix.rec`` + ``prefix.idx`` (+ ``prefix.lst``); returns the count.

    Classes are numbered in sorted folder order, as ImageFolderDataset does. ``resize`` > 0 scales the
    shorter side to that many pixels first (ImageNet: 480 keeps files small).
    """
    import cv2
    import mxnet as mx
    root = require_path(root, "image folder", "give the folder holding one sub-folder per class")
    classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    items = [(os.path.join(c, f), label) for label, c in enumerate(classes)
             for f in sorted(os.listdir(os.path.join(root, c))) if f.lower().endswith(IMAGE_EXTENSIONS)]
    if not items:
        raise OneShotError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in class sub-folders of {root}")
    os.makedirs(os.path.dirname(os.path.abspath(prefix)), exist_ok=True)
    tmp_rec, tmp_idx = prefix + ".rec.tmp", prefix + ".idx.tmp"
    record = mx.recordio.MXIndexedRecordIO(tmp_idx, tmp_rec, "w")
    if progress:
        from tqdm import tqdm
        items = tqdm(items, desc="pack", unit="img")
    with open(prefix + ".lst", "w") as lst:
        for i, (rel, label) in enumerate(items):
            img = cv2.imread(os.path.join(root, rel), cv2.IMREAD_COLOR)
            if img is None:
                raise OneShotError(f"cannot decode image {os.path.join(root, rel)}")
            if resize > 0:
                h, w = img.shape[:2]
                scale = resize / min(h, w)
                img = cv2.resize(img, (max(1, round(w * scale)), max(1, round(h * scale))),
                                 interpolation=cv2.INTER_AREA)
            header = mx.recordio.IRHeader(0, float(label), i, 0)
            record.write_idx(i, mx.recordio.pack_img(header, img, quality=quality, img_fmt=".jpg"))
            lst.write(f"{i}\t{label}\t{rel}\n")
    record.close()
    os.replace(tmp_rec, prefix + ".rec")
    os.replace(tmp_idx, prefix + ".idx")
    return len(items)


def write_fashion_mnist_folder(root: str, per_class: int, split: str = "train", data_dir: Optional[str] = None,
                               size: int = 32) -> int:
    """Write Fashion-MNIST images as JPEG files in class folders (test fixtures, demos)."""
    import cv2
    images, labels = load_fashion_mnist(data_dir, (split,))[split]
    written = 0
    for label in range(int(labels.max()) + 1):
        folder = os.path.join(root, f"class{label:02d}")
        os.makedirs(folder, exist_ok=True)
        for k, i in enumerate(np.flatnonzero(labels == label)[:per_class]):
            img = cv2.resize(images[i], (size, size), interpolation=cv2.INTER_LINEAR)
            cv2.imwrite(os.path.join(folder, f"{k:05d}.jpg"), np.stack([img] * 3, axis=-1))
            written += 1
    return written
