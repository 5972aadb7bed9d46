import sys

from .cli import main

code = main()
if "mxnet" in sys.modules:
    # Let MXNet's engine finish before the interpreter tears it down: exiting with work still queued can abort
    # the process at exit ("terminate called without an active exception", apache/mxnet#17653), seen once in a
    # run that had already said "nothing to do".
    sys.modules["mxnet"].nd.waitall()
sys.exit(code)
