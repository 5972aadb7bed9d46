"""Deployment: folded BN and the shuffle-by-conv export compute what the trained subnet computes."""
import itertools
import json
import re

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


def saved_run(tmp_path, net, space, cand, **config):
    """A folder laid out like a `train` run of ``cand``: best.params and config.json."""
    run = tmp_path / "run"
    run.mkdir()
    net.save_parameters(str(run / "best.params"))
    (run / "config.json").write_text(json.dumps({"space": space.to_dict(), "candidate": str(cand), **config}))
    return run


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
    run = saved_run(tmp_path, net, space, cand)
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
    assert {"Convolution", "BatchNorm", "Activation"} <= set(profile.ops_in(plain))
    assert "BatchNorm" not in profile.ops_in(folded) and "Convolution" in profile.ops_in(folded)
    conv = next(r for r in plain["ops"] if r["op"] == "Convolution")
    assert conv["calls_per_forward"] == len([u for b in [net.stem, *net.features, net.tail] for u in b.units])
    assert abs(sum(r["share"] for r in plain["ops"]) - 1) < 1e-6
    text = profile.markdown(plain, "t", "cmd")
    assert "| Convolution |" in text and "Generated by `cmd`" in text


@pytest.fixture(scope="module")
def latency_table(tmp_path_factory):
    from oneshot_nas.costs.latency import LatencyTable
    space = SearchSpace(input_size=32, num_classes=10)
    table = LatencyTable.build(space, (1, 4), warmup=1, repeats=2)
    path = tmp_path_factory.mktemp("lat") / "latency.json"
    table.save(str(path))
    return space, path


def test_latency_table_round_trip_prediction_and_config_check(latency_table):
    from oneshot_nas.costs.latency import LatencyTable, prediction_errors
    from oneshot_nas.errors import OneShotError
    space, path = latency_table
    table = LatencyTable.load(str(path), expected_space=space)
    assert table.meta["device"]["mxnet"] == mx.__version__ and table.batch_sizes == [1, 4]
    cand = space.sample(np.random.default_rng(0))
    # the prediction is the saved entries' sum, calibrated (timings themselves are too noisy to compare here)
    saved = json.loads(path.read_text())
    for b in ("1", "4"):
        blocks = sum(saved["entries_ms"][b][i][g][c] for i, (g, c) in enumerate(zip(cand.blocks, cand.channels)))
        summed = saved["stem_ms"][b] + saved["tail_ms"][b] + blocks - (space.num_layers + 1) * saved["call_overhead_ms"][b]
        assert 0.2 < saved["scale"][b] < 5 and summed > 0  # calibrated on whole subnets at build time
        assert table.predict(cand, int(b)) == pytest.approx(summed * saved["scale"][b])
    rows = prediction_errors(table, [cand], 1, warmup=1, repeats=2)
    assert rows[0]["measured_ms"] > 0 and np.isfinite(rows[0]["error"])
    with pytest.raises(OneShotError, match="was built for .* not for"):
        LatencyTable.load(str(path), expected_space=SearchSpace(input_size=32, num_classes=10, use_se=True))
    with pytest.raises(OneShotError, match="batch sizes \\[1, 4\\], not 8"):
        table.predict(cand, 8)


def test_max_latency_constraint_filters_and_fails_fast_when_unreachable(latency_table):
    from oneshot_nas.costs.tables import LookupTable
    from oneshot_nas.costs.latency import LatencyTable
    from oneshot_nas.errors import OneShotError
    from oneshot_nas.search.constraints import Constraints
    space, path = latency_table
    table = LatencyTable.load(str(path))
    cands = [space.sample(np.random.default_rng(i)) for i in range(20)]
    limit = float(np.median([table.predict(c) for c in cands]))
    check = Constraints(max_latency=limit, max_normalized_score=-1).check(LookupTable.build(space),
                                                                                     table)
    assert [check(c) for c in cands] == [table.predict(c) <= limit for c in cands]
    check.require_reachable()
    with pytest.raises(OneShotError, match="--max-latency 0.001 ms"):
        Constraints(max_latency=0.001).check(LookupTable.build(space), table).require_reachable()
    with pytest.raises(OneShotError, match="needs a latency table"):
        Constraints(max_latency=5).check(LookupTable.build(space))


def test_latency_overhead_measured_under_load_cannot_drive_predictions_below_zero():
    from oneshot_nas.costs.latency import LatencyTable
    space = SearchSpace(input_size=32, num_classes=10)
    entries = {"1": [[[0.5] * space.num_scales for _ in range(space.num_blocks)] for _ in range(space.num_layers)]}
    table = LatencyTable(space, [1], {"1": 1.0}, {"1": 2.0}, {"1": 5.0}, entries, {})  # overhead above every call
    assert table.overhead["1"] == 0.5
    assert table.predict(space.sample(np.random.default_rng(0))) == pytest.approx(1.0 + 2.0 + 20 * 0.5 - 21 * 0.5)


def test_quantize_and_evaluate_commands(tmp_path):
    import os
    import subprocess
    import sys
    from oneshot_nas.data import FASHION_MNIST_DIR
    if not os.path.isdir(FASHION_MNIST_DIR):
        pytest.skip("needs the dataset-fashion-mnist package")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": root, "OMP_NUM_THREADS": "2"}
    space = SearchSpace(use_se=True, last_conv_after_pooling=True, input_size=32, num_classes=10)
    cand = space.sample(np.random.default_rng(11))
    net = trained_looking(space, cand, seed=4)
    run = saved_run(tmp_path, net, space, cand, dataset="fashion-mnist", seed=0)

    def cli(*argv):
        out = subprocess.run([sys.executable, "-m", "oneshot_nas", *argv], env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr[-2000:]
        return out.stdout

    cli("export", "--params", str(run / "best.params"), "--out", str(tmp_path / "fp32"))
    said = cli("quantize", "--params", str(run / "best.params"), "--out", str(tmp_path / "int8"),
               "--num-calib-batches", "2", "--batch-size", "16", "--exclude-layers", "tail_output,stem_first_conv")
    symbol = (tmp_path / "int8-symbol.json").read_text()
    sidecar = json.loads((tmp_path / "int8-config.json").read_text())
    assert "quantize" in symbol and sidecar["precision"] == "int8"
    assert f"agree on the top-1 class of {100 * sidecar['calib_top1_agreement']:.1f}% of those images" in said
    fp32 = json.loads(cli("evaluate", str(tmp_path / "fp32"), "--val-images", "64", "--batch-size", "16"))
    int8 = json.loads(cli("evaluate", str(tmp_path / "int8"), "--val-images", "64", "--batch-size", "16"))
    assert fp32["images"] == int8["images"] == 64 and int8["images_per_sec_batch16"] > 0
    # a split given on the command line wins over the run's own (it used to be ignored silently)
    own, other = (json.loads(cli("evaluate", "--params", str(run / "best.params"), "--val-images", "64", *split))
                  for split in ((), ("--val-split", "holdout", "--holdout", "1000")))
    assert (own["split"], other["split"]) == ("test", "holdout") and own["images"] == other["images"] == 64
    loaded32 = mx.gluon.SymbolBlock.imports(str(tmp_path / "fp32-symbol.json"), ["data"], str(tmp_path / "fp32-0000.params"))
    loaded8 = mx.gluon.SymbolBlock.imports(str(tmp_path / "int8-symbol.json"), ["data"], str(tmp_path / "int8-0000.params"))
    x = nd.random.uniform(-1, 1, (8, 3, 32, 32))
    a, b = loaded32(x).asnumpy().ravel(), loaded8(x).asnumpy().ravel()
    assert np.corrcoef(a, b)[0, 1] > 0.9  # int8 approximates the fp32 logits
    np.save(tmp_path / "x.npy", x.asnumpy())
    said = cli("predict", "--params", str(tmp_path / "int8-0000.params"), "--npy", str(tmp_path / "x.npy"),
               "--out", str(tmp_path / "int8-logits.npy"))
    assert "exported model" in said and "(int8)" in said and said.count("x.npy[") == 8
    assert np.allclose(np.load(tmp_path / "int8-logits.npy").ravel(), b, atol=1e-4 * np.abs(b).max())
    said = cli("quantize", "--params", str(run / "best.params"), "--out", str(tmp_path / "int8s"), "--num-calib-batches",
               "1", "--batch-size", "16", "--quantized-dtype", "int8", "--clip-weights", "99.9")
    sidecar = json.loads((tmp_path / "int8s-config.json").read_text())
    assert said.startswith("clipped ") and (sidecar["quantized_dtype"], sidecar["clip_weights"]) == ("int8", 99.9)
    assert "quantize" in (tmp_path / "int8s-symbol.json").read_text()
    # the original's calculate_flops.py -s: any exported symbol; with BN kept it is our table's count
    cli("export", "--params", str(run / "best.params"), "--out", str(tmp_path / "withbn"), "--keep-bn")
    counted = json.loads(cli("count", "--symbol", str(tmp_path / "withbn-symbol.json"), "--input-size", "32"))
    from oneshot_nas.costs import LookupTable
    assert (counted["flops"], counted["params"]) == tuple(LookupTable.build(space).cost(cand))
    bad = subprocess.run([sys.executable, "-m", "oneshot_nas", "quantize", "--params", str(run / "best.params"),
                          "--out", str(tmp_path / "x"), "--exclude-layers", "nope"], env=env, capture_output=True,
                         text=True)
    assert bad.returncode == 2 and "no conv layer named nope" in bad.stderr and "tail_output" in bad.stderr


@pytest.mark.slow
def test_predict_runs_a_run_an_export_and_an_int8_model_on_images_preprocessed_as_validation(tmp_path):
    import os
    import subprocess
    import sys

    import cv2

    from oneshot_nas.data import FASHION_MNIST_CLASSES, FASHION_MNIST_DIR, ArrayPipeline, load_fashion_mnist
    if not os.path.isdir(FASHION_MNIST_DIR):
        pytest.skip("needs the dataset-fashion-mnist package")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": root, "OMP_NUM_THREADS": "2"}
    space = SearchSpace(input_size=32, num_classes=10)
    cand = space.sample(np.random.default_rng(5))
    net = trained_looking(space, cand, seed=2)
    run = saved_run(tmp_path, net, space, cand, dataset="fashion-mnist", seed=0)
    test = load_fashion_mnist(splits=("test",))["test"]
    images, labels = test[0][:3], test[1][:3]
    paths = []
    for i, grey in enumerate(images):
        paths.append(str(tmp_path / f"image{i}.png"))
        cv2.imwrite(paths[-1], grey)
    x, _ = next(ArrayPipeline(images, labels, 3, train=False, input_size=32).epoch_batches(0))
    expected = net(x).asnumpy()

    def predict(*argv):
        return subprocess.run([sys.executable, "-m", "oneshot_nas", "predict", *argv], env=env, capture_output=True,
                              text=True)

    out = predict("--params", str(run / "best.params"), *paths, "--out", str(tmp_path / "logits.npy"), "--top", "3")
    assert out.returncode == 0, out.stderr[-2000:]
    logits = np.load(tmp_path / "logits.npy")
    assert logits.shape == (3, 10) and np.abs(logits - expected).max() <= 1e-4 * np.abs(expected).max()
    best = int(np.argmax(expected[0]))
    assert f"image0.png: {best} {FASHION_MNIST_CLASSES[best]} " in out.stdout
    subprocess.run([sys.executable, "-m", "oneshot_nas", "export", "--params", str(run / "best.params"), "--out",
                    str(tmp_path / "fp32")], env=env, check=True, capture_output=True)
    np.save(tmp_path / "x.npy", x.asnumpy())
    out = predict("--params", str(tmp_path / "fp32-0000.params"), "--npy", str(tmp_path / "x.npy"), "--out",
                  str(tmp_path / "exported.npy"))
    assert out.returncode == 0, out.stderr[-2000:]
    assert np.abs(np.load(tmp_path / "exported.npy") - expected).max() <= 1e-4 * np.abs(expected).max()
    # bad input: one line each, no traceback
    (tmp_path / "broken.png").write_bytes(b"no image")
    np.save(tmp_path / "wrong.npy", np.zeros((2, 3, 28, 28), np.float32))
    for argv, said in (([str(tmp_path / "missing.png")], "image .*missing.png does not exist"),
                       ([str(tmp_path / "broken.png")], "cannot decode image .*broken.png"),
                       (["--npy", str(tmp_path / "wrong.npy")], r"shape \(2, 3, 28, 28\); the network takes "
                                                                 r"preprocessed batches N x 3 x 32 x 32"),
                       ([], "give the inputs one way")):
        bad = predict("--params", str(run / "best.params"), *argv)
        assert bad.returncode == 2 and "Traceback" not in bad.stderr, bad.stderr[-2000:]
        assert re.search(said, bad.stderr), bad.stderr


def test_top1_agreement_counts_images_with_the_same_top_class():
    from oneshot_nas.deploy.quantize import top1_agreement
    x = nd.array([[0, 1, 2], [2, 1, 0], [1, 2, 0], [0, 0, 1]])
    batches = [(x[:2], None), (x[2:], None)]

    def swap_first_two(a):
        return nd.concat(a[:, 1:2], a[:, 0:1], a[:, 2:], dim=1)

    assert top1_agreement(lambda a: a, lambda a: a, batches) == 1.0
    assert top1_agreement(lambda a: a, swap_first_two, batches) == 0.5  # rows 2 and 3 change class


def test_onnx_export_runs_in_onnx_runtime_with_the_same_outputs(tmp_path):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    import os
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    space = SearchSpace(use_se=True, last_conv_after_pooling=True, input_size=32, num_classes=10)
    cand = space.sample(np.random.default_rng(5))
    net = trained_looking(space, cand, seed=6)
    net.tail.output_weight.set_data(nd.random.normal(0, 1, net.tail.output_weight.shape))  # logits of order 1
    run = saved_run(tmp_path, net, space, cand)
    x = nd.random.uniform(-1, 1, (2, 3, 32, 32))
    expected = net(x).asnumpy()
    for extra in ([], ["--keep-bn"]):
        onnx_path = tmp_path / f"net{len(extra)}.onnx"
        out = subprocess.run([sys.executable, "-m", "oneshot_nas", "export", "--params", str(run / "best.params"),
                              "--out", str(tmp_path / f"net{len(extra)}"), "--onnx", str(onnx_path),
                              "--onnx-batch-size", "2", *extra],
                             env={**os.environ, "PYTHONPATH": root}, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr[-2000:]
        session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        got = session.run(None, {session.get_inputs()[0].name: x.asnumpy()})[0]
        assert np.abs(expected).max() > 0.1
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
