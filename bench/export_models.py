#!/usr/bin/python3
"""Builds the networks of bench/compare in PyTorch with random weights and
writes them for each runtime: safetensors for streamsight, ONNX for ONNX
Runtime; the same torch module is what PyTorch itself is timed on.

Run with Debian's interpreter (torch 1.13, torchvision 0.14):

    /usr/bin/python3 bench/export_models.py [--out bench/out] v2:1.0:224 v1:1.0:224

writes for each NET = ARCH_ALPHA_RES (e.g. mobilenet_v2_1.0_224):
    NET.safetensors   torchvision names (V1: our naming, see
                      scripts/mobilenet_v1_torch.py),
                      BN not folded; __metadata__ arch, alpha, resolution,
                      num_classes, bn_eps
    NET.onnx          torch.onnx.export of the same module in eval mode
                      (opset 13; the exporter folds BN into the convolutions)
    NET.input.nchw.f32  one random input, already normalised, NCHW (torch/ORT)
    NET.input.nhwc.f32  the same input, NHWC (streamsight)
    NET.logits.f32    PyTorch eager's logits for it (1000 float32)

torch.onnx.export in torch 1.13 does not need the `onnx` Python package (not
in Debian 12): the C++ exporter serialises the protobuf itself.
"""

import argparse
import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torchvision

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "scripts"))
from mobilenet_v1_torch import MobileNetV1  # noqa: E402

SEED = 20240612
NUM_CLASSES = 1000
BN_EPS = 1e-5
FLT_MIN = np.finfo(np.float32).tiny  # smallest normal float32


def build(arch, alpha):
    if arch == "mobilenet_v2":
        return torchvision.models.mobilenet_v2(width_mult=alpha,
                                               num_classes=NUM_CLASSES)
    if arch == "mobilenet_v1":
        return MobileNetV1(alpha, NUM_CLASSES, BN_EPS)
    raise ValueError(f"unknown architecture {arch}")


@torch.no_grad()
def randomise(model, res, gen):
    """He-normal convolutions, random BN gamma/beta, and running statistics
    calibrated on random inputs (then perturbed), so that activations stay of
    order one through the whole depth: no overflow, no vanishing into
    denormals that would slow one runtime and not another."""
    for mod in model.modules():
        if isinstance(mod, nn.Conv2d):
            fan_in = (mod.in_channels // mod.groups * mod.kernel_size[0]
                      * mod.kernel_size[1])
            mod.weight.normal_(0.0, (2.0 / fan_in) ** 0.5, generator=gen)
        elif isinstance(mod, nn.BatchNorm2d):
            n = mod.num_features
            mod.weight.copy_(0.5 + torch.rand(n, generator=gen))
            mod.bias.copy_(torch.rand(n, generator=gen) * 0.6 - 0.2)
            mod.reset_running_stats()
            mod.momentum = None  # cumulative average over the batches
        elif isinstance(mod, nn.Linear):
            bound = 1.0 / mod.in_features ** 0.5
            mod.weight.copy_((torch.rand(mod.weight.shape, generator=gen)
                              * 2 - 1) * bound)
            mod.bias.copy_(torch.rand(mod.bias.shape, generator=gen) * 0.2
                           - 0.1)
    model.train()
    model(torch.randn(4, 3, res, res, generator=gen))
    model.eval()
    for mod in model.modules():
        if isinstance(mod, nn.BatchNorm2d):
            n = mod.num_features
            mod.running_mean.add_((torch.rand(n, generator=gen) - 0.5) * 0.1)
            mod.running_var.mul_(0.9 + 0.2 * torch.rand(n, generator=gen))
    # No denormal weights anywhere (they would be flushed by some runtimes
    # and not others).
    for t in model.state_dict().values():
        if t.is_floating_point():
            t[(t.abs() < FLT_MIN) & (t != 0)] = 0.0
    return model


def save_safetensors(path, state, metadata):
    """The safetensors format: 8-byte little-endian header length, the JSON
    header (padded with spaces to a multiple of 8), then raw little-endian
    tensor data at the offsets the header gives."""
    header = {"__metadata__": metadata}
    blobs = []
    offset = 0
    for name, t in state.items():
        if name.endswith("num_batches_tracked"):
            continue  # int64 counter, not a weight
        a = t.detach().cpu().contiguous().numpy().astype("<f4", copy=False)
        b = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def fmt_alpha(alpha):
    """1.0 -> '1.0', 0.35 -> '0.35' (the released files' spelling)."""
    return f"{alpha:.1f}" if round(alpha * 10) == alpha * 10 else f"{alpha:g}"


def net_name(arch, alpha, res):
    return f"{arch}_{fmt_alpha(alpha)}_{res}"


def parse_spec(spec):
    """'v2:1.0:224' -> ('mobilenet_v2', 1.0, 224)"""
    arch, alpha, res = spec.split(":")
    arch = {"v1": "mobilenet_v1", "v2": "mobilenet_v2"}.get(arch, arch)
    return arch, float(alpha), int(res)


def export(arch, alpha, res, out_dir, seed=SEED):
    """Builds, randomises and writes one network; returns (name, model, x)
    with the eval-mode module and its NCHW input."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed + res + int(alpha * 100)
                                        + (1 if arch == "mobilenet_v1" else 2))
    model = randomise(build(arch, alpha), res, gen).eval()
    name = net_name(arch, alpha, res)
    base = os.path.join(out_dir, name)
    metadata = {"arch": arch, "alpha": fmt_alpha(alpha), "resolution": str(res),
                "num_classes": str(NUM_CLASSES), "bn_eps": f"{BN_EPS:g}"}
    save_safetensors(base + ".safetensors", model.state_dict(), metadata)
    x = torch.randn(1, 3, res, res, generator=gen)
    with torch.no_grad():
        logits = model(x)
    x.numpy().astype("<f4").tofile(base + ".input.nchw.f32")
    x.permute(0, 2, 3, 1).contiguous().numpy().astype("<f4").tofile(
        base + ".input.nhwc.f32")
    logits.numpy().astype("<f4").tofile(base + ".logits.f32")
    torch.onnx.export(model, x, base + ".onnx.tmp", opset_version=13,
                      input_names=["input"], output_names=["logits"],
                      do_constant_folding=True)
    os.replace(base + ".onnx.tmp", base + ".onnx")
    return name, model, x


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "out"))
    ap.add_argument("nets", nargs="+", help="ARCH:ALPHA:RES, e.g. v2:1.0:224")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for spec in args.nets:
        name, _, _ = export(*parse_spec(spec), args.out)
        print(os.path.join(args.out, name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
