"""Every training script runs its DATASET=fashion-mnist recipe (cut down by extra flags) and resumes."""
import functools
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from conftest import wait_for
from oneshot_nas.data import FASHION_MNIST_DIR

pytestmark = pytest.mark.skipif(not os.path.isdir(FASHION_MNIST_DIR),
                                reason="needs the dataset-fashion-mnist Debian package (scripts/setup.sh installs it)")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--num-epochs", "1", "--train-limit", "128", "--val-limit", "64", "--bn-images", "32", "--batch-size", "32"]
SMALL_SEARCH = ["--population-size", "4", "--retain-length", "2", "--search-iters", "2", "--update-bn-images", "32",
                "--val-images", "64"]


def run_script(env, name, *extra):
    """scripts/NAME with these arguments and environment, its output captured."""
    return subprocess.run(["sh", os.path.join(REPO, "scripts", name), *extra], env=env, capture_output=True, text=True)


@pytest.mark.parametrize("script, save", [
    ("train_supernet.sh", "supernet"), ("train_supernet+.sh", "supernet+"),
    ("train_supernet+_with_constraints.sh", "supernet+_constraints"), ("train_oneshot.sh", "oneshot"),
    ("train_oneshot+.sh", "oneshot+"), ("train_oneshot-s+.sh", "oneshot-s+"),
    ("train_oneshot-s+_mobilenetv3.sh", "oneshot-s+_mobilenetv3")])
def test_script_small_recipe_runs_and_resumes(script, save, tmp_path):
    env = {**os.environ, "DATASET": "fashion-mnist", "SAVE_ROOT": str(tmp_path), "PYTHON": sys.executable,
           "OMP_NUM_THREADS": "2"}
    run = subprocess.run(["sh", os.path.join(REPO, "scripts", script), *TINY], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    config = json.load(open(tmp_path / save / "config.json"))
    assert config["dataset"] == "fashion-mnist"
    assert config["space"]["input_size"] == 32 and config["train_limit"] == 128
    # running the same command again picks up the finished run instead of starting over
    again = subprocess.run(["sh", os.path.join(REPO, "scripts", script), *TINY], env=env, capture_output=True,
                           text=True)
    assert again.returncode == 0 and "nothing to do" in again.stderr


def test_train_oneshot_trains_oneshot_unless_a_candidate_is_named(tmp_path):
    """As the original's script: a search result lying in runs/search is not picked up unasked."""
    (tmp_path / "search").mkdir()
    (tmp_path / "search" / "best.json").write_text(json.dumps(
        {"candidate": "00010010320122120020-87685734242345663346"}))
    env = {**os.environ, "DATASET": "fashion-mnist", "SAVE_ROOT": str(tmp_path), "PYTHON": sys.executable}
    run = subprocess.run(["sh", os.path.join(REPO, "scripts", "train_oneshot.sh"), *TINY], env=env,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.load(open(tmp_path / "oneshot" / "config.json"))["candidate"] == \
        "00311100202110202132-65352634257546744543"  # OneShot
    env["CANDIDATE_FILE"] = str(tmp_path / "search" / "best.json")
    env["SAVE_DIR"] = str(tmp_path / "named")
    run = subprocess.run(["sh", os.path.join(REPO, "scripts", "train_oneshot.sh"), *TINY], env=env,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.load(open(tmp_path / "named" / "config.json"))["candidate"] == \
        "00010010320122120020-87685734242345663346"


def test_search_script_searches_the_supernet_and_train_oneshot_trains_its_winner(tmp_path):
    env = {**os.environ, "DATASET": "fashion-mnist", "SAVE_ROOT": str(tmp_path), "PYTHON": sys.executable,
           "OMP_NUM_THREADS": "2"}
    script = functools.partial(run_script, env)

    assert script("train_supernet.sh", *TINY).returncode == 0
    run = script("search_supernet.sh", *SMALL_SEARCH)
    assert run.returncode == 0, run.stderr[-2000:]
    best = json.load(open(tmp_path / "search" / "best.json"))
    config = json.load(open(tmp_path / "search" / "config.json"))
    assert config["space"]["first_conv_stride"] == 2 and config["val_split"] == "holdout"  # from the supernet's config
    again = script("search_supernet.sh", *SMALL_SEARCH)  # resumes the finished search: nothing new
    assert again.returncode == 0 and "has finished" in again.stderr
    env["CANDIDATE_FILE"] = str(tmp_path / "search" / "best.json")  # as the pipeline passes it
    run = script("train_oneshot.sh", *TINY)
    assert run.returncode == 0, run.stderr[-2000:]
    trained = json.load(open(tmp_path / "oneshot" / "config.json"))
    assert trained["candidate"] == best["candidate"] and trained["space"]["first_conv_stride"] == 2


@pytest.mark.slow
def test_few_shot_script_splits_the_supernet_and_the_search_routes_to_its_sub_supernets(tmp_path):
    env = {**os.environ, "DATASET": "fashion-mnist", "SAVE_ROOT": str(tmp_path), "PYTHON": sys.executable,
           "OMP_NUM_THREADS": "2", "SPLIT_LAYER": "4", "FEW_SHOT_ARGS": "--block-warm-up 0 --warmup-epochs 0"}
    script = functools.partial(run_script, env)

    assert script("train_supernet.sh", *TINY).returncode == 0
    run = script("train_few_shot.sh", *TINY)
    assert run.returncode == 0, run.stderr[-2000:]
    option = run.stdout.strip().splitlines()[-1].split()
    assert option == ["--few-shot-params", ",".join(str(tmp_path / "few-shot" / f"block{b}") for b in range(4))]
    for block in range(4):
        config = json.load(open(tmp_path / "few-shot" / f"block{block}" / "config.json"))
        assert (config["sampling"]["split_layer"], config["sampling"]["split_block"]) == (4, block)
        assert config["resume_params"] == str(tmp_path / "supernet" / "last.params")
        assert all(json.loads(line)["val_path"][4] == str(block)
                   for line in open(tmp_path / "few-shot" / f"block{block}" / "history.jsonl"))
    again = script("train_few_shot.sh", *TINY)
    assert again.returncode == 0 and again.stderr.count("nothing to do") == 4
    small = [*SMALL_SEARCH, "--search-mode", "random"]
    run = script("search_supernet.sh", *small, *option)
    assert run.returncode == 0, run.stderr[-2000:]
    best = json.load(open(tmp_path / "search" / "best.json"))
    assert best["search"]["few_shot_params"] == [str(tmp_path / "few-shot" / f"block{b}" / "last.params")
                                                 for b in range(4)]
    assert "the few-shot sub-supernet of its block at layer 4" in (tmp_path / "search" / "search.log").read_text()
    both = script("search_supernet.sh", *small, *option, "--ensemble-params", str(tmp_path / "few-shot" / "block0"),
                  "--out-dir", str(tmp_path / "both"))
    assert both.returncode == 2 and "give one of them" in both.stderr
    env.pop("FEW_SHOT_ARGS")
    env["DATASET"] = "imagenet"
    assert "FEW_SHOT_ARGS" in script("train_few_shot.sh").stderr  # no measured recipe there: asked for


@pytest.mark.slow
def test_pipeline_runs_every_step_and_a_rerun_finds_them_done(tmp_path):
    env = {**os.environ, "SAVE_ROOT": str(tmp_path), "PYTHON": sys.executable, "OMP_NUM_THREADS": "2",
           "SUPERNET_ARGS": " ".join(TINY), "RANDOM_N": "3", "SEEDS": "0 1", "ENSEMBLE_SEEDS": "1",
           "SEARCH_ARGS": "--population-size 4 --retain-length 2 --search-iters 2 --update-bn-images 32 --val-images 64",
           "FINAL_ARGS": "--num-epochs 1 --train-limit 64 --val-limit 64 --batch-size 32"}
    run = subprocess.run(["sh", os.path.join(REPO, "scripts", "pipeline.sh")], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    # ENSEMBLE_SEEDS: a second supernet with its own seed, and both searches score with the two
    assert json.load(open(tmp_path / "supernet-seed1" / "config.json"))["seed"] == 1
    for search in ("search", "random-search"):
        config = json.load(open(tmp_path / search / "config.json"))
        assert config["ensemble_params"] == [str(tmp_path / "supernet-seed1" / "last.params")]
        assert all(len(json.loads(x)["top1_by_supernet"]) == 2 for x in open(tmp_path / search / "records.jsonl"))
    report = (tmp_path / "final" / "report.md").read_text()
    assert report.count("\n") == 5 and "top-1 on the test split" in report and "| searched |" in report and "| random-best |" in report
    assert "| oneshot | `00311100202110202132-65352634257546744543`" in report and " ± " in report
    # a rerun finds every step done and rewrites the same table
    again = subprocess.run(["sh", os.path.join(REPO, "scripts", "pipeline.sh")], env=env, capture_output=True,
                           text=True)
    assert again.returncode == 0 and (tmp_path / "final" / "report.md").read_text() == report
    assert again.stderr.count("nothing to do") == 8 and "has finished" in again.stderr


@pytest.mark.slow
@pytest.mark.parametrize("parallel", ["0", "1"])
def test_pick_study_runs_a_pipeline_per_seed_and_places_the_picks_against_the_benchmark(tmp_path, parallel):
    recipe = ["--num-epochs", "1", "--train-limit", "64", "--batch-size", "32"]
    bench = tmp_path / "bench.jsonl"
    run = subprocess.run([sys.executable, "-m", "oneshot_nas", "benchmark", "--config", "configs/oneshot_fashion-mnist.json",
                          "--max-flops", "7", "--flop-max", "-1", "--out", str(bench), "--save-dir", str(tmp_path / "b"),
                          "--num-subnets", "3", "--seeds", "0", "--zoo", "OneShot", *recipe],
                         cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    env = {**os.environ, "SAVE_ROOT": str(tmp_path), "PYTHON": sys.executable, "OMP_NUM_THREADS": "2",
           "PIPELINE_SEEDS": "0 1", "PARALLEL": parallel, "BENCHMARK": str(bench), "SUPERNET_ARGS": " ".join(TINY), "RANDOM_N": "3",
           "SEARCH_ARGS": "--population-size 4 --retain-length 2 --search-iters 2 --update-bn-images 32 --val-images 64",
           "FINAL_ARGS": " ".join(recipe),
           "RANK_ARGS": "--dataset fashion-mnist --holdout 10000 --val-split holdout --update-bn-images 32 --val-images 256"}
    if parallel == "1":
        del env["OMP_NUM_THREADS"]  # side by side, each pipeline then takes one thread
    run = subprocess.run(["sh", os.path.join(REPO, "scripts", "pick_study.sh")], env=env, capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    for seed in (0, 1):  # each pipeline seed drives its own supernet and trains its picks with that seed
        assert json.load(open(tmp_path / "pick-study" / f"seed-{seed}" / "supernet" / "config.json"))["seed"] == seed
        assert json.load(open(tmp_path / "pick-study" / f"seed-{seed}" / "search" / "config.json"))["seed"] == seed
        # side by side, each seed's pipeline writes its own log
        log = tmp_path / "pick-study" / f"seed-{seed}" / "pipeline.log"
        assert log.exists() == (parallel == "1")
        assert parallel == "0" or "=== pipeline: 5/5 report ===" in log.read_text()
    report = (tmp_path / "pick-study" / "report.md").read_text()
    assert "| searched |" in report and "| oneshot |" in report and " ± " in report
    assert "Against the 3 random subnets of" in report and "searched minus random-best, paired by seed (0, 1)" in report
    # the benchmark's own OneShot runs stand beside the pipeline's
    assert re.search(r"\| oneshot \| [01]\.\d\d \| [01]\.\d{4} \|", report)
    for seed in (0, 1):  # and each seed's supernet ranks the benchmark's 4 subnets
        pairs = json.load(open(tmp_path / "pick-study" / f"seed-{seed}" / "rank-study" / "pairs.json"))
        assert len(pairs) == 4 and {"candidate", "flops", "params", "supernet_top1", "standalone_top1"} <= set(pairs[0])


def test_pick_study_side_by_side_names_the_seeds_whose_pipeline_failed(tmp_path):
    env = {**os.environ, "SAVE_ROOT": str(tmp_path), "PYTHON": sys.executable, "PIPELINE_SEEDS": "3 4",
           "PARALLEL": "1", "SUPERNET_ARGS": "--no-such-option"}
    run = subprocess.run(["sh", os.path.join(REPO, "scripts", "pick_study.sh")], env=env, capture_output=True,
                         text=True)
    assert run.returncode == 1
    assert "the pipeline of seed(s) 3 4 failed" in run.stderr and "run again to resume" in run.stderr
    for seed in (3, 4):  # each log holds its own pipeline's error
        assert "--no-such-option" in (tmp_path / "pick-study" / f"seed-{seed}" / "pipeline.log").read_text()
    assert not (tmp_path / "pick-study" / "report.md").exists()


def test_ctrl_c_stops_the_pick_studys_pipelines_side_by_side(tmp_path):
    env = {**os.environ, "SAVE_ROOT": str(tmp_path), "PYTHON": sys.executable, "PIPELINE_SEEDS": "0 1",
           "PARALLEL": "1", "SUPERNET_ARGS": " ".join(TINY + ["--num-epochs", "1000"])}
    # as from a terminal: a suite started in the background (`pytest &` in a script) has SIGINT ignored, which the
    # study would inherit, and a shell cannot trap a signal ignored on entry
    study = subprocess.Popen(["sh", os.path.join(REPO, "scripts", "pick_study.sh")], env=env, start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    supernets = [tmp_path / "pick-study" / f"seed-{seed}" / "supernet" / "history.jsonl" for seed in (0, 1)]
    try:
        started = [wait_for(p, study, 120) for p in supernets]
        ended = study.poll()  # a study that stopped early says why (its stderr is read only once it has ended)
        assert all(started) and ended is None, \
            f"supernet histories seen {started}, study exit {ended}: {study.stderr.read() if ended is not None else ''}"
        os.killpg(study.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        assert study.wait(timeout=60) != 0 and "interrupted" in study.stderr.read()
        deadline = time.time() + 60  # SIGTERM lets each training end its step and exit
        while _group(study.pid) and time.time() < deadline:
            time.sleep(0.5)
        assert _group(study.pid) == []  # no pipeline outlives the study
    finally:
        if _group(study.pid):
            os.killpg(study.pid, signal.SIGKILL)


def _group(pgid):
    """The live processes of process group ``pgid``."""
    return [pid for pid in map(int, filter(str.isdigit, os.listdir("/proc"))) if _in_group(pid, pgid)]


def _in_group(pid, pgid):
    try:
        return os.getpgid(pid) == pgid
    except ProcessLookupError:
        return False
