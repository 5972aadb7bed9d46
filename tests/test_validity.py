"""Search validity: the hold-out split, the stand-alone benchmark file, and the rank statistics."""
import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from oneshot_nas import data, packing, splits
from oneshot_nas.benchmark import mean_top1, read_benchmark, seed_agreement
from oneshot_nas.errors import OneShotError
from oneshot_nas.rank_study import compare_rankers
from oneshot_nas.statistics import correlations
from oneshot_nas.space import Candidate, SearchSpace

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
needs_fashion_mnist = pytest.mark.skipif(not os.path.isdir(data.FASHION_MNIST_DIR),
                                         reason="needs the dataset-fashion-mnist Debian package")


# ---------------------------------------------------------------------------------------------
# the split
# ---------------------------------------------------------------------------------------------
def test_holdout_is_fixed_by_its_own_seed_and_disjoint_from_training():
    split = splits.Split("holdout", 1000, 0, 6000)
    held, kept = split.holdout_indices(), split.train_indices()
    assert len(held) == 1000 and len(kept) == 5000
    assert not set(held) & set(kept) and set(held) | set(kept) == set(range(6000))
    np.testing.assert_array_equal(held, splits.Split("holdout", 1000, 0, 6000).holdout_indices())
    assert not np.array_equal(held, splits.Split("holdout", 1000, 1, 6000).holdout_indices())
    with pytest.raises(OneShotError, match="--holdout 6000"):
        splits.holdout_indices(6000, 6000, 0)


def _fake_fashion_mnist(folder, train_n=600, with_test=False):
    """IDX files whose every image encodes its index (pixel [0, 0:2]), so a test can tell images apart."""
    import struct
    os.makedirs(folder, exist_ok=True)

    def write(name, array):
        header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
        with open(os.path.join(folder, name), "wb") as f:
            f.write(header + array.astype(np.uint8).tobytes())

    def images(n, offset):
        x = np.zeros((n, 28, 28), np.uint8)
        idx = np.arange(n) + offset
        x[:, 0, 0], x[:, 0, 1] = idx // 256, idx % 256
        return x

    write("train-images-idx3-ubyte", images(train_n, 0))
    write("train-labels-idx1-ubyte", np.arange(train_n) % 10)
    if with_test:
        write("t10k-images-idx3-ubyte", images(100, 1000))
        write("t10k-labels-idx1-ubyte", np.arange(100) % 10)


def _ids(batch_images):
    """The image indices encoded by _fake_fashion_mnist, back from normalised 3 x 32 x 32 batches."""
    pixels = np.rint((batch_images[:, 0, 2, 2:4] * data.FASHION_STD + data.FASHION_MEAN) * 255).astype(int)
    return set((pixels[:, 0] * 256 + pixels[:, 1]).tolist())


def test_no_holdout_or_test_image_reaches_training_or_bn_recalibration(tmp_path):
    folder = str(tmp_path / "fm")
    _fake_fashion_mnist(folder)  # no t10k files at all: a hold-out run must not need them
    src = splits.DataSource(dataset="fashion-mnist", data_dir=folder, holdout=100, val_split="holdout")
    space = SearchSpace(input_size=32, num_classes=10)
    train, val = data.make_pipelines(src, space, batch_size=50, seed=3)
    held = set(train.split.holdout_indices().tolist())
    val_ids = set().union(*(_ids(x.asnumpy()) for x, _ in val.epoch_batches(0)))
    assert val_ids == held
    train_ids = set()
    for epoch in range(2):  # augmentation shifts the pixels: read the un-augmented images instead
        train_ids |= set().union(*(_ids(x.asnumpy()) for x, _ in train.iter_fixed_subset(500, epoch, 50)))
    assert len(train_ids) == 500 and not train_ids & held
    bn = set().union(*(_ids(x.asnumpy()) for x, _ in train.iter_fixed_subset(64, 1, 32)))
    assert not bn & held
    with pytest.raises(OneShotError, match="t10k"):  # validating on the test split does need them
        data.make_pipelines(splits.DataSource(dataset="fashion-mnist", data_dir=folder, holdout=100), space, 50, 3)


def test_image_folder_and_recordio_holdouts_are_disjoint(tmp_path):
    import cv2
    root = tmp_path / "img"
    for label in range(2):
        (root / "train" / f"c{label}").mkdir(parents=True)
        for k in range(20):
            img = np.full((32, 32, 3), 10 * k + label, np.uint8)
            cv2.imwrite(str(root / "train" / f"c{label}" / f"{k:02d}.png"), img)
    space = SearchSpace(input_size=32, num_classes=2)
    src = splits.DataSource(dataset="imagenet", data_dir=str(root), holdout=8, val_split="holdout", num_workers=0)
    train, val = data.make_pipelines(src, space, 4, 0)
    assert train.num_examples == 32 and val.num_examples == 8
    assert not set(train.indices.tolist()) & set(val.indices.tolist())
    assert sum(x.shape[0] for x, _ in val.epoch_batches(0)) == 8
    # RecordIO: the two index files list disjoint records that together make the whole file
    packing.pack_folder(str(root / "train"), str(tmp_path / "rec" / "train"))
    rec = dict(rec_train=str(tmp_path / "rec" / "train.rec"), rec_train_idx=str(tmp_path / "rec" / "train.idx"))
    src = splits.DataSource(dataset="imagenet", use_rec=True, holdout=8, val_split="holdout", num_workers=1, **rec)
    train, val = data.make_pipelines(src, space, 4, 0)
    assert (train.num_examples, val.num_examples) == (32, 8)
    keys = [set(line.split("\t")[0] for line in open(p.idx) if line.strip()) for p in (train, val)]
    assert not keys[0] & keys[1] and len(keys[0] | keys[1]) == 40
    labels = [y.asnumpy() for _, y in val.epoch_batches(0)]
    assert sum(len(y) for y in labels) == 8


# ---------------------------------------------------------------------------------------------
# statistics
# ---------------------------------------------------------------------------------------------
def test_bootstrap_interval_covers_the_known_correlation():
    # bivariate normal with correlation r: Kendall tau = 2/pi arcsin(r), Spearman rho = 6/pi arcsin(r/2)
    rng = np.random.default_rng(0)
    r, n = 0.6, 400
    x = rng.normal(size=n)
    y = r * x + np.sqrt(1 - r ** 2) * rng.normal(size=n)
    result = correlations(list(x), list(y), bootstrap=500, seed=1)
    lo, hi = result["kendall_tau_ci95"]
    assert lo < 2 / np.pi * np.arcsin(r) < hi and hi - lo < 0.15
    lo, hi = result["spearman_rho_ci95"]
    assert lo < 6 / np.pi * np.arcsin(r / 2) < hi
    # independent data: the interval holds 0; a perfect ranking: the interval is [1, 1]
    lo, hi = correlations(list(x), list(rng.normal(size=n)), bootstrap=300)["kendall_tau_ci95"]
    assert lo < 0 < hi
    assert correlations([1, 2, 3, 4, 5, 6], [2, 4, 6, 8, 10, 12], bootstrap=200)["kendall_tau_ci95"] == [1.0, 1.0]


def test_compare_rankers_sets_the_supernet_beside_flops_and_params():
    rng = np.random.default_rng(2)
    truth = rng.normal(size=60)
    rows = [{"supernet_top1": t + 0.1 * rng.normal(), "flops": rng.normal(), "params": t + rng.normal(),
             "standalone_top1": t} for t in truth]
    out = compare_rankers(rows, bootstrap=300)
    assert out["supernet"]["kendall_tau"] > 0.8 > out["params"]["kendall_tau"] > out["flops"]["kendall_tau"]
    assert out["supernet_minus_flops_tau"]["ci95"][0] > 0


# ---------------------------------------------------------------------------------------------
# the benchmark file
# ---------------------------------------------------------------------------------------------
def test_benchmark_file_reading_and_seed_agreement(tmp_path):
    path = tmp_path / "b.jsonl"
    rows = [{"candidate": f"c{i}", "seed": s, "top1": 0.5 + 0.01 * i + 0.001 * s} for i in range(5) for s in (0, 1)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"candidate": "c9", "se')  # torn by a kill
    read = read_benchmark(str(path))
    assert read == rows
    means = mean_top1(read)
    assert means["c2"]["top1"] == pytest.approx(0.5205) and means["c2"]["top1_by_seed"] == {0: 0.52, 1: 0.521}
    agreement = seed_agreement(read)
    assert agreement["spearman_rho"] == pytest.approx(1.0) and agreement["mean_abs_diff"] == pytest.approx(0.001)
    assert agreement["spearman_rho_ci95"] == pytest.approx([1.0, 1.0]) and agreement["two_seed_mean_reliability"] == pytest.approx(1.0)
    # seeds that rank the subnets in opposite orders: rho -1, the interval at -1 and the reliability undefined
    flipped = [{**r, "top1": 1 - r["top1"]} if r["seed"] == 1 else r for r in rows]
    agreement = seed_agreement(flipped)
    assert agreement["spearman_rho"] == pytest.approx(-1.0) and agreement["two_seed_mean_reliability"] is None
    path.write_text('{"candidate": "c0"}\n{"x": 1}\n')
    with pytest.raises(OneShotError, match="lacks candidate, seed or top1"):
        read_benchmark(str(path))


def test_a_block_benchmark_draws_blocks_with_the_channels_fixed_and_records_it_in_its_plan():
    import argparse

    from oneshot_nas.benchmark import make_plan
    from oneshot_nas.cli.train import drawn_genes
    from oneshot_nas.costs import formula_cost
    from oneshot_nas.search.constraints import Constraints
    from oneshot_nas.train_config import TrainConfig
    space = SearchSpace(input_size=32, num_classes=10, first_conv_stride=2)
    template = TrainConfig(space=space.to_dict(), candidate=None)

    def genes(searched, channels=None):
        return drawn_genes(argparse.Namespace(searched_genes=searched, fixed_block_choices=None,
                                              fixed_channel_choices=channels), space)
    box = Constraints(max_flops=7)
    plan = make_plan(template, box, 12, [0, 1], 0, ["SPOS-block-only"], genes("block"))
    drawn = [Candidate.parse(c) for n, c in plan.subnets.items() if n.startswith("random")]
    scale_one = space.scale_tenths.index(10)
    assert len(set(drawn)) == 12 and all(c.channels == (scale_one,) * 20 for c in drawn)
    assert len({c.blocks[k] for c in drawn for k in range(20)}) == 4  # every block drawn somewhere
    assert all(formula_cost(space, c).flops <= 7e6 for c in drawn)
    assert plan.genes == {"searched": "block", "fixed_blocks": None, "fixed_channels": [scale_one] * 20}
    # other fixed channels are kept; a joint draw records nothing (as plans before the option)
    narrow = make_plan(template, box, 3, [0], 0, [], genes("block", "2," * 19 + "2"))
    assert all(Candidate.parse(c).channels == (2,) * 20 for c in narrow.subnets.values())
    joint = make_plan(template, box, 3, [0], 0, [], genes("joint"))
    assert joint.genes is None and len({Candidate.parse(c).channels for c in joint.subnets.values()}) == 3
    with pytest.raises(OneShotError, match="--fixed-channel-choices"):
        genes("block", "4,4")
    with pytest.raises(OneShotError, match="no candidate can meet"):  # scale 2.0 everywhere is far above 7 MFLOPs
        make_plan(template, box, 3, [0], 0, [], genes("block", ",".join(["9"] * 20)))


BENCH_TINY = ["benchmark", "--dataset", "fashion-mnist", "--input-size", "32", "--first-conv-stride", "2",
              "--num-classes", "10", "--holdout", "100", "--val-split", "test", "--batch-size", "50",
              "--num-epochs", "2", "--log-interval", "0", "--max-flops", "7", "--num-subnets", "1", "--zoo", "OneShot",
              "--seeds", "0,1", "--save-frequency", "0"]


@pytest.mark.slow
def test_benchmark_resumes_after_a_kill_with_the_same_lines(tmp_path):
    folder = str(tmp_path / "fm")
    _fake_fashion_mnist(folder, train_n=300, with_test=True)
    env = {**os.environ, "MXNET_MKLDNN_ENABLED": "0", "OMP_NUM_THREADS": "2"}
    out, work = tmp_path / "b.jsonl", tmp_path / "work"
    argv = [sys.executable, "-m", "oneshot_nas", *BENCH_TINY, "--data-dir", folder, "--out", str(out),
            "--save-dir", str(work)]
    log = open(tmp_path / "log", "ab")
    proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    # kill inside the third run, after its first epoch (no deadline: on a starved machine it only comes later)
    while proc.poll() is None:
        if (work / "OneShot-seed0" / "last.json").exists():
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert len(read_benchmark(str(out))) == 2, open(tmp_path / "log").read()[-2000:]
    r = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = read_benchmark(str(out))
    assert [(r["name"], r["seed"]) for r in rows] == [("random-00", 0), ("random-00", 1), ("OneShot", 0),
                                                       ("OneShot", 1)]
    assert all(r["split"] == "test" and r["test_images"] == 100 for r in rows) and rows[0]["flops"] <= 7e6
    assert "resumed from" in (work / "OneShot-seed0" / "train.log").read_text()  # continued, not started over
    history = [json.loads(x) for x in open(work / "OneShot-seed0" / "history.jsonl")]
    assert [h["epoch"] for h in history] == [0, 1]
    # its training time counts both invocations' epochs, not only the one that finished it
    assert rows[2]["train_seconds"] == round(sum(h["train_seconds"] for h in history), 1) > 0
    meta = json.loads((tmp_path / "b.jsonl.meta.json").read_text())
    assert meta["plan"]["recipe"]["holdout"] == 100 and meta["plan"]["recipe"]["space"]["first_conv_stride"] == 2
    assert "seed_agreement" in r.stdout
    # another recipe on the same file is refused, naming the option
    r = subprocess.run([*argv, "--lr", "0.3"], cwd=REPO, env=env, capture_output=True, text=True)
    assert r.returncode == 2 and "lr: 0.1 -> 0.3" in r.stderr and "Traceback" not in r.stderr


def test_recipe_differences_ignore_options_a_version_added_at_their_default():
    from oneshot_nas.benchmark import recipe_differences
    old = {"lr": 0.02, "batch_size": 128, "overwrite": False}
    assert recipe_differences(old, {"lr": 0.02, "batch_size": 128, "mixup": False, "deterministic": True}) == []
    assert recipe_differences(old, {"lr": 0.02, "batch_size": 128, "mixup": True}) == ["mixup: False -> True"]
    assert recipe_differences(old, {"lr": 0.1, "batch_size": 128}) == ["lr: 0.02 -> 0.1"]
    # nested: the sampling options of a version before --block-warm-up (the committed benchmark's plan)
    older = {**old, "sampling": {"epoch_start_cs": 0, "cs_warm_up": False}}
    assert recipe_differences(older, {**old, "sampling": {"epoch_start_cs": 0, "block_warm_up": 0}}) == []
    assert recipe_differences(older, {**old, "sampling": {"block_warm_up": 2}})[0].startswith("sampling:")


def test_a_line_torn_by_a_kill_does_not_swallow_the_next_run(tmp_path):
    from oneshot_nas.benchmark import Benchmark, Plan, recipe_of
    from oneshot_nas.train_config import TrainConfig
    space = SearchSpace(input_size=32, num_classes=10)
    recipe = recipe_of(TrainConfig(space=space.to_dict(), candidate=None))
    cand = "00311100202110202132-65352634257546744543"
    plan = Plan(subnets={"OneShot": cand}, seeds=[0, 1], recipe=recipe, constraints={}, sample_seed=0)
    path = tmp_path / "b.jsonl"
    path.write_text(json.dumps({"candidate": cand, "seed": 0, "top1": 0.5}) + "\n" + '{"candidate": "0031')
    fake = {"val_err_top1": 0.25, "val_err_top5": 0.0, "val_split": "test", "val_images": 10}
    Benchmark(str(path), str(tmp_path / "work"), plan, "test").run(lambda cfg: fake)
    assert [(r["seed"], r["top1"]) for r in read_benchmark(str(path))] == [(0, 0.5), (1, 0.75)]
    assert '"0031\n' not in path.read_text() and path.read_text().count("\n") == 2


def test_benchmark_shards_share_one_file_without_losing_or_repeating_a_run(tmp_path):
    import threading

    from oneshot_nas.benchmark import Benchmark, Plan, parse_shard, recipe_of
    from oneshot_nas.errors import OneShotError
    from oneshot_nas.train_config import TrainConfig
    space = SearchSpace(input_size=32, num_classes=10)
    recipe = recipe_of(TrainConfig(space=space.to_dict(), candidate=None))
    rng = np.random.default_rng(0)
    subnets = {f"random-{i:02d}": str(space.sample(rng)) for i in range(5)}
    plan = Plan(subnets=subnets, seeds=[0, 1], recipe=recipe, constraints={}, sample_seed=0)
    path, work = str(tmp_path / "b.jsonl"), str(tmp_path / "work")

    def train(cfg):  # slow enough that the two shards' appends interleave
        time.sleep(0.01)
        return {"val_err_top1": 0.1 * cfg.seed, "val_err_top5": 0.0, "val_split": "test", "val_images": 10}

    shards = [Benchmark(path, work, plan, "test", (k, 2)) for k in (1, 2)]
    assert [n for n, _, _ in shards[0].pending([])] == ["random-00", "random-00", "random-02", "random-02",
                                                        "random-04", "random-04"]
    threads = [threading.Thread(target=b.run, args=(train,)) for b in shards]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = read_benchmark(path)
    assert sorted((r["name"], r["seed"]) for r in rows) == sorted((n, s) for n in subnets for s in (0, 1))
    assert Benchmark(path, work, plan, "test").pending(rows) == []  # the unsharded view sees it complete
    # a run recorded meanwhile by another process (overlapping shards) is not written a second time
    Benchmark(path, work, plan, "test")._one("random-00", subnets["random-00"], 0, train)
    assert len(read_benchmark(path)) == len(rows)
    # a run whose folder another live process holds is left to it: not trained, not recorded here
    from oneshot_nas.utils import FolderLock
    fresh = str(tmp_path / "fresh.jsonl")
    held = os.path.join(work, "random-01-seed0")
    trained = []
    with FolderLock(held, "a test"):
        assert FolderLock.holder(held) == str(os.getpid())
        Benchmark(fresh, work, plan, "test").run(lambda cfg: trained.append(cfg.save_dir) or train(cfg))
    assert held not in trained and len(trained) == len(rows) - 1
    assert ("random-01", 0) not in {(r["name"], r["seed"]) for r in read_benchmark(fresh)}
    assert FolderLock.holder(held) is None
    # ... also when it is taken between the look and the start (the training's own lock refuses it)
    from oneshot_nas.errors import FolderInUse

    def taken(cfg):
        raise FolderInUse(cfg.save_dir, "in use")
    assert Benchmark(fresh, work, plan, "test")._one("random-01", subnets["random-01"], 0, taken) is False
    for bad in ("0/2", "3/2", "2", "a/b"):
        with pytest.raises(OneShotError, match="--shard takes K/N"):
            parse_shard(bad)
    assert parse_shard("2/3") == (2, 3)


# ---------------------------------------------------------------------------------------------
# is the search's pick good? (report --benchmark --paired)
# ---------------------------------------------------------------------------------------------
def _finished_run(folder, candidate, seed, top1, recipe):
    """A folder laid out like a finished `train` run of ``candidate`` with a known last-epoch top-1."""
    os.makedirs(folder)
    space = SearchSpace(input_size=32, num_classes=10, first_conv_stride=2)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump({**recipe, "space": space.to_dict(), "candidate": candidate, "seed": seed}, f)
    with open(os.path.join(folder, "history.jsonl"), "w") as f:
        f.write(json.dumps({"epoch": 1, "val_err_top1": 1 - top1, "val_split": "test"}) + "\n")
    return str(folder)


def test_report_places_picks_against_the_benchmark_with_a_paired_interval(tmp_path, capsys):
    from oneshot_nas.cli import main
    from oneshot_nas.report import group_runs, paired_difference
    recipe = {"num_epochs": 2, "lr": 0.02, "val_split": "test"}
    # the searched pick of seeds 0 and 1 is OneShot's genes, which the benchmark holds; the best random one is not in it
    searched, rand, third = ("00311100202110202132-65352634257546744543", "10021002200022122103-89012869403378433322",
                             "03011212123001022233-94542372165238025655")
    other_pick = "33000033321020312132-86813300397486025131"  # pipeline seed 2 searched its way to another subnet
    runs = []
    for seed, (s, r) in enumerate([(0.80, 0.79), (0.78, 0.75), (0.81, 0.79)]):  # differences 0.01, 0.03, 0.02
        runs += [_finished_run(tmp_path / f"p{seed}" / f"searched-seed{seed}", other_pick if seed == 2 else searched,
                               seed, s, recipe),
                 _finished_run(tmp_path / f"p{seed}" / f"random-best-seed{seed}", rand, seed, r, recipe)]
    with pytest.raises(OneShotError, match="searched trained different architectures.*--pool-architectures"):
        group_runs(runs)
    d = paired_difference(group_runs(runs, pool_architectures=True), "searched", "random-best")
    assert d["seeds"] == [0, 1, 2] and d["mean"] == pytest.approx(0.02) and d["std"] == pytest.approx(0.01)
    half = 4.302653 * 0.01 / np.sqrt(3)  # Student t, 2 degrees of freedom, 97.5%
    assert d["ci"] == pytest.approx([0.02 - half, 0.02 + half], abs=1e-6)
    assert paired_difference(group_runs(runs[:2]), "searched", "random-best") is None  # one seed: no interval

    bench = tmp_path / "bench.jsonl"
    lines = [{"candidate": f"{i:020d}-{i:020d}"[:41], "name": f"random-{i:02d}", "seed": 0, "top1": t}
             for i, t in enumerate([0.76, 0.78, 0.79, 0.82])]
    lines.append({"candidate": searched, "name": "OneShot", "seed": 0, "top1": 0.795})
    bench.write_text("".join(json.dumps(x) + "\n" for x in lines))
    (tmp_path / "bench.jsonl.meta.json").write_text(json.dumps({"plan": {"recipe": recipe}}))
    rc = main(["report", *runs, "--benchmark", str(bench), "--pool-architectures", "--paired", "searched,random-best"])
    out = capsys.readouterr().out
    assert rc == 0 and "median 0.7850, range 0.7600-0.8200" in out
    assert "| searched | one per seed (2 distinct; costs: mean) |" in out and f"0.8100 (seed 2, 2 ep., `{other_pick}`)" in out
    assert "| searched | 0.75 | 0.7950 (mean of the 1 of 2 picks in it) |" in out  # mean 0.7967: above 3 of 4
    assert "| random-best | 0.25 | not in the benchmark |" in out  # mean 0.7767
    assert "searched minus random-best, paired by seed (0, 1, 2): +0.0200 ± 0.0100" in out

    short = _finished_run(tmp_path / "short" / "third-seed0", third, 0, 0.6, {**recipe, "num_epochs": 1})
    assert main(["report", short, "--benchmark", str(bench)]) == 2
    assert re.search(r"third-seed0 was not trained with the recipe of .*num_epochs: 2 -> 1.*FINAL_ARGS",
                     capsys.readouterr().err)


def test_a_rank_study_memo_refuses_scores_from_another_supernet_or_setting(tmp_path):
    from oneshot_nas.rank_study import check_scoring
    from oneshot_nas.search.config import SearchConfig
    cfg = SearchConfig(space=SearchSpace(input_size=32, num_classes=10, first_conv_stride=2).to_dict(),
                       supernet_params=str(tmp_path / "a" / "last.params"), out_dir=str(tmp_path / "study"),
                       dataset="fashion-mnist", holdout=10000, val_split="holdout", val_images=2500)
    os.makedirs(cfg.out_dir)
    check_scoring(cfg)
    check_scoring(cfg)  # a resumed study with the same settings reuses its memo
    with pytest.raises(OneShotError, match="val_images: 2500 -> 5000"):
        check_scoring(dataclasses.replace(cfg, val_images=5000))
    with pytest.raises(OneShotError, match=r"supernet_params: .*a/last.params' -> .*b/last.params'.*another --out-dir"):
        check_scoring(dataclasses.replace(cfg, supernet_params=str(tmp_path / "b" / "last.params")))


def test_a_partial_benchmarks_study_scores_the_whole_plan_and_is_finished_from_its_saved_scores(tmp_path,
                                                                                                  monkeypatch):
    from oneshot_nas import rank_study
    from oneshot_nas.search import evaluator
    from oneshot_nas.search.config import SearchConfig
    space = SearchSpace(input_size=32, num_classes=10, first_conv_stride=2)
    rng = np.random.default_rng(0)
    cands = [str(space.sample(rng)) for _ in range(6)]
    bench = tmp_path / "b.jsonl"
    (tmp_path / "b.jsonl.meta.json").write_text(json.dumps({"plan": {"subnets": {f"random-{i:02d}": c
                                                                                for i, c in enumerate(cands)}}}))

    def record(i, seed):  # the stand-alone truth: the subnet's index, plus a seed's noise
        return json.dumps({"candidate": cands[i], "name": f"random-{i:02d}", "seed": seed,
                           "top1": 0.7 + 0.01 * i + 0.001 * seed}) + "\n"
    bench.write_text("".join(record(i, s) for i in range(4) for s in (0, 1)))
    scored = []

    def fake_evaluator(cfg, space, ctx):  # a supernet that ranks by the index too, but swaps the first two
        def score(cand):
            scored.append(str(cand))
            i = cands.index(str(cand))
            return evaluator.Evaluation({0: 0.61, 1: 0.60}.get(i, 0.6 + 0.01 * i), 0.9, 0.1, 0.1, 32, 64)
        return score
    monkeypatch.setattr(evaluator, "build_evaluator", fake_evaluator)
    cfg = SearchConfig(space=space.to_dict(), supernet_params=str(tmp_path / "sn" / "last.params"),
                       out_dir=str(tmp_path / "study"), dataset="fashion-mnist", holdout=10000, val_split="holdout")
    partial = rank_study.benchmark_rank_study(cfg, str(bench))
    assert sorted(scored) == sorted(cands)  # the two subnets not trained yet are scored too
    assert partial["n"] == 4 and sorted(r["name"] for r in partial["subnets"]) == [f"random-{i:02d}" for i in range(4)]
    # the benchmark completes; the study is finished from the saved scores, with no supernet
    with open(bench, "a") as f:
        f.write(record(4, 0) + record(4, 1) + record(5, 0) + record(5, 1))
    monkeypatch.setattr(evaluator, "build_evaluator", None)
    finished = rank_study.rank_from_saved_scores(cfg.out_dir, str(bench), str(tmp_path / "finished"))
    assert finished["n"] == 6 and finished["kendall_tau"] == pytest.approx(13 / 15)
    assert finished["scores_from"] == os.path.join(cfg.out_dir, "supernet-scores.jsonl")
    pairs = json.loads((tmp_path / "finished" / "pairs.json").read_text())
    assert {p["name"]: p["supernet_top1"] for p in pairs} == {"random-00": 0.61, "random-01": 0.60, "random-02": 0.62,
                                                              "random-03": 0.63, "random-04": 0.64, "random-05": 0.65}
    assert (tmp_path / "finished" / "rank_study.png").exists()
    again = rank_study.benchmark_rank_study(cfg, str(bench))  # the same as with the supernet (all memo)
    assert {k: again[k] for k in ("kendall_tau", "spearman_rho", "subnets", "baselines")} == \
        {k: finished[k] for k in ("kendall_tau", "spearman_rho", "subnets", "baselines")}
    from oneshot_nas.cli import main  # the command line: --scores needs --benchmark
    assert main(["rank-study", "--scores", cfg.out_dir, "--out-dir", str(tmp_path / "cli")]) == 2
    assert main(["rank-study", "--scores", cfg.out_dir, "--benchmark", str(bench), "--out-dir",
                 str(tmp_path / "cli")]) == 0
    assert json.loads((tmp_path / "cli" / "rank_study.json").read_text())["kendall_tau"] == finished["kendall_tau"]
    # a subnet with no saved score, and a folder that is not a study's, are refused by name
    other = str(space.sample(rng))
    with open(bench, "a") as f:
        f.write(json.dumps({"candidate": other, "seed": 0, "top1": 0.7}) + "\n")
    with pytest.raises(OneShotError, match=f"1 subnet.* no score .*{other}.*run `rank-study --benchmark`"):
        rank_study.rank_from_saved_scores(cfg.out_dir, str(bench), str(tmp_path / "finished"))
    with pytest.raises(OneShotError, match="not the out-dir of a `rank-study --benchmark`"):
        rank_study.rank_from_saved_scores(str(tmp_path), str(bench), str(tmp_path / "finished"))
