import itertools
import os
import time

import numpy as np
import pytest

from oneshot_nas.space import SearchSpace

ALL_FLAG_COMBOS = [dict(channels_layout=layout, use_se=se, last_conv_after_pooling=lcap)
                   for layout, se, lcap in itertools.product(("OneShot", "ShuffleNetV2+"), (False, True),
                                                             (False, True))]


def wait_for(path, proc, seconds=300):
    """Whether ``path`` appears before ``proc`` ends or ``seconds`` pass."""
    deadline = time.time() + seconds
    while time.time() < deadline and proc.poll() is None and not os.path.exists(path):
        time.sleep(0.02)
    return os.path.exists(path)


def combo_id(flags):
    return "-".join([flags["channels_layout"]] + [k for k in ("use_se", "last_conv_after_pooling") if flags[k]])


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def small_space():
    return SearchSpace(input_size=32, num_classes=10)
