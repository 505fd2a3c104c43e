#!/usr/bin/env python3
"""Annotator weight files with the ORIGINAL releases' names, built from controlnet-aux 0.0.10's
model classes (and, for Depth Anything V2, tools/depth_anything_reference.py's renaming of
transformers' model to the original repo's keys).

  --shapes FILE    every file's tensor names and real shapes as JSON ({file: {name: shape}}),
                   built on the meta device (nothing allocated); for gen inspect's tests
  --tiny DIR       each file as a tiny torch.save .pth AND a .safetensors with the same names:
                   every tensor is zeros([first dimension]) (the names and first dimensions are
                   all that identify_annotator reads)
  --full DIR KIND  random weights at the real sizes, as the original .pth files are saved
                   (KIND: hed, pidinet, lineart, lineart_coarse, depth_anything_vits, ...); the
                   benchmark's weights (tools/bench_annotators.py)

The original layouts: table5_pidinet.pth is {"epoch", "state_dict": {"module." + name}};
netG.pth (lineart_anime) carries "module."; body_pose_model.pth / hand_pose_model.pth hold the
names without controlnet-aux's "model0." / "model1_0." ... prefixes (util.transfer adds them);
facenet.pth, the MLSD files, ControlNetHED.pth, sk_model*.pth, depth_anything_v2_vit*.pth and
dpt_hybrid-midas-501f0c75.pt (MiDaS DPT-Hybrid, controlnet-aux's DPTDepthModel over timm) are
plain state dicts; scannet.pt (NormalBAE, controlnet-aux's NNET) is {"model": {"module." + name}}
(controlnet-aux's load_checkpoint reads ["model"] and strips "module.").
"""
import argparse
import contextlib
import functools
import json
import os
import sys
import warnings

warnings.filterwarnings("ignore")

import torch  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))

# Depth Anything V2 encoders (Depth-Anything-V2/run.py's model_configs): width, blocks, heads,
# the DPT neck widths, the fusion width, the blocks feeding the head (1-based stages).
DEPTH = {
    "vits": (384, 12, 6, [48, 96, 192, 384], 64, [3, 6, 9, 12]),
    "vitb": (768, 12, 12, [96, 192, 384, 768], 128, [3, 6, 9, 12]),
    "vitl": (1024, 24, 16, [256, 512, 1024, 1024], 256, [5, 12, 18, 24]),
}


def hf_depth_anything(variant, meta):
    """transformers' DepthAnythingForDepthEstimation at the variant's real size."""
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config

    width, layers, heads, neck, fusion, out_indices = DEPTH[variant]
    backbone = Dinov2Config(hidden_size=width, num_hidden_layers=layers, num_attention_heads=heads, mlp_ratio=4,
                            image_size=518, patch_size=14, layerscale_value=1.0, out_indices=out_indices,
                            apply_layernorm=True, reshape_hidden_states=False)
    config = DepthAnythingConfig(backbone_config=backbone, reassemble_hidden_size=width, patch_size=14,
                                 fusion_hidden_size=fusion, neck_hidden_sizes=neck,
                                 depth_estimation_type="relative", head_hidden_size=32)
    with torch.device("meta") if meta else contextlib.nullcontext():
        torch.manual_seed(0)
        return DepthAnythingForDepthEstimation(config).eval()


def depth_anything(variant, meta):
    """The original repo's state dict (tools/depth_anything_reference.py's renaming)."""
    sys.path.insert(0, HERE)
    import depth_anything_reference as dar

    dar.HIDDEN, dar.LAYERS = DEPTH[variant][0], DEPTH[variant][1]  # original_state_dict reads these
    return dar.original_state_dict(hf_depth_anything(variant, meta))


def midas():
    """MiDaS DPT-Hybrid as controlnet-aux's MiDaSInference builds it (timm's vit_base_resnet50_384)."""
    from controlnet_aux.midas.midas.dpt_depth import DPTDepthModel
    return DPTDepthModel(path=None, backbone="vitb_rn50_384", non_negative=True)


def normalbae():
    """NormalBAE's NNET as NormalBaeDetector.from_pretrained builds it."""
    import types
    from controlnet_aux.normalbae.nets.NNET import NNET
    args = types.SimpleNamespace(mode="client", architecture="BN", pretrained="scannet", sampling_ratio=0.4,
                                 importance_ratio=0.7)
    with contextlib.redirect_stdout(sys.stderr):  # its Encoder prints while loading geffnet
        return NNET(args)


def networks(meta):
    """{original file name: (state dict, how it is saved)}; lazily built."""
    from controlnet_aux.hed import ControlNetHED_Apache2
    from controlnet_aux.lineart import Generator
    from controlnet_aux.lineart_anime import UnetGenerator
    from controlnet_aux.mlsd.models.mbv2_mlsd_large import MobileV2_MLSD_Large
    from controlnet_aux.mlsd.models.mbv2_mlsd_tiny import MobileV2_MLSD_Tiny
    from controlnet_aux.open_pose.face import FaceNet
    from controlnet_aux.open_pose.model import bodypose_model, handpose_model
    from controlnet_aux.pidi.model import pidinet

    def build(make):
        def f():
            with torch.device("meta") if meta else contextlib.nullcontext():
                return make().eval().state_dict()
        return f

    def raw(sd):  # util.transfer's inverse: drop the first name component
        return {".".join(k.split(".")[1:]): v for k, v in sd.items()}

    norm = functools.partial(torch.nn.InstanceNorm2d, affine=False, track_running_stats=False)
    return {
        "ControlNetHED.pth": (build(ControlNetHED_Apache2), "plain"),
        "table5_pidinet.pth": (build(pidinet), "pidinet"),
        "sk_model.pth": (build(lambda: Generator(3, 1, 3)), "plain"),
        "sk_model2.pth": (build(lambda: Generator(3, 1, 3)), "plain"),
        "netG.pth": (build(lambda: UnetGenerator(3, 1, 8, 64, norm_layer=norm, use_dropout=False)), "module"),
        "body_pose_model.pth": (lambda: raw(build(bodypose_model)()), "plain"),
        "hand_pose_model.pth": (lambda: raw(build(handpose_model)()), "plain"),
        "facenet.pth": (build(FaceNet), "plain"),
        "mlsd_large_512_fp32.pth": (build(MobileV2_MLSD_Large), "plain"),
        "mlsd_tiny_512_fp32.pth": (build(MobileV2_MLSD_Tiny), "plain"),
        **{f"depth_anything_v2_{v}.pth": (functools.partial(depth_anything, v, meta), "plain") for v in DEPTH},
        "dpt_hybrid-midas-501f0c75.pt": (build(midas), "plain"),
        "scannet.pt": (build(normalbae), "scannet"),
    }


# --full KIND → the file it writes
FULL = {"hed": "ControlNetHED.pth", "pidinet": "table5_pidinet.pth", "lineart": "sk_model.pth",
        "lineart_coarse": "sk_model2.pth", "lineart_anime": "netG.pth", "mlsd": "mlsd_large_512_fp32.pth",
        "openpose": "body_pose_model.pth", "openpose_hand": "hand_pose_model.pth", "openpose_face": "facenet.pth",
        **{f"depth_anything_{v}": f"depth_anything_v2_{v}.pth" for v in DEPTH},
        "midas": "dpt_hybrid-midas-501f0c75.pt"}


def saved(sd, how):
    """The object torch.save writes in the original release."""
    if how == "pidinet":
        return {"epoch": 14, "state_dict": {"module." + k: v for k, v in sd.items()}}
    if how == "scannet":
        return {"model": {"module." + k: v for k, v in sd.items()}}
    if how == "module":
        return {"module." + k: v for k, v in sd.items()}
    return sd


def flat(obj):
    return obj["state_dict"] if "state_dict" in obj else obj["model"] if "model" in obj else obj


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shapes")
    ap.add_argument("--tiny")
    ap.add_argument("--full", nargs="+", metavar=("DIR", "KIND"))
    a = ap.parse_args()
    if a.shapes:
        out = {}
        for name, (make, how) in networks(True).items():
            out[name] = {k: list(v.shape) for k, v in flat(saved(make(), how)).items()}
        os.makedirs(os.path.dirname(os.path.abspath(a.shapes)), exist_ok=True)
        with open(a.shapes, "w") as f:
            json.dump(out, f, indent=0, sort_keys=True)
    if a.tiny:
        from safetensors.torch import save_file
        os.makedirs(a.tiny, exist_ok=True)
        for name, (make, how) in networks(True).items():
            sd = {k: torch.zeros(v.shape[0] if v.dim() else 1) for k, v in make().items()}
            obj = saved(sd, how)
            torch.save(obj, os.path.join(a.tiny, name))
            save_file(flat(obj), os.path.join(a.tiny, os.path.splitext(name)[0] + ".safetensors"))
    if a.full:
        out_dir, kinds = a.full[0], a.full[1:]
        os.makedirs(out_dir, exist_ok=True)
        nets = networks(False)
        for i, kind in enumerate(kinds):
            name = FULL[kind]
            torch.manual_seed(100 + i)
            make, how = nets[name]
            sd = make()
            with torch.no_grad():  # random normal weights scaled by fan-in; norms near 1
                for k, v in sd.items():
                    if not v.is_floating_point():
                        continue
                    if v.dim() > 1:
                        v.copy_(torch.randn_like(v) / max(1.0, v[0].numel()) ** 0.5)
                    elif k.endswith("running_var") or "norm" in k or k.endswith("gamma"):
                        v.copy_(1.0 + 0.1 * torch.randn_like(v))
                    else:
                        v.copy_(0.1 * torch.randn_like(v))
            torch.save(saved(sd, how), os.path.join(out_dir, name))
            print(name)


if __name__ == "__main__":
    main()
