"""Int8 quantization of a trained subnet on CPU with MXNet's quantization API (MKL-DNN backend), and the
evaluation of saved models (fp32 or int8): top-1/top-5 and images per second.

The subnet is quantized after its BN is folded (fewer ops, and conv + bias + activation fuse in
MKL-DNN). Calibration (``naive``: min/max of each layer's outputs; ``entropy``: KL-optimal thresholds)
runs on a fixed, seeded subset of training images with the validation transform.
"""
from __future__ import annotations

import json
import logging
import time
from typing import List, Optional, Sequence

from ..errors import OneShotError

CALIB_MODES = ("naive", "entropy")
# naive calibration kept 95-96% agreement on our trained subnets (0.2-0.5 points of top-1 lost); the entropy
# collapse of the plain OneShot network (45 points lost) kept 35%
AGREEMENT_WARNING = 0.8


def agreement_warning(agreement: float):
    """The advice to print when int8 changes too many top-1 classes, else None."""
    if agreement >= AGREEMENT_WARNING:
        return None
    return (f"int8 changes the top-1 class of {100 * (1 - agreement):.1f}% of the calibration images. Entropy "
            "calibration clips the heavy-tailed outputs of linear layers in some networks: try --calib-mode naive, "
            "and measure with `evaluate` before deploying")
LOG = logging.getLogger("oneshot_nas")


def calibration_iter(batches: Sequence, batch_size: int):
    """An ``mx.io.NDArrayIter`` over (data, label) batches (what ``quantize_net`` accepts)."""
    import mxnet as mx
    # NDArrays joined by the engine, not numpy arrays: NDArrayIter would copy those in this thread
    # (see utils.to_nd for why that slows the whole process down)
    data = mx.nd.concat(*[x for x, _ in batches], dim=0)
    labels = mx.nd.concat(*[y for _, y in batches], dim=0)
    return mx.io.NDArrayIter(data, labels, batch_size=batch_size, last_batch_handle="discard")


QUANTIZED_DTYPES = ("auto", "int8", "uint8")


def clip_weights(net, percentile: float) -> int:
    """Clip every conv / dense weight to its ``percentile``-th percentile of absolute values (the original's
    clip_weights.py, before quantization: a few outlying weights no longer set the int8 scale). Returns how many
    values were clipped."""
    import numpy as np
    if not 0 < percentile <= 100:
        raise OneShotError(f"--clip-weights {percentile:g} is a percentile in (0, 100], e.g. 99.99")
    clipped = 0
    for name, param in net.collect_params().items():
        if not name.endswith("_weight") or name.endswith("shuffle_weight"):
            continue
        values = param.data().asnumpy()
        bound = float(np.percentile(np.abs(values), percentile))
        clipped += int((np.abs(values) > bound).sum())
        param.set_data(np.clip(values, -bound, bound))
    return clipped


def quantize(net, calib_batches: Sequence, calib_mode: str = "naive", num_calib_batches: Optional[int] = None,
             exclude_layers: Optional[List[str]] = None, batch_size: int = 32, quantized_dtype: str = "auto"):
    """A quantized SymbolBlock computing ``net`` (a hybridizable, BN-folded subnet) in int8 where it can
    (``quantized_dtype``: MXNet's int8, uint8, or auto: uint8 after ReLUs, int8 elsewhere)."""
    import mxnet as mx
    from mxnet.contrib.quantization import quantize_net
    if calib_mode not in CALIB_MODES:
        raise OneShotError(f"unknown --calib-mode {calib_mode!r}; choose one of {', '.join(CALIB_MODES)}")
    if not mx.runtime.Features().is_enabled("MKLDNN"):
        raise OneShotError("this MXNet build has no MKL-DNN, which int8 inference on CPU needs; install the "
                           "standard `mxnet` 1.9.1 wheel")
    calib = calibration_iter(calib_batches, batch_size)
    examples = (num_calib_batches or len(calib_batches)) * batch_size
    net.hybridize(static_alloc=True, static_shape=True)
    size = net.space.input_size
    net(mx.nd.zeros((1, 3, size, size)))
    excluded = resolve_layer_names(net, exclude_layers or [])
    # The hard-swish and SE products stay fp32: MXNet 1.9.1's quantized elemwise_mul takes int8 only and
    # crashes on the uint8 a ReLU-fed tensor gets (and MicroNet counts them as not quantizable anyway).
    if quantized_dtype not in QUANTIZED_DTYPES:
        raise OneShotError(f"unknown --quantized-dtype {quantized_dtype!r}; choose one of {', '.join(QUANTIZED_DTYPES)}")
    qnet = quantize_net(net, quantized_dtype=quantized_dtype, quantize_mode="full", exclude_layers=excluded or None,
                        exclude_operators=["elemwise_mul", "broadcast_mul"],
                        calib_data=calib, calib_mode=calib_mode, num_calib_examples=examples, ctx=mx.cpu(),
                        logger=None)
    qnet.hybridize(static_alloc=True, static_shape=True)
    qnet(mx.nd.zeros((1, 3, size, size)))  # builds the graph: `export` writes no params before a forward
    return qnet


def resolve_layer_names(net, names: List[str]) -> List[str]:
    """Graph node names for layer names given without the network's instance prefix (``subnet0_`` in one
    process, ``subnet1_`` in another): ``tail_output`` or ``stem_first_conv`` name the same layer always."""
    import mxnet as mx
    nodes = [n["name"] for n in json.loads(net(mx.sym.var("data")).tojson())["nodes"] if n["op"] == "Convolution"]
    resolved = []
    for name in names:
        matches = [n for n in nodes if n == name or n.endswith("_" + name)]
        if not matches:
            prefix = nodes[0].split("_")[0] + "_" if nodes else ""
            examples = ", ".join(n[len(prefix):] if n.startswith(prefix) else n for n in (nodes[:2] + nodes[-2:]))
            raise OneShotError(f"--exclude-layers: no conv layer named {name} in this network; its conv layers "
                               f"are named like {examples}")
        resolved += matches
    return resolved


def top1_agreement(reference, quantized, batches: Sequence) -> float:
    """Share of the images in ``batches`` on whose top-1 class ``quantized`` and ``reference`` agree: a
    label-free check that calibration kept the network (entropy thresholds can clip it to ruin)."""
    from ..utils import to_numpy
    same = total = 0
    for x, _ in batches:
        a, b = to_numpy(reference(x).argmax(axis=1)), to_numpy(quantized(x).argmax(axis=1))
        same, total = same + int((a == b).sum()), total + len(a)
    return same / total


def images_per_second(net, input_shape, repeats: int = 20, warmup: int = 5) -> float:
    from mxnet import nd
    x = nd.random.uniform(-1, 1, input_shape)
    for _ in range(warmup):
        net(x).wait_to_read()
    tic = time.perf_counter()
    for _ in range(repeats):
        net(x).wait_to_read()
    return input_shape[0] * repeats / (time.perf_counter() - tic)


def load_symbol_model(prefix: str):
    """A saved model (``prefix-symbol.json`` + ``prefix-0000.params``), fp32 or int8."""
    import os
    import warnings

    import mxnet as mx
    sym, params = f"{prefix}-symbol.json", f"{prefix}-0000.params"
    for path in (sym, params):
        if not os.path.exists(path):
            raise OneShotError(f"{path} does not exist; write a model with `export` or `quantize` first")
    try:
        with warnings.catch_warnings():  # "Cannot decide type for the following arguments": harmless, data is fp32
            warnings.simplefilter("ignore", UserWarning)
            net = mx.gluon.SymbolBlock.imports(sym, ["data"], params)
    except (mx.base.MXNetError, ValueError, AssertionError) as e:
        raise OneShotError(f"cannot load the model {prefix} ({type(e).__name__}); the files are damaged or "
                           "do not belong together") from None
    net.hybridize(static_alloc=True, static_shape=True)
    return net
