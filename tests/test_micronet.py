"""MicroNet counting reproduces the published OneShot-S+ profile, and its rows add up."""
import json
import subprocess
import sys
import os

import pytest

from oneshot_nas import micronet, zoo
from oneshot_nas.space import SearchSpace

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PUBLISHED = {"params": 3.652e6, "mults": 301.4e6, "adds": 288.3e6, "score_fp32": 1.03, "score_fp16": 0.640,
             "score_int8": 0.280}


def test_oneshot_s_plus_matches_the_published_totals_within_one_percent():
    out = subprocess.run([sys.executable, "-m", "oneshot_nas", "micronet", "--model", "OneShot-S+", "--json"],
                         env={**os.environ, "PYTHONPATH": ROOT}, capture_output=True, text=True, check=True)
    got = json.loads(out.stdout)
    for key, value in PUBLISHED.items():
        assert got[key] == pytest.approx(value, rel=0.01), key


def test_rows_follow_the_convention_and_sum_to_the_totals():
    space = SearchSpace(use_se=True, last_conv_after_pooling=True, input_size=32, num_classes=10)
    rows = micronet.subnet_profile(space, zoo.get("OneShot-S+").candidate)
    first = rows[0]  # 3x3 conv, 3 -> 16 channels at 32x32 (stride-1 stem below 64 px), no bias (BN folded)
    assert (first.params, first.mults, first.adds) == (432, 27 * 16 * 32 * 32, 26 * 16 * 32 * 32)
    shuffles = [r for r in rows if r.op == "shuffle"]
    assert len(shuffles) == 16 and all(not r.quantizable and r.adds == 0 for r in shuffles)
    s = micronet.summary(rows)
    assert s["mults"] == sum(r.mults for r in rows) and s["params"] == sum(r.params for r in rows)
    assert s["score_int8"] < s["score_fp16"] < s["score_fp32"]
