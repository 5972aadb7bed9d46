"""formula == measured symbol == lookup table; published numbers; table config checks."""
import json

import numpy as np
import pytest

from conftest import ALL_FLAG_COMBOS, combo_id
from oneshot_nas import zoo
from oneshot_nas.costs.tables import (LookupTable, formula_cost, measure_symbol, normalized_score,
                                    subnet_symbol, symbol_cost)
from oneshot_nas.errors import OneShotError
from oneshot_nas.nn.blocks import Cost
from oneshot_nas.space import Candidate, SearchSpace


@pytest.mark.parametrize("input_size", [224, 32])
@pytest.mark.parametrize("flags", ALL_FLAG_COMBOS, ids=combo_id)
def test_formula_symbol_and_table_agree(flags, input_size):
    space = SearchSpace(input_size=input_size, num_classes=1000 if input_size == 224 else 10, **flags)
    table = LookupTable.build(space, method="formula")
    rng = np.random.default_rng(input_size)
    for cand in [space.sample(rng) for _ in range(4)] + [zoo.get("OneShot").candidate]:
        measured = symbol_cost(space, cand)
        assert formula_cost(space, cand) == measured
        assert table.cost(cand) == measured


@pytest.mark.parametrize("input_size,stride", [(32, 2), (224, 1)], ids=["32px-stride2", "224px-stride1"])
def test_formulas_follow_the_first_conv_stride(input_size, stride):
    space = SearchSpace(input_size=input_size, num_classes=10, use_se=True, first_conv_stride=stride)
    for cand in [space.sample(np.random.default_rng(3)), zoo.get("OneShot").candidate]:
        assert formula_cost(space, cand) == symbol_cost(space, cand)


def test_table_built_by_measurement_equals_formula_table():
    space = SearchSpace(input_size=32, num_classes=10, use_se=True)
    assert LookupTable.build(space, "symbol").entries == LookupTable.build(space, "formula").entries


def test_params_match_the_trainable_parameters_of_the_gluon_net():
    from oneshot_nas.nn import build_subnet
    space = SearchSpace(use_se=True)
    cand = zoo.get("OneShot-S+").candidate
    net = build_subnet(space, cand, shuffle_by_conv=True)
    trainable = sum(int(np.prod(p.shape)) for p in net.collect_params().values() if p.grad_req != "null")
    assert symbol_cost(space, cand).params == trainable


def test_hand_counted_first_block():
    # Layer 0 of the OneShot layout, SNB-3 at scale 1.0: 16 -> 64 channels, 112 -> 56 px, mid 32.
    space = SearchSpace()
    layer = space.layers()[0]
    from oneshot_nas.nn.blocks import block_cost
    mid, r_in, r = 32, 112, 56
    flops = (16 * mid * r_in ** 2 + mid * 9 * r ** 2 + mid * 48 * r ** 2  # main: pw, dw, pw
             + 16 * 9 * r ** 2 + 16 * 16 * r ** 2)                         # projection: dw, pw
    params = (16 * mid + 2 * mid) + (9 * mid + 2 * mid) + (mid * 48 + 2 * 48) + (9 * 16 + 32) + (16 * 16 + 32)
    assert block_cost(space, layer, 0, 4) == Cost(flops, params)


@pytest.mark.parametrize("name, flops_m, params_m", [
    ("OneShot", 328, 3.4), ("OneShot+", 297, 3.7), ("OneShot-S+", 291, 3.5)])
def test_published_numbers_of_the_mxnet_codebase(name, flops_m, params_m):
    entry = zoo.get(name)
    space = SearchSpace(**entry.space_flags())
    cost = symbol_cost(space, entry.candidate)
    assert round(cost.flops / 1e6) == flops_m
    assert round(cost.params / 1e6, 1) == params_m


def test_published_numbers_of_the_official_block_only_model():
    # The official PyTorch release counted params without BN gamma/beta: 3.53M -> "3.5M".
    # With them (our convention, the MXNet codebase's) the same network has 3.56M.
    entry = zoo.get("SPOS-block-only")
    space = SearchSpace(**entry.space_flags())
    with_bn = symbol_cost(space, entry.candidate)
    without_bn = symbol_cost(space, entry.candidate, count_bn=False)
    assert round(with_bn.flops / 1e6) == 323
    assert round(without_bn.params / 1e6, 1) == 3.5
    assert round(with_bn.params / 1e6, 2) == 3.56


def test_normalized_score():
    assert normalized_score(Cost(328_000_000, 3_400_000)) == pytest.approx(2.0)
    assert normalized_score(Cost(585_000_000, 6_900_000), "MobileNetV2_1.4") == pytest.approx(2.0)
    assert normalized_score(Cost(217_000_000, 5_400_000), "MobileNetV3_large") == pytest.approx(2.0)
    assert normalized_score(Cost(222_000_000, 5_600_000), "ShuffleNetV2+_medium") == pytest.approx(2.0)
    with pytest.raises(OneShotError, match="MobileNetV3_large"):
        normalized_score(Cost(1, 1), "MobileNetV9")


def test_table_round_trip_and_config_check(tmp_path):
    space = SearchSpace(input_size=32, num_classes=10)
    table = LookupTable.build(space)
    path = tmp_path / "lut.json"
    table.save(str(path))
    loaded = LookupTable.load(str(path), expected_space=space)
    cand = space.sample(np.random.default_rng(0))
    assert loaded.cost(cand) == table.cost(cand)
    with pytest.raises(OneShotError, match="was built for .* not for .*SE"):
        LookupTable.load(str(path), expected_space=SearchSpace(input_size=32, num_classes=10, use_se=True))


def test_corrupt_or_missing_tables_are_clear_errors(tmp_path):
    with pytest.raises(OneShotError, match="does not exist"):
        LookupTable.load(str(tmp_path / "nope.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(OneShotError, match="not valid JSON"):
        LookupTable.load(str(bad))
    good = LookupTable.build(SearchSpace(input_size=32)).to_dict()
    good["space"]["use_se"] = True  # edited config no longer matches its fingerprint
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(good))
    with pytest.raises(OneShotError, match="corrupt"):
        LookupTable.load(str(tampered))


def test_table_bounds_bracket_every_candidate():
    space = SearchSpace()
    table = LookupTable.build(space)
    bounds = table.bounds()
    rng = np.random.default_rng(0)
    for _ in range(200):
        cost = table.cost(space.sample(rng))
        assert bounds["min"].flops <= cost.flops <= bounds["max"].flops
        assert bounds["min"].params <= cost.params <= bounds["max"].params
    # the bound is reached: per layer, the cheapest (block, channel) cell
    cells = [min(((b, c) for b in range(4) for c in range(10)), key=lambda bc: row[bc[0]][bc[1]][0])
             for row in table.entries]
    cheapest = Candidate(tuple(b for b, _ in cells), tuple(c for _, c in cells))
    assert table.cost(cheapest).flops == bounds["min"].flops


def test_measure_symbol_counts_strided_pooling_and_dense():
    import mxnet as mx
    data = mx.sym.var("data")
    net = mx.sym.Pooling(data, kernel=(2, 2), stride=(2, 2), pool_type="avg")
    net = mx.sym.FullyConnected(mx.sym.flatten(net), num_hidden=5, name="fc")
    cost = measure_symbol(net, (1, 3, 8, 8))
    assert cost == Cost(3 * 4 * 4 * 4 + (48 * 5 + 5), 48 * 5 + 5)


def test_subnet_symbol_has_no_unknown_ops():
    sym = subnet_symbol(SearchSpace(use_se=True), zoo.get("OneShot-S+").candidate)
    ops = {n["op"] for n in json.loads(sym.tojson())["nodes"]}
    counted = {"Convolution", "FullyConnected", "Pooling"}
    free = {"null", "BatchNorm", "Activation", "relu", "hard_sigmoid", "clip", "_plus_scalar", "_div_scalar", "elemwise_mul",
            "broadcast_mul", "Concat", "concat", "slice_axis", "Reshape", "reshape", "SwapAxis", "swapaxes",
            "Dropout", "Flatten", "flatten"}
    assert ops - counted - free == set(), "an op the counter does not know about would be silently free"


# ---- the one cost interface (costs.limits) -----------------------------------------------------

def test_the_supernet_box_and_the_search_flags_are_one_vocabulary():
    """A box from the original's training flags and the same bounds as search flags accept the same paths,
    through the one check; reachability is decided by the same code for both."""
    from oneshot_nas.costs import CostModel, LimitCheck
    from oneshot_nas.sampling import Box
    from oneshot_nas.search.constraints import Constraints
    space = SearchSpace(input_size=32, num_classes=10, first_conv_stride=2)
    table = LookupTable.build(space)
    box = Box.parse("flops-9-params-3.5", "flops-6-params-2.5")
    as_box = LimitCheck(CostModel(table), box.limits())
    as_search = Constraints(max_flops=9, min_flops=6, max_params=3.5, min_params=2.5,
                            max_normalized_score=-1).check(table)
    rng = np.random.default_rng(0)
    cands = [space.sample(rng) for _ in range(300)]
    decisions = [box.contains(table.cost(c)) for c in cands]
    assert 0 < sum(decisions) < len(cands)  # the box cuts through the sample: the test can fail
    assert [as_box(c) for c in cands] == decisions == [as_search(c) for c in cands]
    drawn = as_box.draw(lambda: space.sample(rng), 10000, "widen it")
    assert box.contains(table.cost(drawn))
    unreachable = Box.parse("flops-1-params-3.5", "flops-0.5-params-2.5")
    with pytest.raises(OneShotError, match=r"--train-upper-constraints flops-1-params-3.5: .*FLOPs"):
        LimitCheck(CostModel(table), unreachable.limits()).require_reachable()
    with pytest.raises(OneShotError, match="--max-flops 1: .*FLOPs"):
        Constraints(max_flops=1).check(table).require_reachable()


def test_latency_extremes_bound_every_prediction_and_are_attained():
    from oneshot_nas.costs import LatencyTable
    space = SearchSpace(input_size=32, num_classes=10)
    rng = np.random.default_rng(3)
    entries = {"1": rng.uniform(0.1, 2.0, (space.num_layers, space.num_blocks, space.num_scales)).tolist()}
    table = LatencyTable(space, [1], {"1": 1.0}, {"1": 2.0}, {"1": 0.05}, entries, {})
    predictions = [table.predict(space.sample(rng)) for _ in range(500)]
    low, high = table.extreme("min"), table.extreme("max")
    assert low <= min(predictions) and max(predictions) <= high
    cells = np.asarray(entries["1"])
    best = Candidate(tuple(int(np.unravel_index(np.argmin(layer), layer.shape)[0]) for layer in cells),
                     tuple(int(np.unravel_index(np.argmin(layer), layer.shape)[1]) for layer in cells))
    assert low == pytest.approx(table.predict(best))
    # restricted genes: only block 0 and channel 9 allowed -> exactly that candidate
    only = Candidate((0,) * space.num_layers, (9,) * space.num_layers)
    assert table.extreme("min", blocks=[0], channels=[9]) == pytest.approx(table.predict(only))


# ---- the original codebase's models/lookup_table.json --------------------------------------------

def test_our_formulas_give_the_numbers_of_the_table_the_original_ships():
    """Spot values of the original's models/lookup_table.json (SE + MobileNetV3 tail, 224 px, 1000 classes;
    FLOPs and params in millions, as it stores them)."""
    space = SearchSpace(use_se=True, last_conv_after_pooling=True, input_size=224, num_classes=1000)
    table = LookupTable.build(space)
    shipped = {("input_block",): (5.419008, 0.000464), ("output_block",): (1.712744, 1.681384),
               (0, 0, 0): (3.531136, 0.001022), (1, 0, 0): (1.373568, 0.000526), (19, 3, 9): (40.91368, 0.8916)}
    for where, (flops, params) in shipped.items():
        ours = (table.stem if where == ("input_block",) else table.tail if where == ("output_block",)
                else Cost(*table.entries[where[0]][where[1]][where[2]]))
        assert (ours.flops / 1e6, ours.params / 1e6) == pytest.approx((flops, params), abs=1e-6)


def test_the_original_lookup_table_loads_for_its_config_and_is_refused_for_another(tmp_path):
    space = SearchSpace(use_se=True, last_conv_after_pooling=True, input_size=224, num_classes=1000)
    ours = LookupTable.build(space)
    path = tmp_path / "lookup_table.json"
    path.write_text(json.dumps(ours.to_original_dict(), indent=4))
    loaded = LookupTable.load(str(path), expected_space=space)
    assert loaded.space == space
    rng = np.random.default_rng(0)
    for cand in [space.sample(rng) for _ in range(20)]:
        assert loaded.cost(cand) == ours.cost(cand)
    # the classes are read back from the output block: a 10-class table is a 10-class space
    ten = SearchSpace(use_se=True, last_conv_after_pooling=True, input_size=224, num_classes=10)
    path10 = tmp_path / "lookup_table_10.json"
    path10.write_text(json.dumps(LookupTable.build(ten).to_original_dict()))
    assert LookupTable.load(str(path10)).space == ten
    for other in (ten, SearchSpace(input_size=224, num_classes=1000)):
        with pytest.raises(OneShotError, match=r"the original's format\) was built for .* not for "):
            LookupTable.load(str(path), expected_space=other)
    damaged = ours.to_original_dict()
    damaged["flops"]["nas_block"] = damaged["flops"]["nas_block"][:19]
    (tmp_path / "damaged.json").write_text(json.dumps(damaged))
    with pytest.raises(OneShotError, match=r"nas_block is \(19, 4, 10\), not \(20, 4, 10\)"):
        LookupTable.load(str(tmp_path / "damaged.json"))
    modified = ours.to_original_dict()
    modified["config"]["last_conv_out_channel"] = 1280
    (tmp_path / "modified.json").write_text(json.dumps(modified))
    with pytest.raises(OneShotError, match="last_conv_out_channel is 1280, where the OneShot network has 1024"):
        LookupTable.load(str(tmp_path / "modified.json"))
