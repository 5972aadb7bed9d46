"""One supernet step under horovodrun (used by tests/test_distributed.py): each process saves its
gradient, its weights before and after the step to OUT_DIR/rank<R>.params."""
import sys
import types

import mxnet as mx
import numpy as np
from mxnet import autograd, nd

from oneshot_nas.nn import Supernet
from oneshot_nas.space import SearchSpace
from oneshot_nas.distributed import horovod_trainer, init_horovod

hvd = init_horovod(types.SimpleNamespace(num_gpus=0, num_cpu_contexts=1))
space = SearchSpace(input_size=32, num_classes=10)
mx.random.seed(hvd.rank())  # different initial weights: the broadcast must make them rank 0's
net = Supernet(space)
net.initialize()
hvd.broadcast_parameters(net.collect_params(), root_rank=0)
params = net.collect_params()
trainer = horovod_trainer(hvd, params, {"learning_rate": 0.1, "momentum": 0.0, "wd": 0.0})
candidate = space.sample(np.random.default_rng(0))  # the same path in every process
x = nd.array(np.random.RandomState(hvd.rank()).uniform(-1, 1, (4, 3, 32, 32)))  # different data
trained = {n: p for n, p in params.items() if p.grad_req != "null"}  # BN statistics stay per process
saved = {f"before:{n}": p.data().copy() for n, p in trained.items()}
with autograd.record():
    loss = net(x, candidate).sum()
loss.backward()
saved.update({f"grad:{n}": p.grad().copy() for n, p in trained.items()})
trainer.step(4, ignore_stale_grad=True)
saved.update({f"after:{n}": p.data().copy() for n, p in trained.items()})
nd.save(f"{sys.argv[1]}/rank{hvd.rank()}.params", saved)
