"""ONNX export of a saved subnet through MXNet's exporter (needs the optional onnx==1.15.0; see
requirements-onnx.txt). The channel shuffle must be the 1x1-conv form (ONNX has no Reshape -4 code)."""
from __future__ import annotations

from ..errors import OneShotError

OPSET = 13  # mxnet 1.9.1's translations are tested up to 13; onnx 1.15 would stamp its own newest (20)


def export_onnx(prefix: str, onnx_path: str, input_shape, opset: int = OPSET) -> str:
    """Convert ``prefix-symbol.json`` + ``prefix-0000.params`` into ``onnx_path`` at a fixed opset."""
    try:
        import onnx
        import onnx.defs
    except ImportError:
        raise OneShotError("ONNX export needs the optional onnx package: pip install -r requirements-onnx.txt") from None
    import mxnet as mx
    import numpy as np
    newest = onnx.defs.onnx_opset_version
    onnx.defs.onnx_opset_version = lambda: opset  # the exporter reads the opset from here
    try:
        mx.onnx.export_model(f"{prefix}-symbol.json", f"{prefix}-0000.params", [tuple(input_shape)], np.float32,
                             onnx_path)
    except AttributeError as e:
        raise OneShotError(f"the ONNX exporter cannot convert this graph ({e}); export the subnet with "
                           "--shuffle-by-conv") from None
    finally:
        onnx.defs.onnx_opset_version = newest
    model = onnx.load(onnx_path)
    # Weights listed as graph inputs cannot be constant-folded by ONNX Runtime: keep only real inputs.
    weights = {init.name for init in model.graph.initializer}
    real_inputs = [i for i in model.graph.input if i.name not in weights]
    del model.graph.input[:]
    model.graph.input.extend(real_inputs)
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            entry.version = opset
    onnx.checker.check_model(model)
    onnx.save(model, onnx_path)
    return onnx_path
