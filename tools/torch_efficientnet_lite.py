"""A plain eager-PyTorch EfficientNet-Lite with the lukemelas key layout (development only).

Used as the peer in ``benchmarks/tag_speed.py`` and as a second reference in
``tools/torch_reference.py``. Needs ``torch`` (e.g. ``pip install torch==2.13.0``, the CPU build);
ocula itself never imports torch. Written from the architecture description, not from ocula's
ONNX converter, so the two can check each other.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

STAGES = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
          (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320))
VARIANTS = {0: (1.0, 1.0), 1: (1.0, 1.1), 2: (1.1, 1.2)}


def round_filters(c: int, width: float) -> int:
    c2 = c * width
    r = max(8, int(c2 + 4) // 8 * 8)
    return int(r + 8 if r < 0.9 * c2 else r)


class SameConv(nn.Conv2d):
    """Conv2d with TensorFlow 'SAME' padding computed from the input size.

    Stride-1 convolutions pad symmetrically (k // 2), which Conv2d does itself; only strided
    ones may need the extra row/column at the end, done with an explicit pad. (Padding every
    convolution, 1x1 included, would make this peer needlessly slow in the benchmark.)
    """

    def forward(self, x):
        k, s = self.kernel_size[0], self.stride[0]
        if s == 1:
            return F.conv2d(x, self.weight, None, 1, k // 2, 1, self.groups)
        ih, iw = x.shape[-2:]
        ph = max((math.ceil(ih / s) - 1) * s + k - ih, 0)
        pw = max((math.ceil(iw / s) - 1) * s + k - iw, 0)
        if ph or pw:
            x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return F.conv2d(x, self.weight, None, self.stride, 0, 1, self.groups)


class MBConv(nn.Module):
    def __init__(self, k, s, e, cin, cout):
        super().__init__()
        hid = cin * e
        self.expand = e != 1
        if self.expand:
            self._expand_conv = SameConv(cin, hid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(hid, eps=1e-3)
        self._depthwise_conv = SameConv(hid, hid, k, stride=s, groups=hid, bias=False)
        self._bn1 = nn.BatchNorm2d(hid, eps=1e-3)
        self._project_conv = SameConv(hid, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, eps=1e-3)
        self.skip = s == 1 and cin == cout

    def forward(self, x):
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.skip else y


class EfficientNetLite(nn.Module):
    def __init__(self, variant: int, classes: int = 1000):
        super().__init__()
        width, depth = VARIANTS[variant]
        self._conv_stem = SameConv(3, 32, 3, stride=2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=1e-3)
        blocks = []
        for i, (r, k, s, e, cin, cout) in enumerate(STAGES):
            cin = 32 if i == 0 else round_filters(cin, width)
            cout = round_filters(cout, width)
            n = r if i in (0, len(STAGES) - 1) else math.ceil(depth * r)
            for j in range(n):
                blocks.append(MBConv(k, s if j == 0 else 1, e, cin if j == 0 else cout, cout))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv(blocks[-1]._bn2.num_features, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, eps=1e-3)
        self._fc = nn.Linear(1280, classes)

    def forward(self, x):
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for b in self._blocks:
            x = b(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return self._fc(x.mean((2, 3)))


def load(variant: int, path: str) -> EfficientNetLite:
    model = EfficientNetLite(variant)
    model.load_state_dict(torch.load(path, map_location="cpu"))
    return model.eval()
