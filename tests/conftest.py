import itertools

import numpy as np
import pytest

from oneshot_nas.space import SearchSpace

ALL_FLAG_COMBOS = [dict(channels_layout=layout, use_se=se, last_conv_after_pooling=lcap)
                   for layout, se, lcap in itertools.product(("OneShot", "ShuffleNetV2+"), (False, True),
                                                             (False, True))]


def combo_id(flags):
    return "-".join([flags["channels_layout"]] + [k for k in ("use_se", "last_conv_after_pooling") if flags[k]])


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def small_space():
    return SearchSpace(input_size=32, num_classes=10)
