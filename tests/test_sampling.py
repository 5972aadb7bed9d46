"""Warm-up schedule == the original's table; samplers are seeded, bounded and respect the box."""
import math

import pytest

from oneshot_nas.errors import OneShotError
from oneshot_nas.sampling import Box, PathSampler
from oneshot_nas.schedules import allowed_channel_genes, lr_schedule, warm_up_lowest_gene
from oneshot_nas.space import SearchSpace

# The original README's table: 1-based epoch -> lowest channel gene, with --epoch-start-cs 60.
WARM_UP_TABLE = {61: 8, 62: 7, 63: 6, 64: 5, 65: 4, 66: 4, 67: 3, 68: 3, 69: 3, 70: 2, 71: 2, 72: 2, 73: 2,
                 74: 1, 75: 1, 76: 1, 77: 1, 78: 1, 79: 0, 80: 0, 120: 0}


def test_warm_up_formula_reproduces_the_table():
    for epoch_1based, lowest in WARM_UP_TABLE.items():
        genes = allowed_channel_genes(epoch_1based - 1, epoch_start_cs=60, cs_warm_up=True)
        assert genes == tuple(range(lowest, 10)), epoch_1based
    for epoch in range(60):
        assert allowed_channel_genes(epoch, epoch_start_cs=60, cs_warm_up=True) == (9,)


def test_ignore_first_two_and_plain_channel_selection():
    for epoch in range(0, 500, 7):
        genes = allowed_channel_genes(epoch, epoch_start_cs=3, cs_warm_up=True, ignore_first_two_cs=True)
        assert min(genes) >= 2 and max(genes) == 9
    assert allowed_channel_genes(5, epoch_start_cs=3) == tuple(range(10))
    assert allowed_channel_genes(5, epoch_start_cs=3, ignore_first_two_cs=True) == tuple(range(2, 10))
    assert allowed_channel_genes(5, use_all_channels=True) == (9,)
    assert warm_up_lowest_gene(10 ** 6) == 0  # never crashes, however late


def test_learning_rate_is_gluoncvs_schedule_as_the_original_trainer_builds_it():
    """Linear warm-up then the mode; GluonCV reaches each phase's end value at its last iteration."""
    from gluoncv.utils import LRScheduler
    ipe = 11
    kw = dict(base_lr=1.0, num_epochs=10, iters_per_epoch=ipe, warmup_epochs=2, warmup_lr=0.0)
    cosine = lr_schedule(mode="cosine", **kw)
    assert cosine(0) == pytest.approx(0.0) and cosine(2 * ipe - 1) == pytest.approx(1.0)
    assert cosine(6 * ipe - 1) == pytest.approx(0.5 * (1 + math.cos(math.pi * (4 * ipe - 1) / (8 * ipe - 1))))
    assert cosine(10 * ipe - 1) == pytest.approx(0.0) and cosine(10 ** 6) == pytest.approx(0.0)
    step = lr_schedule(mode="step", lr_decay=0.1, lr_decay_epochs=(5, 8), **kw)
    assert [step(e * ipe) for e in (4, 5, 7, 8, 9)] == pytest.approx([1.0, 0.1, 0.1, 0.01, 0.01])
    period = lr_schedule(mode="step", lr_decay=0.5, lr_decay_period=3, **{**kw, "warmup_epochs": 0})
    assert [period(e * ipe) for e in (2, 3, 6, 9)] == pytest.approx([1.0, 0.5, 0.25, 0.125])
    poly = lr_schedule(mode="poly", **kw)
    plain = LRScheduler("poly", base_lr=1.0, target_lr=0, nepochs=8, iters_per_epoch=ipe, power=2.0)
    assert all(poly(2 * ipe + t) == pytest.approx(plain(t)) for t in range(0, 8 * ipe, 7))
    assert lr_schedule(0.3, 1, 1)(0) == 0.3  # a one-step run: GluonCV cannot take it, the rate stays


def test_box_parsing_and_errors():
    box = Box.parse("flops-330-params-5.0", "flops-190-params-2.8")
    assert (box.flops_min, box.flops_max, box.params_min, box.params_max) == (190e6, 330e6, 2.8e6, 5.0e6)
    with pytest.raises(OneShotError, match="flops-<MFLOPs>-params-<Mparams>"):
        Box.parse("330-5.0", "flops-190-params-2.8")
    with pytest.raises(OneShotError, match="empty"):
        Box.parse("flops-190-params-5.0", "flops-330-params-2.8")


@pytest.mark.parametrize("method", ["random", "evolution"])
def test_constrained_paths_never_leave_the_box(method):
    space = SearchSpace(use_se=True, last_conv_after_pooling=True)
    box = Box.parse("flops-330-params-5.0", "flops-190-params-2.8")
    sampler = PathSampler(space, 0, constraint_method=method, box=box)
    for _ in range(300):
        assert box.contains(sampler.table.cost(sampler.sample(epoch=100)))


def test_unreachable_box_is_a_clear_error():
    with pytest.raises(OneShotError, match="unreachable"):
        PathSampler(SearchSpace(), 0, constraint_method="random", box=Box.parse("flops-50-params-1.0",
                                                                                  "flops-10-params-0.5"))


def test_warm_up_range_outside_the_box_falls_back_and_counts():
    space = SearchSpace(use_se=True, last_conv_after_pooling=True)
    box = Box.parse("flops-330-params-5.0", "flops-190-params-2.8")
    sampler = PathSampler(space, 0, epoch_start_cs=5, constraint_method="random", box=box)
    cand = sampler.sample(epoch=0)  # only the widest channels: the box is out of reach
    assert set(cand.channels) == {9} and sampler.unmet == 1


@pytest.mark.parametrize("method", ["none", "random", "evolution"])
def test_sampler_state_round_trip_continues_identically(method):
    space = SearchSpace(use_se=True, last_conv_after_pooling=True)
    box = Box.parse("flops-330-params-5.0", "flops-190-params-2.8")
    a = PathSampler(space, 3, constraint_method=method, box=box, cs_warm_up=True, epoch_start_cs=1)
    for _ in range(25):
        a.sample(epoch=40)
    state = a.state_dict()
    expected = [str(a.sample(epoch=40)) for _ in range(25)]
    b = PathSampler(space, 999, constraint_method=method, box=box, cs_warm_up=True, epoch_start_cs=1)
    import json
    b.load_state_dict(json.loads(json.dumps(state)))
    assert [str(b.sample(epoch=40)) for _ in range(25)] == expected


def test_strolling_evolution_covers_the_box_more_evenly_than_rejection():
    from oneshot_nas.plots import coverage
    space = SearchSpace(use_se=True, last_conv_after_pooling=True)
    box = Box.parse("flops-330-params-5.0", "flops-190-params-2.8")
    points = {}
    for method in ("random", "evolution"):
        sampler = PathSampler(space, 0, constraint_method=method, box=box)
        costs = [sampler.table.cost(sampler.sample(epoch=100)) for _ in range(700)]
        points[method] = [(c.flops, c.params) for c in costs]
    cover = coverage(points, box)
    assert cover["evolution"]["occupied_cells"] > cover["random"]["occupied_cells"]
    assert cover["evolution"]["chi2_per_sample"] < cover["random"]["chi2_per_sample"]


def test_block_warm_up_shrinks_the_averaged_blocks_then_trains_single_paths():
    from oneshot_nas.sampling import SamplingOptions
    from oneshot_nas.schedules import averaged_blocks
    assert [averaged_blocks(e, 6, 4) for e in range(8)] == [4, 4, 3, 3, 2, 2, 1, 1]
    assert [averaged_blocks(e, 3, 4) for e in range(4)] == [4, 3, 2, 1]
    assert averaged_blocks(0, 0, 4) == 1
    space = SearchSpace(input_size=32, num_classes=10)
    sampler = SamplingOptions(block_warm_up=3).sampler(space, seed=0)
    for epoch, size in ((0, 4), (1, 3), (2, 2), (3, 1), (9, 1)):
        cand = sampler.sample(epoch)
        companions = sampler.companions(cand, epoch)
        if size == 1:
            assert companions is None
            continue
        assert len(companions) == space.num_layers
        for gene, extra in zip(cand.blocks, companions):
            assert len(set(extra)) == len(extra) == size - 1 and gene not in extra
    # no warm-up: single paths, and the path draws are those of a sampler without the option
    plain, off = SamplingOptions().sampler(space, seed=0), SamplingOptions(block_warm_up=0).sampler(space, seed=0)
    assert [str(plain.sample(0)) for _ in range(5)] == [str(off.sample(0)) for _ in range(5)]
    assert off.companions(off.sample(0), 0) is None
    with pytest.raises(OneShotError, match="block-warm-up"):
        SamplingOptions(block_warm_up=-1).sampler(space, seed=0)


def test_fair_blocks_permute_each_layers_blocks_over_the_step_paths_in_the_box():
    from oneshot_nas.sampling import SamplingOptions
    space = SearchSpace(input_size=32, num_classes=10, first_conv_stride=2)
    fair = SamplingOptions(block_warm_up=2, fair_blocks=True, train_upper_constraints="flops-7-params-100",
                           train_bottom_constraints="flops-0-params-0", train_constraint_method="random")
    sampler, plain = fair.sampler(space, seed=0), SamplingOptions(**{**vars(fair), "fair_blocks": False}).sampler(
        space, seed=0)
    # during the warm-up: one path a step, drawn exactly as without the option
    for epoch in (0, 1):
        assert [str(p) for p in sampler.paths(epoch)] == [str(plain.sample(epoch))]
    assert [str(p) for p in sampler.paths(2)][:1] == [str(plain.sample(2))]  # then the first as before
    for _ in range(20):
        paths = sampler.paths(2)
        assert len(paths) == space.num_blocks
        for layer in range(space.num_layers):
            assert sorted(p.blocks[layer] for p in paths) == list(range(space.num_blocks))
        assert all(sampler.box.contains(sampler.table.cost(p)) for p in paths)
        assert len({p.channels for p in paths}) > 1  # each path draws its own widths
    # without a box, the widths are unconstrained draws; the option off keeps one path per step
    free = SamplingOptions(fair_blocks=True).sampler(space, seed=1)
    assert len(free.paths(0)) == space.num_blocks and len(plain.paths(5)) == 1


@pytest.mark.parametrize("method", ["none", "random", "evolution"])
def test_a_sub_supernet_fixes_its_block_at_its_layer_in_every_path(method):
    """--split-layer/--split-block (few-shot): every path of every step (the block warm-up's companions and the fair
    paths too) takes the split block at the split layer, inside the box; elsewhere paths vary as before."""
    from oneshot_nas.sampling import SamplingOptions
    space = SearchSpace(input_size=32, num_classes=10, first_conv_stride=2)
    box = {} if method == "none" else dict(train_upper_constraints="flops-7-params-100",
                                           train_bottom_constraints="flops-0-params-0", train_constraint_method=method)
    sampler = SamplingOptions(block_warm_up=2, fair_blocks=True, split_layer=5, split_block=3, **box).sampler(
        space, seed=0)
    seen = set()
    for epoch in (0, 1, 2, 3):
        for _ in range(10):
            paths = sampler.paths(epoch)
            companions = sampler.companions(paths[0], epoch)
            assert all(p.blocks[5] == 3 for p in paths)
            if companions is not None:  # the warm-up averages other blocks everywhere but at the split layer
                assert companions[5] == () and all(len(c) == len(companions[0]) for c in companions[:5])
            if method != "none":
                assert all(sampler.box.contains(sampler.table.cost(p)) for p in paths)
            seen.update(p.blocks[4] for p in paths)
    assert seen == {0, 1, 2, 3}


def test_a_split_draws_the_unsplit_paths_with_its_block_put_in():
    """Without a box the same random numbers give the same paths but at the split layer: the split changes nothing
    else, and a sampler without it is unchanged."""
    from oneshot_nas.sampling import SamplingOptions
    space = SearchSpace(input_size=32, num_classes=10)
    whole, split = (SamplingOptions(split_layer=layer, split_block=block).sampler(space, seed=7)
                    for layer, block in ((None, None), (0, 1)))
    for epoch in range(3):
        a, b = whole.sample(epoch), split.sample(epoch)
        assert b.blocks == (1,) + a.blocks[1:] and b.channels == a.channels


def test_split_options_are_checked():
    from oneshot_nas.sampling import SamplingOptions
    space = SearchSpace(input_size=32, num_classes=10)
    with pytest.raises(OneShotError, match="--split-layer and --split-block go together"):
        SamplingOptions(split_layer=3).sampler(space, seed=0)
    with pytest.raises(OneShotError, match="--split-layer 20 --split-block 1: the layer is one of 0..19"):
        SamplingOptions(split_layer=20, split_block=1).sampler(space, seed=0)
    with pytest.raises(OneShotError, match="the block one of"):
        SamplingOptions(split_layer=2, split_block=4).sampler(space, seed=0)


@pytest.mark.parametrize("method", ["none", "random", "evolution"])
def test_a_block_only_supernet_keeps_every_paths_channels_at_its_scale(method):
    """--fixed-channel-scale (SPOS's block supernet): every path of every step (the fair paths and the validation
    path too) has all channels at the scale's gene, its blocks vary over all choices, in the box if one is given."""
    from oneshot_nas.sampling import SamplingOptions
    space = SearchSpace(input_size=32, num_classes=10, first_conv_stride=2)
    box = {} if method == "none" else dict(train_upper_constraints="flops-7-params-100",
                                           train_bottom_constraints="flops-0-params-0", train_constraint_method=method)
    sampler = SamplingOptions(fixed_channel_scale=1.0, block_warm_up=1, fair_blocks=method == "none", **box).sampler(
        space, seed=0)
    scale_one = space.scale_tenths.index(10)
    seen = set()
    for epoch in (0, 1, 2):
        for _ in range(10):
            paths = sampler.paths(epoch)
            assert all(p.channels == (scale_one,) * 20 for p in paths)
            if method != "none":
                assert all(sampler.box.contains(sampler.table.cost(p)) for p in paths)
            seen.update(b for p in paths for b in p.blocks)
    assert seen == {0, 1, 2, 3} and len(sampler.paths(2)) == (4 if method == "none" else 1)
    assert SamplingOptions(fixed_channel_scale=0.4).sampler(space, seed=0).sample(0).channels == (1,) * 20


def test_block_only_supernet_options_are_checked():
    from oneshot_nas.sampling import SamplingOptions
    space = SearchSpace(input_size=32, num_classes=10)
    with pytest.raises(OneShotError, match="--fixed-channel-scale 1.05 is not one of the channel scales 0.2, 0.4"):
        SamplingOptions(fixed_channel_scale=1.05).sampler(space, seed=0)
    with pytest.raises(OneShotError, match="drop --use-all-channels, --cs-warm-up"):
        SamplingOptions(fixed_channel_scale=1.0, use_all_channels=True, cs_warm_up=True).sampler(space, seed=0)
    with pytest.raises(OneShotError, match="pass --epoch-start-cs 0"):
        SamplingOptions(fixed_channel_scale=1.0, epoch_start_cs=60).sampler(space, seed=0)
    with pytest.raises(OneShotError, match="without the box"):
        SamplingOptions(fixed_channel_scale=1.0, fair_blocks=True, train_upper_constraints="flops-7-params-100",
                        train_bottom_constraints="flops-0-params-0").sampler(space, seed=0)
    assert allowed_channel_genes(5, epoch_start_cs=0, fixed_gene=4) == (4,)
