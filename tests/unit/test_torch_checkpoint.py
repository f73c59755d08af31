"""The restricted .pth reader: both formats, strides, and refusal of anything but tensors."""

from __future__ import annotations

import pickle
import struct
import zipfile

import numpy as np
import pytest

from ocula import ConversionError
from ocula.models.convert.torch_checkpoint import load_state_dict

from ..conftest import FIXTURES


@pytest.mark.parametrize("fmt", ["zip", "legacy"])
def test_reads_torch_saved_state_dicts(fmt):
    # Saved by torch 2.13 itself (tools/torch_reference.py): channels-last, transposed, sliced,
    # 0-d int64, float16, int32 tensors.
    got = load_state_dict(FIXTURES / f"tiny_checkpoint_{fmt}.pth")
    expected = np.load(FIXTURES / "tiny_checkpoint_expected.npz")
    assert set(got) == set(expected.files)
    for key in expected.files:
        assert got[key].dtype == expected[key].dtype, key
        assert got[key].shape == expected[key].shape, key
        np.testing.assert_array_equal(got[key], expected[key], err_msg=key)
        assert got[key].flags.c_contiguous


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned",))


def _legacy_bytes(payload: bytes) -> bytes:
    head = b"".join(pickle.dumps(x, protocol=2) for x in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}))
    return head + payload


def test_refuses_code_in_legacy_checkpoint(tmp_path):
    path = tmp_path / "evil.pth"
    path.write_bytes(_legacy_bytes(pickle.dumps({"w": _Evil()}, protocol=2)))
    with pytest.raises(ConversionError, match=r"posix.system|os.system|refused"):
        load_state_dict(path)


def test_refuses_code_in_header_pickles(tmp_path):
    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps(_Evil(), protocol=2))
    with pytest.raises(ConversionError, match="refused"):
        load_state_dict(path)


def test_refuses_code_in_zip_checkpoint(tmp_path):
    path = tmp_path / "evil.pth"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", pickle.dumps({"w": _Evil()}, protocol=2))
    with pytest.raises(ConversionError, match="refused"):
        load_state_dict(path)


def _str(text: str) -> bytes:
    raw = text.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw  # BINUNICODE


def _int(n: int) -> bytes:
    if -(2**31) <= n < 2**31:
        return b"J" + struct.pack("<i", n)  # BININT
    raw = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(raw)]) + raw  # LONG1


def _tuple(*items: bytes) -> bytes:
    return b"(" + b"".join(items) + b"t"  # MARK ... TUPLE


def _tensor_pickle(size, stride, offset=0, numel=4) -> bytes:
    """Pickle opcodes of ``{'w': tensor}`` exactly as torch's legacy format writes them, assembled
    by hand so the test needs no torch (and puts no fake torch module in sys.modules)."""
    storage_id = _tuple(_str("storage"), b"ctorch\nFloatStorage\n", _str("0"), _str("cpu"), _int(numel), b"N")
    args = _tuple(storage_id + b"Q", _int(offset), _tuple(*map(_int, size)), _tuple(*map(_int, stride)), b"\x89", b"}")
    return b"\x80\x02}" + _str("w") + b"ctorch._utils\n_rebuild_tensor_v2\n" + args + b"Rs."


def _write_legacy(tmp_path, size, stride, offset=0, numel=4):
    body = _tensor_pickle(size, stride, offset, numel)
    storage = struct.pack("<q", numel) + np.arange(numel, dtype=np.float32).tobytes()
    path = tmp_path / "t.pth"
    path.write_bytes(_legacy_bytes(body + pickle.dumps(["0"], protocol=2) + storage))
    return path


def test_hand_built_legacy_file_reads(tmp_path):
    got = load_state_dict(_write_legacy(tmp_path, (2, 2), (1, 2)))  # transposed 2x2
    np.testing.assert_array_equal(got["w"], np.array([[0, 2], [1, 3]], np.float32))


def test_view_outside_storage_is_refused(tmp_path):
    with pytest.raises(ConversionError, match="reaches element"):
        load_state_dict(_write_legacy(tmp_path, (4, 4), (4, 1)))  # 16 elements from a 4-element storage


def test_broadcast_view_larger_than_its_storage_is_refused(tmp_path):
    # stride 0 keeps the view inside 4 elements, but copying it would need 4 TiB
    with pytest.raises(ConversionError, match="larger than"):
        load_state_dict(_write_legacy(tmp_path, (1 << 20, 1 << 20), (0, 0)))


def test_storage_claiming_more_than_the_file_is_refused(tmp_path):
    body = _tensor_pickle((2,), (1,), numel=1 << 40)
    path = tmp_path / "t.pth"
    path.write_bytes(_legacy_bytes(body + pickle.dumps(["0"], protocol=2) + struct.pack("<q", 1 << 40) + b"\0" * 64))
    with pytest.raises(ConversionError, match="more bytes than the file"):
        load_state_dict(path)


def test_truncated_legacy_file(tmp_path):
    path = _write_legacy(tmp_path, (2, 2), (2, 1))
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(ConversionError, match="truncated"):
        load_state_dict(path)


def test_not_a_checkpoint(tmp_path):
    (tmp_path / "x.pth").write_bytes(b"hello world")
    with pytest.raises(ConversionError):
        load_state_dict(tmp_path / "x.pth")
    with pytest.raises(ConversionError):
        load_state_dict(tmp_path / "missing.pth")
