#!/usr/bin/env bash
# The prelude of the docs test (tools/doc_tests.py, docs/architecture.md "Docs that cannot
# drift"): makes the folder F in which the shell blocks of README.md and docs/*.md run. Every
# placeholder name the docs use (v1-5-pruned-emaonly.safetensors, control files, photo.jpg,
# ~/sd/Lora, …) becomes a tiny model of tools/make_tiny_models.py or a small made-up input:
#   prelude.sh F        (GEN_SRC: the repository, GEN_PYTHON: the virtualenv's python)
# The images are noise (random weights): the docs' commands are checked to run, not to draw.
# The models are make_tiny_models.py's "docs" profile: attention only at 1/4 of the latent size,
# so the docs' 512-1024 px commands take seconds.
set -euo pipefail
: "${GEN_SRC:?}" "${GEN_PYTHON:?}"
F=$1
rm -rf "$F"
mkdir -p "$F"
M=$F/build/models   # the set-up's build/models, as docs/formats.md names it
"$GEN_PYTHON" "$GEN_SRC/tools/make_tiny_models.py" --out "$M" --size docs >/dev/null
C=$M/configs
cd "$F"

# Stable Diffusion single files, each with its LDM config beside it (A1111's rule) — the tiny
# models' heads cannot be read off their weights.
for n in v1-5-pruned-emaonly sd15 model; do
  ln -s "$M/tiny-sd15.safetensors" $n.safetensors
  ln -s "$C/tiny-v1-inference.yaml" $n.yaml
done
ln -s "$M/tiny-sd15.ckpt" model.ckpt
ln -s "$M/tiny-sd21.safetensors" v2-1_768-ema-pruned.safetensors
ln -s "$C/tiny-v2-inference-v.yaml" v2-1_768-ema-pruned.yaml
ln -s "$C/tiny-v2-inference-v.yaml" v2-inference-v.yaml
ln -s "$M/tiny-sdxl.safetensors" sd_xl_base_1.0.safetensors
ln -s "$M/tiny-sdxl-refiner.safetensors" sd_xl_refiner_1.0.safetensors
# Diffusers folders.
ln -s "$M/diffusers/tiny-sd15-pipeline" sd15
ln -s "$M/diffusers/tiny-sdxl-pipeline" stable-diffusion-xl-base-1.0
ln -s "$M/diffusers/tiny-sdxl-refiner-pipeline" stable-diffusion-xl-refiner-1.0
ln -s "$M/diffusers/tiny-sd15-pipeline" tiny-sd15-pipeline   # docs/performance.md names it so
# ControlNets: the tiny v1.1-style file under each name the docs use.
for n in control_v11p_sd15_canny control_v11f1p_sd15_depth control_v11p_sd15_openpose \
         control_v11p_sd15_scribble control_v11p_sd15_mlsd control_v11p_sd15_softedge.pth \
         control_v11e_sd15_shuffle; do
  ln -s "$M/tiny-control-v11.safetensors" $n.safetensors
done
# LoRA (~ is F while the blocks run).
mkdir -p sd/Lora sd/embeddings Downloads annotators   # annotators/: the folder docs/preprocessors.md fills
ln -s "$M/tiny-lora-kohya.safetensors" sd/Lora/watercolor.safetensors
ln -s "$M/tiny-lora-kohya.safetensors" watercolor.safetensors
# A Depth Anything -hf repository (docs/preprocessors.md copies its model.safetensors): the
# tiny fixture that transformers' save_pretrained wrote (tools/depth_anything_reference.py).
mkdir -p Depth-Anything-V2-Large-hf
cp "$GEN_SRC/tests/data/depth_anything/depth_anything_v2_tiny_hf.safetensors" Depth-Anything-V2-Large-hf/model.safetensors

# The CLIP vocabulary: the tiny tokenizer's merges as a CLIP .gz (ids below the tiny text
# encoders' 1000), so `--vocab bpe_simple_vocab_16e6.txt.gz` and the .gz beside the model work.
gzip -9n <"$M/diffusers/tiny-sd15-pipeline/tokenizer/merges.txt" >bpe_simple_vocab_16e6.txt.gz

# Made with the virtualenv: an inpainting file, folders with changed configs, embeddings, an
# upscaler, a UniControl, images, a pose, a job file and a training data set.
"$GEN_PYTHON" - "$M" "$GEN_SRC/tools" <<'PY'
import json, os, shutil, sys
import numpy as np
import torch
from PIL import Image, ImageDraw
from safetensors.torch import load_file, save_file
M, tools = sys.argv[1:3]
sys.path.insert(0, tools)
from diffusers_ti_reference import save_a1111, save_safetensors, vectors  # noqa: E402

# An SD 1.x inpainting file: conv_in takes 9 channels (as tests/cli/test_edit.sh makes it).
sd = load_file(f"{M}/tiny-sd15.safetensors")
k = "model.diffusion_model.input_blocks.0.0.weight"
w = sd[k]
sd[k] = torch.cat([w, 0.1 * torch.randn(w.shape[0], 5, *w.shape[2:], generator=torch.Generator().manual_seed(1))], 1)
save_file(sd, "sd-v1-5-inpainting.safetensors")
cfg = open(f"{M}/configs/tiny-v1-inference.yaml").read()
assert "in_channels: 4" in cfg
open("sd-v1-5-inpainting.yaml", "w").write(cfg.replace("in_channels: 4", "in_channels: 9", 1))


def folder_copy(src, dst):  # config files copied, weights linked
    for root, _, files in os.walk(src):
        out = os.path.join(dst, os.path.relpath(root, src))
        os.makedirs(out, exist_ok=True)
        for f in files:
            (shutil.copy if f.endswith(".json") or f.endswith(".txt") else os.symlink)(
                os.path.join(root, f), os.path.join(out, f))


# A diffusers folder whose scheduler says DPM++ with Karras sigmas (docs/formats.md).
folder_copy(f"{M}/diffusers/tiny-sd15-pipeline", "my-dpm-karras-folder")
json.dump({"_class_name": "DPMSolverMultistepScheduler", "beta_start": 0.00085, "beta_end": 0.012,
           "beta_schedule": "scaled_linear", "num_train_timesteps": 1000, "use_karras_sigmas": True},
          open("my-dpm-karras-folder/scheduler/scheduler_config.json", "w"))
# A diffusers shuffle ControlNet: global_pool_conditions in its config.
folder_copy(f"{M}/diffusers/tiny-controlnet", "control_v11e_sd15_shuffle")
c = json.load(open("control_v11e_sd15_shuffle/config.json"))
c["global_pool_conditions"] = True
json.dump(c, open("control_v11e_sd15_shuffle/config.json", "w"))

# Textual-inversion embeddings, 32 wide as the tiny text encoder (A1111's .pt and .safetensors).
os.makedirs("embeddings", exist_ok=True)
save_a1111("embeddings/ticat.pt", "ticat", vectors(1, 2, 32))
save_safetensors("embeddings/watercolor-style.safetensors", {"emb_params": vectors(2, 1, 32)})
save_safetensors("embeddings/easynegative.safetensors", {"emb_params": vectors(3, 3, 32)})
save_a1111("Downloads/ticat.pt", "ticat", vectors(4, 2, 32))
save_a1111("sd/embeddings/ticat.pt", "ticat", vectors(5, 2, 32))

# Images: a small scene, its edges, a depth-like gradient, a mask, a scribble.
img = Image.new("RGB", (96, 64), (200, 210, 230))
d = ImageDraw.Draw(img)
d.rectangle((20, 24, 60, 56), fill=(180, 120, 80)); d.polygon([(16, 26), (40, 8), (64, 26)], fill=(120, 40, 40))
d.ellipse((70, 6, 88, 24), fill=(250, 220, 90))
for n in ("photo.jpg", "car.jpg", "stage.jpg", "room.jpg"):
    img.save(n, quality=90)
for n in ("anime.png", "house.png", "shuffled.png", "photo.png"):
    img.save(n)
edges = Image.new("RGB", (96, 64)); ImageDraw.Draw(edges).rectangle((20, 24, 60, 56), outline=(255, 255, 255))
for n in ("edges.png", "outline.png", "pose.png"):
    edges.save(n)
Image.fromarray(np.tile(np.linspace(0, 255, 96, dtype=np.uint8), (64, 1))).convert("RGB").save("depth.png")
mask = Image.new("L", (96, 64)); ImageDraw.Draw(mask).rectangle((30, 32, 50, 56), fill=255); mask.save("door.png")
sketch = Image.new("RGB", (96, 64), (255, 255, 255)); ImageDraw.Draw(sketch).line((10, 50, 48, 10, 86, 50), fill=0, width=2)
sketch.save("sketch.png")

# An OpenPose JSON (docs/pose.md's layout): one person, 18 body points.
body = [(48, 10), (48, 20), (40, 20), (36, 30), (34, 40), (56, 20), (60, 30), (62, 40), (44, 40), (44, 50),
        (44, 60), (52, 40), (52, 50), (52, 60), (46, 8), (50, 8), (44, 9), (52, 9)]
json.dump({"people": [{"pose_keypoints_2d": [v for x, y in body for v in (x, y, 1.0)], "face_keypoints_2d": None,
                       "hand_left_keypoints_2d": None, "hand_right_keypoints_2d": None}],
           "canvas_width": 96, "canvas_height": 64}, open("pose.json", "w"))

# A job file (docs/batch.md): two small requests.
with open("jobs.jsonl", "w") as f:
    f.write(json.dumps({"id": "house", "prompt": "a glass house", "seed": 1, "steps": 3, "width": 64, "height": 64}) + "\n")
    f.write(json.dumps({"id": "lake", "prompt": "a lake", "seed": 2, "steps": 3, "width": 64, "height": 64}) + "\n")

# A training data set in fill50k's layout (docs/training.md): pictures, outlines, captions.
os.makedirs("fill50k", exist_ok=True)
rows = []
for i, (colour, name) in enumerate([((220, 30, 30), "red"), ((30, 200, 40), "green")]):
    a = Image.new("RGB", (64, 64), (240, 240, 240)); b = Image.new("RGB", (64, 64))
    box = (10 + 4 * i, 12, 50, 52 - 3 * i)
    ImageDraw.Draw(a).ellipse(box, fill=colour); ImageDraw.Draw(b).ellipse(box, outline=(255, 255, 255))
    a.save(f"fill50k/img{i}.png"); b.save(f"fill50k/ctl{i}.png")
    rows.append({"image": f"img{i}.png", "conditioning_image": f"ctl{i}.png", "text": f"a {name} circle"})
open("fill50k/metadata.jsonl", "w").write("".join(json.dumps(r) + "\n" for r in rows))

# SDXL ControlNets under the names docs/controlnet.md and docs/sdxl.md use (diffusers folders,
# made as tests/cli/test_sdxl_controlnet_parity.sh makes them; "-small": no transformer blocks).
from diffusers import UNet2DConditionModel  # noqa: E402
from diffusers_sdxl_controlnet_reference import random_controlnet  # noqa: E402
xl_unet = UNet2DConditionModel.from_pretrained(f"{M}/diffusers/tiny-sdxl-pipeline/unet")
levels = len(xl_unet.config.down_block_types)
for n, seed, extra in (("controlnet-canny-sdxl-1.0", 91, {}), ("controlnet-depth-sdxl-1.0", 93, {}),
                       ("controlnet-canny-sdxl-1.0-small", 92, {"transformer_layers_per_block": [0] * levels})):
    random_controlnet(xl_unet, seed, **extra).save_pretrained(n)
# the same weights as one file, as A1111 users name diffusers' SDXL canny
os.symlink(os.path.abspath("controlnet-canny-sdxl-1.0/diffusion_pytorch_model.safetensors"),
           "diffusers_xl_canny_full.safetensors")

# An SDXL LoRA and an SDXL embedding (docs/sdxl.md), made as tests/cli/test_sdxl_lora_parity.sh
# makes them: a kohya file in ~/sd/Lora, {clip_l, clip_g} vectors in ~/sd/embeddings.
from diffusers import StableDiffusionXLPipeline  # noqa: E402
from diffusers_sdxl_lora_reference import make_lora  # noqa: E402
xl = StableDiffusionXLPipeline.from_pretrained(f"{M}/diffusers/tiny-sdxl-pipeline")
make_lora(xl, 2, 2, 5, "sd/Lora", "xl-watercolor")
os.replace("sd/Lora/xl-watercolor-kohya.safetensors", "sd/Lora/xl-watercolor.safetensors")
for f in ("xl-watercolor-peft.safetensors", "xl-watercolor-sgm.safetensors"):
    os.remove(os.path.join("sd/Lora", f))
g = torch.Generator().manual_seed(6)
save_file({"clip_l": 0.01 * torch.randn(1, xl.text_encoder.config.hidden_size, generator=g),
           "clip_g": 0.01 * torch.randn(1, xl.text_encoder_2.config.hidden_size, generator=g)},
          "sd/embeddings/xlcat.safetensors")

# A1111 PNGs (docs/metadata.md): A1111's "parameters" text and no gen chunk; the model and the
# ControlNet found by name in ~/sd/models/… (GEN_MODEL_DIR, GEN_CONTROLNET_DIR in the doc).
os.makedirs("sd/models/Stable-diffusion", exist_ok=True); os.makedirs("sd/models/ControlNet", exist_ok=True)
os.symlink(os.path.abspath("bpe_simple_vocab_16e6.txt.gz"), "sd/models/Stable-diffusion/bpe_simple_vocab_16e6.txt.gz")
for ext in ("safetensors", "yaml"):
    os.symlink(os.path.abspath(f"v1-5-pruned-emaonly.{ext}"), f"sd/models/Stable-diffusion/v1-5-pruned-emaonly.{ext}")
    os.symlink(os.path.abspath(f"v1-5-pruned-emaonly.{ext}"), f"my.{ext}")
os.symlink(os.path.abspath("control_v11p_sd15_openpose.safetensors"), "sd/models/ControlNet/control_v11p_sd15_openpose.safetensors")


def a1111_png(name, text):
    from PIL import PngImagePlugin
    info = PngImagePlugin.PngInfo(); info.add_text("parameters", text)
    Image.new("RGB", (64, 64), (128, 128, 128)).save(name, pnginfo=info)


params = ("a lighthouse on a cliff\nNegative prompt: blurry\nSteps: 3, Sampler: DPM++ 2M, Schedule type: Karras, "
          "CFG scale: 7, Seed: 42, Size: 64x64, Model: v1-5-pruned-emaonly, RNG: CPU, Version: v1.10.1")
a1111_png("a1111.png", params)
a1111_png("a1111-pose.png", params + ', ControlNet 0: "Module: none, Model: control_v11p_sd15_openpose, '
          'Weight: 1.0, Resize Mode: Crop and Resize, Processor Res: 512, Guidance Start: 0.0, Guidance End: 1.0, '
          'Pixel Perfect: False, Control Mode: Balanced"')
PY

# An ESRGAN-family upscaler (the small old-layout ×4 net of tools/esrgan_reference.py).
"$GEN_PYTHON" "$GEN_SRC/tools/esrgan_reference.py" --out upscalers --only old_x4 >/dev/null
ln -s upscalers/old_x4.pth 4x-UltraSharp.pth
# The demo model gen trained (README's first picture, docs/training.md): the repository's models/.
ln -s "$GEN_SRC/models" models
# What docs/training.md's (allow-listed) training run leaves: run/controlnet.
mkdir -p run
ln -s "$M/diffusers/tiny-controlnet" run/controlnet
# A UniControl file (the one tests/cli/test_unicontrol.sh makes).
"$GEN_PYTHON" "$GEN_SRC/tools/make_tiny_unicontrol.py" "$M/tiny-control-sd15-full.safetensors" \
  "$M/diffusers/tiny-sd15-pipeline/text_encoder/config.json" unicontrol_v1.1.safetensors
