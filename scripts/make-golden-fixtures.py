#!/usr/bin/python3
"""Generate the whole-network golden fixtures in tests/fixtures/golden.

For each fixture: a MobileNet with random weights AND random batch-norm
statistics (so that folding at load time is exercised) is saved as a
.safetensors file with torchvision's tensor names, together with a few random
inputs and the logits PyTorch computes for them in eval mode. The C test
(tests/test-golden.c) loads the file with our loader, runs our engine and
compares the logits.

Run with Debian's interpreter, which has torch 1.13 and torchvision 0.14:

    /usr/bin/python3 scripts/make-golden-fixtures.py [OUTDIR]

The safetensors pip package is not available, so the format is written here
directly: an 8-byte little-endian header length N, N bytes of JSON header
(padded with spaces to a multiple of 8), then the raw little-endian data.

Files per fixture STEM (all little-endian):
    STEM.safetensors   the model; __metadata__ has arch, alpha, resolution,
                       num_classes and bn_eps
    STEM.inputs.f32    float32 [n][3][res][res], NCHW, already normalised
                       with the ImageNet mean/std (x = (pixel - mean) / std)
    STEM.logits.f32    float32 [n][num_classes], PyTorch's output
manifest.txt lists one fixture per line:
    STEM ARCH ALPHA RESOLUTION NUM_CLASSES N_INPUTS DTYPE

Storage dtypes other than F32 round the weights first, and the reference
logits are computed from the rounded weights, so the comparison stays exact up
to float32 arithmetic.
"""

import json
import os
import struct
import sys

import torch
import torch.nn as nn
import torchvision

from mobilenet_v1_torch import MobileNetV1

SEED = 20240611
NUM_CLASSES = 16
MEAN = (123.675, 116.28, 103.53)  # ImageNet, in 0..255 pixel units
STD = (58.395, 57.12, 57.375)

# (stem, arch, alpha, resolution, inputs, storage dtype, bn eps)
FIXTURES = (
    ("mobilenet_v2_0.25_64", "mobilenet_v2", 0.25, 64, 2, "F32", 1e-5),
    # 80 -> 40 -> 20 -> 10 -> 5 -> 3: odd sizes with stride 2 and padding.
    # TF-slim's batch-norm epsilon (1e-3), announced in the metadata.
    ("mobilenet_v1_0.25_80", "mobilenet_v1", 0.25, 80, 2, "F16", 1e-3),
)

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}


def build(arch, alpha, bn_eps):
    if arch == "mobilenet_v2":
        model = torchvision.models.mobilenet_v2(width_mult=alpha,
                                                num_classes=NUM_CLASSES)
        for mod in model.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.eps = bn_eps
        return model
    return MobileNetV1(alpha, NUM_CLASSES, bn_eps)


def random_pixels(n, res, gen):
    """Smooth random images in 0..255, normalised like ImageNet inputs."""
    coarse = torch.rand(n, 3, res // 8, res // 8, generator=gen) * 255.0
    img = nn.functional.interpolate(coarse, size=(res, res), mode="bilinear",
                                    align_corners=False)
    img = (img + torch.randn(n, 3, res, res, generator=gen) * 20.0)
    img = img.clamp(0.0, 255.0)
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return (img - mean) / std


@torch.no_grad()
def randomise(model, res, gen):
    """Random weights and batch-norm statistics that keep activations sane.

    gamma/beta are drawn first; then the running statistics are calibrated on
    random inputs (train mode, cumulative average), so that each BN sees data
    of about the variance its statistics describe, and finally perturbed so
    that they are not exactly the batch statistics. Without the calibration
    the gains compound through the 50-odd layers and the logits become so
    ill-conditioned that float32 rounding alone moves them by 0.1. gamma up
    to 2 and beta up to 0.7 make the ReLU6 upper clamp bite now and then."""
    for mod in model.modules():
        if isinstance(mod, nn.Conv2d):
            fan_in = mod.in_channels // mod.groups * mod.kernel_size[0] * \
                mod.kernel_size[1]
            mod.weight.normal_(0.0, (2.0 / fan_in) ** 0.5, generator=gen)
        elif isinstance(mod, nn.BatchNorm2d):
            n = mod.num_features
            mod.weight.copy_(0.5 + 1.5 * torch.rand(n, generator=gen))
            mod.bias.copy_(torch.rand(n, generator=gen) - 0.3)
            mod.reset_running_stats()
            mod.momentum = None  # cumulative moving average
        elif isinstance(mod, nn.Linear):
            bound = 3.0 / mod.in_features ** 0.5
            mod.weight.copy_((torch.rand(mod.weight.shape, generator=gen)
                              * 2 - 1) * bound)
            mod.bias.copy_(torch.rand(mod.bias.shape, generator=gen) * 0.2
                           - 0.1)
    model.train()
    model(random_pixels(8, res, gen))
    for mod in model.modules():
        if isinstance(mod, nn.BatchNorm2d):
            n = mod.num_features
            std = mod.running_var.sqrt()
            mod.running_mean += 0.1 * std * torch.randn(n, generator=gen)
            mod.running_var *= 0.8 + 0.45 * torch.rand(n, generator=gen)
    model.eval()


def round_to_storage(model, dtype):
    """Rounds every float parameter/buffer to the storage dtype, in place, so
    that the reference logits use exactly the weights the file holds."""
    with torch.no_grad():
        for t in list(model.state_dict().values()):
            if t.is_floating_point():
                t.copy_(t.to(dtype).to(torch.float32))


def tensor_bytes(t, dtype_name):
    if dtype_name == "I64":
        return t.to(torch.int64).contiguous().numpy().tobytes()
    t = t.to(DTYPES[dtype_name]).contiguous()
    if dtype_name == "BF16":  # numpy has no bfloat16: take the raw bits
        t = t.view(torch.int16)
    return t.numpy().tobytes()


def write_safetensors(path, state, dtype_name, metadata):
    header = {"__metadata__": metadata}
    chunks = []
    offset = 0
    for name, t in state.items():
        dt = dtype_name if t.is_floating_point() else "I64"
        b = tensor_bytes(t, dt)
        header[name] = {"dtype": dt, "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(b)]}
        chunks.append(b)
        offset += len(b)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in chunks:
            f.write(b)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    outdir = sys.argv[1] if len(sys.argv) > 1 else \
        os.path.join(here, "..", "tests", "fixtures", "golden")
    os.makedirs(outdir, exist_ok=True)
    torch.set_num_threads(1)
    print(f"seed {SEED}, torch {torch.__version__}, "
          f"torchvision {torchvision.__version__}")
    manifest = []
    for i, (stem, arch, alpha, res, n, dtype, eps) in enumerate(FIXTURES):
        torch.manual_seed(SEED + i)
        gen = torch.Generator().manual_seed(SEED + i)
        model = build(arch, alpha, eps)
        randomise(model, res, gen)
        round_to_storage(model, DTYPES[dtype])
        inputs = random_pixels(n, res, gen)
        with torch.no_grad():
            logits = model(inputs)
            logits64 = model.double()(inputs.double())
        model.float()
        meta = {"arch": arch, "alpha": repr(alpha), "resolution": str(res),
                "num_classes": str(NUM_CLASSES), "bn_eps": repr(eps),
                "generator": "scripts/make-golden-fixtures.py",
                "seed": str(SEED + i)}
        st = os.path.join(outdir, stem + ".safetensors")
        write_safetensors(st, model.state_dict(), dtype, meta)
        with open(os.path.join(outdir, stem + ".inputs.f32"), "wb") as f:
            f.write(inputs.contiguous().numpy().astype("<f4").tobytes())
        with open(os.path.join(outdir, stem + ".logits.f32"), "wb") as f:
            f.write(logits.contiguous().numpy().astype("<f4").tobytes())
        manifest.append(f"{stem} {arch} {alpha} {res} {NUM_CLASSES} {n} "
                        f"{dtype}")
        err32 = (logits.double() - logits64).abs().max().item()
        print(f"{stem}: {dtype}, {os.path.getsize(st)} bytes, logits range "
              f"[{logits.min().item():.3f}, {logits.max().item():.3f}], "
              f"float32 vs float64 max abs diff {err32:.2e}")
    with open(os.path.join(outdir, "manifest.txt"), "w") as f:
        f.write("# stem arch alpha resolution num_classes n_inputs dtype\n")
        f.write("\n".join(manifest) + "\n")


if __name__ == "__main__":
    main()
