"""dist_sync on 127.0.0.1: a scheduler, a server and two workers started the way `DMLC_*` launchers do."""
import json
import os
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


def test_two_workers_train_a_supernet_with_dist_sync(tmp_path):
    env = {**os.environ, "DMLC_PS_ROOT_URI": "127.0.0.1", "DMLC_PS_ROOT_PORT": str(free_port()),
           "DMLC_NUM_SERVER": "1", "DMLC_NUM_WORKER": "2", "OMP_NUM_THREADS": "1", "PS_VERBOSE": "0"}
    save = str(tmp_path / "dist")
    train = [sys.executable, "-m", "oneshot_nas", "train", "--kvstore", "dist_sync", "--dataset", "fashion-mnist",
             "--input-size", "32", "--num-classes", "10", "--train-limit", "256", "--val-limit", "64",
             "--batch-size", "16", "--bn-images", "32", "--num-epochs", "2", "--log-interval", "0",
             "--epoch-start-cs", "1", "--cs-warm-up", "--save-dir", save]
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
