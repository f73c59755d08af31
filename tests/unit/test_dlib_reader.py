"""The dlib network reader and the face ResNet converter: real file, and damaged ones."""

from __future__ import annotations

import onnx
import pytest

from ocula import ConversionError
from ocula.models.convert.dlib_dnn import read_dlib_net
from ocula.models.convert.dlib_face_resnet import build_dlib_face_resnet
from ocula.models.files import resolve_files
from ocula.models.registry import get_model


@pytest.fixture(scope="module")
def dat_bytes() -> bytes:
    from ocula import Settings

    return resolve_files(get_model("dlib_resnet_face"), Settings())["weights"].read_bytes()


def test_reads_the_face_resnet(dat_bytes):
    net = read_dlib_net(dat_bytes, loss="loss_metric_2", input_kind="input_rgb_image_sized")
    kinds = [layer.kind for layer in net.layers]
    assert kinds.count("con_4") == 29 and kinds.count("affine_") == 29 and kinds.count("add_prev_") == 14
    assert kinds[:4] == ["con_4", "affine_", "relu_", "max_pool_2"] and kinds[-2:] == ["avg_pool_2", "fc_2"]
    assert (net.input.rows, net.input.cols) == (150, 150)
    assert net.input.mean_rgb == pytest.approx((122.782, 117.001, 104.298), abs=1e-3)
    assert net.loss_params == pytest.approx((0.04, 0.6))
    stem = net.layers[0]
    assert stem.fields["filters"] == (32, 3, 7, 7) and stem.int("stride_y") == 2 and stem.int("padding_y") == 0
    assert net.layers[-1].tensor("params").shape == (256, 128, 1, 1)


def test_graph_is_valid_and_shaped(dat_bytes):
    model = build_dlib_face_resnet(dat_bytes)
    onnx.checker.check_model(model)
    assert [i.name for i in model.graph.input] == ["chips"] and [o.name for o in model.graph.output] == ["descriptor"]
    # Three of the down-sampling blocks add tensors of different sizes: dlib zero-pads, so must we.
    assert sum(n.op_type == "Pad" for n in model.graph.node) >= 3
    assert not any(n.op_type == "BatchNormalization" for n in model.graph.node)  # affine folded into conv


@pytest.mark.parametrize("cut", [10, 300, 5000, 1_000_000, -7])
def test_truncated_file_is_a_conversion_error(dat_bytes, cut):
    with pytest.raises(ConversionError):
        build_dlib_face_resnet(dat_bytes[:cut])


def test_other_files_are_refused(dat_bytes):
    with pytest.raises(ConversionError, match="expected a loss_metric_2"):
        build_dlib_face_resnet(dat_bytes.replace(b"loss_metric_2", b"loss_mmod_xx2", 1))
    with pytest.raises(ConversionError, match="not supported"):
        build_dlib_face_resnet(dat_bytes.replace(b"\x05relu_", b"\x05relX", 1))
    with pytest.raises(ConversionError):
        build_dlib_face_resnet(b"\x00" * 64)
    with pytest.raises(ConversionError):
        build_dlib_face_resnet(b"")
    # Extra bytes after the last layer are not silently ignored.
    with pytest.raises(ConversionError):
        build_dlib_face_resnet(dat_bytes + b"\x01\x05relu_")


def test_forged_tensor_size_is_refused_before_allocating(dat_bytes):
    # The stem's params tensor header is "01 02 | 02 80 12 | 01 01 | 01 01 | 01 01"; make n huge.
    i = dat_bytes.index(b"\x01\x02\x02\x80\x12\x01\x01")
    forged = dat_bytes[:i] + b"\x01\x02\x08" + b"\xff" * 7 + b"\x0f" + dat_bytes[i + 5 :]
    with pytest.raises(ConversionError):
        build_dlib_face_resnet(forged)
