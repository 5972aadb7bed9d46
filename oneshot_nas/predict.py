"""Run a trained network on inputs: images (decoded and preprocessed as validation is) or a ready ``.npy`` batch,
and report each input's top classes (with the dataset's class names where it has them).

The network is a `train` run's subnet (``best.params``, its config.json beside it), an `export`/`quantize`
model (``PREFIX-0000.params`` with ``PREFIX-symbol.json`` and ``PREFIX-config.json``), or any subnet's params
(e.g. the original codebase's) with the architecture and network flags given.
"""
from __future__ import annotations

import dataclasses
import os
from typing import List, Optional, Sequence

import numpy as np

from . import data
from .errors import OneShotError

EXPORT_SUFFIX = "-0000.params"
BATCH = 32


@dataclasses.dataclass
class Model:
    """A network ready for inference and the config it comes with (space, dataset options)."""

    net: object
    config: dict
    source: str

    @property
    def input_size(self) -> int:
        return int(self.config["space"]["input_size"])

    @property
    def num_classes(self) -> int:
        return int(self.config["space"]["num_classes"])


def export_prefix(params_path: str) -> Optional[str]:
    """PREFIX when ``params_path`` is an exported model's PREFIX-0000.params with its PREFIX-symbol.json."""
    if params_path.endswith(EXPORT_SUFFIX):
        prefix = params_path[:-len(EXPORT_SUFFIX)]
        if os.path.exists(f"{prefix}-symbol.json"):
            return prefix
    return None


def load_exported(prefix: str) -> Model:
    """An `export`/`quantize` model (fp32 or int8) with the config written beside it."""
    from .deploy.merge_bn import read_sidecar
    from .deploy.quantize import load_symbol_model
    config = read_sidecar(prefix)
    return Model(load_symbol_model(prefix), config, f"exported model {prefix} ({config.get('precision', 'fp32')})")


def load_trained(params_path: str, given: Optional[dict] = None) -> Model:
    """A subnet's params, hybridized: a `train` run's (its config.json beside) or, with ``given``, any other."""
    from .deploy.merge_bn import load_trained_subnet, run_config
    config = run_config(params_path, given)
    net = load_trained_subnet(params_path, config=config)
    net.hybridize(static_alloc=True, static_shape=True)
    return Model(net, config, f"subnet {config['candidate']} from {params_path}")


def load_model(params_path: str, given: Optional[dict] = None) -> Model:
    """The network of ``params_path`` (see the module doc); ``given``: the architecture, network and data options
    from the command line, for params without a config beside them."""
    if not os.path.exists(params_path):
        raise OneShotError(f"--params {params_path} does not exist")
    prefix = export_prefix(params_path)
    return load_exported(prefix) if prefix and not given else load_trained(params_path, given)


def class_names(config: dict) -> Optional[List[str]]:
    """The class names of the model's dataset: Fashion-MNIST's, or an image folder's class folders; else None."""
    classes = int(config["space"]["num_classes"])
    if config.get("dataset") == "fashion-mnist" and classes == len(data.FASHION_MNIST_CLASSES):
        return list(data.FASHION_MNIST_CLASSES)
    train = os.path.join(os.path.expanduser(config.get("data_dir") or ""), "train")
    if config.get("dataset") == "imagenet" and not config.get("use_rec") and os.path.isdir(train):
        names = sorted(d for d in os.listdir(train) if os.path.isdir(os.path.join(train, d)))
        if len(names) == classes:
            return names
    return None


def read_npy(path: str, input_size: int) -> np.ndarray:
    """A preprocessed batch N x 3 x S x S (S = the network's input size)."""
    try:
        batch = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise OneShotError(f"--npy {path} does not exist") from None
    except (OSError, ValueError) as e:
        raise OneShotError(f"--npy {path} is not a NumPy array file ({e})") from None
    if batch.ndim == 3:
        batch = batch[None]
    if batch.ndim != 4 or batch.shape[1:] != (3, input_size, input_size):
        raise OneShotError(f"--npy {path} holds an array of shape {batch.shape}; the network takes preprocessed "
                           f"batches N x 3 x {input_size} x {input_size} (or one 3 x {input_size} x {input_size} input)")
    return batch.astype(np.float32)


def decode(path: str, grey: bool):
    import mxnet as mx
    if not os.path.exists(path):
        raise OneShotError(f"image {path} does not exist")
    try:
        return mx.image.imread(path, flag=0 if grey else 1)
    except mx.base.MXNetError:
        raise OneShotError(f"cannot decode image {path}: it is not a JPEG/PNG/BMP image (or it is damaged)") from None


def read_images(paths: Sequence[str], config: dict) -> np.ndarray:
    """Image files preprocessed as the model's validation data: Fashion-MNIST grey 28 x 28 (padded to 32, then
    its normalisation), ImageNet-style resize + centre crop + normalisation."""
    import mxnet as mx
    size = int(config["space"]["input_size"])
    if config.get("dataset") == "fashion-mnist":
        grey = [mx.image.imresize(decode(p, grey=True), 28, 28).asnumpy()[:, :, 0] for p in paths]
        padded = np.pad(np.stack(grey), ((0, 0), (2, 2), (2, 2)))
        return data.grey_to_input(padded, size).asnumpy()
    transform = data.imagenet_eval_transform(size, float(config.get("crop_ratio", 0.875)))
    return np.stack([transform(decode(p, grey=False)).asnumpy() for p in paths])


def logits_of(model: Model, batch: np.ndarray) -> np.ndarray:
    import mxnet as mx
    out = [model.net(mx.nd.array(batch[i:i + BATCH])).asnumpy() for i in range(0, len(batch), BATCH)]
    return np.concatenate(out).astype(np.float32)


def top_classes(logits: np.ndarray, k: int, names: Optional[List[str]]) -> List[List[tuple]]:
    """Per input, the ``k`` most likely (class index, class name or None, softmax probability)."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return [[(int(c), names[c] if names else None, float(p[c])) for c in row] for row, p in zip(order, probs)]
