"""Devices and the one top-1/top-5 loop that training, search and deployment validate with.

``--num-gpus`` GPUs, else ``--num-cpu-contexts`` CPU contexts: one data-parallel code path, which the tests
run on CPU contexts, so the GPU path is the same code with other contexts.
"""
from __future__ import annotations

import dataclasses
import os
import platform
from typing import Callable, Iterable, List, Optional, Tuple

import mxnet as mx
import numpy as np
from mxnet import gluon, nd

from .errors import OneShotError
from .options import option
from .utils import cpuinfo_field, to_numpy


@dataclasses.dataclass(kw_only=True)
class Devices:
    num_gpus: int = option(0, "0 = CPU; N = data-parallel on GPUs 0..N-1 (needs an mxnet-cuXXX wheel)",
                           group="devices")
    num_cpu_contexts: int = option(1, "data-parallel CPU contexts (the multi-device path, tested on CPU)",
                                   group="devices")

    def contexts(self) -> List[mx.Context]:
        if self.num_gpus > 0:
            require_gpus(self.num_gpus)
            return [mx.gpu(i) for i in range(self.num_gpus)]
        return [mx.cpu(i) for i in range(max(1, self.num_cpu_contexts))]


def require_gpus(wanted: int, visible: Optional[int] = None) -> None:
    """Fail before any work, naming the fix, when fewer GPUs are visible than ``--num-gpus`` asks for (else
    MXNet fails at the first array on a GPU, deep inside a training or search step)."""
    visible = mx.context.num_gpus() if visible is None else visible
    if visible < wanted:
        cause = ("this MXNet is a CPU build" if not mx.runtime.Features().is_enabled("CUDA")
                 else f"only {visible} GPU(s) are visible")
        raise OneShotError(f"--num-gpus {wanted} asks for {wanted} GPU(s) but {cause}: pass --num-gpus 0 (NUM_GPUS=0 for "
                           "scripts/*.sh) to run on the CPU, or install the mxnet-cuXXX wheel of "
                           "requirements-gpu.txt on a machine with the GPUs")


def split(x: nd.NDArray, y: nd.NDArray, ctxs: List[mx.Context], dtype: Optional[str] = None):
    """One batch spread over the devices: [(x_i, y_i), ...] (uneven last batches allowed)."""
    if dtype:
        x = x.astype(dtype, copy=False)
    return list(zip(gluon.utils.split_and_load(x, ctxs, even_split=False),
                    gluon.utils.split_and_load(y, ctxs, even_split=False)))


def topk_correct(outputs: nd.NDArray, labels: nd.NDArray) -> Tuple[int, int]:
    """How many of ``labels`` are the top-1 and among the top-5 classes of ``outputs``."""
    out, lab = to_numpy(outputs), to_numpy(labels).astype(int)
    top5 = np.argsort(-out, axis=1)[:, :5]
    return int((top5[:, 0] == lab).sum()), int((top5 == lab[:, None]).any(axis=1).sum())


def evaluate(forward: Callable, batches: Iterable, ctxs: Optional[List[mx.Context]] = None,
             dtype: Optional[str] = None, before_first: Optional[Callable] = None) -> dict:
    """Top-1/top-5 of ``forward`` over ``batches`` (spread over ``ctxs`` when given).

    ``before_first(x)`` runs once on the first device batch (e.g. to compile the graph for its shape)."""
    c1 = c5 = total = 0
    for x, y in batches:
        parts = split(x, y, ctxs, dtype) if ctxs else [(x.astype(dtype, copy=False) if dtype else x, y)]
        for xi, yi in parts:
            if before_first is not None:
                before_first(xi)
                before_first = None
            a, b = topk_correct(forward(xi), yi)
            c1, c5, total = c1 + a, c5 + b, total + xi.shape[0]
    if not total:
        raise OneShotError("no images to evaluate: the validation data is empty")
    return {"top1": c1 / total, "top5": c5 / total, "images": total}


def device_description(ctx) -> dict:
    """What a measurement ran on. Also kept with every training epoch: MKL-DNN picks its kernels by CPU and thread
    count, so one seed's run can differ between machines, and these say which machine and settings it was."""
    return {"context": str(ctx), "machine": platform.machine(),
            "processor": cpuinfo_field("model name") or platform.processor() or "unknown",
            "cpu_count": os.cpu_count(), "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "mxnet_safe_accumulation": os.environ.get("MXNET_SAFE_ACCUMULATION"),
            "mxnet": mx.__version__, "mkldnn": mx.runtime.Features().is_enabled("MKLDNN")}
