"""Depthwise convolution for imperative CPU execution (the supernet step), with a fast backward.

MXNet 1.9.1's oneDNN runs a depthwise convolution with its JIT kernels only when the channels come in
blocks of 16 and the input holds the whole kernel; otherwise (most searched widths, the 2x2 maps of
32 px networks) forward and backward fall back to an im2col GEMM, 10-30x slower per call. It also has
no JIT weight gradient for kernels over 3x3 (``jit_uni_dw_conv_bwd_weights`` requires kw <= 3): the
5x5 and 7x7 choice blocks always take the GEMM there, 12-48 ms per call at batch 128 x 32 px and up to
~300 ms at batch 32 x 224 px. :func:`depthwise_conv` pads the channels and the input so that the JIT
kernels apply, and while recording computes the 5x5/7x7 weight gradient with a direct loop in a small
C++ extension operator (``ext/depthwise_grad.cc``). Measured effect on a whole supernet step:
``logs/train_throughput.txt``.

The extension is compiled with g++ on first use, into ``$ONESHOT_NAS_EXT_DIR`` (default
``~/.cache/oneshot_nas``), keyed by its source, the MXNet version and the CPU's instruction set. Without
a compiler, or with ``ONESHOT_NAS_FAST_DEPTHWISE=0``, training uses MXNet's own weight gradient: the same
numbers, slower. GPU contexts never come here (cuDNN has none of these gaps).
"""
from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import tempfile
from pathlib import Path

import mxnet as mx
import numpy as np
from mxnet import autograd, nd

from ..utils import cpuinfo_field

LOG = logging.getLogger("oneshot_nas")
SOURCE = Path(__file__).with_name("ext") / "depthwise_grad.cc"
OP_NAME = "_oneshot_depthwise_weight_grad_tap"
_STATE = {"loaded": None}  # None: not tried yet; then True / False


def library_path() -> Path:
    """Where the compiled extension for this source, MXNet version and CPU lives."""
    key = hashlib.sha256(SOURCE.read_bytes() + mx.__version__.encode() + cpuinfo_field("flags").encode()).hexdigest()[:12]
    base = Path(os.environ.get("ONESHOT_NAS_EXT_DIR") or Path.home() / ".cache" / "oneshot_nas")
    return base / f"libdepthwise_grad-{key}.so"


def build(target: Path) -> None:
    """Compile the extension into ``target`` (atomically: concurrent builds cannot leave half a file)."""
    mxnet_dir = Path(mx.__file__).parent
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
    os.close(fd)
    # -march=native: built on the machine that runs it (the CPU flags are part of the cache key);
    # -ffast-math lets the compiler vectorise the dot-product reductions.
    command = [os.environ.get("CXX", "g++"), "-shared", "-fPIC", "-std=c++17", "-O3", "-march=native",
               "-ffast-math", "-fopenmp", f"-I{mxnet_dir / 'include'}", str(SOURCE),
               str(mxnet_dir / "src" / "lib_api.cc"), "-o", tmp]
    try:
        subprocess.run(command, check=True, capture_output=True, text=True, timeout=300)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def load() -> bool:
    """Load (building first if needed) the extension once per process; False if it is unavailable."""
    if _STATE["loaded"] is None:
        _STATE["loaded"] = _try_load()
    return _STATE["loaded"]


def disable(reason: str) -> None:
    """Never load the extension in this process (MXNet's own weight gradient: the same numbers, slower)."""
    if _STATE["loaded"]:
        raise RuntimeError(f"the depthwise extension is already loaded; {reason} must come first")
    if _STATE["loaded"] is None:
        LOG.info("fast depthwise backward off for %s", reason)
    _STATE["loaded"] = False


def _try_load() -> bool:
    if os.environ.get("ONESHOT_NAS_FAST_DEPTHWISE", "1") == "0":
        return False
    try:
        path = library_path()
        if not path.exists():
            build(path)
        mx.library.load(str(path), verbose=False)
        return hasattr(nd._internal, OP_NAME)
    except (OSError, subprocess.SubprocessError, mx.base.MXNetError) as e:
        detail = getattr(e, "stderr", "") or str(e)
        LOG.warning("fast depthwise backward unavailable (%s); 5x5/7x7 depthwise weight gradients use "
                    "MXNet's oneDNN GEMM fallback, several times slower. Install g++ to enable it.",
                    detail.strip().splitlines()[-1] if detail.strip() else type(e).__name__)
        return False


# oneDNN's JIT depthwise kernels work on blocks of 16 channels (AVX-512; 8 on AVX2) and need the input
# to hold the whole kernel; anything else falls back to an im2col GEMM, 10-30x slower (DNNL_VERBOSE shows
# "x64:gemm:jit"). Searched widths are rarely multiples of 16 and 32 px stages end in 2x2 maps.
CHANNEL_BLOCK = 16


def blocked_channels(channels: int) -> int:
    """``channels`` rounded up to a whole number of oneDNN channel blocks."""
    return -(-channels // CHANNEL_BLOCK) * CHANNEL_BLOCK


def depthwise_conv(x, weight, kernel: int, stride: int, pad: int):
    """A CPU depthwise convolution (no bias) shaped so that oneDNN's JIT kernels take it.

    Exact: channels are padded with zeros to a multiple of 16 and sliced off again, and an input smaller
    than the kernel gets its zero padding explicitly. While recording, kernels over 3x3 get the weight
    gradient of the extension operator; oneDNN then convolves a detached ``weight`` (its backward computes
    only the input gradient) and the tap computes the weight gradient from the detached ``x``.
    """
    channels = weight.shape[0]
    blocked = blocked_channels(channels)
    if blocked != channels:
        x, weight = pad_channels(x, blocked), pad_channels(weight, blocked, axis=0)
    if min(x.shape[2:]) < kernel:
        x = nd.pad(x, mode="constant", pad_width=(0, 0, 0, 0, pad, pad, pad, pad))
        pad = 0
    tap = kernel > 3 and autograd.is_recording() and x.dtype == np.float32 and load()  # the op is float32-only

    def conv(w):
        return nd.Convolution(x, w, kernel=(kernel, kernel), stride=(stride, stride), pad=(pad, pad),
                              num_filter=blocked, num_group=blocked, no_bias=True)

    if tap:
        y = getattr(nd._internal, OP_NAME)(conv(weight.detach()), x.detach(), weight, kernel=kernel,
                                           stride=stride, pad=pad)
    else:
        y = conv(weight)
    return y if blocked == channels else unpad_channels(y, channels)


def pad_channels(x, channels: int, axis: int = 1):
    """``x`` with zeros appended along ``axis`` up to ``channels``.

    Through ``pad`` on a flat default-layout view rather than ``concat``: the backward of a concat splits
    oneDNN's 16-channel-blocked gradient inside a block, which oneDNN refuses ("could not construct a
    sub-memory")."""
    shape = x.shape
    flat = x.reshape((1, int(np.prod(shape[:axis])), shape[axis], -1))
    flat = nd.pad(flat, mode="constant", pad_width=(0, 0, 0, 0, 0, channels - shape[axis], 0, 0))
    return flat.reshape(shape[:axis] + (channels,) + shape[axis + 1:])


def unpad_channels(y, channels: int):
    """The first ``channels`` channels of ``y``, sliced in a default-layout view (see :func:`pad_channels`)."""
    n, _, h, w = y.shape
    return nd.slice_axis(y.reshape((n, 1, -1, h * w)), axis=2, begin=0, end=channels).reshape((n, channels, h, w))


def applies(x) -> bool:
    """Whether an imperative depthwise convolution on ``x`` goes through :func:`depthwise_conv` (CPU only:
    cuDNN has none of these gaps)."""
    return x.context.device_type == "cpu"
