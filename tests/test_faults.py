"""Never lose a run: kills at many points (inside checkpoint writes too), the folder lock, the refusal to start
over, the resume check's messages, and every bad value answered by one line (exit status 2, no traceback)."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from mxnet import nd

from conftest import wait_for
from oneshot_nas.checkpoints import PAUSE_ENV
from oneshot_nas.data import FASHION_MNIST_DIR

pytestmark = pytest.mark.skipif(not os.path.isdir(FASHION_MNIST_DIR),
                                reason="needs the dataset-fashion-mnist Debian package (scripts/setup.sh installs it)")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# MKL-DNN off: resumed and uninterrupted runs are then identical to the bit (see test_training.py)
ENV = {**os.environ, "MXNET_MKLDNN_ENABLED": "0", "OMP_NUM_THREADS": "2"}
TINY = ["train", "--model", "OneShot", "--dataset", "fashion-mnist", "--input-size", "32", "--first-conv-stride", "2",
        "--num-classes", "10", "--train-limit", "256", "--val-limit", "128", "--batch-size", "32",
        "--log-interval", "0", "--lr", "0.05", "--seed", "3", "--num-epochs", "3", "--save-frequency", "2"]


def start(argv, log, env=ENV):
    with open(log, "ab") as f:
        return subprocess.Popen([sys.executable, "-m", "oneshot_nas", *argv], cwd=REPO, env=env, stdout=f,
                                stderr=subprocess.STDOUT)


def run(argv, env=ENV):
    return subprocess.run([sys.executable, "-m", "oneshot_nas", *argv], cwd=REPO, env=env, capture_output=True,
                          text=True)


def arrays(path):
    return {k: v.asnumpy() for k, v in nd.load(str(path)).items()}


def assert_same_params(a, b):
    x, y = arrays(a), arrays(b)
    assert x.keys() == y.keys()
    for k in x:
        np.testing.assert_array_equal(x[k], y[k], err_msg=k)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("full") / "run"
    r = run([*TINY, "--save-dir", str(folder)])
    assert r.returncode == 0, r.stderr[-2000:]
    return folder


def best_epochs(folder):
    """The epochs at which a run wrote its best unit (top-1 error strictly below every earlier epoch's)."""
    best, out = 1.0, []
    for line in open(folder / "history.jsonl"):
        record = json.loads(line)
        if record["val_err_top1"] < best:
            best = record["val_err_top1"]
            out.append(record["epoch"])
    return out


@pytest.mark.parametrize("point", ["last:params:1", *(
    pytest.param(p, marks=pytest.mark.slow) for p in ("best:params:latest", "last:states:1", "epoch-0001:states:1",
                                                      "time"))])
def test_kill_anywhere_then_resume_ends_identical(point, uninterrupted, tmp_path):
    folder, log = tmp_path / "run", str(tmp_path / "log")
    if point == "best:params:latest":  # inside the last write of the best unit (which epoch: this CPU's numbers)
        point = f"best:params:{best_epochs(uninterrupted)[-1]}"
    if point == "time":  # a kill at an arbitrary moment of the second epoch
        proc = start([*TINY, "--save-dir", str(folder)], log)
        assert wait_for(folder / "checkpoints" / "last-0000", proc)
        time.sleep(0.3)
    else:
        proc = start([*TINY, "--save-dir", str(folder)], log, env={**ENV, PAUSE_ENV: point})
        tag, name, _ = point.split(":")
        assert wait_for(folder / f"paused-{tag}-{name}", proc), open(log).read()[-2000:]
    assert proc.poll() is None, "the run ended before the kill"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    units = sorted(os.listdir(folder / "checkpoints"))
    assert all(not u.startswith(".tmp-") or point != "time" for u in units)
    # the same command again refuses to start over; with --resume it continues and cleans up
    again = run([*TINY, "--save-dir", str(folder)])
    assert again.returncode == 2 and "--resume" in again.stderr and "Traceback" not in again.stderr
    resumed = run([*TINY, "--save-dir", str(folder), "--resume"])
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert not [u for u in os.listdir(folder / "checkpoints") if u.startswith(".tmp-")]
    assert_same_params(folder / "last.params", uninterrupted / "last.params")
    assert_same_params(folder / "best.params", uninterrupted / "best.params")
    assert json.loads((folder / "best.json").read_text())["epoch"] == json.loads(
        (uninterrupted / "best.json").read_text())["epoch"]
    history = [json.loads(x)["epoch"] for x in open(folder / "history.jsonl")]
    assert history == [0, 1, 2]


def test_damaged_newest_checkpoint_falls_back_to_the_previous_one(uninterrupted, tmp_path):
    import shutil
    folder = tmp_path / "run"
    shutil.copytree(uninterrupted, folder)
    os.unlink(folder / ".lock")
    states = folder / "checkpoints" / "last-0002" / "last.states"
    states.write_bytes(states.read_bytes()[:100])  # truncated
    r = run([*TINY, "--save-dir", str(folder), "--resume"])
    assert r.returncode == 0, r.stderr[-2000:]
    assert "falling back" in r.stderr and "last-0001" in r.stderr
    assert_same_params(folder / "last.params", uninterrupted / "last.params")  # epoch 2 trained again, same result


def test_second_run_on_a_folder_stops_at_once_and_a_dead_runs_lock_is_taken_over(tmp_path):
    folder, log = tmp_path / "run", str(tmp_path / "log")
    proc = start([*TINY, "--num-epochs", "30", "--save-dir", str(folder)], log)
    assert wait_for(folder / "checkpoints", proc), open(log).read()[-2000:]
    second = run([*TINY, "--save-dir", str(folder), "--resume"])
    assert second.returncode == 2 and f"PID {proc.pid}" in second.stderr and "Traceback" not in second.stderr
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    third = run([*TINY, "--save-dir", str(folder), "--resume"])  # the kernel released the dead process's lock
    assert third.returncode == 0, third.stderr[-2000:]


def test_resume_check_names_each_changed_option_and_keeps_config(uninterrupted, tmp_path):
    import shutil
    moved = tmp_path / "moved"
    shutil.copytree(uninterrupted, moved)  # a moved run folder resumes
    config = (moved / "config.json").read_text()
    r = run([*TINY, "--save-dir", str(moved), "--resume", "--seed", "4", "--wd", "0.001", "--use-se"])
    assert r.returncode == 2 and "--seed: 3 -> 4" in r.stderr and "--use-se" not in r.stderr.split("(")[0]
    assert "use_se" in r.stderr or "--space" in r.stderr
    assert (moved / "config.json").read_text() == config  # the refusal wrote nothing
    r = run([*TINY, "--save-dir", str(moved) + "/", "--resume", "--num-epochs", "4", "--lr", "0.02"])
    assert r.returncode == 0, r.stderr[-2000:]
    changes = json.loads((moved / "config.json").read_text())["changes"]
    assert changes[-1]["at_epoch"] == 3 and changes[-1]["changed"]["lr"] == [0.05, 0.02]


def test_refuses_to_start_over_unless_overwrite(uninterrupted, tmp_path):
    import shutil
    folder = tmp_path / "run"
    shutil.copytree(uninterrupted, folder)
    before = (folder / "history.jsonl").read_text()
    r = run([*TINY, "--save-dir", str(folder), "--num-epochs", "0"])
    assert r.returncode == 2 and "--num-epochs must be at least 1" in r.stderr
    r = run([*TINY, "--save-dir", str(folder)])
    assert r.returncode == 2 and "--overwrite" in r.stderr and "3 epoch(s) done" in r.stderr
    assert (folder / "history.jsonl").read_text() == before and (folder / "last.params").exists()
    r = run([*TINY, "--save-dir", str(folder), "--overwrite", "--num-epochs", "1"])
    assert r.returncode == 0, r.stderr[-2000:]
    assert [json.loads(x)["epoch"] for x in open(folder / "history.jsonl")] == [0]


def test_nan_stop_names_an_existing_checkpoint_and_resumes_with_a_lower_lr(tmp_path):
    folder = tmp_path / "run"
    r = run([*TINY, "--save-dir", str(folder), "--num-epochs", "2", "--lr", "1e30"])
    assert r.returncode == 2 and "no epoch has finished" in r.stderr and "Traceback" not in r.stderr
    r = run([*TINY, "--save-dir", str(folder), "--num-epochs", "1"])
    assert r.returncode == 0, r.stderr[-2000:]
    r = run([*TINY, "--save-dir", str(folder), "--num-epochs", "2", "--lr", "1e30", "--resume"])
    assert r.returncode == 2 and "checkpoints/last-0000 (epoch 0)" in r.stderr and "--resume --lr" in r.stderr
    r = run([*TINY, "--save-dir", str(folder), "--num-epochs", "2", "--lr", "0.01", "--resume"])
    assert r.returncode == 0, r.stderr[-2000:]


@pytest.mark.parametrize("argv, message", [
    (["--batch-size", "0"], "--batch-size must be at least 1, not 0"),
    (["--batch-size", "-4"], "--batch-size must be at least 1, not -4"),
    (["--num-epochs", "-3"], "--num-epochs must be at least 1, not -3"),
    (["--train-limit", "0"], "--train-limit must be at least 1 image"),
    (["--val-limit", "0"], "--val-limit must be at least 1 image"),
    (["--train-limit", "16"], "less than one batch of 32"),
    (["--holdout", "60000", "--val-split", "holdout"], "--holdout 60000 must be between 1 and 59999"),
    (["--val-split", "holdout"], "--val-split holdout needs --holdout N"),
])
def test_bad_train_values_get_one_line(argv, message, tmp_path):
    r = run([*TINY, "--save-dir", str(tmp_path / "run"), *argv])
    assert r.returncode == 2 and message in r.stderr, r.stderr[-2000:]
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) <= 3


def _lut_missing_a_layer(tmp_path):
    from oneshot_nas.costs.tables import LookupTable
    from oneshot_nas.space import SearchSpace
    table = LookupTable.build(SearchSpace(input_size=32, num_classes=10), method="formula").to_dict()
    key = next(k for k, v in table.items() if isinstance(v, list) and len(v) == 20)
    table[key] = table[key][:19]
    path = tmp_path / "lut.json"
    path.write_text(json.dumps(table))
    return str(path)


@pytest.mark.parametrize("case", ["sample-paths", "min-max", "candidate-42", "candidate-binary", "lut-layer",
                                  "unwritable-train", "unwritable-lut", "unwritable-latency", "unwritable-search",
                                  "unwritable-export", "unwritable-quantize"])
def test_bad_values_of_other_commands_get_one_line(case, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    bad_json = tmp_path / "best.json"
    argv, message = {
        "sample-paths": (["sample-paths", "--out", str(tmp_path / "p.jsonl"), "--num-samples", "-5",
                          "--train-upper-constraints", "flops-330-params-5.0", "--train-bottom-constraints",
                          "flops-190-params-2.8"], "--num-samples must be at least 1"),
        "min-max": (["count", "--model", "OneShot", "--min-flops", "50", "--max-flops", "10"], "--min-flops 50"),
        "candidate-42": ([*TINY, "--candidate-file", str(bad_json), "--model", "ShuffleNas_fixArch",
                          "--save-dir", str(tmp_path / "r")], "candidate file"),
        "candidate-binary": ([*TINY, "--candidate-file", str(bad_json), "--model", "ShuffleNas_fixArch",
                              "--save-dir", str(tmp_path / "r")], "candidate file"),
        "lut-layer": (["count", "--model", "OneShot", "--input-size", "32", "--num-classes", "10", "--lookup-table",
                       _lut_missing_a_layer(tmp_path)], "lookup table"),
        "unwritable-train": ([*TINY, "--save-dir", str(blocker / "run")], "cannot write"),
        "unwritable-lut": (["lookup-table", "--out", str(blocker / "lut.json"), "--method", "formula"], "cannot write"),
        "unwritable-latency": (["latency-table", "--out", str(blocker / "lat.json"), "--input-size", "32",
                                "--num-classes", "10"], "cannot write"),
        "unwritable-search": (["search", "--supernet-params", str(blocker), "--out-dir", str(blocker / "s")],
                              "cannot write"),
        "unwritable-export": (["export", "--params", str(bad_json), "--out", str(blocker / "m")], "cannot write"),
        "unwritable-quantize": (["quantize", "--params", str(bad_json), "--out", str(blocker / "m")], "cannot write"),
    }[case]
    if case == "candidate-42":
        bad_json.write_text(json.dumps({"candidate": 42}))
    if case == "candidate-binary":
        bad_json.write_bytes(bytes(range(256)))
    if case == "min-max":
        argv = ["search", "--supernet-params", str(bad_json), "--min-flops", "50", "--max-flops", "10",
                "--out-dir", str(tmp_path / "search")]
        bad_json.write_text("{}")
    r = run(argv)
    assert r.returncode == 2 and message in r.stderr, r.stderr[-2000:]
    assert "Traceback" not in r.stderr


def test_a_full_disk_ends_in_one_line_with_the_last_checkpoint_intact(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    # one checkpoint unit of this network is about 20 MB: epoch 0 (last + best) fits, epoch 1 does not
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=45M", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("needs root to mount a small tmpfs")
    try:
        r = run([*TINY, "--save-dir", str(disk / "run"), "--save-frequency", "0"])
        assert r.returncode == 2 and "writing to" in r.stderr and "epoch 0" in r.stderr, r.stderr[-2000:]
        assert "Traceback" not in r.stderr
        units = os.listdir(disk / "run" / "checkpoints")
        assert "last-0000" in units and not [u for u in units if u.startswith(".tmp-")]
        assert json.loads((disk / "run" / "last.json").read_text())["epoch"] == 0
    finally:
        subprocess.run(["umount", str(disk)])


def test_params_of_another_network_get_one_line(tmp_path):
    import mxnet as mx

    from oneshot_nas import zoo
    from oneshot_nas.nn import build_subnet
    from oneshot_nas.space import SearchSpace
    se = SearchSpace(input_size=32, num_classes=10, use_se=True, last_conv_after_pooling=True)
    net = build_subnet(se, zoo.get("OneShot").candidate)
    net.initialize()
    net(mx.nd.zeros((1, 3, 32, 32)))
    net.save_parameters(str(tmp_path / "best.params"))
    plain = SearchSpace(input_size=32, num_classes=10)
    (tmp_path / "config.json").write_text(json.dumps({"space": plain.to_dict(), "candidate": str(
        zoo.get("OneShot").candidate), "dataset": "fashion-mnist"}))
    r = run(["export", "--params", str(tmp_path / "best.params"), "--out", str(tmp_path / "out")])
    assert r.returncode == 2 and "cannot load" in r.stderr and "Traceback" not in r.stderr, r.stderr[-2000:]


def test_folder_lock_names_its_holder_and_is_free_after_release(tmp_path):
    from oneshot_nas.errors import OneShotError
    from oneshot_nas.utils import FolderLock
    lock = FolderLock(str(tmp_path), "a test").acquire()
    with pytest.raises(OneShotError, match=f"in use by a test \\(PID {os.getpid()}\\)"):
        FolderLock(str(tmp_path), "a test").acquire()
    lock.release()
    FolderLock(str(tmp_path), "a test").acquire().release()


@pytest.mark.slow
def test_deterministic_runs_are_identical(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "MXNET_MKLDNN_ENABLED"}
    argv = [*TINY, "--num-epochs", "1", "--deterministic"]
    for name in ("a", "b"):
        r = run([*argv, "--save-dir", str(tmp_path / name)], env=env)
        assert r.returncode == 0, r.stderr[-2000:]
    assert_same_params(tmp_path / "a" / "last.params", tmp_path / "b" / "last.params")
