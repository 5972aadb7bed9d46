"""Trainer: a tiny supernet / subnet run on Fashion-MNIST, exact resume, corrupt checkpoint, BN recalibration."""
import json
import re
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import mxnet as mx
from mxnet import nd

from oneshot_nas.cli import main
from oneshot_nas.data import FASHION_MNIST_DIR

pytestmark = pytest.mark.skipif(not os.path.isdir(FASHION_MNIST_DIR),
                                reason="needs the dataset-fashion-mnist Debian package (scripts/setup.sh installs it)")

TINY = ["--dataset", "fashion-mnist", "--input-size", "32", "--num-classes", "10", "--train-limit", "256",
        "--val-limit", "128", "--batch-size", "32", "--bn-images", "64", "--log-interval", "0", "--lr", "0.05",
        "--seed", "3"]


def params_of(save_dir):
    return nd.load(os.path.join(save_dir, "last.params"))


def _train_process(argv, env, log_path):
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(log_path, "ab") as log:  # a file, not a pipe: an unread pipe would block the child
        return subprocess.Popen([sys.executable, "-m", "oneshot_nas", "train", *argv], cwd=repo, env=env,
                                stdout=log, stderr=subprocess.STDOUT)


@pytest.mark.slow
def test_supernet_run_killed_mid_epoch_resumes_exactly(tmp_path):
    # MKL-DNN keeps updated weights in its blocked layout, while freshly loaded weights start in the
    # default layout and go through other kernels: float-level differences that training amplifies.
    # With MKL-DNN off, resumed and uninterrupted runs must be identical to the bit.
    env = {**os.environ, "MXNET_MKLDNN_ENABLED": "0", "OMP_NUM_THREADS": "2"}
    argv = [*TINY, "--epoch-start-cs", "1", "--cs-warm-up", "--num-epochs", "3"]
    full, part = str(tmp_path / "full"), str(tmp_path / "part")
    log = str(tmp_path / "train.log")
    proc = _train_process([*argv, "--save-dir", full], env, log)
    assert proc.wait() == 0, open(log).read()[-2000:]
    # the same run, SIGKILLed during its third epoch, then resumed from its last checkpoint
    proc = _train_process([*argv, "--save-dir", part], env, log)
    history, last = os.path.join(part, "history.jsonl"), os.path.join(part, "last.json")
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:  # until epoch 1's checkpoint is complete
        if os.path.exists(last) and json.load(open(last))["epoch"] == 1:  # written atomically
            break
        time.sleep(0.05)
    time.sleep(0.5)  # into the third epoch
    killed = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert killed, "the run finished before it could be interrupted"
    assert len(open(history).read().splitlines()) == 2
    proc = _train_process([*argv, "--save-dir", part, "--resume"], env, log)
    assert proc.wait() == 0, open(log).read()[-2000:]
    a, b = params_of(full), params_of(part)
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k].asnumpy(), b[k].asnumpy(), err_msg=k)
    history = [json.loads(line) for line in open(history)]
    assert [h["epoch"] for h in history] == [0, 1, 2]
    assert all("val_err_top1" in h and "distinct_paths" in h for h in history)


def original_plot_rows(text: str):
    """What the original's utils/plot.py reads from a training log: per line starting with '[', the epoch between
    the first space and ']', and the number after the first '=' of 'training' and 'validation' lines."""
    train, val = [], []
    for row in text.splitlines(keepends=True):
        if row[0] != "[":
            continue
        epoch = int(row[row.find(" ") + 1: row.find("]")])
        if "training" in row:
            train.append((epoch, float(row[row.find("=") + 1:])))
        if "validation" in row:
            val.append((epoch, 1 - float(row[row.find("=") + 1: row.find("=") + 9])))
    return train, val


def test_subnet_run_and_corrupt_checkpoint(tmp_path, capsys, monkeypatch):
    save = str(tmp_path / "sub")
    monkeypatch.chdir(tmp_path)  # --logging-file is relative to the working directory, as in the original
    assert main(["train", "--model", "OneShot", *TINY, "--num-epochs", "1", "--save-dir", save, "--mode", "hybrid",
                 "--log-interval", "4", "--logging-file", "./logs/oneshot.log"]) == 0
    text = (tmp_path / "logs" / "oneshot.log").read_text()
    history = json.loads(open(os.path.join(save, "history.jsonl")).readline())
    train, val = original_plot_rows(text)  # the original's plotting still reads our logs
    assert train == [(0, pytest.approx(history["train_acc"], abs=1e-6))]
    assert val == [(0, pytest.approx(1 - history["val_err_top1"], abs=1e-6))]
    assert re.search(r"^Epoch\[0\] Batch \[4\]\tSpeed: [0-9.]+ samples/sec\taccuracy=[0-9.]+\tlr=[0-9.]+$", text, re.M)
    assert re.search(r"^Epoch\[0\] Batch \[4\]\tloss=[0-9.]+$", text, re.M) and "[Epoch 0] loss=" in text
    with open(os.path.join(save, "last.params"), "wb") as f:  # the name people use: resume does not read it
        f.write(b"garbage")
    with open(os.path.join(save, "checkpoints", "last-0000", "last.params"), "r+b") as f:  # the checkpoint itself
        f.write(b"garbage")
    capsys.readouterr()
    rc = main(["train", "--model", "OneShot", *TINY, "--num-epochs", "2", "--save-dir", save, "--resume"])
    err = capsys.readouterr().err
    assert rc == 2 and "damaged (last-0000" in err and "--overwrite" in err and "Traceback" not in err


@pytest.fixture(scope="module")
def imagenet_style(tmp_path_factory):
    """Fashion-MNIST images as JPEG files in class folders, and the same packed as RecordIO."""
    from oneshot_nas.packing import write_fashion_mnist_folder
    root = tmp_path_factory.mktemp("imagenet")
    write_fashion_mnist_folder(str(root / "train"), per_class=12, split="train")
    write_fashion_mnist_folder(str(root / "val"), per_class=4, split="test")
    for split in ("train", "val"):
        assert main(["pack-rec", str(root / split), str(root / "rec" / split)]) == 0
    return root


SMALL_IMAGENET = ["--input-size", "32", "--num-classes", "10", "--batch-size", "16", "--num-epochs", "1",
                  "--log-interval", "0", "--bn-images", "32", "-j", "1", "--lr", "0.05"]


def test_packed_recordio_holds_every_image(imagenet_style):
    rec = str(imagenet_style / "rec" / "train")
    record = mx.recordio.MXIndexedRecordIO(rec + ".idx", rec + ".rec", "r")
    labels = sorted(int(mx.recordio.unpack(record.read_idx(k))[0].label) for k in record.keys)
    assert labels == sorted(list(range(10)) * 12)


def test_supernet_trains_from_recordio(imagenet_style, tmp_path, capsys):
    rec = imagenet_style / "rec"
    argv = ["train", *SMALL_IMAGENET, "--use-rec", "--rec-train", str(rec / "train.rec"),
            "--rec-train-idx", str(rec / "train.idx"), "--rec-val", str(rec / "val.rec"),
            "--rec-val-idx", str(rec / "val.idx"), "--save-dir", str(tmp_path / "rec"), "--train-limit", "80"]
    assert main(argv) == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert 0 <= record["val_err_top1"] <= 1 and record["distinct_paths"] == 80 // 16  # one path per batch


def test_subnet_trains_from_image_folder_on_two_cpu_contexts(imagenet_style, tmp_path, capsys):
    argv = ["train", "--model", "OneShot", *SMALL_IMAGENET, "--data-dir", str(imagenet_style),
            "--num-cpu-contexts", "2", "--save-dir", str(tmp_path / "folder")]
    assert main(argv) == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert record["images_per_sec"] > 0 and 0 <= record["val_err_top1"] <= 1
    # where the epoch ran, which can change its floats: the history says it
    history = json.loads((tmp_path / "folder" / "history.jsonl").read_text().splitlines()[-1])
    assert history["device"]["omp_num_threads"] == os.environ.get("OMP_NUM_THREADS")
    assert history["device"]["context"] == "cpu(0)" and history["device"]["processor"]


def test_missing_recordio_is_a_clear_error(tmp_path, capsys):
    rc = main(["train", *SMALL_IMAGENET, "--use-rec", "--rec-train", str(tmp_path / "nope.rec"),
               "--save-dir", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert rc == 2 and "nope.rec" in err and "Traceback" not in err


OPENMP_PROBE = r"""
import os
import numpy as np
from mxnet import gluon, nd
from oneshot_nas import data, utils
from oneshot_nas.deploy.quantize import calibration_iter
from oneshot_nas.devices import topk_correct

def threads():
    return len(os.listdir("/proc/self/task"))

net = gluon.nn.HybridSequential()
net.add(gluon.nn.Conv2D(16, 3))
net.initialize()
net.hybridize()
net(nd.random.uniform(shape=(4, 3, 32, 32))).copy().wait_to_read()  # the engine's threads and OpenMP team
start = threads()
images = np.random.default_rng(0).integers(0, 255, (600, 28, 28)).astype(np.uint8)
pipeline = data.ArrayPipeline(images, np.arange(600) % 10, 256, train=True)  # 256 x 3 x 32 x 32 > 200k
batches = list(pipeline.epoch_batches(0)) + pipeline.fixed_subset(512, 1, 256)
for batch in calibration_iter(batches, 256):
    batch.data[0].wait_to_read()
scores = np.random.default_rng(1).normal(size=(300, 1000)).astype(np.float32)
assert np.array_equal(utils.to_numpy(utils.to_nd(scores)), scores)
assert topk_correct(utils.to_nd(scores), utils.to_nd(scores.argmax(1)))[0] == 300
after = threads()
nd.array(np.zeros((256, 3, 32, 32))).wait_to_read()  # the premise: nd.array copies with a team of its own
print(start, after, threads())
"""


def test_batches_and_metrics_start_no_openmp_team_in_the_main_thread():
    """A second OpenMP team makes libgomp stop spinning in every parallel region (2x slower steps on 2
    cores, see utils.to_nd); a team shows up as one more thread of the process."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": root, "OMP_NUM_THREADS": "2"}
    env.pop("MXNET_CPU_PARALLEL_SIZE", None)
    out = subprocess.run([sys.executable, "-c", OPENMP_PROBE], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    start, after, premise = map(int, out.stdout.split()[-3:])
    assert premise == after + 1, "nd.array no longer starts an OpenMP team in the calling thread: revisit utils.to_nd"
    assert after == start


@pytest.mark.slow
def test_distillation_from_a_gluoncv_teacher_uses_gluoncvs_loss(tmp_path, monkeypatch):
    """--teacher NAME: GluonCV's model zoo gives the teacher (here a stand-in for its pretrained weights, which
    need a download), GluonCV's distillation loss trains on it; --hard-weight 1 never loads it."""
    from gluoncv import model_zoo
    real, loaded = model_zoo.get_model, []

    def offline_teacher(name, pretrained=False, **kwargs):
        net = real(name, **kwargs)
        net.initialize(mx.init.Xavier())
        net(nd.zeros((1, 3, 32, 32)))
        loaded.append((name, pretrained))
        return net

    monkeypatch.setattr(model_zoo, "get_model", offline_teacher)
    own = offline_teacher("cifar_resnet20_v1", classes=10)
    for p in own.collect_params().values():
        if p.name.endswith("weight"):
            p.set_data(p.data() * 3)  # another teacher than the stand-in's own initialisation
    own.save_parameters(str(tmp_path / "teacher.params"))
    loaded.clear()
    runs = {}
    for name, extra in (("plain", []), ("taught", ["--teacher", "cifar_resnet20_v1", "--temperature", "4"]),
                        ("hard", ["--teacher", "cifar_resnet20_v1", "--hard-weight", "1"]),
                        ("own", ["--teacher", "cifar_resnet20_v1", "--temperature", "4",
                                 "--teacher-params", str(tmp_path / "teacher.params")])):
        save = str(tmp_path / name)
        assert main(["train", "--model", "OneShot", *TINY, "--num-epochs", "1", "--save-dir", save, *extra]) == 0
        runs[name] = json.loads(open(os.path.join(save, "history.jsonl")).readline())["train_loss"]
    # pretrained weights asked for once, not for --hard-weight 1, and not with --teacher-params
    assert loaded == [("cifar_resnet20_v1", True), ("cifar_resnet20_v1", False)]
    assert runs["hard"] == pytest.approx(runs["plain"]) and runs["taught"] != pytest.approx(runs["plain"])
    assert runs["own"] != pytest.approx(runs["taught"]) and runs["own"] != pytest.approx(runs["plain"])


def test_teacher_params_need_a_teacher_and_an_existing_file(tmp_path, capsys):
    for extra, named in ((["--teacher-params", "t.params"], "--teacher"),
                         (["--teacher", "cifar_resnet20_v1", "--teacher-params", str(tmp_path / "t.params")],
                          "does not exist")):
        rc = main(["train", "--model", "OneShot", *TINY, "--save-dir", str(tmp_path / "x"), *extra])
        err = capsys.readouterr().err
        assert rc == 2 and named in err and "Traceback" not in err


def test_a_block_warm_up_as_long_as_the_run_is_warned_about(tmp_path, capsys):
    argv = ["train", *TINY, "--train-limit", "64", "--val-limit", "32", "--num-epochs", "1", "--first-conv-stride",
            "2", "--save-dir", str(tmp_path / "supernet")]
    assert main([*argv, "--block-warm-up", "1"]) == 0
    assert "--block-warm-up 1 covers all 1 epoch(s)" in capsys.readouterr().err
    assert main([*argv, "--block-warm-up", "0", "--overwrite"]) == 0
    assert "covers all" not in capsys.readouterr().err


def test_fair_blocks_train_every_block_of_every_layer_once_per_step_after_the_warm_up(tmp_path):
    save = tmp_path / "supernet"
    assert main(["train", *TINY, "--num-epochs", "2", "--first-conv-stride", "2", "--block-warm-up", "1",
                 "--fair-blocks", "--save-dir", str(save)]) == 0
    warm, fair = [json.loads(line) for line in open(save / "history.jsonl")]
    steps = 256 // 32
    assert (warm["blocks_averaged"], warm["paths_per_step"]) == (4, 1)
    assert (fair["blocks_averaged"], fair["paths_per_step"]) == (1, 4) and fair["distinct_paths"] == 4 * steps
    assert json.load(open(save / "config.json"))["sampling"]["fair_blocks"] is True


def test_a_fair_step_averages_its_paths_gradients(tmp_path, monkeypatch):
    """Four copies of one path must make the step that path alone makes (a sum would make it 4x as large);
    without dropout, whose masks would differ between the copies."""
    from oneshot_nas.sampling import PathSampler
    first_only = PathSampler.paths
    argv = ["train", *TINY, "--train-limit", "32", "--val-limit", "32", "--num-epochs", "1", "--first-conv-stride", "2",
            "--dropout", "0"]

    def one_step(name, copies):
        monkeypatch.setattr(PathSampler, "paths", lambda self, epoch: first_only(self, epoch)[:1] * copies)
        assert main([*argv, "--save-dir", str(tmp_path / name)]) == 0
        return {k: v.asnumpy() for k, v in params_of(tmp_path / name).items()
                if not k.endswith(("running_mean", "running_var"))}

    single, fair = one_step("single", 1), one_step("fair", 4)
    for name, value in single.items():
        np.testing.assert_allclose(fair[name], value, rtol=1e-4, atol=1e-6, err_msg=name)
    assert len(single) > 100


def test_a_teacher_predicts_once_per_batch_whatever_the_number_of_paths(tmp_path, monkeypatch):
    """Under --fair-blocks four paths train on each batch: the teacher's soft targets are the same for all four,
    so it runs once per batch, not once per path."""
    from gluoncv import model_zoo
    from mxnet import gluon
    real, calls = model_zoo.get_model, []

    class CountingTeacher(gluon.Block):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            calls.append(x.shape[0])
            return self.inner(x)

    def offline_teacher(name, pretrained=False, **kwargs):
        net = real(name, **kwargs)
        net.initialize(mx.init.Xavier())
        return CountingTeacher(net)

    monkeypatch.setattr(model_zoo, "get_model", offline_teacher)
    assert main(["train", *TINY, "--train-limit", "64", "--val-limit", "32", "--num-epochs", "1",
                 "--first-conv-stride", "2", "--fair-blocks", "--teacher", "cifar_resnet20_v1",
                 "--save-dir", str(tmp_path / "supernet")]) == 0
    record = json.loads(open(tmp_path / "supernet" / "history.jsonl").readline())
    assert record["paths_per_step"] == 4
    assert calls == [32, 32]  # two batches of 32: one teacher forward each


def test_fair_blocks_with_use_all_blocks_is_one_clear_line(tmp_path, capsys):
    rc = main(["train", *TINY, "--fair-blocks", "--use-all-blocks", "--save-dir", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert rc == 2 and "--fair-blocks" in err and "--use-all-blocks" in err and "Traceback" not in err


def test_a_split_with_use_all_blocks_or_half_given_is_one_clear_line(tmp_path, capsys):
    rc = main(["train", *TINY, "--split-layer", "2", "--split-block", "1", "--use-all-blocks",
               "--save-dir", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert rc == 2 and "--split-layer" in err and "--use-all-blocks" in err and "Traceback" not in err
    rc = main(["train", *TINY, "--split-block", "1", "--save-dir", str(tmp_path / "y")])
    err = capsys.readouterr().err
    assert rc == 2 and "--split-layer and --split-block go together" in err and "Traceback" not in err


def test_a_block_only_supernet_trains_and_validates_at_its_scale_and_records_it(tmp_path, capsys):
    save = tmp_path / "supernet"
    assert main(["train", *TINY, "--num-epochs", "1", "--first-conv-stride", "2", "--fair-blocks",
                 "--fixed-channel-scale", "1.0", "--save-dir", str(save)]) == 0
    record = json.loads(open(save / "history.jsonl").readline())
    assert record["val_path"].endswith("-" + "4" * 20) and record["paths_per_step"] == 4
    assert json.load(open(save / "config.json"))["sampling"]["fixed_channel_scale"] == 1.0
    rc = main(["train", *TINY, "--fixed-channel-scale", "1.0", "--use-all-channels", "--save-dir", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert rc == 2 and "drop --use-all-channels" in err and "Traceback" not in err
