import numpy as np
import pytest

from oneshot_nas import zoo
from oneshot_nas.errors import OneShotError
from oneshot_nas.space import CHANNEL_LAYOUTS, Candidate, SearchSpace

ONESHOT = "00311100202110202132-65352634257546744543"


def test_compact_string_round_trip():
    c = Candidate.parse(ONESHOT)
    assert str(c) == ONESHOT
    assert c.blocks[:4] == (0, 0, 3, 1) and c.channels[-3:] == (5, 4, 3)
    assert Candidate.parse(str(c)) == c and hash(Candidate.parse(ONESHOT)) == hash(c)


def test_comma_lists_equal_compact_string():
    c = Candidate.from_lists("0,0,3,1,1,1,0,0,2,0,2,1,1,0,2,0,2,1,3,2", "6, 5, 3, 5, 2, 6, 3, 4, 2, 5, 7, 5, 4, 6, 7, 4, 4, 5, 4, 3")
    assert str(c) == ONESHOT


def test_genes_round_trip():
    c = Candidate.parse(ONESHOT)
    assert Candidate.from_genes(c.genes) == c and len(c.genes) == 40


@pytest.mark.parametrize("text, words", [
    ("0031110020211020213-65352634257546744543", ["19 block genes", "20 channel"]),
    ("0031110020211020213-6535263425754674454", ["19 genes", "20 choice layers"]),
    ("00411100202110202132-65352634257546744543", ["block gene 4", "layer 2"]),
    ("0031110020211020213a-65352634257546744543", ["non-digit", "'a'"]),
    ("00311100202110202132", ["BLOCKDIGITS-CHANNELDIGITS"]),
    ("", ["BLOCKDIGITS-CHANNELDIGITS"]),
])
def test_bad_strings_are_named(text, words):
    with pytest.raises(OneShotError) as e:
        SearchSpace().validate(Candidate.parse(text))
    for w in words:
        assert w in str(e.value)


def test_bad_comma_lists():
    with pytest.raises(OneShotError, match="channel gene 10 at layer 19"):
        Candidate.from_lists("0," * 19 + "0", "1," * 19 + "10")
    with pytest.raises(OneShotError, match="'x'"):
        Candidate.from_lists("0,x", "1,1")
    with pytest.raises(OneShotError, match="19 block genes but 20"):
        Candidate.from_lists("0," * 18 + "0", "1," * 19 + "1")


def test_width_rule_is_int_of_half_width_times_scale():
    for layout in CHANNEL_LAYOUTS:
        space = SearchSpace(channels_layout=layout)
        for layer in space.layers():
            for g, scale in enumerate(space.channel_scales):
                # the rule from the facts, evaluated with a tolerance-free decimal product
                expected = int(round(layer.out_channels // 2 * scale * 1000)) // 1000
                assert space.mid_channels(layer, g) == expected


def test_layers_follow_stage_layout():
    space = SearchSpace()
    layers = space.layers()
    assert len(layers) == 20 and [l.stride for l in layers].count(2) == 4
    assert layers[0].in_channels == 16 and layers[0].out_channels == 64 and layers[0].in_resolution == 112
    assert layers[-1].out_resolution == 7
    small = SearchSpace(input_size=32).layers()
    assert small[0].in_resolution == 32 and small[-1].out_resolution == 2
    original = SearchSpace(input_size=32, first_conv_stride=2)  # the original's network: no small-image stem
    assert original.layers()[0].in_resolution == 16 and original.layers()[-1].out_resolution == 1


def test_first_conv_stride_option():
    assert SearchSpace(first_conv_stride=2) == SearchSpace()  # the automatic value is the default space
    assert SearchSpace(input_size=32, first_conv_stride=1) == SearchSpace(input_size=32)
    assert "first_conv_stride" not in SearchSpace().to_dict()  # fingerprints of older artifacts still hold
    original = SearchSpace(input_size=32, first_conv_stride=2)
    assert original.fingerprint != SearchSpace(input_size=32).fingerprint
    assert SearchSpace.from_dict(original.to_dict()) == original
    assert "first-conv-stride-2" in original.describe()
    with pytest.raises(OneShotError, match="first conv stride 3"):
        SearchSpace(first_conv_stride=3)


def test_fingerprint_tracks_every_shape_decision():
    base = SearchSpace()
    assert base.fingerprint == SearchSpace().fingerprint
    variants = [SearchSpace(use_se=True), SearchSpace(last_conv_after_pooling=True),
                SearchSpace(channels_layout="ShuffleNetV2+"), SearchSpace(input_size=32), SearchSpace(num_classes=10)]
    prints = {base.fingerprint} | {v.fingerprint for v in variants}
    assert len(prints) == 6
    assert SearchSpace.from_dict(base.to_dict()) == base


def test_bad_space_values():
    with pytest.raises(OneShotError, match="multiple of 32"):
        SearchSpace(input_size=100)
    with pytest.raises(OneShotError, match="ShuffleNetV2\\+"):
        SearchSpace(channels_layout="Foo")


def test_sampling_is_seeded_and_valid():
    space = SearchSpace()
    a = [space.sample(np.random.default_rng(7)) for _ in range(3)]
    b = [space.sample(np.random.default_rng(7)) for _ in range(3)]
    assert a == b
    rng = np.random.default_rng(0)
    many = [space.sample(rng) for _ in range(200)]
    for c in many:
        space.validate(c)
    assert len({str(c) for c in many}) == 200
    restricted = space.sample(rng, channel_choices=range(2, 10))
    assert min(restricted.channels) >= 2


def test_mutation_and_crossover():
    space, rng = SearchSpace(), np.random.default_rng(3)
    c = Candidate.parse(ONESHOT)
    assert space.mutate(c, rng, 0.0) == c
    m = space.mutate(c, rng, 1.0, mutable="block")
    assert m.channels == c.channels and space.validate(m)
    m = space.mutate(c, rng, 1.0, mutable="channel")
    assert m.blocks == c.blocks
    other = space.sample(rng)
    child = space.crossover(c, other, rng)
    assert all(g in (x, y) for g, x, y in zip(child.genes, c.genes, other.genes))


def test_zoo_names_and_errors():
    assert set(zoo.ZOO) == {"OneShot", "OneShot+", "OneShot-S+", "SPOS-block-only"}
    assert str(zoo.get("OneShot").candidate) == ONESHOT
    assert zoo.get("OneShot+").use_se and zoo.get("OneShot+").last_conv_after_pooling
    with pytest.raises(OneShotError, match="OneShot-S\\+"):
        zoo.get("Oneshot")
