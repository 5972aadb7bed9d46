"""Deployment: folded BN and the shuffle-by-conv export compute what the trained subnet computes."""
import itertools
import json

import mxnet as mx
import numpy as np
import pytest
from mxnet import nd

from oneshot_nas.deploy.merge_bn import merge_bn
from oneshot_nas.nn import build_subnet
from oneshot_nas.space import SearchSpace

COMBOS = list(itertools.product(("OneShot", "ShuffleNetV2+"), (False, True), (False, True)))


def trained_looking(space, cand, shuffle_by_conv=False, seed=0):
    mx.random.seed(seed)
    net = build_subnet(space, cand, shuffle_by_conv=shuffle_by_conv)
    net.initialize()
    rs = np.random.RandomState(seed)
    for name, p in net.collect_params().items():  # BN statistics and affine far from the identity
        if name.endswith("_running_mean") or name.endswith("_beta"):
            p.set_data(nd.array(rs.uniform(-0.5, 0.5, p.shape)))
        elif name.endswith("_running_var") or name.endswith("_gamma"):
            p.set_data(nd.array(rs.uniform(0.5, 2.0, p.shape)))
    return net


@pytest.mark.parametrize("layout, use_se, lcap", COMBOS)
def test_merged_bn_network_equals_the_original(layout, use_se, lcap):
    space = SearchSpace(channels_layout=layout, use_se=use_se, last_conv_after_pooling=lcap, input_size=32,
                        num_classes=10)
    cand = space.sample(np.random.default_rng(hash((layout, use_se, lcap)) % 1000))
    net = trained_looking(space, cand)
    x = nd.random.uniform(-1, 1, (4, 3, 32, 32))
    folded = merge_bn(net)
    folded.hybridize()
    np.testing.assert_allclose(folded(x).asnumpy(), net(x).asnumpy(), rtol=1e-4, atol=1e-4)
    sym = folded(mx.sym.var("data"))
    assert "BatchNorm" not in {n["op"] for n in json.loads(sym.tojson())["nodes"]}
    assert not any("running" in name or "gamma" in name for name in folded.collect_params())


def test_shuffle_by_conv_equals_the_reshape_shuffle_also_after_folding():
    space = SearchSpace(use_se=True, last_conv_after_pooling=True, input_size=32, num_classes=10)
    cand = space.sample(np.random.default_rng(3))
    plain = trained_looking(space, cand, seed=1)
    by_conv = trained_looking(space, cand, shuffle_by_conv=True, seed=1)
    x = nd.random.uniform(-1, 1, (2, 3, 32, 32))
    np.testing.assert_allclose(by_conv(x).asnumpy(), plain(x).asnumpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(merge_bn(by_conv)(x).asnumpy(), plain(x).asnumpy(), rtol=1e-4, atol=1e-4)


def test_export_command_writes_a_bn_free_model_that_computes_the_same(tmp_path):
    import os
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    space = SearchSpace(use_se=True, last_conv_after_pooling=True, input_size=32, num_classes=10)
    cand = space.sample(np.random.default_rng(7))
    net = trained_looking(space, cand, seed=2)
    run = tmp_path / "run"
    run.mkdir()
    net.save_parameters(str(run / "best.params"))
    (run / "config.json").write_text(json.dumps({"space": space.to_dict(), "candidate": str(cand)}))
    out = subprocess.run([sys.executable, "-m", "oneshot_nas", "export", "--params", str(run / "best.params"),
                          "--out", str(tmp_path / "deploy" / "net"), "--shuffle-by-conv"],
                         env={**os.environ, "PYTHONPATH": root}, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    loaded = mx.gluon.SymbolBlock.imports(str(tmp_path / "deploy" / "net-symbol.json"), ["data"],
                                          str(tmp_path / "deploy" / "net-0000.params"))
    x = nd.random.uniform(-1, 1, (3, 3, 32, 32))
    np.testing.assert_allclose(loaded(x).asnumpy(), net(x).asnumpy(), rtol=1e-4, atol=1e-4)
    assert "BatchNorm" not in (tmp_path / "deploy" / "net-symbol.json").read_text()
    (run / "config.json").write_text(json.dumps({"space": space.to_dict(), "candidate": None}))
    out = subprocess.run([sys.executable, "-m", "oneshot_nas", "export", "--params", str(run / "best.params"),
                          "--out", str(tmp_path / "x")], env={**os.environ, "PYTHONPATH": root},
                         capture_output=True, text=True)
    assert out.returncode == 2 and "holds a supernet" in out.stderr


def test_op_profile_times_every_operator_type():
    from oneshot_nas.deploy import profile
    space = SearchSpace(input_size=32, num_classes=10)
    net = build_subnet(space, space.sample(np.random.default_rng(0)))
    net.initialize()
    plain = profile.op_times(net, (1, 3, 32, 32), repeats=2, warmup=1)
    folded = profile.op_times(merge_bn(net), (1, 3, 32, 32), repeats=2, warmup=1)
    assert {"Convolution", "BatchNorm", "relu"} <= set(profile.ops_in(plain))
    assert "BatchNorm" not in profile.ops_in(folded) and "Convolution" in profile.ops_in(folded)
    conv = next(r for r in plain["ops"] if r["op"] == "Convolution")
    assert conv["calls_per_forward"] == len([u for b in [net.stem, *net.features, net.tail] for u in b.units])
    assert abs(sum(r["share"] for r in plain["ops"]) - 1) < 1e-6
    text = profile.markdown(plain, "t", "cmd")
    assert "| Convolution |" in text and "Generated by `cmd`" in text
