#!/usr/bin/env python3
"""Fixtures for the parity of gen's ControlNet training step (tests/unit/test_controlnet_train.cpp).

Reproduces the training logic of diffusers' examples/controlnet/train_controlnet.py (read, not
copied) on the tiny models of tests/data/layouts (the SD 1.5 pipeline's UNet and text encoder,
the tiny ControlNet), fp32 on the CPU, with fixed inputs instead of the data loader and the VAE:
  noisy = DDPMScheduler.add_noise(latents, noise, t)   (the pipeline's scheduler config)
  context = text_encoder(input_ids)[0]                  (frozen)
  down, mid = controlnet(noisy, t, context, controlnet_cond=hint)   (hint in [0, 1])
  pred = unet(noisy, t, context, down/mid residuals)   (the UNet and text encoder locked)
  target = noise (epsilon) or DDPMScheduler.get_velocity(latents, noise, t) (v_prediction)
  loss = mse_loss(pred.float(), target.float())
  accelerate's gradient accumulation (Accelerator.accumulate + backward: loss / steps; at each
  sync: clip_grad_norm_(controlnet params, max_grad_norm), optimizer.step, zero_grad),
  torch.optim.AdamW(betas (0.9, 0.999), weight_decay 1e-2, eps 1e-8), constant learning rate.

Per case, tests/data/training/step_<case>.safetensors holds
  in.<i>.{latents,noise,timesteps,ids,hint,context}  micro-batch i's inputs (hint as uint8: /255;
                                                     context: the reference text encoder's output)
  loss                                              each micro-batch's loss (not divided)
  grad.<name>   every ControlNet parameter's gradient after the first micro-batch's backward
  after.<name>  every ControlNet parameter after 3 optimizer steps
(names: diffusers ControlNetModel's) and the settings in the metadata.

    python tools/controlnet_train_reference.py [--out tests/data/training]
"""
import argparse
import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
LAYOUTS = os.path.join(HERE, "..", "tests", "data", "layouts", "diffusers")

CASES = {
    # the example's defaults: learning rate 5e-6, no accumulation
    "epsilon": dict(target="epsilon", batch=2, accumulation=1, lr=5e-6, max_grad_norm=1.0, steps=3, seed=1),
    # v targets, 2 micro-batches per step, a learning rate that moves the weights visibly and a
    # max_grad_norm below the tiny model's gradient norms (~0.1), so that clipping acts
    "vpred_accum2": dict(target="v_prediction", batch=1, accumulation=2, lr=1e-3, max_grad_norm=0.02, steps=3, seed=2),
}


def run(case, c, out):
    from accelerate import Accelerator
    from diffusers import ControlNetModel, DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel
    pipe = os.path.join(LAYOUTS, "tiny-sd15-pipeline")
    sched = DDPMScheduler.from_pretrained(pipe, subfolder="scheduler", prediction_type=c["target"])
    unet = UNet2DConditionModel.from_pretrained(pipe, subfolder="unet")
    text_encoder = CLIPTextModel.from_pretrained(pipe, subfolder="text_encoder")
    controlnet = ControlNetModel.from_pretrained(os.path.join(LAYOUTS, "tiny-controlnet"))
    unet.requires_grad_(False)
    text_encoder.requires_grad_(False)
    controlnet.train()
    accelerator = Accelerator(gradient_accumulation_steps=c["accumulation"], cpu=True)
    optimizer = torch.optim.AdamW(controlnet.parameters(), lr=c["lr"], betas=(0.9, 0.999), weight_decay=1e-2, eps=1e-8)
    controlnet, optimizer = accelerator.prepare(controlnet, optimizer)

    g = torch.Generator().manual_seed(c["seed"])
    vocab = text_encoder.config.vocab_size
    fixture, losses = {}, []
    n = c["steps"] * c["accumulation"]
    for i in range(n):
        b = c["batch"]
        latents = torch.randn(b, 4, 4, 4, generator=g)
        noise = torch.randn(b, 4, 4, 4, generator=g)
        t = torch.randint(0, sched.config.num_train_timesteps, (b,), generator=g).long()
        ids = torch.randint(0, vocab, (b, 77), generator=g).long()
        hint8 = torch.randint(0, 256, (b, 3, 32, 32), generator=g, dtype=torch.uint8)
        hint = hint8.float() / 255
        with accelerator.accumulate(controlnet):
            noisy = sched.add_noise(latents.float(), noise.float(), t)
            context = text_encoder(ids, return_dict=False)[0]
            down, mid = controlnet(noisy, t, encoder_hidden_states=context, controlnet_cond=hint, return_dict=False)
            pred = unet(noisy, t, encoder_hidden_states=context, down_block_additional_residuals=down,
                        mid_block_additional_residual=mid, return_dict=False)[0]
            target = noise if c["target"] == "epsilon" else sched.get_velocity(latents, noise, t)
            loss = F.mse_loss(pred.float(), target.float(), reduction="mean")
            accelerator.backward(loss)
            if i == 0:
                for k, p in accelerator.unwrap_model(controlnet).named_parameters():
                    fixture["grad." + k] = p.grad.detach().clone()
            if accelerator.sync_gradients:
                norm = accelerator.clip_grad_norm_(controlnet.parameters(), c["max_grad_norm"])
                print(case, "gradient norm before clipping", float(norm))
            optimizer.step()
            optimizer.zero_grad()
        losses.append(loss.item())
        for name, v in (("latents", latents), ("noise", noise), ("timesteps", t), ("ids", ids), ("hint", hint8),
                        ("context", context.detach())):
            fixture[f"in.{i}.{name}"] = v.contiguous()
    for k, p in accelerator.unwrap_model(controlnet).named_parameters():
        fixture["after." + k] = p.detach().clone()
    fixture["loss"] = torch.tensor(losses, dtype=torch.float32)
    meta = {k: str(v) for k, v in c.items()}
    meta["micro_batches"] = str(n)
    save_file(fixture, os.path.join(out, f"step_{case}.safetensors"), metadata=meta)
    print(case, "losses", losses)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(HERE, "..", "tests", "data", "training"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    torch.manual_seed(0)
    for case, c in CASES.items():
        run(case, c, a.out)


if __name__ == "__main__":
    main()
