"""Checkpoints saved by the original codebase (fixtures in ../shared/fixtures/original, made by its own code)."""
import json
import os

import mxnet as mx
import numpy as np
import pytest

from oneshot_nas.errors import OneShotError
from oneshot_nas.nn import build_subnet
from oneshot_nas.original import load_into
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
    assert load_into(net, STEM + ".params")
    logits = net(mx.nd.array(np.load(STEM + "-input.npy"))).asnumpy()
    expected = np.load(STEM + "-logits.npy")
    assert np.abs(logits - expected).max() <= 1e-4 * np.abs(expected).max()


def test_original_checkpoint_of_another_architecture_is_named():
    config = json.load(open(STEM + ".json"))
    net = _subnet(config, use_se=False, last_conv_after_pooling=False)
    with pytest.raises(OneShotError, match=r"fixed subnet \(ShuffleNas_fixArch\) with 20 choice layers, SE, 10 classes"):
        load_into(net, STEM + ".params")


def test_our_own_params_are_left_to_the_caller(tmp_path):
    config = json.load(open(STEM + ".json"))
    net = _subnet(config)
    net.save_parameters(str(tmp_path / "ours.params"))
    assert not load_into(net, str(tmp_path / "ours.params"))


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
