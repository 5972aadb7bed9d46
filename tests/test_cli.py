"""The count and lookup-table commands, including one-line errors for bad input."""
import json
import os
import subprocess
import sys

import pytest

from oneshot_nas.cli import main

ONESHOT = "00311100202110202132-65352634257546744543"


def run(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_count_json_for_zoo_model(capsys):
    rc, out, _ = run(capsys, "count", "--model", "OneShot-S+", "--json")
    assert rc == 0
    row = json.loads(out)
    assert row["candidate"] == "00010010320122120020-87685734242345663346"
    assert isinstance(row["flops"], int) and round(row["flops"] / 1e6) == 291
    assert round(row["params"] / 1e6, 1) == 3.5
    assert row["normalized_score"] == pytest.approx(row["flops"] / 328e6 + row["params"] / 3.4e6, abs=1e-6)


@pytest.mark.parametrize("method", ["lut", "symbol", "formula"])
def test_count_methods_agree(capsys, method):
    rc, out, _ = run(capsys, "count", ONESHOT, "--json", "--method", method)
    assert rc == 0 and json.loads(out)["flops"] == 327909096


def test_comma_lists_and_candidates_file(capsys, tmp_path):
    blocks = ",".join(ONESHOT[:20])
    channels = ",".join(ONESHOT[21:])
    rc, out, _ = run(capsys, "count", "--block-choices", blocks, "--channel-choices", channels, "--json")
    assert rc == 0 and json.loads(out)["candidate"] == ONESHOT
    f = tmp_path / "cands.txt"
    f.write_text(f"# two candidates\n{ONESHOT}\n\n00010010320122120020-87685734242345663346  # S+\n")
    rc, out, _ = run(capsys, "count", "--candidates", str(f), "--json", "--use-se", "--last-conv-after-pooling")
    rows = [json.loads(line) for line in out.splitlines()]
    assert rc == 0 and [r["candidate"] for r in rows][0] == ONESHOT and len(rows) == 2


@pytest.mark.parametrize("argv, words", [
    (["count", "--block-choices", "0," * 18 + "0", "--channel-choices", "1," * 19 + "1"], ["19 block genes"]),
    (["count", "00411100202110202132-65352634257546744543"], ["block gene 4", "0..3"]),
    (["count", "00311100202110202132-65352634257546744549"[:-1] + "x"], ["non-digit", "'x'"]),
    (["count", "--block-choices", "0," * 19 + "0", "--channel-choices", "1," * 19 + "10"], ["channel gene 10"]),
    (["count", "--model", "OneShotX"], ["unknown model", "OneShot-S+"]),
    (["count"], ["exactly one way"]),
    (["count", ONESHOT, "--model", "OneShot"], ["exactly one way"]),
    (["count", "--candidates", "/nonexistent/c.txt"], ["/nonexistent/c.txt"]),
    (["count", ONESHOT, "--input-size", "100"], ["input size 100"]),
    (["count", ONESHOT, "--comparison-model", "Foo"], ["unknown comparison model"]),
])
def test_bad_input_is_one_clear_line(capsys, argv, words):
    rc, out, err = run(capsys, *argv)
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err
    for w in words:
        assert w in lines[0]


def test_bad_line_in_candidates_file_names_the_line(capsys, tmp_path):
    f = tmp_path / "c.txt"
    f.write_text(ONESHOT + "\n0031-65\n")
    rc, _, err = run(capsys, "count", "--candidates", str(f))
    assert rc == 2 and f"{f}:2:" in err


def test_lookup_table_command_and_config_mismatch(capsys, tmp_path):
    path = tmp_path / "lut.json"
    rc, out, _ = run(capsys, "lookup-table", "--out", str(path), "--input-size", "32", "--num-classes", "10")
    assert rc == 0 and path.exists() and "20x4x10" in out
    rc, out, _ = run(capsys, "count", ONESHOT, "--lookup-table", str(path), "--input-size", "32",
                     "--num-classes", "10", "--json")
    assert rc == 0
    rc, _, err = run(capsys, "count", ONESHOT, "--lookup-table", str(path), "--json")
    assert rc == 2 and "was built for" in err


def test_first_conv_stride_flag_quarters_the_32px_network(capsys):
    flops = {}
    for stride in ("1", "2"):
        rc, out, _ = run(capsys, "count", ONESHOT, "--input-size", "32", "--num-classes", "10",
                         "--first-conv-stride", stride, "--json")
        assert rc == 0
        flops[stride] = json.loads(out)["flops"]
    assert 3.5 < flops["1"] / flops["2"] < 4.1  # a quarter of the pixels everywhere (the classifier stays)


def test_module_entry_point_runs():
    out = subprocess.run([sys.executable, "-m", "oneshot_nas", "count", "--model", "OneShot"],
                         capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__)))).stdout
    assert ONESHOT in out and "327.91M" in out


def test_plot_curves_from_history(capsys, tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    records = [{"epoch": e, "train_acc": 0.1 * e, "train_loss": 2 - 0.1 * e, "val_err_top1": 0.9 - 0.1 * e}
               for e in range(3)]
    (folder / "history.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    out = tmp_path / "curves.png"
    rc, _, _ = run(capsys, "plot-curves", str(folder / "history.jsonl"), "--out", str(out))
    assert rc == 0 and out.stat().st_size > 1000
    (folder / "bad.jsonl").write_text("not json\n")
    rc, _, err = run(capsys, "plot-curves", str(folder / "bad.jsonl"), "--out", str(out))
    assert rc == 2 and "bad.jsonl" in err


def test_config_presets_are_defaults_and_flags_win(capsys, tmp_path):
    from oneshot_nas.cli import apply_presets, build_parser
    preset = tmp_path / "p.json"
    preset.write_text(json.dumps({"lr": 0.3, "num-data-workers": 7, "use_se": True, "num-epochs": 9}))
    parser = build_parser()
    argv = ["train", "--config", str(preset), "--num-epochs", "2"]
    apply_presets(parser, argv)
    args = parser.parse_args(argv)
    assert (args.lr, args.num_workers, args.use_se, args.num_epochs) == (0.3, 7, True, 2)
    for flag, expected in (([], True), (["--no-use-se"], False), (["--no-use-se", "--use-se"], True)):
        argv = ["train", "--config", str(preset), *flag]  # a preset's true is turned off by --no-NAME
        apply_presets(parser, argv)
        assert parser.parse_args(argv).use_se is expected
    with pytest.raises(SystemExit):  # an option named no-... has no --no-no-... form
        parser.parse_args(["train", "--no-no-wd"])
    preset.write_text(json.dumps({"learning-rate": 1}))
    rc, _, err = run(capsys, "train", "--config", str(preset))
    assert rc == 2 and "unknown option 'learning-rate'" in err and "warmup-epochs" in err


def test_rank_study_takes_the_search_presets_and_skips_the_searchers_options(capsys, tmp_path):
    from oneshot_nas.cli import apply_presets, build_parser
    preset = tmp_path / "search.json"
    preset.write_text(json.dumps({"val-images": 123, "update-bn-images": 64, "population-size": 12,
                                  "search-mode": "random"}))
    parser = build_parser()
    argv = ["rank-study", "--config", str(preset), "--update-bn-images", "32"]
    apply_presets(parser, argv)
    args = parser.parse_args(argv)
    assert (args.val_images, args.update_bn_images) == (123, 32)
    assert "skipped: population-size, search-mode" in capsys.readouterr().err
    preset.write_text(json.dumps({"val-images": 123, "populaton-size": 12}))  # a typo is still an error
    rc, _, err = run(capsys, "rank-study", "--config", str(preset))
    assert rc == 2 and "unknown option 'populaton-size' for `rank-study`" in err


@pytest.mark.parametrize("name", sorted(os.listdir(os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "configs"))))
def test_shipped_presets_are_valid(name):
    from oneshot_nas.cli import apply_presets, build_parser
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", name)
    command = "search" if name.startswith("search_") else "train"
    parser = build_parser()
    apply_presets(parser, [command, "--config", path])  # raises on an unknown option
    args = parser.parse_args([command, "--config", path])
    preset = json.load(open(path))
    key = "search-iters" if command == "search" else "num-epochs"
    assert getattr(args, key.replace("-", "_")) == preset[key]
    if command == "search":  # rank-study scores as the search does, from the same preset
        apply_presets(parser, ["rank-study", "--config", path])
        assert parser.parse_args(["rank-study", "--config", path]).update_bn_images == preset["update-bn-images"]


def test_options_reference_is_current():
    from oneshot_nas.cli import options_markdown
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "logs", "train_search_options.md")
    with open(path) as f:
        assert f.read() == options_markdown(), \
            "logs/train_search_options.md is stale: run python -m oneshot_nas options-doc --out logs/train_search_options.md"


def test_more_gpus_than_visible_is_one_clear_line_before_any_work(capsys, tmp_path):
    import mxnet as mx
    from oneshot_nas.devices import require_gpus
    from oneshot_nas.errors import OneShotError
    with pytest.raises(OneShotError, match=r"--num-gpus 2 asks for 2 GPU\(s\).*--num-gpus 0"):
        require_gpus(2, visible=1)
    require_gpus(1, visible=1)
    if mx.context.num_gpus():
        pytest.skip("this machine has GPUs: the CLI case below needs a machine without")
    save = tmp_path / "run"
    rc = main(["train", "--model", "OneShot", "--dataset", "fashion-mnist", "--input-size", "32", "--num-classes",
               "10", "--num-gpus", "1", "--save-dir", str(save)])
    err = capsys.readouterr().err
    assert rc == 2 and "--num-gpus 1 asks for 1 GPU(s)" in err and "Traceback" not in err
    assert not (save / "checkpoints").exists()
