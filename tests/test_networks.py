"""Supernet path == sliced subnet, gradients only on active slices, export, shuffle-by-conv."""
import numpy as np
import pytest
import mxnet as mx
from mxnet import autograd, nd

from conftest import ALL_FLAG_COMBOS, combo_id
from oneshot_nas.nn import Supernet, build_subnet, inherit_weights, layers
from oneshot_nas.space import Candidate, SearchSpace


def randomize(net, seed=0):
    """Weights far from the tiny default init, so that any mismatch shows in the outputs."""
    rs = np.random.RandomState(seed)
    for name, p in net.collect_params().items():
        shape = p.shape
        if name.endswith("_weight") and "shuffle" not in name:
            fan_in = int(np.prod(shape[1:]))
            value = rs.normal(0, 1.0 / np.sqrt(fan_in), shape)
        elif name.endswith(("_gamma", "_running_var")):
            value = rs.uniform(0.5, 1.5, shape)
        elif name.endswith(("_beta", "_running_mean", "_bias")):
            value = rs.uniform(-0.3, 0.3, shape)
        else:
            continue
        p.set_data(nd.array(value))


def supernet_and_subnet(space, candidate, shuffle_by_conv=False):
    supernet = Supernet(space)
    supernet.initialize()
    randomize(supernet)
    subnet = build_subnet(space, candidate, shuffle_by_conv=shuffle_by_conv)
    subnet.initialize()
    inherit_weights(supernet, subnet)
    return supernet, subnet


@pytest.mark.parametrize("flags", ALL_FLAG_COMBOS + [dict(first_conv_stride=2)],
                         ids=[combo_id(f) for f in ALL_FLAG_COMBOS] + ["first-conv-stride-2"])
def test_supernet_path_equals_sliced_subnet_32px(flags):
    space = SearchSpace(input_size=32, num_classes=10, **flags)
    rng = np.random.default_rng(0)
    x = nd.array(np.random.RandomState(1).uniform(-2, 2, (3, 3, 32, 32)))
    supernet = Supernet(space)
    supernet.initialize()
    randomize(supernet)
    for _ in range(3):
        cand = space.sample(rng)
        subnet = inherit_weights(supernet, _init(build_subnet(space, cand)))
        subnet.hybridize()
        a, b = supernet(x, cand).asnumpy(), subnet(x).asnumpy()
        assert np.isfinite(a).all() and np.abs(a).max() > 1e-2  # a real signal, not all zeros
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * np.abs(a).max())


@pytest.mark.parametrize("flags", [ALL_FLAG_COMBOS[0], ALL_FLAG_COMBOS[3], ALL_FLAG_COMBOS[6]], ids=combo_id)
def test_supernet_path_equals_sliced_subnet_224px(flags):
    space = SearchSpace(**flags)
    cand = space.sample(np.random.default_rng(5))
    supernet, subnet = supernet_and_subnet(space, cand)
    x = nd.array(np.random.RandomState(2).uniform(-2, 2, (1, 3, 224, 224)))
    a, b = supernet(x, cand).asnumpy(), subnet(x).asnumpy()
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * np.abs(a).max())


def _init(net):
    net.initialize()
    return net


def test_gradients_reach_only_the_active_slices():
    space = SearchSpace(input_size=32, num_classes=10, use_se=True)
    cand = Candidate.parse("01230123012301230123-01234567890123456789")
    supernet = Supernet(space)
    supernet.initialize()
    randomize(supernet)
    before = {n: p.data().copy() for n, p in supernet.collect_params().items() if "running" in n}
    x = nd.array(np.random.RandomState(0).uniform(-1, 1, (4, 3, 32, 32)))
    with autograd.record():
        loss = supernet(x, cand).sum()
    loss.backward()
    for choice, layer, b, c in zip(supernet.choice_layers, space.layers(), cand.blocks, cand.channels):
        mid = space.mid_channels(layer, c)
        for gene, block in enumerate(choice.choices):
            for name, p in block._reg_params.items():
                if p.grad_req == "null":
                    continue
                g = p.grad().asnumpy()
                if gene != b:
                    assert not g.any(), f"inactive block {gene} of layer {layer.index} got a gradient in {name}"
                    continue
                active = tuple(slice(0, mid) if a in block.sliced_axes.get(name, ()) else slice(None)
                               for a in range(g.ndim))
                outside = g.copy()
                outside[active] = 0
                assert not outside.any(), f"{name} of layer {layer.index} got gradient outside width {mid}"
                assert g[active].any(), f"{name} of layer {layer.index} got no gradient"
            # running statistics move only on the active channels of the active block
            for name in ("pw1_running_mean",):
                full = getattr(block, name).data().asnumpy()
                old = before[getattr(block, name).name].asnumpy()
                if gene != b:
                    assert np.array_equal(full, old)
                else:
                    assert np.array_equal(full[mid:], old[mid:]) and not np.array_equal(full[:mid], old[:mid])


def test_fresh_networks_give_finite_outputs_in_inference():
    space = SearchSpace(input_size=32, num_classes=10)
    cand = space.sample(np.random.default_rng(1))
    x = nd.random.uniform(shape=(2, 3, 32, 32))
    supernet = Supernet(space)
    supernet.initialize()
    subnet = build_subnet(space, cand)
    subnet.initialize()
    assert np.isfinite(supernet(x, cand).asnumpy()).all()
    assert np.isfinite(subnet(x).asnumpy()).all()


def _first_choice_layer():
    """(supernet, input, a candidate, the first choice layer, its input, the candidate's width there)."""
    space = SearchSpace(input_size=32, num_classes=10)
    supernet = Supernet(space)
    supernet.initialize()
    randomize(supernet)
    x = nd.array(np.random.RandomState(0).uniform(-1, 1, (2, 3, 32, 32)))
    cand = space.sample(np.random.default_rng(0))
    return supernet, x, cand, supernet.choice_layers[0], supernet.stem(x), \
        space.mid_channels(space.layers()[0], cand.channels[0])


def test_use_all_blocks_averages_the_four_choices():
    _, _, _, layer0, stem, mid = _first_choice_layer()
    expected = sum(layer0(stem, g, mid) for g in range(4)) / 4
    np.testing.assert_allclose(layer0(stem, 0, mid, True).asnumpy(), expected.asnumpy(), rtol=1e-5)


@pytest.mark.parametrize("flags", [ALL_FLAG_COMBOS[0], ALL_FLAG_COMBOS[7]], ids=combo_id)
def test_shuffle_by_conv_equals_reshape_shuffle(flags):
    space = SearchSpace(input_size=32, num_classes=10, **flags)
    cand = space.sample(np.random.default_rng(2))
    supernet, plain = supernet_and_subnet(space, cand)
    by_conv = inherit_weights(supernet, _init(build_subnet(space, cand, shuffle_by_conv=True)))
    assert any("shuffle_weight" in n for n in by_conv.collect_params())
    by_conv.hybridize()
    x = nd.array(np.random.RandomState(3).uniform(-1, 1, (2, 3, 32, 32)))
    a, b = plain(x).asnumpy(), by_conv(x).asnumpy()
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * np.abs(a).max())


def test_subnet_exports_and_reloads(tmp_path):
    space = SearchSpace(input_size=32, num_classes=10, use_se=True, last_conv_after_pooling=True)
    cand = space.sample(np.random.default_rng(4))
    net = _init(build_subnet(space, cand))
    randomize(net)
    net.hybridize()
    x = nd.random.uniform(shape=(2, 3, 32, 32))
    y = net(x)
    prefix = str(tmp_path / "subnet")
    net.export(prefix, epoch=0)
    loaded = mx.gluon.SymbolBlock.imports(prefix + "-symbol.json", ["data"], prefix + "-0000.params")
    np.testing.assert_allclose(loaded(x).asnumpy(), y.asnumpy(), rtol=1e-5, atol=1e-6)


def test_blocks_off_the_path_stay_put_on_several_devices():
    """With a kvstore over two CPU contexts, a step on path B must not move a block used only by path A."""
    from mxnet import gluon
    from oneshot_nas.train_config import TrainConfig
    from oneshot_nas.training import make_trainer
    ctx = [mx.cpu(0), mx.cpu(1)]
    space = SearchSpace(input_size=32, num_classes=10)
    net = Supernet(space)
    net.initialize(ctx=ctx)
    trainer = make_trainer(TrainConfig(space=space.to_dict(), candidate=None, lr=0.1), net, "device")
    path_a, path_b = Candidate((0,) * 20, (9,) * 20), Candidate((1,) * 20, (9,) * 20)
    x, y = nd.random.uniform(shape=(8, 3, 32, 32)), nd.array(range(8))
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()

    def step(cand):
        xs, ys = gluon.utils.split_and_load(x, ctx), gluon.utils.split_and_load(y, ctx)
        with autograd.record():
            losses = [loss_fn(net(a, cand), b) for a, b in zip(xs, ys)]
        autograd.backward(losses)
        trainer.step(8, ignore_stale_grad=True)

    only_a = net.choice_layers[5].choices[0].pw1_weight
    step(path_a)
    after_a = only_a.data(ctx[0]).asnumpy()
    step(path_b)
    assert np.array_equal(only_a.data(ctx[0]).asnumpy(), after_a)
    assert np.array_equal(only_a.data(ctx[0]).asnumpy(), only_a.data(ctx[1]).asnumpy())




def test_path_settings_hold_only_within_their_scope():
    x = nd.zeros((1, 16, 4, 4))
    assert layers.compute_width(x, 20, 64) == 32 and layers.PATHS.bn_recorder is None
    with pytest.raises(RuntimeError), layers.width_padding(False):
        assert layers.compute_width(x, 20, 64) == 20
        raise RuntimeError("an error inside the scope")
    with pytest.raises(RuntimeError), layers.recording_bn_stats() as recorded:
        assert recorded == [] and layers.compute_width(x, 20, 64) == 20  # recording computes exact widths
        raise RuntimeError("an error inside the scope")
    assert layers.compute_width(x, 20, 64) == 32 and layers.PATHS.bn_recorder is None


@pytest.mark.parametrize("use_se", [False, True])
def test_cpu_width_padding_changes_no_number(use_se):
    """On CPU a block computes at its width rounded up to 16 channels (layers.compute_width); a training
    step of every choice block, stride 2 and 1, gives the same output, gradients and running statistics
    as at the exact width."""
    space = SearchSpace(input_size=32, num_classes=10, use_se=use_se)
    supernet = Supernet(space)
    supernet.initialize()
    randomize(supernet, seed=9)
    checked = 0
    for layer in space.layers()[:2]:  # stage 0: the widths that are not multiples of 16
        mid = space.mid_channels(layer, 5)
        x = nd.array(np.random.RandomState(layer.index).uniform(-1, 1, (4, layer.in_channels, layer.in_resolution,
                                                                          layer.in_resolution)))
        with layers.width_padding(True):
            width = layers.compute_width(x, mid, supernet.choice_layers[layer.index].max_mid)
        assert width % 16 == 0 and width > mid
        for block in supernet.choice_layers[layer.index].choices:
            params = {n: p for n, p in block.collect_params().items()}
            start = {n: p.data().copy() for n, p in params.items()}
            results = []
            for w in (width, mid):
                for n, p in params.items():
                    p.set_data(start[n])
                x.attach_grad()
                with autograd.record():
                    y = block.compute(nd, x, block.sliced_params(x.context, mid, w), w)
                    loss = (y * nd.array(np.random.RandomState(1).normal(size=y.shape))).sum()
                loss.backward()
                results.append([("output", y.asnumpy()), ("input gradient", x.grad.asnumpy())]
                               + [(n, (p.data() if p.grad_req == "null" else p.grad()).asnumpy())
                                  for n, p in params.items()])
            # relative to the largest gradient of the block: some (BN shift before a BN) are exactly 0 up
            # to rounding; a ReLU input within rounding of 0 may switch one receptive field's gradient
            scale = max(np.linalg.norm(v) for _, v in results[1])
            for (name, padded), (_, exact) in zip(*results):
                assert np.linalg.norm(padded - exact) <= 2e-3 * np.linalg.norm(exact) + 1e-5 * scale, \
                    f"layer {layer.index} {block.name} {name}: {np.abs(padded - exact).max()}"
                checked += 1
    assert checked > 80


def test_block_warm_up_averages_the_path_block_with_its_companions():
    supernet, x, cand, layer0, stem, mid = _first_choice_layer()
    expected = (layer0(stem, 2, mid) + layer0(stem, 0, mid) + layer0(stem, 3, mid)) / 3
    np.testing.assert_allclose(layer0(stem, 2, mid, False, (0, 3)).asnumpy(), expected.asnumpy(), rtol=1e-5)
    # no companions: the path itself
    np.testing.assert_array_equal(supernet(x, cand, None).asnumpy(), supernet(x, cand).asnumpy())


def test_the_paths_of_a_fair_step_reach_every_block_of_every_layer():
    from oneshot_nas.sampling import SamplingOptions
    space = SearchSpace(input_size=32, num_classes=10)
    supernet = Supernet(space)
    supernet.initialize()
    x = nd.array(np.random.RandomState(0).uniform(-1, 1, (2, 3, 32, 32)))
    paths = SamplingOptions(fair_blocks=True).sampler(space, seed=0).paths(0)
    with autograd.record():
        loss = sum(supernet(x, p).sum() for p in paths)
    loss.backward()
    for layer in supernet.choice_layers:
        for block in layer.choices:  # each block is in exactly one path, so each has a gradient
            grads = [p.grad().abs().sum().asscalar() for p in block.collect_params().values() if p.grad_req != "null"]
            assert max(grads) > 0, f"layer {layer.index} {block.name}"
