#!/bin/sh
# Install everything oneshot-nas needs: the Fashion-MNIST Debian package (where apt exists) and a
# virtual environment ./.venv with requirements.txt (REQUIREMENTS=requirements-gpu.txt on CUDA servers).
# Safe to run again: every step is idempotent.
set -eu
cd "$(dirname "$0")/.."

PY=${PYTHON:-$(command -v python3.11 || command -v python3 || true)}
[ -n "$PY" ] || { echo "setup: python3 (3.11 recommended) not found" >&2; exit 1; }
REQUIREMENTS=${REQUIREMENTS:-requirements.txt}

SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO=sudo; fi
if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" -eq 0 ] || [ -n "$SUDO" ]; }; then
    echo "setup: installing the Debian package dataset-fashion-mnist (the embedded default dataset)"
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq dataset-fashion-mnist >/dev/null
    # g++ builds the depthwise weight-gradient extension (oneshot_nas/nn/ext): supernet training 1.05-1.25x faster
    command -v g++ >/dev/null 2>&1 || $SUDO apt-get install -y -qq g++ >/dev/null
    "$PY" -m venv --help >/dev/null 2>&1 || $SUDO apt-get install -y -qq python3-venv >/dev/null
    if [ "${WITH_HOROVOD:-0}" = 1 ]; then command -v cmake >/dev/null 2>&1 || $SUDO apt-get install -y -qq cmake >/dev/null; fi
elif [ ! -d /usr/share/datasets/fashion-mnist ]; then
    echo "setup: no apt-get (or no root): put the four Fashion-MNIST IDX files (train-images-idx3-ubyte.gz ...)" \
         "in a folder and pass it with --data-dir" >&2
fi

if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv with $("$PY" --version 2>&1)"
    "$PY" -m venv .venv
fi
echo "setup: pip install -r $REQUIREMENTS"
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -r "$REQUIREMENTS"
if [ "${WITH_ONNX:-0}" = 1 ]; then
    # without dependencies: onnxruntime's metadata would pull numpy >= 1.24, which mxnet 1.9.1 cannot use
    echo "setup: pip install --no-deps -r requirements-onnx.txt (optional ONNX export)"
    .venv/bin/python -m pip install -q --no-deps -r requirements-onnx.txt
fi
if [ "${WITH_HOROVOD:-0}" = 1 ]; then
    # built from source against the installed mxnet (a few minutes); Gloo does the CPU all-reduce, no MPI needed
    echo "setup: pip install -r requirements-horovod.txt (optional Horovod, built with MXNet and Gloo)"
    .venv/bin/python -m pip install -q wheel
    HOROVOD_WITH_MXNET=1 HOROVOD_WITH_GLOO=1 HOROVOD_WITHOUT_MPI=1 HOROVOD_WITHOUT_TENSORFLOW=1 \
        HOROVOD_WITHOUT_PYTORCH=1 HOROVOD_CPU_OPERATIONS=GLOO \
        .venv/bin/python -m pip install -q --no-build-isolation --no-cache-dir -r requirements-horovod.txt
fi
.venv/bin/python -c "import mxnet, gluoncv, numpy; print('setup: mxnet', mxnet.__version__, '| numpy', numpy.__version__)" 2>/dev/null \
    | grep -v "^$" || true
# Compiles the extension now (it is cached under ~/.cache/oneshot_nas) rather than in the first training run.
.venv/bin/python -c "from oneshot_nas.nn import depthwise; print('setup: fast depthwise backward:', 'built' if depthwise.load() else 'unavailable (no g++): training uses the slower MXNet backward')" 2>/dev/null || true
