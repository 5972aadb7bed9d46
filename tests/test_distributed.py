"""Several processes on 127.0.0.1: dist_sync (a scheduler, a server and two workers started the way `DMLC_*`
launchers do) and Horovod (two processes started by horovodrun over Gloo)."""
import glob
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time

import pytest

from oneshot_nas.data import FASHION_MNIST_DIR

pytestmark = pytest.mark.skipif(not os.path.isdir(FASHION_MNIST_DIR),
                                reason="needs the dataset-fashion-mnist Debian package (scripts/setup.sh installs it)")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train_argv(kvstore: str, save: str) -> list:
    """A 2-epoch supernet run on 256 Fashion-MNIST images, shared by the several processes of a test."""
    return [sys.executable, "-m", "oneshot_nas", "train", "--kvstore", kvstore, "--dataset", "fashion-mnist",
            "--input-size", "32", "--num-classes", "10", "--train-limit", "256", "--val-limit", "64",
            "--batch-size", "16", "--bn-images", "32", "--num-epochs", "2", "--log-interval", "0",
            "--epoch-start-cs", "1", "--cs-warm-up", "--save-dir", save]


@pytest.mark.slow
def test_two_workers_train_a_supernet_with_dist_sync(tmp_path):
    env = {**os.environ, "DMLC_PS_ROOT_URI": "127.0.0.1", "DMLC_PS_ROOT_PORT": str(free_port()),
           "DMLC_NUM_SERVER": "1", "DMLC_NUM_WORKER": "2", "OMP_NUM_THREADS": "1", "PS_VERBOSE": "0"}
    save = str(tmp_path / "dist")
    train = train_argv("dist_sync", save)
    procs, logs = [], []
    try:
        for role, cmd in (("scheduler", [sys.executable, "-c", "import mxnet"]),
                          ("server", [sys.executable, "-c", "import mxnet"]),
                          ("worker", train), ("worker", train)):
            log = open(tmp_path / f"{role}{len(procs)}.log", "wb")
            logs.append(log)
            procs.append(subprocess.Popen(cmd, cwd=REPO, env={**env, "DMLC_ROLE": role}, stdout=log,
                                          stderr=subprocess.STDOUT))
        deadline = time.time() + 300
        workers = procs[2:]
        while time.time() < deadline and any(p.poll() is None for p in workers):
            time.sleep(0.2)
        codes = [p.poll() for p in workers]
        outputs = [open(tmp_path / f"worker{i}.log").read()[-1500:] for i in (2, 3)]
        assert codes == [0, 0], f"worker exit codes {codes}\n" + "\n---\n".join(outputs)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        for log in logs:
            log.close()
    history = [json.loads(line) for line in open(os.path.join(save, "history.jsonl"))]
    assert [h["epoch"] for h in history] == [0, 1]   # written once, by rank 0
    # each worker trained on its half of the 256 images: 128 / 16 = 8 steps per epoch
    assert history[0]["distinct_paths"] <= 8
    assert os.path.exists(os.path.join(save, "last.params"))


def find_horovodrun():
    """The horovodrun beside this interpreter, if Horovod with MXNet support is installed.

    Looks for horovod.mxnet's compiled library without importing it: imported into the test process, it
    would break loading the depthwise extension in later tests (see distributed.init_horovod)."""
    spec = importlib.util.find_spec("horovod")
    if spec is None or not glob.glob(os.path.join(os.path.dirname(spec.origin), "mxnet", "mpi_lib*.so")):
        return None
    return shutil.which("horovodrun", path=os.path.dirname(sys.executable)) or shutil.which("horovodrun")


HOROVODRUN = find_horovodrun()
needs_horovod = pytest.mark.skipif(HOROVODRUN is None,
                                   reason="needs Horovod with MXNet support (WITH_HOROVOD=1 sh scripts/setup.sh)")


def run_two_horovod_processes(argv: list, **env) -> subprocess.CompletedProcess:
    """``argv`` (a python command) in two Gloo processes on this host; fails the test unless both exit 0."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", **env,
           "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]}
    result = subprocess.run([HOROVODRUN, "-np", "2", "-H", "localhost:2", "--gloo", *argv], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-1500:] + result.stderr[-1500:]
    return result


@needs_horovod
def test_two_horovod_processes_train_a_supernet(tmp_path):
    save = str(tmp_path / "hvd")
    result = run_two_horovod_processes(train_argv("horovod", save))
    history = [json.loads(line) for line in open(os.path.join(save, "history.jsonl"))]
    assert [h["epoch"] for h in history] == [0, 1]   # written once, by rank 0
    assert history[0]["distinct_paths"] <= 8          # 128 images each / 16 = 8 steps per epoch
    assert os.path.exists(os.path.join(save, "last.params"))
    # both processes sample the same paths: each prints its last record, with the same validation path
    records = [json.loads(line.split(":", 1)[1]) for line in result.stdout.splitlines() if '"val_path"' in line]
    assert len(records) == 2 and {r["val_path"] for r in records} == {history[-1]["val_path"]}


@needs_horovod
def test_horovod_step_averages_the_paths_gradients_only(tmp_path):
    run_two_horovod_processes([sys.executable, os.path.join(REPO, "tests", "horovod_step.py"), str(tmp_path)],
                              PYTHONPATH=REPO)
    import mxnet as mx
    import numpy as np
    ranks = [{k: v.asnumpy() for k, v in mx.nd.load(str(tmp_path / f"rank{r}.params")).items()} for r in (0, 1)]
    moved = 0
    for key in (k for k in ranks[0] if k.startswith("before:")):
        name = key.split(":", 1)[1]
        before, after = ranks[0][key], ranks[0][f"after:{name}"]
        np.testing.assert_array_equal(ranks[1][key], before)               # broadcast from rank 0
        np.testing.assert_allclose(ranks[1][f"after:{name}"], after, rtol=1e-6, atol=1e-7)  # same update
        grads = [r[f"grad:{name}"] for r in ranks]
        if not any(g.any() for g in grads):
            np.testing.assert_array_equal(after, before)                   # off the path: untouched
            continue
        expected = before - 0.1 * (grads[0] + grads[1]) / 2 / 4           # plain SGD on the averaged gradient
        np.testing.assert_allclose(after, expected, rtol=1e-4, atol=1e-6, err_msg=name)
        moved += 1
    assert moved > 50
