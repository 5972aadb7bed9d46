"""Deployment: BN folding and export (merge_bn); quantization, ONNX and latency tables build on it."""
