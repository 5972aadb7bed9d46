"""The CPU depthwise convolution of the imperative (supernet) path: same outputs and gradients as MXNet's
own Convolution, with and without the C++ weight-gradient extension, and inside a whole supernet step."""
import os
import shutil

import numpy as np
import pytest
import mxnet as mx
from mxnet import autograd, nd

from oneshot_nas.nn import Supernet, build_subnet, depthwise, inherit_weights
from oneshot_nas.space import Candidate, SearchSpace
from test_networks import randomize

# (batch, channels, size, kernel, stride): aligned and unaligned widths, maps smaller than the kernel
CASES = [(4, 16, 8, 5, 1), (4, 19, 8, 7, 2), (3, 57, 12, 5, 1), (2, 40, 2, 7, 1), (2, 40, 2, 3, 1),
         (3, 30, 4, 7, 2), (3, 48, 8, 3, 1), (2, 24, 9, 3, 2)]


def reference_and_ours(n, c, size, k, s, seed=0):
    rs = np.random.RandomState(seed)
    x = nd.array(rs.uniform(-1, 1, (n, c, size, size)))
    w = nd.array(rs.uniform(-1, 1, (c, 1, k, k)))
    x.attach_grad()
    w.attach_grad()
    results = []
    head = None
    for conv in (lambda: nd.Convolution(x, w, kernel=(k, k), stride=(s, s), pad=(k // 2, k // 2), num_filter=c,
                                        num_group=c, no_bias=True),
                 lambda: depthwise.depthwise_conv(x, w, k, s, k // 2)):
        with autograd.record():
            y = conv()
        if head is None:
            head = nd.array(rs.uniform(-1, 1, y.shape))
        y.backward(head)
        results.append([y.asnumpy(), x.grad.asnumpy(), w.grad.asnumpy()])
    return results


def assert_same(reference, ours):
    for name, a, b in zip(("output", "input gradient", "weight gradient"), reference, ours):
        assert a.shape == b.shape, name
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5 * np.abs(a).max(), err_msg=name)


@pytest.mark.parametrize("case", CASES, ids=lambda c: "n{}c{}s{}k{}stride{}".format(*c))
def test_depthwise_conv_equals_mxnet_convolution(case):
    assert_same(*reference_and_ours(*case))


def test_without_the_extension_the_numbers_are_the_same(monkeypatch):
    monkeypatch.setitem(depthwise._STATE, "loaded", False)
    for case in CASES[:3]:
        assert_same(*reference_and_ours(*case))


def test_extension_builds_and_loads_where_a_compiler_exists(tmp_path):
    if shutil.which(os.environ.get("CXX", "g++")) is None:
        pytest.skip("no C++ compiler: training runs with MXNet's slower depthwise backward")
    if os.environ.get("ONESHOT_NAS_FAST_DEPTHWISE") == "0":
        pytest.skip("switched off with ONESHOT_NAS_FAST_DEPTHWISE=0")
    target = tmp_path / "libdepthwise_grad-test.so"
    depthwise.build(target)
    assert target.stat().st_size > 0
    assert depthwise.load(), "g++ exists but the extension did not load: see the warning above"
    # the library is keyed by its source, MXNet and the CPU: a changed source gets a new file
    assert depthwise.library_path().name.startswith("libdepthwise_grad-")


def test_supernet_step_gradients_equal_the_subnets():
    """A supernet path (imperative: padded channels, the extension's weight gradient) back-propagates
    the same gradients into its weights as the hybridized narrow subnet (MXNet's own backward)."""
    space = SearchSpace(input_size=32, num_classes=10)
    cand = Candidate.parse("01230123012301230123-13579024681357902468")  # every block, odd widths
    supernet = Supernet(space)
    supernet.initialize()
    randomize(supernet, seed=3)
    subnet = build_subnet(space, cand)
    subnet.initialize()
    inherit_weights(supernet, subnet)
    subnet.hybridize()
    x = nd.array(np.random.RandomState(4).uniform(-1, 1, (4, 3, 32, 32)))
    for net, args in ((supernet, (x, cand)), (subnet, (x,))):
        with autograd.record(train_mode=False):  # no dropout: both nets see the same function
            loss = net(*args).square().sum()
        loss.backward()
    ctx = mx.cpu()
    checked = 0
    for choice, block in zip(supernet.choice_layers, subnet.features):
        source = choice.choices[block.block_gene]
        for name, param in block._reg_params.items():
            if not name.endswith("_weight") or param.grad_req == "null":
                continue
            full = source._reg_params[name].grad(ctx).asnumpy()
            ours = full[tuple(slice(0, s) for s in param.shape)]
            expected = param.grad(ctx).asnumpy()
            np.testing.assert_allclose(ours, expected, rtol=1e-3, atol=1e-4 * np.abs(expected).max(),
                                       err_msg=f"layer {block.layer.index} {name}")
            checked += 1
    assert checked >= 60
