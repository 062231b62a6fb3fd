"""The diffusion family's options: how ``sample`` and ``evaluate`` run the sampler.

    python -m aigc_np train ddpm --out runs/ddpm --quick
    python -m aigc_np sample runs/ddpm/best.npz --n 100 --sampling-steps 20 --out ddpm.png
    python -m aigc_np sample runs/cddpm/best.npz --label 7 --guidance 3 --out sevens.png
    python -m aigc_np sample runs/ldm/best.npz --sampler heun --sampling-steps 8 --out ldm.png

--sampler ddim|ddpm (ddpm, cddpm) or euler|heun (ldm, cldm), --sampling-steps S (DDIM: 1 <= S <= T;
the ODE samplers: 1..1000), --eta E (DDIM only), --guidance W (cddpm, cldm: classifier-free; ldm:
autoguidance). Writing and scoring the
images is ``cli.image``'s.
"""
from __future__ import annotations

from ..kinds.diffusion import MAX_FLOW_STEPS, is_latent
from .argtypes import FINITE, _number
from .common import UsageError
from .image import evaluate_images_of, sample_images
from .options import Option, kinds_of

__all__ = ["OPTIONS", "sample", "evaluate"]

DIFFUSION_KINDS = kinds_of("diffusion")

OPTIONS = [
    Option("--sampler", ("sample", "evaluate"), "ddpm, cddpm: ddim (default: S steps along a subsequence) or "
                                                "ddpm (all T steps with fresh noise); ldm, cldm: euler or heun "
                                                "(default: the checkpoint's)", kinds=DIFFUSION_KINDS,
           argparse={"choices": ["ddim", "ddpm", "euler", "heun"]}),
    Option("--sampling-steps", ("sample", "evaluate"), "sampling steps S: DDIM's 1..T, or the ODE solver's "
                                                       f"1..{MAX_FLOW_STEPS} (default: the checkpoint's)",
           kinds=DIFFUSION_KINDS,
           argparse={"type": _number(int, None, "an integer"), "metavar": "S"}),
    Option("--eta", ("sample", "evaluate"), "DDIM's noise per step, 0 = deterministic (default 0)",
           kinds=DIFFUSION_KINDS, argparse={"type": FINITE, "metavar": "E"}),
    Option("--guidance", ("sample", "evaluate"), "guidance weight W >= 0: cddpm, cldm classifier-free; ldm "
                                                 "autoguidance (default: the checkpoint's)",
           kinds=("cddpm", "ldm", "cldm"),
           argparse={"type": FINITE, "metavar": "W"}),
]


def sampling_options(args, meta) -> dict:
    """The sampler's options from the flags, each checked against the checkpoint's config."""
    cfg = meta["config"]
    if args.guidance is not None and not args.guidance >= 0:
        raise UsageError(f"--guidance {args.guidance}: expected a weight >= 0")
    if is_latent(cfg):
        return _flow_options(args)
    if args.sampler in ("euler", "heun"):
        raise UsageError(f"--sampler {args.sampler}: a {meta['kind']} samples with ddim or ddpm; euler and heun "
                         "solve a flow model's ODE (ldm, cldm)")
    if args.sampler == "ddpm" and (args.sampling_steps is not None or args.eta is not None):
        raise UsageError("--sampling-steps/--eta: the ddpm sampler takes all T steps with fresh noise; "
                         "use --sampler ddim")
    if args.sampling_steps is not None and not 1 <= args.sampling_steps <= cfg["T"]:
        raise UsageError(f"--sampling-steps {args.sampling_steps}: expected 1..T={cfg['T']} (the checkpoint's T)")
    if args.eta is not None and not args.eta >= 0:
        raise UsageError(f"--eta {args.eta}: expected eta >= 0")
    return {"sampler": args.sampler, "sampling_steps": args.sampling_steps, "eta": args.eta,
            "guidance": args.guidance}


def _flow_options(args) -> dict:
    if args.sampler in ("ddim", "ddpm"):
        raise UsageError(f"--sampler {args.sampler}: a flow model samples with euler or heun")
    if args.eta is not None:
        raise UsageError("--eta: a flow model's ODE samplers add no noise; eta is DDIM's")
    if args.sampling_steps is not None and not 1 <= args.sampling_steps <= MAX_FLOW_STEPS:
        raise UsageError(f"--sampling-steps {args.sampling_steps}: expected 1..{MAX_FLOW_STEPS}")
    return {"sampler": args.sampler, "sampling_steps": args.sampling_steps, "guidance": args.guidance}


def sample(args, meta) -> int:
    return sample_images(args, meta, sampling_options(args, meta))


def evaluate(args, meta) -> int:
    return evaluate_images_of(args, meta, sampling_options(args, meta))
