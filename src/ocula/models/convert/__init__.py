"""Turning weights files into ONNX graphs, without torch."""
