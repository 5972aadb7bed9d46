"""After recalibration the running statistics equal the statistics of the fed batches, computed by hand."""
import mxnet as mx
import numpy as np
from mxnet import autograd, nd

from oneshot_nas import bn_recalibration
from oneshot_nas.nn import Supernet
from oneshot_nas.space import Candidate, SearchSpace


def batch_stats(arrays):
    allx = np.concatenate([a.asnumpy() for a in arrays])
    return allx.mean(axis=(0, 2, 3)), allx.var(axis=(0, 2, 3))


def test_recalibration_sets_exact_statistics_on_the_path_only():
    space = SearchSpace(input_size=32, num_classes=10)
    net = Supernet(space)
    net.initialize()
    cand = Candidate((0,) + (1,) * 19, (4,) * 20)
    rs = np.random.RandomState(0)
    batches = [(nd.array(rs.uniform(-1, 1, (n, 3, 32, 32))), nd.zeros(n)) for n in (8, 5, 11)]
    layer0 = net.choice_layers[0]
    before = {name: p.data().copy() for name, p in net.collect_params().items() if "running" in name}

    used = bn_recalibration.recalibrate(net, lambda x: net(x, cand), batches, [mx.cpu()])
    assert used == 24

    # stem BN: its input is the stem conv output
    stem = net.stem
    conv = [nd.Convolution(x, stem.first_conv_weight.data(), kernel=(3, 3), pad=(1, 1), num_filter=16, no_bias=True)
            for x, _ in batches]
    mean, var = batch_stats(conv)
    np.testing.assert_allclose(stem.first_conv_running_mean.data().asnumpy(), mean, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(stem.first_conv_running_var.data().asnumpy(), var, rtol=1e-3, atol=1e-7)

    # layer 0, SNB-3 at scale 1.0: the first pw conv sees the (train-mode) stem output; mid = 32 of 64
    mid = space.mid_channels(space.layers()[0], 4)
    block = layer0.choices[0]
    with autograd.train_mode():
        stem_out = [stem(x) for x, _ in batches]
    pw1 = [nd.Convolution(s, block.pw1_weight.data()[:mid], kernel=(1, 1), num_filter=mid, no_bias=True)
           for s in stem_out]
    mean, var = batch_stats(pw1)
    rm, rv = block.pw1_running_mean.data().asnumpy(), block.pw1_running_var.data().asnumpy()
    np.testing.assert_allclose(rm[:mid], mean, rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(rv[:mid], var, rtol=1e-3, atol=1e-6)
    # channels beyond the active width and blocks off the path keep their statistics
    assert np.array_equal(rm[mid:], before[block.pw1_running_mean.name].asnumpy()[mid:])
    for other in layer0.choices[1:]:
        assert np.array_equal(other.pw1_running_mean.data().asnumpy(),
                              before[other.pw1_running_mean.name].asnumpy())


def test_recalibration_reaches_every_context():
    space = SearchSpace(input_size=32, num_classes=10)
    ctxs = [mx.cpu(0), mx.cpu(1)]
    net = Supernet(space)
    net.initialize(ctx=ctxs)
    cand = space.sample(np.random.default_rng(1))
    batches = [(nd.random.uniform(-1, 1, (6, 3, 32, 32)), nd.zeros(6))]
    bn_recalibration.recalibrate(net, lambda x: net(x, cand), batches, ctxs)
    p = net.stem.first_conv_running_var
    assert np.array_equal(p.data(ctxs[0]).asnumpy(), p.data(ctxs[1]).asnumpy())
    assert not np.allclose(p.data(ctxs[1]).asnumpy(), 1.0)
