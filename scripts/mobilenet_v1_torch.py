"""MobileNetV1 in PyTorch with the module names of inference/mobilenet.c,
for the scripts that write networks with random weights for streamsight:
scripts/make-golden-fixtures.py (tests/fixtures/golden) and
bench/export_models.py (bench/compare). torchvision has no MobileNetV1.
"""

import torch
import torch.nn as nn


def v1_depth(c, alpha):
    """TF-slim's channel rule for MobileNetV1: max(int(c * alpha), 8)."""
    return max(int(c * alpha), 8)


class MobileNetV1(nn.Module):
    """features.0 = conv 3x3 s2 + BN + ReLU6; features.1..13 = depthwise
    3x3 + BN + ReLU6 + pointwise 1x1 + BN + ReLU6; classifier = Linear."""

    BLOCKS = ((1, 64), (2, 128), (1, 128), (2, 256), (1, 256), (2, 512),
              (1, 512), (1, 512), (1, 512), (1, 512), (1, 512), (2, 1024),
              (1, 1024))

    def __init__(self, alpha, num_classes, bn_eps):
        super().__init__()
        c = v1_depth(32, alpha)
        layers = [nn.Sequential(
            nn.Conv2d(3, c, 3, 2, 1, bias=False),
            nn.BatchNorm2d(c, eps=bn_eps), nn.ReLU6(inplace=True))]
        for stride, out in self.BLOCKS:
            o = v1_depth(out, alpha)
            layers.append(nn.Sequential(
                nn.Conv2d(c, c, 3, stride, 1, groups=c, bias=False),
                nn.BatchNorm2d(c, eps=bn_eps), nn.ReLU6(inplace=True),
                nn.Conv2d(c, o, 1, 1, 0, bias=False),
                nn.BatchNorm2d(o, eps=bn_eps), nn.ReLU6(inplace=True)))
            c = o
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))
