"""Checkpoints saved by the original codebase (fixtures in ../shared/fixtures/original, made by its own code)."""
import json
import os

import mxnet as mx
import numpy as np
import pytest

from oneshot_nas.errors import OneShotError
from oneshot_nas.nn import build_subnet
from oneshot_nas.weights import ORIGINAL, OURS, load_weights
from oneshot_nas.space import Candidate, SearchSpace

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "fixtures",
                        "original")
STEM = os.path.join(FIXTURES, "oneshot-s+_se_lcap_10cls")
pytestmark = pytest.mark.skipif(not os.path.exists(STEM + ".params"), reason="needs ../shared/fixtures/original")


def _subnet(config, **overrides):
    flags = dict(use_se=config["use_se"], last_conv_after_pooling=config["last_conv_after_pooling"],
                 channels_layout=config["channels_layout"], input_size=config["input_size"],
                 num_classes=config["num_classes"], first_conv_stride=2)  # the original's stem: stride 2 always
    flags.update(overrides)
    space = SearchSpace(**flags)
    net = build_subnet(space, Candidate.parse(config["candidate"]))
    net.initialize()
    net(mx.nd.zeros((1, 3, space.input_size, space.input_size)))
    return net


def test_original_subnet_checkpoint_computes_the_originals_logits():
    config = json.load(open(STEM + ".json"))
    net = _subnet(config)
    assert load_weights(net, STEM + ".params") == ORIGINAL
    logits = net(mx.nd.array(np.load(STEM + "-input.npy"))).asnumpy()
    expected = np.load(STEM + "-logits.npy")
    assert np.abs(logits - expected).max() <= 1e-4 * np.abs(expected).max()


def test_original_checkpoint_of_another_architecture_is_named():
    config = json.load(open(STEM + ".json"))
    net = _subnet(config, use_se=False, last_conv_after_pooling=False)
    with pytest.raises(OneShotError, match=r"fixed subnet \(ShuffleNas_fixArch\) with 20 choice layers, SE, 10 classes"):
        load_weights(net, STEM + ".params")


def test_our_own_params_load_and_a_file_of_another_network_is_one_line(tmp_path):
    config = json.load(open(STEM + ".json"))
    net = _subnet(config)
    net.save_parameters(str(tmp_path / "ours.params"))
    before = {k: v.data().asnumpy() for k, v in net.collect_params().items()}
    net.initialize(mx.init.Zero(), force_reinit=True)
    assert load_weights(net, str(tmp_path / "ours.params")) == OURS
    assert all(np.array_equal(before[k], v.data().asnumpy()) for k, v in net.collect_params().items())
    five = _subnet(config, num_classes=5)
    with pytest.raises(OneShotError, match=r"cannot load .*: its tail.output_weight is \(10, 1024, 1, 1\), ours "
                                           r"\(5, 1024, 1, 1\); it seems to hold a oneshot-nas subnet with 20 choice "
                                           r"layers, SE, 10 classes"):
        load_weights(five, str(tmp_path / "ours.params"))
    plain = _subnet(config, use_se=False)
    with pytest.raises(OneShotError, match=r"cannot load .*: it holds features.8.se_squeeze_weight .* which this network lacks"):
        load_weights(plain, str(tmp_path / "ours.params"))
    (tmp_path / "junk.params").write_bytes(b"not a parameter file")
    with pytest.raises(OneShotError, match="is not an MXNet parameter file"):
        load_weights(net, str(tmp_path / "junk.params"))


@pytest.mark.parametrize("config", ["supernet use_se=True last_conv_after_pooling=True channels_layout=OneShot classes=1000",
                                    "supernet use_se=False last_conv_after_pooling=False channels_layout=OneShot classes=1000"])
def test_original_supernet_arrays_all_map_onto_our_supernet(config):
    from oneshot_nas.nn import Supernet
    from oneshot_nas.original import map_onto
    shapes = json.load(open(os.path.join(FIXTURES, "original-supernet-parameter-names.json")))[config]
    arrays = {name: mx.nd.full(shape, i) for i, (name, shape) in enumerate(shapes.items())}  # each array tells its name
    se = "use_se=True" in config
    net = Supernet(SearchSpace(use_se=se, last_conv_after_pooling=se, num_classes=1000))
    net.initialize()
    params = list(net.collect_params().items())
    mapped = map_onto(arrays, params, "fixture")
    assert len(mapped) == len(params) == len(arrays)  # every array mapped, none left over
    names = list(shapes)
    source = {ours.split("_", 1)[1]: names[int(array.asnumpy().flat[0])] for ours, array in mapped.items()}
    assert source["stem_first_conv_weight"] == "features.0.weight"
    sxb = [theirs for ours, theirs in source.items() if ours.startswith("layer0_choice3_")]
    assert sxb and all(t.startswith("features.3.block_sx_3x3.") for t in sxb)
    assert all(("proj_branch" in theirs) == ("_proj_" in ours) for ours, theirs in source.items())
    assert source["layer0_choice1_proj_dw_weight"] == "features.3.block_sn_5x5.proj_branch.0.weight"
    assert source[params[-1][0].split("_", 1)[1]] == "output.0.bias"


@pytest.mark.slow
def test_the_commands_take_an_original_checkpoint_with_its_architecture_named(tmp_path):
    """export (then predict of the export), predict, evaluate and train --resume-params on the original's
    file; without the architecture, one line saying what to add."""
    import subprocess
    import sys

    from oneshot_nas.data import FASHION_MNIST_DIR
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": root, "OMP_NUM_THREADS": "2"}
    net_flags = ["--model", "OneShot-S+", "--use-se", "--last-conv-after-pooling", "--num-classes", "10",
                 "--input-size", "64"]
    expected = np.load(STEM + "-logits.npy")

    def cli(*argv):
        return subprocess.run([sys.executable, "-m", "oneshot_nas", *argv], env=env, capture_output=True, text=True)

    out = cli("predict", "--params", STEM + ".params", *net_flags, "--npy", STEM + "-input.npy", "--out",
              str(tmp_path / "a.npy"))
    assert out.returncode == 0, out.stderr[-2000:]
    assert np.abs(np.load(tmp_path / "a.npy") - expected).max() <= 1e-4 * np.abs(expected).max()
    out = cli("export", "--params", STEM + ".params", *net_flags, "--out", str(tmp_path / "oss"))
    assert out.returncode == 0, out.stderr[-2000:]
    out = cli("predict", "--params", str(tmp_path / "oss-0000.params"), "--npy", STEM + "-input.npy", "--out",
              str(tmp_path / "b.npy"))
    assert out.returncode == 0, out.stderr[-2000:]
    assert np.abs(np.load(tmp_path / "b.npy") - expected).max() <= 1e-4 * np.abs(expected).max()
    missing = cli("export", "--params", STEM + ".params", "--out", str(tmp_path / "x"))
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert "its architecture is unknown" in missing.stderr and "original" in missing.stderr
    if not os.path.isdir(FASHION_MNIST_DIR):
        pytest.skip("the rest needs the dataset-fashion-mnist package")
    data = ["--dataset", "fashion-mnist", "--holdout", "10000"]
    out = cli("evaluate", "--params", STEM + ".params", *net_flags, *data, "--val-images", "64", "--batch-size", "32")
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout)["images"] == 64
    out = cli("train", "--resume-params", STEM + ".params", *net_flags, *data,
              "--num-epochs", "2", "--resume-epoch", "1", "--train-limit", "64", "--val-limit", "32",
              "--batch-size", "32", "--save-dir", str(tmp_path / "run"))
    assert out.returncode == 0, out.stderr[-2000:]
    assert "(original format)" in out.stderr and "starting at epoch 1" in out.stderr
    history = [json.loads(line) for line in (tmp_path / "run" / "history.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in history] == [1]


# ---- every network configuration, against the original's structure --------------------------------------------
# The original's ShuffleNas_fixArch, as its oneshot_nas_network.py / oneshot_nas_blocks.py build it: the names and
# shapes its save_parameters writes, written out here from that code's structure (the fixture above checks the
# numbers of one configuration; these check that every configuration's arrays find their place).
SCALES = [0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6, 1.8, 2.0]


def _bn(prefix, c):
    return {f"{prefix}.{leaf}": (c,) for leaf in ("gamma", "beta", "running_mean", "running_var")}


def _se(prefix, c):
    mid = int(np.ceil((c // 4) / 8) * 8)
    return {f"{prefix}.channel_attention.1.weight": (mid, c, 1, 1), f"{prefix}.channel_attention.1.bias": (mid,),
            f"{prefix}.channel_attention.3.weight": (c, mid, 1, 1), f"{prefix}.channel_attention.3.bias": (c,)}


def _block(prefix, cin, cout, mid, gene, stride, se):
    k = (3, 5, 7, 3)[gene]
    proj = cin // 2 if stride == 1 else cin
    main_in, main_out = proj, cout - proj
    m = f"{prefix}.main_branch"
    if gene < 3:  # ShuffleNetV2: pw, BN, act, dw, BN, pw, BN, act
        out = {f"{m}.0.weight": (mid, main_in, 1, 1), **_bn(f"{m}.1", mid), f"{m}.3.weight": (mid, 1, k, k),
               **_bn(f"{m}.4", mid), f"{m}.5.weight": (main_out, mid, 1, 1), **_bn(f"{m}.6", main_out)}
        se_at = 8
    else:  # ShuffleXception: (dw, BN, pw, BN, act) x 3
        out = {f"{m}.0.weight": (main_in, 1, k, k), **_bn(f"{m}.1", main_in), f"{m}.2.weight": (mid, main_in, 1, 1),
               **_bn(f"{m}.3", mid), f"{m}.5.weight": (mid, 1, k, k), **_bn(f"{m}.6", mid),
               f"{m}.7.weight": (mid, mid, 1, 1), **_bn(f"{m}.8", mid), f"{m}.10.weight": (mid, 1, k, k),
               **_bn(f"{m}.11", mid), f"{m}.12.weight": (main_out, mid, 1, 1), **_bn(f"{m}.13", main_out)}
        se_at = 15
    if se:
        out.update(_se(f"{m}.{se_at}", main_out))
    if stride == 2:
        p = f"{prefix}.proj_branch"
        out.update({f"{p}.0.weight": (proj, 1, k, k), **_bn(f"{p}.1", proj), f"{p}.2.weight": (proj, proj, 1, 1),
                    **_bn(f"{p}.3", proj)})
    return out


def original_fixarch_shapes(layout, use_se, lcap, classes, candidate):
    widths = {"OneShot": [64, 160, 320, 640], "ShuffleNetV2+": [48, 128, 256, 512]}[layout]
    shapes = {"features.0.weight": (16, 3, 3, 3), **_bn("features.1", 16)}
    cin, index = 16, 0
    for stage, repeats in enumerate((4, 4, 8, 4)):
        for i in range(repeats):
            mid = int(widths[stage] // 2 * SCALES[candidate.channels[index]])
            shapes.update(_block(f"features.{index + 3}", cin, widths[stage], mid, candidate.blocks[index],
                                 2 if i == 0 else 1, use_se and stage >= 2))
            cin, index = widths[stage], index + 1
    if lcap:  # pool, conv_fc (bias), act
        shapes.update({"features.24.weight": (1024, cin, 1, 1), "features.24.bias": (1024,)})
    elif use_se:  # ShuffleNetV2+: last conv 768, BN, act, pool, SE, conv_fc (bias), act
        shapes.update({"features.23.weight": (768, cin, 1, 1), **_bn("features.24", 768), **_se("features.27", 768),
                       "features.28.weight": (1024, 768, 1, 1), "features.28.bias": (1024,)})
    else:  # last conv, BN, act, pool
        shapes.update({"features.23.weight": (1024, cin, 1, 1), **_bn("features.24", 1024)})
    shapes.update({"output.0.weight": (classes, 1024, 1, 1), "output.0.bias": (classes,)})
    return shapes


@pytest.mark.parametrize("layout", ["OneShot", "ShuffleNetV2+"])
@pytest.mark.parametrize("use_se, lcap", [(False, False), (True, False), (False, True), (True, True)])
@pytest.mark.parametrize("classes", [10, 1000])
def test_every_configurations_original_subnet_maps_onto_ours(layout, use_se, lcap, classes):
    from oneshot_nas.original import map_onto
    space = SearchSpace(channels_layout=layout, use_se=use_se, last_conv_after_pooling=lcap, input_size=64,
                        num_classes=classes, first_conv_stride=2)
    candidate = space.sample(np.random.default_rng(classes + 2 * use_se + lcap))
    shapes = original_fixarch_shapes(layout, use_se, lcap, classes, candidate)
    arrays = {name: mx.nd.full(shape, i) for i, (name, shape) in enumerate(shapes.items())}  # each tells its name
    net = build_subnet(space, candidate)
    params = list(net.collect_params().items())
    mapped = map_onto(arrays, params, "original-format arrays")  # every kind and shape checked
    assert len(mapped) == len(params) == len(arrays)
    names = list(shapes)
    source = {ours.split("_", 1)[1]: names[int(a.asnumpy().flat[0])] for ours, a in mapped.items()}
    assert source["stem_first_conv_weight"] == "features.0.weight"
    assert source["tail_output_weight"] == "output.0.weight"
    last = 19 + 3
    se_source = [theirs for ours, theirs in source.items() if "_se_" in ours and "layer19" in ours]
    assert bool(se_source) == use_se and all(t.startswith(f"features.{last}.main_branch.") for t in se_source)
    proj = [theirs for ours, theirs in source.items() if ours.startswith("features_layer0_proj")]
    assert proj and all(t.startswith("features.3.proj_branch.") for t in proj)


def test_the_structure_written_out_above_is_the_fixtures():
    """The names and shapes generated for the fixture's configuration are exactly those the original saved."""
    config = json.load(open(STEM + ".json"))
    saved = {name: tuple(a.shape) for name, a in mx.nd.load(STEM + ".params").items()}
    assert original_fixarch_shapes(config["channels_layout"], config["use_se"], config["last_conv_after_pooling"],
                                   config["num_classes"], Candidate.parse(config["candidate"])) == saved
