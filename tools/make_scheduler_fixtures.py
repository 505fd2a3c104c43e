#!/usr/bin/env python3
"""Write the scheduler trajectory fixtures of tests/unit/test_schedulers.cpp.

Every case runs one diffusers scheduler, built with `from_config(SD15 + overrides)` (the values
of Stable Diffusion 1.5's scheduler/scheduler_config.json), for a few steps on a 1x4x8x8 latent,
driven by a deterministic fake model that C++ reproduces exactly:

    model_output(x_in, t) = 0.3 * x_in + N * (0.5 + t / 1000)

where x_in is the scaled model input, t the timestep value fed to the model (a float) and N a
fixed standard-normal tensor stored in the fixture ("model_noise"). The run is the usual loop:

    sample = latent_noise * init_noise_sigma
    gen = torch.Generator("cpu").manual_seed(seed)
    for t in timesteps: x_in = scale_model_input(sample, t); sample = step(model(x_in, t), t, sample, gen)

Stored per case (tests/data/schedulers/<case>.safetensors, float32 unless noted):
  latent_noise [1,4,8,8], model_noise [1,4,8,8], timesteps [S] (float64), sigmas [*] (when the
  scheduler has them), samples [S,1,4,8,8] (the sample after each step) and model_inputs
  [S,1,4,8,8] (only where scale_model_input is not the identity; index: identity_scale).
The step noise comes from torch.Generator("cpu").manual_seed(noise_seed); latent_noise and
model_noise from a generator seeded with `seed`. LMS needs scipy (diffusers integrates with it).
The index tests/data/schedulers/index.json lists the cases: the gen scheduler name, the config
overrides (diffusers keys), the step count, the generator seed, DDIM's eta, init_noise_sigma;
and under "schedules" the timesteps/sigmas/init_noise_sigma of every scheduler, spacing and
Karras setting at 20, 30 and 50 steps (no trajectory).

    python tools/make_scheduler_fixtures.py [--out tests/data/schedulers]
    python tools/make_scheduler_fixtures.py --class-defaults [--out tests/data/schedulers]

--class-defaults writes only class_defaults.json: for each gen scheduler name, its diffusers
class and the defaults of every config key that class's __init__ reads (what
`Class.from_config(config)` takes for a key the config lacks). A non-finite float default is
written as the string "inf" or "-inf" (JSON has no infinities).
"""
import argparse
import inspect
import json
import math
import os

os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")

import torch  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
import diffusers  # noqa: E402

# Stable Diffusion 1.5, scheduler/scheduler_config.json.
SD15 = {
    "_class_name": "PNDMScheduler",
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "clip_sample": False,
    "num_train_timesteps": 1000,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "trained_betas": None,
}

# gen name -> (diffusers class, extra config the name implies)
CLASSES = {
    "ddim": ("DDIMScheduler", {}),
    "euler": ("EulerDiscreteScheduler", {}),
    "euler_a": ("EulerAncestralDiscreteScheduler", {}),
    "heun": ("HeunDiscreteScheduler", {}),
    "lms": ("LMSDiscreteScheduler", {}),
    "pndm": ("PNDMScheduler", {}),
    "dpmpp_2m": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "solver_order": 2}),
    "dpmpp_2m_sde": ("DPMSolverMultistepScheduler", {"algorithm_type": "sde-dpmsolver++", "solver_order": 2}),
    "unipc": ("UniPCMultistepScheduler", {}),
    "lcm": ("LCMScheduler", {}),
}

SPACINGS = ["leading", "trailing", "linspace"]
KARRAS = {"euler", "heun", "lms", "dpmpp_2m", "dpmpp_2m_sde", "unipc"}


def cases():
    out = []

    def add(name, steps, overrides=None, eta=0.0, tag=""):
        overrides = dict(overrides or {})
        parts = [name] + [f"{k}-{v}" for k, v in sorted(overrides.items())] + [f"s{steps}"]
        if eta:
            parts.append(f"eta{eta:g}")
        if tag:
            parts.append(tag)
        case = "_".join(str(p) for p in parts).replace(".", "p")
        out.append(dict(case=case, scheduler=name, steps=steps, overrides=overrides, eta=eta))

    for name in CLASSES:
        if name == "lcm":
            continue
        for i, spacing in enumerate(SPACINGS):
            add(name, [5, 6, 7][i], {"timestep_spacing": spacing})
        add(name, 6, {"prediction_type": "v_prediction"})
        if name in KARRAS:
            add(name, 6, {"use_karras_sigmas": True})
            add(name, 5, {"use_karras_sigmas": True, "prediction_type": "v_prediction",
                          "timestep_spacing": "trailing"})
    add("ddim", 6, {}, eta=1.0)
    add("ddim", 5, {"prediction_type": "v_prediction", "timestep_spacing": "trailing"}, eta=1.0)
    add("ddim", 5, {"beta_schedule": "linear", "beta_start": 0.0001, "beta_end": 0.02})
    add("euler", 5, {"beta_schedule": "linear", "beta_start": 0.0001, "beta_end": 0.02})
    add("ddim", 4, {"set_alpha_to_one": True, "steps_offset": 0})
    add("unipc", 7, {"solver_order": 3})
    add("unipc", 6, {"solver_order": 1})
    add("lcm", 4, {})
    add("lcm", 8, {"prediction_type": "v_prediction"})
    add("lcm", 6, {"original_inference_steps": 30})
    return out


def fake_model(x_in, t, noise):
    return 0.3 * x_in + noise * (0.5 + float(t) / 1000.0)


def run(case, out_dir, seed):
    cls_name, implied = CLASSES[case["scheduler"]]
    cls = getattr(diffusers, cls_name)
    config = dict(SD15)
    config.update(implied)
    config.update(case["overrides"])
    sched = cls.from_config(config)
    sched.set_timesteps(case["steps"])

    g = torch.Generator("cpu").manual_seed(seed)
    latent_noise = torch.randn((1, 4, 8, 8), generator=g, dtype=torch.float32)
    model_noise = torch.randn((1, 4, 8, 8), generator=g, dtype=torch.float32)
    init_sigma = float(sched.init_noise_sigma)
    sample = latent_noise * sched.init_noise_sigma

    step_params = inspect.signature(sched.step).parameters
    gen = torch.Generator("cpu").manual_seed(seed + 1)
    inputs, samples = [], []
    for t in sched.timesteps:
        x_in = sched.scale_model_input(sample, t)
        out = fake_model(x_in, t, model_noise)
        kwargs = {}
        if "generator" in step_params:
            kwargs["generator"] = gen
        if "eta" in step_params:
            kwargs["eta"] = case["eta"]
        sample = sched.step(out, t, sample, **kwargs).prev_sample
        inputs.append(x_in.clone())
        samples.append(sample.clone())

    tensors = {
        "latent_noise": latent_noise.contiguous(),
        "model_noise": model_noise.contiguous(),
        "timesteps": sched.timesteps.to(torch.float64).contiguous(),
        "samples": torch.stack(samples).to(torch.float32).contiguous(),
    }
    previous = [latent_noise * sched.init_noise_sigma] + samples[:-1]
    identity_scale = all(torch.equal(a, b) for a, b in zip(inputs, previous))
    if not identity_scale:  # an identity scale_model_input is checked without storing its inputs
        tensors["model_inputs"] = torch.stack(inputs).to(torch.float32).contiguous()
    sigmas = getattr(sched, "sigmas", None)
    if isinstance(sigmas, torch.Tensor) and sigmas.numel() < 1000:
        tensors["sigmas"] = sigmas.to(torch.float32).contiguous()
    file = case["case"] + ".safetensors"
    save_file(tensors, os.path.join(out_dir, file), metadata={"diffusers": diffusers.__version__})
    entry = dict(case)
    entry.update(file=file, seed=seed, noise_seed=seed + 1, init_noise_sigma=init_sigma,
                 diffusers_class=cls_name, num_model_calls=len(sched.timesteps),
                 identity_scale=identity_scale)
    return entry


def schedules():
    """Timesteps, sigmas and init_noise_sigma at realistic step counts (no tensors)."""
    out = []
    for name, (cls_name, implied) in CLASSES.items():
        for steps in (20, 30, 50):
            variants = [{"timestep_spacing": sp} for sp in SPACINGS]
            if name in KARRAS:
                variants += [{"timestep_spacing": sp, "use_karras_sigmas": True} for sp in SPACINGS]
            if name == "lcm":
                variants = [{}] if steps <= 50 else []
            for overrides in variants:
                config = dict(SD15)
                config.update(implied)
                config.update(overrides)
                sched = getattr(diffusers, cls_name).from_config(config)
                sched.set_timesteps(steps)
                entry = dict(scheduler=name, steps=steps, overrides=overrides,
                             timesteps=[float(t) for t in sched.timesteps.to(torch.float64)],
                             init_noise_sigma=float(sched.init_noise_sigma))
                sigmas = getattr(sched, "sigmas", None)
                if isinstance(sigmas, torch.Tensor) and sigmas.numel() < 1000:
                    entry["sigmas"] = [float(v) for v in sigmas.to(torch.float32)]
                out.append(entry)
    return out


def class_defaults():
    """{gen name: {"class": diffusers class, "defaults": {config key: __init__ default}}}."""
    def plain(v):
        if isinstance(v, float) and math.isinf(v):
            return "inf" if v > 0 else "-inf"
        if isinstance(v, tuple):
            return list(v)
        return v
    out = {}
    for name, (cls_name, _) in CLASSES.items():
        params = inspect.signature(getattr(diffusers, cls_name).__init__).parameters
        out[name] = {"class": cls_name,
                     "defaults": {k: plain(p.default) for k, p in params.items()
                                  if k != "self" and p.kind == p.POSITIONAL_OR_KEYWORD}}
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "data", "schedulers"))
    ap.add_argument("--class-defaults", action="store_true",
                    help="write only class_defaults.json (each class's config keys and defaults)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    if args.class_defaults:
        doc = {"about": "The config keys each diffusers scheduler class reads, with its __init__ defaults; "
                        "written by tools/make_scheduler_fixtures.py --class-defaults.",
               "diffusers": diffusers.__version__, "classes": class_defaults()}
        with open(os.path.join(args.out, "class_defaults.json"), "w") as f:
            json.dump(doc, f, indent=1, sort_keys=True, allow_nan=False)
            f.write("\n")
        print(f"wrote {os.path.join(args.out, 'class_defaults.json')}")
        return
    for f in os.listdir(args.out):
        if f.endswith(".safetensors"):
            os.remove(os.path.join(args.out, f))
    try:
        import scipy  # noqa: F401  (diffusers' LMSDiscreteScheduler integrates with scipy)
    except ImportError:
        raise SystemExit("the LMS cases need scipy: pip install scipy (or put it on PYTHONPATH)")
    index = []
    for k, case in enumerate(cases()):
        index.append(run(case, args.out, seed=1000 + 17 * k))
    doc = {
        "about": "Scheduler trajectories from diffusers; written by tools/make_scheduler_fixtures.py. "
                 "model_output = 0.3 * model_input + model_noise * (0.5 + t / 1000).",
        "diffusers": diffusers.__version__,
        "torch": torch.__version__,
        "base_config": SD15,
        "cases": index,
        "schedules": schedules(),
    }
    with open(os.path.join(args.out, "index.json"), "w") as f:
        json.dump(doc, f, indent=None, separators=(",", ":"))
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(args.out, f)) for f in os.listdir(args.out))
    print(f"{len(index)} cases, {total} bytes in {args.out}")


if __name__ == "__main__":
    main()
