"""Search: the evaluator (exact recalibration, equal to the supernet path, memoised, several devices),
the searchers (constraints never violated, seeded, bounded), and the CLI (records, best.json, resume)."""
import json
import os
import signal
import subprocess
import sys
import time

import mxnet as mx
import numpy as np
import pytest
from mxnet import nd

from oneshot_nas import bn_recalibration
from oneshot_nas.costs import CostModel, LookupTable
from oneshot_nas.errors import OneShotError
from oneshot_nas.nn import Supernet
from oneshot_nas.search.constraints import Constraints
from oneshot_nas.search.evaluator import Evaluator, SubsetPerCandidate
from oneshot_nas.search.genetic import GeneticSearch
from oneshot_nas.search.proposer import Proposer
from oneshot_nas.search.random_search import RandomSearch
from oneshot_nas.space import Candidate, SearchSpace
from oneshot_nas.devices import topk_correct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPACE = SearchSpace(input_size=32, num_classes=10, use_se=True, last_conv_after_pooling=True)


@pytest.fixture(scope="module")
def supernet():
    mx.random.seed(3)
    net = Supernet(SPACE)
    net.initialize()
    net(nd.zeros((1, 3, 32, 32)), SPACE.sample(np.random.default_rng(0)))
    # trained-looking running statistics, so that restoring them is visible
    for name, p in net.collect_params().items():
        if name.endswith("_running_mean"):
            p.set_data(nd.random.uniform(-0.1, 0.1, p.shape))
    return net


def batches(seed, sizes):
    rs = np.random.RandomState(seed)
    return [(nd.array(rs.uniform(-1, 1, (n, 3, 32, 32))), nd.array(rs.randint(0, 10, n))) for n in sizes]


# ---------------------------------------------------------------------------------------------
# evaluator
# ---------------------------------------------------------------------------------------------
def test_evaluator_recalibrates_exactly_and_leaves_the_supernet_untouched(supernet):
    before = [a.asnumpy() for a in bn_recalibration.snapshot(supernet)]
    bn = batches(0, (16, 9))
    evaluator = Evaluator(supernet, bn, batches(1, (20,)), [mx.cpu()])
    cand = SPACE.sample(np.random.default_rng(5))
    subnet = evaluator.subnet_with_supernet_weights(cand)
    used = bn_recalibration.recalibrate(subnet, subnet, bn, [mx.cpu()])
    assert used == 25
    stem = subnet.stem
    conv = np.concatenate([nd.Convolution(x, stem.first_conv_weight.data(), kernel=(3, 3), pad=(1, 1),
                                          num_filter=16, no_bias=True).asnumpy() for x, _ in bn])
    np.testing.assert_allclose(stem.first_conv_running_mean.data().asnumpy(), conv.mean(axis=(0, 2, 3)),
                               rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(stem.first_conv_running_var.data().asnumpy(), conv.var(axis=(0, 2, 3)),
                               rtol=1e-3, atol=1e-7)
    evaluator(cand)
    after = [a.asnumpy() for a in bn_recalibration.snapshot(supernet)]
    assert all(np.array_equal(a, b) for a, b in zip(before, after))


def test_evaluator_equals_the_recalibrated_supernet_path_and_is_memoised(supernet):
    bn, val = batches(2, (16, 16)), batches(3, (32, 8))
    cand = SPACE.sample(np.random.default_rng(9))
    evaluator = Evaluator(supernet, bn, val, [mx.cpu()])
    result = evaluator(cand)
    saved = bn_recalibration.snapshot(supernet)
    try:
        bn_recalibration.recalibrate(supernet, lambda x: supernet(x, cand), bn, [mx.cpu()])
        c1 = c5 = 0
        for x, y in val:
            a, b = topk_correct(supernet(x, cand), y)
            c1, c5 = c1 + a, c5 + b
    finally:
        bn_recalibration.restore(supernet, saved)
    assert (result.top1, result.top5, result.val_images, result.bn_images) == (c1 / 40, c5 / 40, 40, 32)
    calls = []
    evaluator._evaluate = lambda c: calls.append(c)
    assert evaluator(cand) is result and not calls


def test_evaluator_on_two_contexts_equals_one(supernet):
    ctxs = [mx.cpu(0), mx.cpu(1)]
    two = Supernet(SPACE)
    two.initialize(ctx=ctxs)
    for (name, p), q in zip(supernet.collect_params().items(), two.collect_params().values()):
        q.set_data(p.data())
    bn, val = batches(4, (12, 12, 7)), batches(5, (24, 13))
    cand = SPACE.sample(np.random.default_rng(2))
    one_result = Evaluator(supernet, bn, val, [mx.cpu()])(cand)
    two_result = Evaluator(two, bn, val, ctxs)(cand)
    assert (one_result.top1, one_result.top5) == (two_result.top1, two_result.top5)


def test_shuffle_train_recalibrates_each_candidate_on_its_own_reproducible_draw(supernet):
    """--shuffle-train True: a draw per candidate, seeded by the candidate (the same after a restart)."""

    class Training:  # the pipeline's iter_fixed_subset, recording the seeds asked for
        def __init__(self):
            self.seeds = []

        def iter_fixed_subset(self, num_images, seed, batch_size):
            self.seeds.append(seed)
            return batches(seed % 1000, (num_images,))

    rng = np.random.default_rng(3)
    a, b = SPACE.sample(rng), SPACE.sample(rng)
    train = Training()
    val = batches(6, (16,))
    first = Evaluator(supernet, SubsetPerCandidate(train, 8, 1, 8), val, [mx.cpu()])
    result_a, _ = first(a), first(b)
    again = Evaluator(supernet, SubsetPerCandidate(train, 8, 1, 8), val, [mx.cpu()])(a)
    assert train.seeds[0] != train.seeds[1] and train.seeds[2] == train.seeds[0]
    assert (again.top1, again.top5, again.bn_images) == (result_a.top1, result_a.top5, 8)
    fixed = Evaluator(supernet, batches(train.seeds[0] % 1000, (8,)), val, [mx.cpu()])(a)
    assert (fixed.top1, fixed.top5) == (result_a.top1, result_a.top5)


def test_an_ensemble_scores_the_mean_of_its_supernets(supernet):
    """--ensemble-params: each supernet scores the candidate as alone, on the same batches; the score is the mean."""
    mx.random.seed(5)
    other = Supernet(SPACE)  # another supernet of the same network
    other.initialize()
    bn, val = batches(7, (16, 16)), batches(8, (40,))
    cand = SPACE.sample(np.random.default_rng(11))
    alone = [Evaluator(net, bn, val, [mx.cpu()])(cand) for net in (supernet, other)]
    both = Evaluator(supernet, bn, val, [mx.cpu()], ensemble=[other])(cand)
    assert (alone[0].top1, alone[0].top5) != (alone[1].top1, alone[1].top5)  # else the mean would not show
    assert both.top1_by_supernet == (alone[0].top1, alone[1].top1)
    assert both.top1 == pytest.approx((alone[0].top1 + alone[1].top1) / 2)
    assert both.top5 == pytest.approx((alone[0].top5 + alone[1].top5) / 2)
    assert (both.val_images, both.bn_images) == (40, 32) and alone[0].top1_by_supernet == ()


# ---------------------------------------------------------------------------------------------
# constraints and searchers (pure Python: a fake fitness)
# ---------------------------------------------------------------------------------------------
TABLE = LookupTable.build(SPACE, method="formula")


def fake_fitness(log):
    def evaluate(c: Candidate) -> float:
        log.append(c)
        return float(sum(c.channels) - 0.5 * sum(c.blocks)) / 200
    return evaluate


def test_genetic_search_never_evaluates_a_violating_candidate_and_is_seeded():
    check = Constraints(max_flops=20, min_flops=15, max_normalized_score=-1).check(TABLE)

    def run(seed):
        log = []
        search = GeneticSearch(Proposer(SPACE, check, np.random.default_rng(seed)), fake_fitness(log),
                               population_size=12, retain_length=4)
        population, bests = search.initial_population(), []
        for _ in range(6):
            ranked, population = search.generation(population)
            bests.append(ranked[0][0])
        return log, bests

    log, bests = run(1)
    assert log and all(check(c) and 15e6 <= TABLE.cost(c).flops <= 20e6 for c in log)
    assert bests[-1] > bests[0] and bests == sorted(bests)  # elitism: the best never gets worse
    assert run(1) == (log, bests) and run(2)[0] != log


def test_random_search_honours_the_iterations_and_block_search_fixes_channels():
    check = Constraints(max_normalized_score=-1).check(TABLE)
    log = []
    channels = (4,) * 20
    search = RandomSearch(Proposer(SPACE, check, np.random.default_rng(0), "block", fixed_channels=channels),
                          fake_fitness(log), search_iters=23, population_size=10)
    population = search.initial_population()
    for _ in range(search.num_generations):
        _, population = search.generation(population)
    assert len(log) == 23 and len({str(c) for c in log}) == 23 and all(c.channels == channels for c in log)


def test_unreachable_constraints_fail_before_any_evaluation():
    check = Constraints(max_flops=1.0).check(TABLE)
    with pytest.raises(OneShotError, match=r"--max-flops 1: .*FLOPs \d+\.\d+M\.\.\d+\.\d+M"):
        check.require_reachable()
    with pytest.raises(OneShotError, match="no joint candidate meeting the constraints in 50 random draws"):
        Proposer(SPACE, check, np.random.default_rng(0), max_tries=50).random()
    with pytest.raises(OneShotError, match="unknown comparison model 'Nope'"):
        Constraints(comparison_model="Nope").check(TABLE)


def test_ratio_and_score_constraints():
    cand = SPACE.sample(np.random.default_rng(0))
    cost = TABLE.cost(cand)
    ratio = cost.flops / 328e6
    assert Constraints(flops_ratio_max=ratio * 1.001).check(TABLE)(cand)
    assert not Constraints(flops_ratio_max=ratio * 0.999).check(TABLE)(cand)
    score = cost.flops / 328e6 + cost.params / 3.4e6
    assert CostModel(TABLE).violations(Constraints(max_normalized_score=score * 0.999).limits(), cand)
    assert not CostModel(TABLE).violations(Constraints(max_normalized_score=score * 1.001).limits(), cand)


# ---------------------------------------------------------------------------------------------
# the command: records, best.json, resume after SIGKILL, train --candidate-file
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def supernet_file(tmp_path_factory, supernet):
    folder = tmp_path_factory.mktemp("supernet")
    supernet.save_parameters(str(folder / "last.params"))
    (folder / "config.json").write_text(json.dumps({"space": SPACE.to_dict()}))
    return folder


def search_cmd(supernet_file, out_dir, *extra):
    return [sys.executable, "-m", "oneshot_nas", "search", "--supernet-params", str(supernet_file),
            "--out-dir", str(out_dir), "--dataset", "fashion-mnist", "--update-bn-images", "64",
            "--val-images", "96", "--batch-size", "32", "--population-size", "6", "--retain-length", "2",
            "--search-iters", "4", "--max-flops", "30", "--seed", "4", "--search-mode", "genetic", *extra]


def env():
    return {**os.environ, "PYTHONPATH": ROOT, "OMP_NUM_THREADS": "2"}


def records(out_dir):
    with open(os.path.join(out_dir, "records.jsonl")) as f:
        return [json.loads(line) for line in f]


@pytest.mark.slow
def test_search_command_writes_records_best_and_plots_and_resumes_after_sigkill(supernet_file, tmp_path):
    full = tmp_path / "full"
    run = subprocess.run(search_cmd(supernet_file, full), env=env(), check=True, capture_output=True, timeout=600,
                         text=True)
    done = records(full)
    log = (full / "search.log").read_text()  # the original's block per candidate, in the log file only
    for r in done:
        cand = Candidate.parse(r["candidate"])
        assert (f"Acc/computation balanced score: {r['fitness']:f}\nVal accuracy: {r['top1']:f}\nModel normalized "
                f"score: {r['normalized_score'] / 2:f}\n") in log and f"Block choices: {list(cand.blocks)}" in log
    assert "Val accuracy" not in run.stderr
    assert all(r["flops"] <= 30e6 and r["normalized_score"] <= 2 for r in done)
    assert {"candidate", "top1", "top5", "flops", "params", "normalized_score", "generation", "seconds",
            "recal_seconds", "val_seconds"} <= set(done[0])
    best = json.loads((full / "best.json").read_text())
    assert best["candidate"] == sorted(done, key=lambda r: (-r["fitness"], r["candidate"]))[0]["candidate"]
    assert len(best["topk"]) == 3 and best["flags"]["use-se"] is True and best["flags"]["input-size"] == 32
    assert (full / "search.gif").stat().st_size > 1000 and (full / "progress.png").exists()
    assert sorted(os.listdir(full / "plots")) == sorted(f"generation-{g}.{e}" for g in range(4) for e in ("json", "png"))

    killed = tmp_path / "killed"
    proc = subprocess.Popen(search_cmd(supernet_file, killed), env=env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:  # kill inside the second generation
        if os.path.exists(killed / "records.jsonl") and len(records(killed)) >= 8:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the search finished before it could be killed"
    assert not (killed / "best.json").exists()
    rerun = subprocess.run(search_cmd(supernet_file, killed), env=env(), capture_output=True, text=True)
    assert rerun.returncode == 2 and "--resume" in rerun.stderr
    subprocess.run(search_cmd(supernet_file, killed, "--resume"), env=env(), check=True, capture_output=True,
                   timeout=600)
    resumed = json.loads((killed / "best.json").read_text())
    assert [r["candidate"] for r in resumed["topk"]] == [r["candidate"] for r in best["topk"]]
    again = records(killed)
    assert len(again) == len({r["candidate"] for r in again}) == len(done)  # nothing evaluated twice
    changed = subprocess.run(search_cmd(supernet_file, killed, "--resume", "--mutate-chance", "0.3"), env=env(),
                             capture_output=True, text=True)
    assert changed.returncode == 2 and "mutate_chance" in changed.stderr


def test_few_shot_scores_each_candidate_on_the_sub_supernet_of_its_block(supernet):
    """--few-shot-params: a candidate with block b at the split layer scores exactly what sub-supernet b alone gives
    it (the others are not asked)."""
    mx.random.seed(5)
    subs = [supernet]
    for _ in range(SPACE.num_blocks - 1):
        net = Supernet(SPACE)
        net.initialize()
        subs.append(net)
    bn, val = batches(7, (16, 16)), batches(8, (40,))
    few_shot = Evaluator(subs[0], bn, val, [mx.cpu()], ensemble=subs[1:], few_shot_layer=2)
    rng = np.random.default_rng(11)
    for block in (0, 1, 3):
        drawn = SPACE.sample(rng)
        cand = Candidate(drawn.blocks[:2] + (block,) + drawn.blocks[3:], drawn.channels)
        alone = Evaluator(subs[block], bn, val, [mx.cpu()])(cand)
        routed = few_shot(cand)
        assert (routed.top1, routed.top5, routed.top1_by_supernet) == (alone.top1, alone.top5, ())
    with pytest.raises(OneShotError, match="one sub-supernet per block"):
        Evaluator(subs[0], bn, val, [mx.cpu()], ensemble=subs[1:2], few_shot_layer=2)


def sub_supernets(supernet_file, tmp_path, splits):
    """Copies of the supernet file, each with the run config of a sub-supernet split at (layer, block)."""
    folders = []
    tmp_path.mkdir(parents=True, exist_ok=True)
    for layer, block in splits:
        folder = tmp_path / f"split-{layer}-{block}-{len(folders)}"
        folder.mkdir(exist_ok=True)
        (folder / "last.params").write_bytes((supernet_file / "last.params").read_bytes())
        (folder / "config.json").write_text(json.dumps({"space": SPACE.to_dict(), "sampling": {
            "split_layer": layer, "split_block": block}}))
        folders.append(str(folder))
    return folders


def test_few_shot_params_are_ordered_by_block_and_checked(supernet_file, tmp_path):
    from oneshot_nas.cli.search import few_shot_from_args
    first, saved = str(supernet_file / "last.params"), {"space": SPACE.to_dict()}

    calls = []

    def members(splits):
        calls.append(splits)
        folders = sub_supernets(supernet_file, tmp_path / f"call{len(calls)}", splits)
        return few_shot_from_args(",".join(folders), first, saved, 4)
    layer, files = members([(6, 2), (6, 0), (6, 3), (6, 1)])
    assert layer == 6 and [json.loads(open(os.path.join(os.path.dirname(f), "config.json")).read())["sampling"][
        "split_block"] for f in files] == [0, 1, 2, 3]
    with pytest.raises(OneShotError, match=r"no sub-supernet of block\(s\) \[3\] at layer 6"):
        members([(6, 0), (6, 1), (6, 2)])
    with pytest.raises(OneShotError, match="both the sub-supernet of block 1"):
        members([(6, 0), (6, 1), (6, 1), (6, 3)])
    with pytest.raises(OneShotError, match=r"split on different layers \[5, 6\]"):
        members([(6, 0), (6, 1), (5, 2), (6, 3)])
    with pytest.raises(OneShotError, match="is not a few-shot sub-supernet"):
        few_shot_from_args(str(supernet_file), first, saved, 4)
    assert few_shot_from_args(None, first, saved, 4) == (None, None)


def test_search_command_errors_are_clear(supernet_file, tmp_path):
    def run(*extra, params=supernet_file):
        return subprocess.run(search_cmd(params, tmp_path / "x", *extra), env=env(), capture_output=True, text=True)
    out = run("--max-flops", "1")
    assert out.returncode == 2 and "no candidate can meet --max-flops 1" in out.stderr
    out = run("--fixed-block-choices", "0,1,2")
    assert out.returncode == 2 and "--fixed-block-choices" in out.stderr and "20" in out.stderr
    out = run(params=tmp_path / "missing.params")
    assert out.returncode == 2 and "missing.params do not exist" in out.stderr
    out = run("--num-classes", "5")
    assert out.returncode == 2 and "cannot load" in out.stderr and "--num-classes" in out.stderr
    out = run("--ensemble-params", str(supernet_file))
    assert out.returncode == 2 and "twice" in out.stderr
    other = tmp_path / "other-network"
    other.mkdir()
    (other / "last.params").write_bytes((supernet_file / "last.params").read_bytes())
    (other / "config.json").write_text(json.dumps({"space": {**SPACE.to_dict(), "use_se": False}}))
    out = run("--ensemble-params", str(other))
    assert out.returncode == 2 and "another space" in out.stderr and str(other) in out.stderr
    out = run("--ensemble-params", str(tmp_path / "nowhere"))
    assert out.returncode == 2 and "nowhere" in out.stderr and "do not exist" in out.stderr


def test_ensemble_params_from_a_comma_list_or_a_presets_list(tmp_path):
    from oneshot_nas.cli.search import ensemble_from_args
    first = str(tmp_path / "a.params")
    for given in ("b.params, c", ["b.params", "c"]):
        members = ensemble_from_args(given, first, {}, must_exist=False)
        assert members == ["b.params", "c"]
    assert ensemble_from_args("", first, {}) is None
    with pytest.raises(OneShotError, match="names no supernet"):
        ensemble_from_args(" , ", first, {}, must_exist=False)


def test_a_search_with_an_ensemble_records_each_supernets_score(supernet_file, tmp_path):
    twin = tmp_path / "twin"  # a second supernet of the same network (here the same weights: the mean is the same)
    twin.mkdir()
    for name in ("last.params", "config.json"):
        (twin / name).write_bytes((supernet_file / name).read_bytes())
    out = tmp_path / "s"
    cmd = [a for a in search_cmd(supernet_file, out, "--ensemble-params", str(twin), "--search-mode", "random")]
    cmd[cmd.index("--search-iters") + 1] = cmd[cmd.index("--population-size") + 1] = "2"
    cmd[cmd.index("--retain-length") + 1] = "1"
    run = subprocess.run(cmd, env=env(), capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    done = records(out)
    assert len(done) == 2 and all(r["top1_by_supernet"] == [r["top1"], r["top1"]] for r in done)
    best = json.loads((out / "best.json").read_text())
    assert best["search"]["ensemble_params"] == [str(twin / "last.params")]
    assert "an ensemble of 2 supernets" in (out / "search.log").read_text()


def test_train_accepts_best_json_with_its_network_flags(tmp_path):
    best = tmp_path / "best.json"
    cand = "01230123012301230123-45674567456745674567"
    best.write_text(json.dumps({"candidate": cand, "flags": {"use-se": True, "last-conv-after-pooling": True,
                                                             "input-size": 32, "num-classes": 10}}))
    out = subprocess.run([sys.executable, "-m", "oneshot_nas", "train", "--model", "ShuffleNas_fixArch",
                          "--candidate-file", str(best), "--dataset", "fashion-mnist", "--train-limit", "64",
                          "--val-limit", "32", "--batch-size", "32", "--num-epochs", "1",
                          "--save-dir", str(tmp_path / "run")], env=env(), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["candidate"] == cand
    assert (config["space"]["use_se"], config["space"]["last_conv_after_pooling"], config["space"]["input_size"]) \
        == (True, True, 32)


# ---------------------------------------------------------------------------------------------
# the run's stages, fixed genes and targets, with a stand-in evaluator (no data, no supernet)
# ---------------------------------------------------------------------------------------------
class FakeEvaluator:
    def __call__(self, c):
        from oneshot_nas.search.evaluator import Evaluation
        return Evaluation((sum(c.channels) + 3 * c.blocks.count(2)) / 300, 0.9, 0.0, 0.0, 1, 1)


def fake_search(tmp_path, **options):
    from oneshot_nas.search.config import SearchConfig
    from oneshot_nas.search.run import Search
    cfg = SearchConfig(space=SPACE.to_dict(), supernet_params="unused", out_dir=str(tmp_path / "s"),
                       population_size=8, retain_length=3, search_iters=3, seed=1,
                       **{"constraints": {"max_flops": 40}, "search_mode": "genetic", **options})
    search = Search(cfg)
    search.evaluator = FakeEvaluator()
    return search, search.run()


def test_two_stage_searches_blocks_at_scale_one_then_channels_on_the_best_blocks(tmp_path):
    search, best = fake_search(tmp_path, two_stage=True)
    recs = list(search.records.by_candidate.values())
    block_stage = [Candidate.parse(r["candidate"]) for r in recs if r["generation"].startswith("block-")]
    channel_stage = [Candidate.parse(r["candidate"]) for r in recs if r["generation"].startswith("channel-")]
    assert block_stage and channel_stage
    assert all(c.channels == (4,) * 20 for c in block_stage)  # scale 1.0
    best_of_block_stage = [r for r in search.records.ranked() if r["generation"].startswith("block-")][0]
    assert {c.blocks for c in channel_stage} == {Candidate.parse(best_of_block_stage["candidate"]).blocks}
    assert all(TABLE.cost(c).flops <= 40e6 for c in block_stage + channel_stage)


def test_fixed_blocks_in_a_joint_search_and_the_balanced_target(tmp_path):
    blocks = [1] * 20
    search, best = fake_search(tmp_path, fixed_block_choices=blocks, search_target="balanced_flop_acc",
                               score_acc_ratio=0.5)
    recs = list(search.records.by_candidate.values())
    assert all(Candidate.parse(r["candidate"]).blocks == tuple(blocks) for r in recs)
    # the original's balanced score: ratio x (0.5 F/F_ref + 0.5 P/P_ref)
    assert all(r["fitness"] == pytest.approx(r["top1"] - 0.5 * 0.5 * r["normalized_score"]) for r in recs)
    assert best["fitness"] == max(r["fitness"] for r in recs)
    with pytest.raises(OneShotError, match="nothing is left to search"):
        fake_search(tmp_path / "b", fixed_block_choices=blocks, fixed_channel_choices=[4] * 20)
    with pytest.raises(OneShotError, match="--fixed-channel-choices: .*channel gene"):
        fake_search(tmp_path / "c", fixed_channel_choices=[12] * 20)


def test_a_search_saved_under_older_option_names_resumes(tmp_path):
    """search_space -> searched_genes and flop_max -> flops_ratio_max were renamed; a search started before
    resumes (and one with a really different option is still refused)."""
    from oneshot_nas.search.config import SearchConfig
    from oneshot_nas.search.run import Search
    search, best = fake_search(tmp_path, constraints={"max_flops": 40, "flops_ratio_max": 0.5})
    config_path = tmp_path / "s" / "config.json"
    saved = json.loads(config_path.read_text())
    saved["search_space"] = saved.pop("searched_genes")
    del saved["ensemble_params"]  # added since: a search started before it scored with one supernet
    saved["constraints"]["flop_max"] = saved["constraints"].pop("flops_ratio_max")
    config_path.write_text(json.dumps(saved))
    cfg = SearchConfig(space=SPACE.to_dict(), supernet_params="unused", out_dir=str(tmp_path / "s"),
                       population_size=8, retain_length=3, search_iters=3, seed=1,
                       constraints={"max_flops": 40, "flops_ratio_max": 0.5}, search_mode="genetic")
    assert Search(cfg, resume=True).run() == best
    config_path.write_text(json.dumps({**saved, "search_space": "block"}))
    with pytest.raises(OneShotError, match="searched_genes: 'block' -> 'joint'"):
        Search(cfg, resume=True)


def test_a_moved_search_folder_resumes(tmp_path):
    """The folder may move (another disk, a renamed project): out_dir is the folder named now, not a changed
    option; paths compare by the file they lead to."""
    import dataclasses
    import shutil
    from oneshot_nas.search.run import Search
    search, best = fake_search(tmp_path)
    moved = tmp_path / "elsewhere" / "s"
    shutil.move(str(tmp_path / "s"), str(moved))
    cfg = dataclasses.replace(search.cfg, out_dir=str(moved), supernet_params=os.path.abspath("unused"))
    resumed = Search(cfg, resume=True).run()  # finished: its result, not a new search
    assert (resumed["candidate"], resumed["top1"]) == (best["candidate"], best["top1"])
    assert json.loads((moved / "config.json").read_text())["out_dir"] == str(moved)


def test_rank_study_scores_trains_correlates_and_resumes(supernet_file, tmp_path):
    out = tmp_path / "rank"
    cmd = [sys.executable, "-m", "oneshot_nas", "rank-study", "--supernet-params", str(supernet_file),
           "--out-dir", str(out), "--dataset", "fashion-mnist", "--num-subnets", "3", "--update-bn-images", "32",
           "--val-images", "64", "--batch-size", "32", "--max-flops", "30",
           "--train-args", "--num-epochs 1 --train-limit 96 --val-limit 64 --batch-size 32 --lr 0.05"]
    run = subprocess.run(cmd, env=env(), capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads((out / "rank_study.json").read_text())
    assert result["n"] == 3 and len(result["subnets"]) == 3 and (out / "rank_study.png").exists()
    scored = records(out / "supernet-scores")
    assert {r["candidate"] for r in scored} == {s["candidate"] for s in result["subnets"]}
    for s in result["subnets"]:
        trained = json.loads((out / os.path.basename(s["run_dir"]) / "config.json").read_text())
        assert trained["candidate"] == s["candidate"] and trained["space"]["use_se"]
    if result["kendall_tau"] is not None:
        assert -1 <= result["kendall_tau"] <= 1 and -1 <= result["spearman_rho"] <= 1
    again = subprocess.run(cmd, env=env(), capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and again.stderr.count("nothing to do") == 3
    assert json.loads((out / "rank_study.json").read_text()) == result


def test_turned_away_and_evaluated_candidates_are_logged_as_the_original(tmp_path, caplog):
    import logging
    with caplog.at_level(logging.INFO, logger="oneshot_nas.candidates"):
        search, _ = fake_search(tmp_path, constraints={"max_flops": 18})
    said = [r.getMessage() for r in caplog.records if r.name == "oneshot_nas.candidates"]
    assert any(m.startswith("[SKIPPED] ") and m.endswith("outside --max-flops 18") for m in said)
    blocks = [m for m in said if m.startswith("Acc/computation balanced score: ")]
    assert len(blocks) == len(search.records.by_candidate)


def test_a_block_only_supernet_scores_only_its_own_channels(supernet):
    """A supernet trained with --fixed-channel-scale 1.0 never updated other widths: the evaluator refuses to score
    them (naming the fix) and scores candidates at that scale as any supernet does."""
    bn, val = batches(7, (16,)), batches(8, (40,))
    evaluator = Evaluator(supernet, bn, val, [mx.cpu()], channel_scale=1.0)
    scale_one = SPACE.scale_tenths.index(10)
    blocks = SPACE.sample(np.random.default_rng(2)).blocks
    own = Candidate(blocks, (scale_one,) * 20)
    assert evaluator(own).top1 == Evaluator(supernet, bn, val, [mx.cpu()])(own).top1
    with pytest.raises(OneShotError, match="block-only .*--fixed-channel-scale 1, .*--search-space block, and rank"):
        evaluator(Candidate(blocks, (scale_one,) * 19 + (scale_one + 1,)))


def test_a_search_of_a_block_only_supernet_must_be_a_block_search_at_its_scale(supernet, tmp_path, capsys):
    from oneshot_nas.cli import main
    folder = tmp_path / "block-supernet"
    folder.mkdir()
    supernet.save_parameters(str(folder / "last.params"))
    (folder / "config.json").write_text(json.dumps({"space": SPACE.to_dict(),
                                                    "sampling": {"fixed_channel_scale": 1.0}}))
    argv = search_cmd(folder, tmp_path / "s")[3:]
    for extra, message in (([], "is block-only (trained with --fixed-channel-scale 1): it cannot score other "
                                "channels, so a joint search is meaningless; search it with --search-space block"),
                           (["--search-space", "block", "--fixed-channel-choices", ",".join(["2"] * 20)],
                            "--fixed-channel-choices 2,2,"),
                           (["--search-space", "block", "--two-stage"], "a two-stage search is meaningless")):
        assert main([*argv, *extra]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
        assert not (tmp_path / "s" / "state.json").exists() and not (tmp_path / "s" / "config.json").exists()
    assert main([*argv, "--search-space", "block", "--search-mode", "random", "--search-iters", "3",
                 "--population-size", "3", "--max-flops", "-1"]) == 0
    best = json.loads((tmp_path / "s" / "best.json").read_text())
    assert all(set(Candidate.parse(r["candidate"]).channels) == {SPACE.scale_tenths.index(10)} for r in best["topk"])
