"""The diffusion family's options: how ``sample`` and ``evaluate`` run the sampler.

    python -m aigc_np train ddpm --out runs/ddpm --quick
    python -m aigc_np sample runs/ddpm/best.npz --n 100 --sampling-steps 20 --out ddpm.png
    python -m aigc_np sample runs/cddpm/best.npz --label 7 --guidance 3 --out sevens.png

--sampler ddim|ddpm, --sampling-steps S (DDIM only, 1 <= S <= T), --eta E (DDIM only),
--guidance W (cddpm only). Writing and scoring the images is ``cli.image``'s.
"""
from __future__ import annotations

from .argtypes import FINITE, _number
from .common import UsageError
from .image import evaluate_images_of, sample_images
from .options import Option, kinds_of

__all__ = ["OPTIONS", "sample", "evaluate"]

DIFFUSION_KINDS = kinds_of("diffusion")

OPTIONS = [
    Option("--sampler", ("sample", "evaluate"), "ddim (default: S steps along a subsequence) or ddpm (all T "
                                                "steps with fresh noise)", kinds=DIFFUSION_KINDS,
           argparse={"choices": ["ddim", "ddpm"]}),
    Option("--sampling-steps", ("sample", "evaluate"), "DDIM's sampling steps S, 1..T (default: the "
                                                       "checkpoint's)", kinds=DIFFUSION_KINDS,
           argparse={"type": _number(int, None, "an integer"), "metavar": "S"}),
    Option("--eta", ("sample", "evaluate"), "DDIM's noise per step, 0 = deterministic (default 0)",
           kinds=DIFFUSION_KINDS, argparse={"type": FINITE, "metavar": "E"}),
    Option("--guidance", ("sample", "evaluate"), "classifier-free guidance weight W >= 0 (default: the "
                                                 "checkpoint's)", kinds=("cddpm",),
           argparse={"type": FINITE, "metavar": "W"}),
]


def sampling_options(args, meta) -> dict:
    """The sampler's options from the flags, each checked against the checkpoint's config."""
    cfg = meta["config"]
    if args.guidance is not None and not args.guidance >= 0:
        raise UsageError(f"--guidance {args.guidance}: expected a weight >= 0")
    if args.sampler == "ddpm" and (args.sampling_steps is not None or args.eta is not None):
        raise UsageError("--sampling-steps/--eta: the ddpm sampler takes all T steps with fresh noise; "
                         "use --sampler ddim")
    if args.sampling_steps is not None and not 1 <= args.sampling_steps <= cfg["T"]:
        raise UsageError(f"--sampling-steps {args.sampling_steps}: expected 1..T={cfg['T']} (the checkpoint's T)")
    if args.eta is not None and not args.eta >= 0:
        raise UsageError(f"--eta {args.eta}: expected eta >= 0")
    return {"sampler": args.sampler, "sampling_steps": args.sampling_steps, "eta": args.eta,
            "guidance": args.guidance}


def sample(args, meta) -> int:
    return sample_images(args, meta, sampling_options(args, meta))


def evaluate(args, meta) -> int:
    return evaluate_images_of(args, meta, sampling_options(args, meta))
