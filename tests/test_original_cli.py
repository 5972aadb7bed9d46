"""The original codebase's scripts and command lines: every script resolves, on ImageNet, to the original's recipe
(read with --print-config, which reads no data), and its command lines are accepted as they are."""
import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ONESHOT = ("0,0,3,1,1,1,0,0,2,0,2,1,1,0,2,0,2,1,3,2", "6,5,3,5,2,6,3,4,2,5,7,5,4,6,7,4,4,5,4,3")
ONESHOT_SPLUS = ("0,0,0,1,0,0,1,0,3,2,0,1,2,2,1,2,0,0,2,0", "8,7,6,8,5,7,3,4,2,4,2,3,4,5,6,6,3,3,4,6")
SUPERNET = {"model": "ShuffleNas", "mode": "imperative", "lr": 0.65, "wd": 4e-5, "lr-mode": "cosine",
            "dtype": "float16", "num-epochs": 120, "batch-size": 64, "num-gpus": 1, "num-data-workers": 16,
            "warmup-epochs": 5, "label-smoothing": True, "no-wd": True, "channels-layout": "OneShot",
            "use-rec": True, "train-upper-constraints": None, "train-bottom-constraints": None}
ONESHOT_RECIPE = {"model": "ShuffleNas_fixArch", "mode": "hybrid", "lr": 1.3, "wd": 3e-5, "lr-mode": "cosine",
                  "dtype": "float16", "num-epochs": 360, "batch-size": 256, "num-gpus": 4, "num-data-workers": 16,
                  "warmup-epochs": 5, "label-smoothing": True, "no-wd": True, "use-rec": True}
SE = {"use-se": True, "last-conv-after-pooling": True, "channels-layout": "OneShot"}
PLAIN = {"use-se": False, "last-conv-after-pooling": False, "channels-layout": "OneShot"}
# the table of ../shared/reference/original-cli.md
ORIGINAL = {
    "train_supernet.sh": {**SUPERNET, **PLAIN, "epoch-start-cs": 60, "cs-warm-up": True},
    "train_supernet+.sh": {**SUPERNET, **SE, "epoch-start-cs": 0},
    "train_supernet+_with_constraints.sh": {**SUPERNET, **SE, "epoch-start-cs": 0,
                                            "train-upper-constraints": "flops-330-params-5.0",
                                            "train-bottom-constraints": "flops-190-params-2.8",
                                            "train-constraint-method": "evolution"},
    "train_oneshot.sh": {**ONESHOT_RECIPE, **PLAIN, "block-choices": ONESHOT[0], "channel-choices": ONESHOT[1]},
    "train_oneshot+.sh": {**ONESHOT_RECIPE, **SE, "block-choices": ONESHOT[0], "channel-choices": ONESHOT[1]},
    "train_oneshot-s+.sh": {**ONESHOT_RECIPE, **SE, "block-choices": ONESHOT_SPLUS[0],
                            "channel-choices": ONESHOT_SPLUS[1]},
    "train_oneshot-s+_mobilenetv3.sh": {**ONESHOT_RECIPE, "use-se": True, "last-conv-after-pooling": False,
                                        "channels-layout": "ShuffleNetV2+", "block-choices": ONESHOT_SPLUS[0],
                                        "channel-choices": ONESHOT_SPLUS[1]},
    "search_supernet.sh": {"batch-size": 128, "num-gpus": 4, "num-data-workers": 8, "dtype": "float32",
                           "shuffle-train": False, "search-mode": "genetic", "comparison-model": "SinglePathOneShot",
                           "topk": 3, "search-iters": 20, "update-bn-images": 20000, "population-size": 50,
                           "retain-length": 10, "random-select": 0.1, "mutate-chance": 0.1, "use-rec": True},
}


def resolved(argv, env_extra=None, script=True):
    env = {**os.environ, "DATASET": "imagenet", "SAVE_ROOT": "/nonexistent/runs", "PYTHON": sys.executable,
           **(env_extra or {})}
    cmd = ["sh", os.path.join(REPO, "scripts", argv[0]), *argv[1:]] if script else \
        [sys.executable, "-m", "oneshot_nas", *argv]
    out = subprocess.run([*cmd, "--print-config"], env=env, capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)


@pytest.mark.parametrize("script", sorted(ORIGINAL))
def test_every_script_resolves_to_the_originals_imagenet_recipe(script):
    config = resolved([script])
    assert {key: config.get(key) for key in ORIGINAL[script]} == ORIGINAL[script]
    if script.startswith("train_"):  # the original's log files: ./logs/<name>.log from where the scripts run
        assert config["logging-file"].startswith(os.path.join(REPO, "logs", "shufflenas_"))


def test_the_originals_command_lines_are_accepted_as_they_are():
    rec = ["--rec-train", "~/imagenet/rec/train.rec", "--rec-train-idx", "~/imagenet/rec/train.idx",
           "--rec-val", "~/imagenet/rec/val.rec", "--rec-val-idx", "~/imagenet/rec/val.idx", "--use-rec"]
    train = resolved(["train", *rec, "--mode", "imperative", "--lr", "0.65", "--wd", "0.00004", "--lr-mode", "cosine",
                      "--dtype", "float16", "--num-epochs", "120", "--batch-size", "64", "--num-gpus", "1", "-j", "16",
                      "--warmup-epochs", "5", "--model", "ShuffleNas", "--epoch-start-cs", "60", "--cs-warm-up",
                      "--channels-layout", "OneShot", "--save-dir", "params_shufflenas_supernet",
                      "--logging-file", "./logs/shufflenas_supernet.log", "--label-smoothing", "--no-wd"],
                     script=False)
    assert train["lr"] == 0.65 and train["num-data-workers"] == 16 and train["epoch-start-cs"] == 60
    assert train["logging-file"] == os.path.join(REPO, "logs", "shufflenas_supernet.log")
    oneshot = resolved(["train", *rec, "--model", "ShuffleNas_fixArch", "--block-choices", "0, 0, 3, 1, 1, 1, 0, 0, 2, 0, "
                        "2, 1, 1, 0, 2, 0, 2, 1, 3, 2", "--channel-choices", "6, 5, 3, 5, 2, 6, 3, 4, 2, 5, 7, 5, 4, 6, "
                        "7, 4, 4, 5, 4, 3", "--use-se", "--last-conv-after-pooling", "--resume-epoch", "3",
                        "--num-epochs", "360"], script=False)
    assert oneshot["block-choices"] == ONESHOT[0] and oneshot["use-se"] and oneshot["resume-epoch"] == 3
    search = resolved(["search", *rec[:-1], "--batch-size", "128", "--num-gpus", "4", "--num-workers", "8",
                       "--dtype", "float32", "--shuffle-train", "False", "--search-mode", "genetic",
                       "--comparison-model", "SinglePathOneShot", "--topk", "3", "--search-iters", "20",
                       "--update-bn-images", "20000", "--population-size", "50", "--retain-length", "10",
                       "--random-select", "0.1", "--mutate-chance", "0.1",
                       "--supernet-params", "./params/ShuffleNasOneshot-imagenet-supernet.params"], script=False)
    assert search["num-data-workers"] == 8 and search["shuffle-train"] is False and search["flop-max"] == 1.0
    # the search's defaults are the original's: random search, FLOPs <= 1 x SinglePathOneShot, score ratio 1
    defaults = resolved(["search", "--supernet-params", "missing.params"], script=False)
    assert (defaults["search-mode"], defaults["flop-max"], defaults["score-acc-ratio"]) == ("random", 1.0, 1.0)


def test_the_originals_other_train_flags_are_accepted_or_refused_in_one_line():
    config = resolved(["train", "--model", "ShuffleNas", "--mode", "symbolic", "--lr-mode", "step",
                       "--lr-decay-period", "30", "--flop-param-method", "symbol", "--temperature", "20",
                       "--hard-weight", "0.5", "--train-constraint-method", ""], script=False)
    assert (config["mode"], config["lr-decay-period"], config["flop-param-method"]) == ("symbolic", 30, "symbol")
    assert config["train-constraint-method"] is None  # the original's default '': ours (evolution with a box)
    for flag, said in ((["--use-gn"], "--use-gn applies to GluonCV's ResNet/VGG networks, not to ShuffleNas"),
                       (["--last-gamma"], "--last-gamma applies to GluonCV's ResNet/VGG networks"),
                       (["--use-pretrained"], "--use-pretrained: GluonCV's model zoo holds no ShuffleNas weights"),
                       (["--hard-weight", "2"], "--hard-weight must be in [0, 1]")):
        out = subprocess.run([sys.executable, "-m", "oneshot_nas", "train", "--model", "ShuffleNas", *flag,
                              "--print-config"], capture_output=True, text=True, cwd=REPO)
        assert out.returncode == 2 and out.stderr.count("\n") == 1 and said in out.stderr, out.stderr


@pytest.mark.slow
def test_a_gluoncv_model_zoo_network_trains_with_the_same_trainer(tmp_path):
    from oneshot_nas.data import FASHION_MNIST_DIR
    if not os.path.isdir(FASHION_MNIST_DIR):
        pytest.skip("needs the dataset-fashion-mnist package")
    argv = [sys.executable, "-m", "oneshot_nas", "train", "--model", "cifar_resnet20_v1", "--dataset", "fashion-mnist",
            "--input-size", "32", "--num-classes", "10", "--holdout", "10000", "--num-epochs", "1", "--train-limit",
            "256", "--val-limit", "64", "--batch-size", "32", "--mode", "hybrid"]
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    out = subprocess.run([*argv, "--save-dir", str(tmp_path / "zoo")], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    history = [json.loads(line) for line in (tmp_path / "zoo" / "history.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in history] == [0] and 0 <= history[0]["val_err_top1"] <= 1
    config = json.loads((tmp_path / "zoo" / "config.json").read_text())
    assert config["gluoncv_model"] == "cifar_resnet20_v1" and config["candidate"] is None
    # pretrained weights that cannot be fetched (an unreachable model repository): one line, no traceback
    offline = {**env, "MXNET_GLUON_REPO": "http://127.0.0.1:9/", "MXNET_HOME": str(tmp_path / "mxnet-home")}
    out = subprocess.run([*argv, "--use-pretrained", "--save-dir", str(tmp_path / "pre")], env=offline,
                         capture_output=True, text=True)
    assert out.returncode == 2 and "Traceback" not in out.stderr and "cannot get its pretrained weights" in out.stderr
    out = subprocess.run([*argv, "--last-gamma", "--save-dir", str(tmp_path / "lg")], env=env, capture_output=True,
                         text=True)
    assert out.returncode == 2 and "does not take one of" in out.stderr and "Traceback" not in out.stderr
