"""Horovod for `--kvstore horovod` (one process per device): its initialisation, and a DistributedTrainer that
all-reduces only the gradients of the current path. (kvstore device/local/dist_sync need nothing here: Gluon's
Trainer drives them.)"""
from __future__ import annotations

from .errors import OneShotError
from .nn import depthwise


def init_horovod(cfg):
    """``horovod.mxnet``, initialised, for ``--kvstore horovod`` (one process per device)."""
    if cfg.num_gpus > 1 or cfg.num_cpu_contexts > 1:
        raise OneShotError("with --kvstore horovod each process drives one device: start one process per GPU "
                           "(horovodrun -np N ...) with --num-gpus 1, or --num-gpus 0 for CPU processes")
    # The depthwise extension and horovod.mxnet do not mix (horovod 0.28.1, mxnet 1.9.1): loaded after the
    # import, MXNet's library loader dies with SIGFPE; loaded before, the first step aborts in free().
    # It only speeds up CPU training (GPUs never use it), so Horovod runs go without it.
    depthwise.disable("--kvstore horovod")
    try:
        import horovod.mxnet as hvd
    except ImportError:
        raise OneShotError("--kvstore horovod needs Horovod built with MXNet support: WITH_HOROVOD=1 sh "
                           "scripts/setup.sh (see the README's multi-machine section)") from None
    hvd.init()
    return hvd


def horovod_trainer(hvd, params, opt):
    """Horovod's DistributedTrainer (gradients averaged over processes, then a local NAG update) that
    all-reduces only the gradients the current path produced. Every process trains the same path (same
    sampler seed), so all submit the same tensors; blocks off the path keep their stale gradients, which
    the update skips, as on one machine."""

    class PathTrainer(hvd.DistributedTrainer):
        def _allreduce_grads(self):
            if hvd.size() == 1:
                return
            for i, param in enumerate(self._params):
                # the flag ignore_stale_grad reads: set on the weight by backward, cleared by the update
                if param.grad_req != "null" and param.list_data()[0]._fresh_grad:
                    hvd.allreduce_(param.list_grad()[0], average=not self._average_in_framework,
                                   name=str(i), priority=-i, postscale_factor=self._postscale_factor)

    return PathTrainer(params, "nag", opt)
