#!/usr/bin/env python3
"""Fixtures for gen's Depth Anything V2 (tests/data/depth_anything/), from transformers'
DepthAnythingForDepthEstimation.

A tiny random model with the real structure (DINOv2 ViT with layer scale, patch 14, the DPT
head of Depth Anything V2, relative depth), its state dict renamed to the ORIGINAL
Depth-Anything-V2 key names (the inverse of transformers' conversion script: q/k/v joined into
`attn.qkv`, `layer_scale1.lambda1` -> `ls1.gamma`, the fusion layers reversed into
`refinenet4..1`, ...) and saved as the original files are (torch.save of a plain state dict,
depth_anything_v2_tiny.pth) plus a .safetensors copy; and transformers' own save_pretrained of
the same model (depth_anything_v2_tiny_hf.safetensors: the -hf repositories' model.safetensors
layout).

For each test image (written as PNG) the script stores:
  input.K          the network input [1,3,h,w]: the original repo's preprocessing (shorter
                   side to the input size, keep aspect, multiple of 14 (lower bound),
                   cv2.INTER_CUBIC on RGB/255 float, ImageNet mean/std)
  depth_hf.K       transformers' predicted depth [1,h,w] (its DINOv2 interpolates the position
                   embeddings to a target size)
  depth_orig.K     the same network with the original DINOv2 interpolation (bicubic with
                   scale_factor = (patches + 0.1) / grid), patched into transformers' module
  depth_full.K     depth_orig resized to the image size (bilinear, align_corners=True)
  map.K            the 8-bit ControlNet map: (d - min) / (max - min) * 255 -> uint8 [H, W]
Usage: python tools/depth_anything_reference.py OUT_DIR
"""
import json
import math
import shutil
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import save_file
from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config

HIDDEN, LAYERS, HEADS = 8, 4, 1
OUT_INDICES = [1, 2, 3, 4]  # 1-based stages: blocks 0..3 (gen's rule for a depth other than 12/24/40)
NECK = [4, 4, 8, 8]
FUSION = 4
GRID = 4  # the position embeddings' grid: image_size 56 / patch 14
INPUT_SIZE = 42


def make_model():
    torch.manual_seed(0)
    backbone = Dinov2Config(hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS, mlp_ratio=4,
                            image_size=GRID * 14, patch_size=14, layerscale_value=1.0,
                            out_indices=OUT_INDICES, apply_layernorm=True, reshape_hidden_states=False)
    config = DepthAnythingConfig(backbone_config=backbone, reassemble_hidden_size=HIDDEN, patch_size=14,
                                 fusion_hidden_size=FUSION, neck_hidden_sizes=NECK,
                                 depth_estimation_type="relative", head_hidden_size=32)
    model = DepthAnythingForDepthEstimation(config).eval()
    with torch.no_grad():  # random everything, including layer scales, norms and biases
        for name, p in model.named_parameters():
            if name.endswith("lambda1") or (("norm" in name) and name.endswith("weight")):
                p.copy_(1.0 + 0.3 * torch.randn_like(p))
            elif p.dim() == 1:
                p.copy_(0.1 * torch.randn_like(p))
            else:
                fan_in = p[0].numel()
                p.copy_(torch.randn_like(p) / math.sqrt(fan_in))
    return model


def original_state_dict(model):
    """transformers' names -> the original repo's (inverse of convert_depth_anything_to_hf.py)."""
    sd = model.state_dict()
    out = {}
    e = "backbone.embeddings."
    out["pretrained.cls_token"] = sd[e + "cls_token"]
    out["pretrained.mask_token"] = sd[e + "mask_token"].reshape(1, HIDDEN)
    out["pretrained.pos_embed"] = sd[e + "position_embeddings"]
    out["pretrained.patch_embed.proj.weight"] = sd[e + "patch_embeddings.projection.weight"]
    out["pretrained.patch_embed.proj.bias"] = sd[e + "patch_embeddings.projection.bias"]
    for i in range(LAYERS):
        h, o = f"backbone.encoder.layer.{i}.", f"pretrained.blocks.{i}."
        out[o + "norm1.weight"], out[o + "norm1.bias"] = sd[h + "norm1.weight"], sd[h + "norm1.bias"]
        a = h + "attention."  # transformers 5: q_proj/k_proj/v_proj/o_proj (4.x: attention.query, ...)
        out[o + "attn.qkv.weight"] = torch.cat([sd[a + k + "_proj.weight"] for k in "qkv"])
        out[o + "attn.qkv.bias"] = torch.cat([sd[a + k + "_proj.bias"] for k in "qkv"])
        out[o + "attn.proj.weight"] = sd[a + "o_proj.weight"]
        out[o + "attn.proj.bias"] = sd[a + "o_proj.bias"]
        out[o + "ls1.gamma"] = sd[h + "layer_scale1.lambda1"]
        out[o + "norm2.weight"], out[o + "norm2.bias"] = sd[h + "norm2.weight"], sd[h + "norm2.bias"]
        for fc in ("fc1", "fc2"):
            out[o + f"mlp.{fc}.weight"] = sd[h + f"mlp.{fc}.weight"]
            out[o + f"mlp.{fc}.bias"] = sd[h + f"mlp.{fc}.bias"]
        out[o + "ls2.gamma"] = sd[h + "layer_scale2.lambda1"]
    out["pretrained.norm.weight"] = sd["backbone.layernorm.weight"]
    out["pretrained.norm.bias"] = sd["backbone.layernorm.bias"]
    for i in range(4):
        r = f"neck.reassemble_stage.layers.{i}."
        out[f"depth_head.projects.{i}.weight"] = sd[r + "projection.weight"]
        out[f"depth_head.projects.{i}.bias"] = sd[r + "projection.bias"]
        if i != 2:
            out[f"depth_head.resize_layers.{i}.weight"] = sd[r + "resize.weight"]
            out[f"depth_head.resize_layers.{i}.bias"] = sd[r + "resize.bias"]
        out[f"depth_head.scratch.layer{i + 1}_rn.weight"] = sd[f"neck.convs.{i}.weight"]
    for i in range(1, 5):
        f, o = f"neck.fusion_stage.layers.{4 - i}.", f"depth_head.scratch.refinenet{i}."
        out[o + "out_conv.weight"], out[o + "out_conv.bias"] = sd[f + "projection.weight"], sd[f + "projection.bias"]
        for u in (1, 2):
            for c in (1, 2):
                for t in ("weight", "bias"):
                    out[o + f"resConfUnit{u}.conv{c}.{t}"] = sd[f + f"residual_layer{u}.convolution{c}.{t}"]
    for a, b in (("output_conv1", "conv1"), ("output_conv2.0", "conv2"), ("output_conv2.2", "conv3")):
        out[f"depth_head.scratch.{a}.weight"] = sd[f"head.{b}.weight"]
        out[f"depth_head.scratch.{a}.bias"] = sd[f"head.{b}.bias"]
    assert len(out) == len(sd) - 4 * LAYERS  # q, k, v (weight, bias) joined into qkv
    return {k: v.contiguous().clone() for k, v in out.items()}


def original_interpolation(self, embeddings, height, width):
    """The original DINOv2 (Depth-Anything-V2/depth_anything_v2/dinov2.py, interpolate_offset 0.1,
    no antialias): bicubic with scale_factor (patches + 0.1) / grid; written from its description."""
    npatch = embeddings.shape[1] - 1
    n = self.position_embeddings.shape[1] - 1
    if npatch == n and height == width:
        return self.position_embeddings
    cls, patch = self.position_embeddings[:, :1], self.position_embeddings[:, 1:]
    dim = embeddings.shape[-1]
    h0, w0 = height // 14, width // 14
    m = int(math.sqrt(n))
    patch = patch.reshape(1, m, m, dim).permute(0, 3, 1, 2)
    patch = F.interpolate(patch, scale_factor=(float(h0 + 0.1) / m, float(w0 + 0.1) / m), mode="bicubic",
                          antialias=False)
    assert patch.shape[-2:] == (h0, w0)
    return torch.cat((cls, patch.permute(0, 2, 3, 1).reshape(1, -1, dim)), dim=1)


def test_images():
    rng = np.random.default_rng(7)
    out = {}
    for key, (w, h) in {"a": (40, 30), "b": (30, 41)}.items():
        y, x = np.mgrid[0:h, 0:w].astype(np.float64)
        base = np.stack([128 + 100 * np.sin(x / 9 + c) * np.cos(y / 11 - c) for c in range(3)], -1)
        img = np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)
        out[key] = img
    return out


def network_input(rgb, input_size):
    """The original repo's image2tensor: Resize(keep_aspect_ratio, ensure_multiple_of=14,
    resize_method='lower_bound', cv2.INTER_CUBIC) on RGB / 255, NormalizeImage, PrepareForNet."""
    h, w = rgb.shape[:2]
    sh, sw = input_size / h, input_size / w
    s = sw if sw > sh else sh  # lower_bound: scale so that both sides reach the input size
    def mult(v):  # constrain_to_multiple_of(min_val=input_size): round, then up if below
        y = int(np.round(v / 14) * 14)
        if y < input_size:
            y = int(np.ceil(v / 14) * 14)
        return y
    nh, nw = mult(s * h), mult(s * w)
    img = cv2.resize(rgb.astype(np.float32) / 255.0, (nw, nh), interpolation=cv2.INTER_CUBIC)
    img = (img - np.array([0.485, 0.456, 0.406], np.float32)) / np.array([0.229, 0.224, 0.225], np.float32)
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))[None].float()


def main():
    out_dir = Path(sys.argv[1])
    out_dir.mkdir(parents=True, exist_ok=True)
    model = make_model()
    sd = original_state_dict(model)
    torch.save(sd, out_dir / "depth_anything_v2_tiny.pth")
    save_file(sd, str(out_dir / "depth_anything_v2_tiny.safetensors"))
    # The same weights as a Hugging Face -hf repository holds them: transformers' own
    # save_pretrained (model.safetensors, the names transformers 4 and 5 write).
    with tempfile.TemporaryDirectory() as hf_dir:
        model.save_pretrained(hf_dir)
        shutil.copyfile(Path(hf_dir) / "model.safetensors", out_dir / "depth_anything_v2_tiny_hf.safetensors")
    emb = model.backbone.embeddings
    io = {}
    for key, rgb in test_images().items():
        Image.fromarray(rgb).save(out_dir / f"image_{key}.png")
        x = network_input(rgb, INPUT_SIZE)
        io[f"input.{key}"] = x
        with torch.no_grad():
            io[f"depth_hf.{key}"] = model(pixel_values=x).predicted_depth
            emb.interpolate_pos_encoding = original_interpolation.__get__(emb)
            d = model(pixel_values=x).predicted_depth
            del emb.interpolate_pos_encoding
        io[f"depth_orig.{key}"] = d
        h, w = rgb.shape[:2]
        full = F.interpolate(d[:, None], (h, w), mode="bilinear", align_corners=True)[0, 0]
        io[f"depth_full.{key}"] = full
        # run.py / A1111: (depth - min) / (max - min) * 255, numpy astype(uint8) after float ops
        dn = full.numpy()
        m = (dn - dn.min()) / (dn.max() - dn.min()) * 255.0
        io[f"map.{key}"] = torch.from_numpy(m.astype(np.uint8))
        diff = (io[f"depth_hf.{key}"] - d).abs().max().item() / d.abs().max().item()
        print(f"image {key} {w}x{h}: input {tuple(x.shape[2:])}, target-size vs +0.1 interpolation: "
              f"max relative difference {diff:.3e}")
    save_file({k: v.contiguous() for k, v in io.items()}, str(out_dir / "depth_io.safetensors"))
    (out_dir / "cases.json").write_text(json.dumps({"input_size": INPUT_SIZE, "images": ["a", "b"]}) + "\n")


if __name__ == "__main__":
    main()
