"""Turning weights files into ONNX graphs, without torch.

``CONVERTER_VERSIONS`` names each converter with its version, without importing it: the version
is part of a cached graph's file name, and a converter module imports ``onnx`` (about a second),
so finding an already converted graph must not need the converter.
"""

__all__ = ["CONVERTER_VERSIONS"]

CONVERTER_VERSIONS: dict[str, int] = {
    "efficientnet_lite": 2,  # 2: the head's feature map is an output too (GeM pooling for search)
    "dlib_face_resnet": 1,
    # 2: PRelu as Relu + slope * Min(x, 0); 3: PRelu in the convolutions' blocked layout (same
    # numbers); 4: YuNet's input size left open (the same bits at 640x640)
    "onnx_dequantize": 4,
    "tflite_blazeface": 1,
}
