import logging
import os
import sys

from .cli import main

code = main()
if "mxnet" in sys.modules:
    # MXNet can abort while the interpreter tears it down ("terminate called without an active exception",
    # apache/mxnet#17653): seen under load in runs that had finished their work and said so. Everything is written
    # by now: finish MXNet's queued work, flush, and leave without the C++ teardown.
    sys.modules["mxnet"].nd.waitall()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)
sys.exit(code)
