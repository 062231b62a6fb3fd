"""The image family: autoencoders, VAEs and GANs on 28x28 digits (lessons 04-11).

Seven kinds: ``ae``, ``vae``, ``cvae``, ``gan``, ``dcgan``, ``cgan`` and
``wgan-gp``. They train in epochs over the bundled MNIST split, draw their
samples as float32 (n, 28, 28) in [0, 1], and pick best.npz by a score
(validation ELBO, reconstruction, the judge's label accuracy, or for the
GAN family the FD yardstick of ``aigc_np.evaluation.quality``).
"""
from __future__ import annotations

import numpy as np

from ..data import load_dataset, to_tanh, to_unit
from ..evaluation.judge import label_accuracy
from ..models.conditional import ConditionalGAN, ConditionalVAE, check_labels, cycle_labels
from ..models.dcgan import DCGAN
from ..models.gan import GAN, mlp_discriminator, mlp_generator
from ..models.sizes import PIXELS, image_counts
from ..models.vae import VAE, Autoencoder
from ..models.wgan_gp import WGANGP, mlp_critic
from ..plan import Plan
from .kind import Kind, Recipe
from .schema import Flag, Float, Int, Widths

__all__ = ["IMAGE", "IMAGE_KINDS", "ImageFamily", "generate_images", "prepare_images"]

MAX_LATENT = 4096
MAX_CLASSES = 1000
LR = Float(0.0, 10.0, open_low=True)
BETA = Float(0.0, 1.0, open_high=True)
EMA = Float(0.0, 1.0, open_high=True)
PROBABILITY = Float(0.0, 1.0, open_high=True)
CHANNEL_WIDTH = Float(0.0, 16.0, open_low=True)   # the DCGAN's multiplier (1 = the article's model)

_GAN_SETTINGS = {"latent_dim": Int(1, MAX_LATENT), "g_hidden": Widths(), "d_hidden": Widths(),
                 "d_dropout": PROBABILITY, "lr": LR, "lr_d": Float(0.0, 10.0, nullable=True, open_low=True),
                 "beta1": BETA, "label_smoothing": Float(0.0, 0.5, open_high=True), "ema": EMA,
                 "r1": Float(0.0, 1e6), "r1_every": Int(1, 10 ** 6)}


# --------------------------------------------------------------- the family
class ImageFamily:
    """What the image kinds share: training in epochs, MNIST batches, image samples."""
    name = "image"
    about = "image models on 28x28 digits, trained in epochs"
    train_settings = {"epochs": Int(1, 10 ** 5), "batch_size": Int(1, 1 << 16), "decay_at": Float(0.0, 1.0),
                      "eval_every": Int(1, 10 ** 5), "quick": Flag()}
    train_defaults = {"epochs": 20, "batch_size": 64, "decay_at": 1.0, "eval_every": 5, "quick": False}
    epochs = True        # --epochs and --eval-every count epochs
    unit = "img"
    seeds = {"model": 0, "batches": 1, "score": 2, "grid": 3}   # offsets from --seed, as lessons 04-11 draw them

    def quick(self, config: dict, train: dict) -> tuple[dict, dict]:
        """--quick: 2 epochs of 5 steps, scored every epoch on 200 samples."""
        return config, {**train, "epochs": 2, "eval_every": 1, "quick": True}

    def data(self, kind: Kind, config: dict):
        """(arrays the loop batches, the dataset): images scaled as ``kind`` trains, and labels if conditional."""
        data = load_dataset(seed=0)
        return prepare_images(kind.name, data.x_train, data.y_train if kind.conditional else None), data

    def fill(self, config: dict, context) -> dict:
        return config

    def check_data(self, data, train: dict, config: dict) -> None:
        if train["batch_size"] > len(data.x_train):
            raise ValueError(f"--batch-size {train['batch_size']}: larger than the {len(data.x_train)} training images")

    def plan(self, train: dict, data: tuple, config: dict, quick: bool = False, patience: int | None = None) -> Plan:
        return Plan.epochs(train["epochs"], train["batch_size"], len(data[0]), eval_every=train["eval_every"],
                           decay_at=train.get("decay_at", 1.0), patience=patience,
                           max_steps_per_epoch=5 if quick else None)

    def limit(self, config: dict) -> tuple:
        return 1e6, "every image loss here is O(1) to O(1e3) while training works"

    def batches(self, data: tuple, train: dict, config: dict) -> tuple:
        return data

    def score(self, kind: Kind, data, config: dict, train: dict, seed: int, quick: bool = False):
        """model -> the scores that pick best.npz (the kind's ``select``), and their report line."""
        n = 200 if quick else 1000
        if kind.name == "vae":
            x_val = to_unit(data.x_val)
            return lambda m: {"val_elbo": m.elbo(x_val)["elbo"]}
        if kind.name == "ae":
            x_val = to_unit(data.x_val)
            return lambda m: {"val_recon": m.recon_loss.forward(m.decoder.forward(m.encode(x_val)), x_val)}
        if kind.name == "cvae":
            return lambda m: {"label_accuracy": _requested_digits(m, n, seed)}
        from ..evaluation.quality import SampleScorer, describe_scores
        scorer = SampleScorer(data, n=n)

        def score(model):
            labels = cycle_labels(n) if kind.conditional else None
            samples = generate_images(model, n, np.random.default_rng(seed), labels=labels)
            s = scorer.score(samples)
            print(f"  scored {n} samples: {describe_scores(s, scorer.baseline)}")
            if labels is not None:   # the same samples, asked for digits cycling 0..9
                s["label_accuracy"] = label_accuracy(samples, labels, scorer.judge)
            return s
        return score

    def grid(self, kind: Kind, data, seed: int):
        """model -> 100 samples for the per-epoch grid (conditional: row k holds digit k)."""
        labels = np.repeat(np.arange(10), 10) if kind.conditional else None
        return lambda m: generate_images(m, 100, np.random.default_rng(seed), data.x_train, labels)

    def generate(self, model, n: int, rng, labels=None, train_images=None, **_):
        return generate_images(model, n, rng, train_images, labels)


IMAGE = ImageFamily()


def _requested_digits(model, n: int, seed: int) -> float:
    """The judge's accuracy on n samples asked for digits cycling 0..9."""
    labels = cycle_labels(n, model.n_classes)
    return label_accuracy(generate_images(model, n, np.random.default_rng(seed), labels=labels), labels)


def prepare_images(kind: str, images_uint8: np.ndarray, labels=None) -> tuple:
    """uint8 (N, 28, 28) -> the arrays ``kind`` trains on: (x,) or, for a conditional kind, (x, labels).

    x is [0, 1] (N, 28, 28) for ae/vae/cvae, [-1, 1] (N, 784) for the MLP GANs and
    [-1, 1] (N, 1, 28, 28) for the DCGAN; labels stay integers (N,).
    """
    conditional = kind in ("cgan", "cvae")
    if conditional and labels is None:
        raise ValueError(f"prepare_images: a {kind} trains on labelled images; pass labels (N,)")
    if not conditional and labels is not None:
        raise ValueError(f"prepare_images: a {kind} is not conditional; it takes no labels")
    if kind in ("ae", "vae", "cvae"):
        x = to_unit(images_uint8)
    else:
        x = to_tanh(images_uint8)
        x = x[:, None] if kind == "dcgan" else x.reshape(len(x), -1)
    return (x,) if labels is None else (x, check_labels(labels, len(x), 10, f"prepare_images ({kind})"))


def generate_images(model, n: int, rng: np.random.Generator, train_images=None, labels=None) -> np.ndarray:
    """n samples as float32 (n, 28, 28) in [0, 1].

    Conditional models draw sample i as digit ``labels[i]`` (labels (n,), or one int
    for all; default: cycling 0..9, so a grid 10 wide has digit k in column k).
    GANs and the VAE sample their prior. A plain autoencoder has no prior, so its
    codes are drawn from a Gaussian fitted to the codes of ``train_images`` (uint8
    or [0, 1]): the best a plain AE can do, and a contrast with the VAE.
    (``aigc_np.kinds.generate`` draws from a model of any kind.)
    """
    kind = getattr(model, "kind", "")
    conditional = kind in ("cgan", "cvae")
    if labels is not None and not conditional:
        raise ValueError(f"generate_images: a {kind or type(model).__name__} model is not conditional, "
                         f"it cannot draw requested labels")
    if conditional:
        labels = cycle_labels(n, model.n_classes) if labels is None else labels
        labels = np.full(n, labels) if np.ndim(labels) == 0 else labels
        labels = check_labels(labels, n, model.n_classes, f"generate_images ({kind})")
        z = rng.standard_normal((n, model.latent_dim)).astype(model.dtype)
        images = (model.generate(z, labels) + 1) / 2 if kind == "cgan" else model.decode(z, labels)
    elif kind == "ae":
        if train_images is None:
            raise ValueError("generate_images: an autoencoder needs train_images to fit its code distribution")
        x = to_unit(train_images) if train_images.dtype == np.uint8 else train_images
        codes = model.encode(x).astype(np.float64)
        mean, cov = codes.mean(axis=0), np.cov(codes, rowvar=False) + 1e-6 * np.eye(codes.shape[1])
        z = mean + rng.standard_normal((n, len(mean))) @ np.linalg.cholesky(cov).T
        images = model.decode(z.astype(model.dtype))
    elif kind == "vae":
        images = model.decode(rng.standard_normal((n, model.latent_dim)).astype(model.dtype))
    elif kind in ("gan", "dcgan", "wgan-gp"):
        z = rng.standard_normal((n, model.latent_dim)).astype(model.dtype)
        images = (model.generate(z) + 1) / 2
    else:
        raise ValueError(f"generate_images: unknown model kind {kind!r}")
    return np.clip(images.reshape(n, 28, 28), 0, 1).astype(np.float32)


def _with_ema(model, cfg):
    if cfg.get("ema"):
        model.enable_ema(cfg["ema"])   # samples (and checkpoints' "generator") come from the weight average
    return model


# --------------------------------------------------------------- recipes
# A GAN recipe changes how the game is played, not the networks; every run behind it is in
# docs/experiments.md (lessons 07 and 08).
_GAME = {
    "lr": (4e-4, "G's Adam rate: twice the article's 2e-4, which left the game unfinished in the epochs a CPU allows"),
    "lr_d": (8e-4, "D learns twice as fast as G: a D that keeps up notices when G over-produces one digit"),
    "beta1": (0.5, "Adam's momentum as in the DCGAN paper: a GAN's targets move, old gradients mislead"),
    "label_smoothing": (0.1, "D's real target is 0.9 (Salimans et al. 2016): D cannot become certain of 4,500 images"),
    "d_dropout": (0.0, "R1 regularizes D instead of Dropout"),
    "r1": (1.0, "R1 penalty weight gamma (Mescheder et al. 2018): D's logit stays flat around real digits"),
    "r1_every": (4, "lazy R1 (Karras et al. 2020): every 4th D step with 4x the weight, a third of the cost"),
    "ema": (0.9995, "sample from a weight average of G over about 2,000 steps (Yazici et al. 2019): cleaner digits"),
}
_DC_GAME = {
    "width": (0.5, "G at half the article's channels: a CPU epoch in about 20 s"),
    "d_width": (0.25, "D at a quarter: enough to judge 28x28 digits, and D must not overpower G"),
    "alpha": (0.1, "LeakyReLU slope 0.1: a small gradient for negative inputs keeps D's units alive"),
    "dropout": (0.0, "R1 regularizes D instead of Dropout"),
    "lr": (4e-4, "G's Adam rate, as the MLP GAN's recipe"),
    "lr_d": (8e-4, "D learns twice as fast as G"),
    "beta1": (0.5, "Adam's momentum as in the DCGAN paper"),
    "label_smoothing": (0.0, "R1 does D's regularizing; smoothing on top scored lower"),
    "r1": (1.0, "R1 penalty weight gamma"),
    "r1_every": (4, "lazy R1: every 4th D step with 4x the weight"),
    "ema": (0.0, "no weight average: it scored lower for the DCGAN (docs/experiments.md)"),
}
_DECAY = {"decay_at": (0.75, "every learning rate / 4 for the last quarter: the samples sharpen instead of wandering")}


def _r(about, *parts, **settings) -> Recipe:
    merged = {}
    for part in parts:
        merged.update(part)
    merged.update(settings)
    return Recipe(about, merged)


# --------------------------------------------------------------- the kinds
AE = Kind(
    "ae", IMAGE, "autoencoder 784-512-256-2 (lesson 04): no prior, so samples come from a Gaussian fitted to codes",
    settings={"latent_dim": Int(1, MAX_LATENT), "hidden": Widths(), "lr": LR},
    defaults={"latent_dim": 2, "hidden": [512, 256], "lr": 1e-3},
    build=lambda c, rng: Autoencoder(c["latent_dim"], tuple(c["hidden"]), rng=rng, lr=c["lr"]),
    counts=lambda c: image_counts("ae", c),
    select=("val_recon", False), architecture=("latent_dim", "hidden"),
    recipes={"default": _r("lesson 04's autoencoder",
                           epochs=(30, "reconstruction stops improving on the validation split by then"),
                           batch_size=(128, "large enough for smooth gradients, small enough for 35 steps an epoch"),
                           eval_every=(1, "the validation loss is cheap: score every epoch"))})

VAE_KIND = Kind(
    "vae", IMAGE, "variational autoencoder 784-400-20 (lesson 05): the article's VAE",
    settings={"latent_dim": Int(1, MAX_LATENT), "hidden": Widths(), "lr": LR},
    defaults={"latent_dim": 20, "hidden": [400], "lr": 1e-3},
    build=lambda c, rng: VAE(c["latent_dim"], tuple(c["hidden"]), rng=rng, lr=c["lr"]),
    counts=lambda c: image_counts("vae", c),
    select=("val_elbo", True), architecture=("latent_dim", "hidden"),
    recipes={"default": _r("lesson 05's VAE, Adam 1e-3",
                           epochs=(100, "the ELBO keeps improving slowly on 4,500 images"),
                           batch_size=(128, "as Kingma & Welling's MNIST runs"),
                           eval_every=(1, "the validation ELBO is cheap: score every epoch")),
             "demo": _r("the default VAE, 15 epochs (make demo)",
                        epochs=(15, "make demo's budget: recognisable digits in about 20 s"),
                        batch_size=(128, "as the default recipe"),
                        eval_every=(5, "three scores are enough to pick best.npz"))})

CVAE = Kind(
    "cvae", IMAGE, "conditional VAE (lesson 11): the label joins the image and the code",
    settings={"latent_dim": Int(1, MAX_LATENT), "n_classes": Int(1, MAX_CLASSES), "hidden": Widths(), "lr": LR},
    defaults={"latent_dim": 2, "n_classes": 10, "hidden": [400], "lr": 1e-3},
    build=lambda c, rng: ConditionalVAE(c["latent_dim"], tuple(c["hidden"]), n_classes=c["n_classes"], rng=rng,
                                        lr=c["lr"]),
    counts=lambda c: image_counts("cvae", c),
    select=("label_accuracy", True), architecture=("latent_dim", "n_classes", "hidden"), conditional=True,
    recipes={"default": _r("lesson 11's conditional VAE, latent 2",
                           epochs=(100, "label accuracy still rises after 50 epochs"),
                           batch_size=(64, "more steps per epoch on 4,500 images"),
                           eval_every=(5, "label accuracy costs 1,000 samples and the judge")),
             "demo": _r("lesson 11's conditional VAE, 30 epochs (make demo)",
                        epochs=(30, "make demo's budget"),
                        batch_size=(64, "as the default recipe"),
                        eval_every=(10, "three scores are enough to pick best.npz"))})

GAN_KIND = Kind(
    "gan", IMAGE, "the article's MLP GAN: G 100-128-256-512-1024-784, D 784-1024-512-256-1 (lesson 07)",
    settings=_GAN_SETTINGS,
    defaults={"latent_dim": 100, "g_hidden": [128, 256, 512, 1024], "d_hidden": [1024, 512, 256],
              "d_dropout": 0.0, "lr": 2e-4, "lr_d": None, "beta1": 0.5, "label_smoothing": 0.0, "ema": 0.0,
              "r1": 0.0, "r1_every": 1},
    build=lambda c, rng: _with_ema(GAN(mlp_generator(c["latent_dim"], tuple(c["g_hidden"]), rng=rng),
                                       mlp_discriminator(tuple(c["d_hidden"]), dropout=c["d_dropout"], rng=rng),
                                       latent_dim=c["latent_dim"], rng=rng, lr=c["lr"], lr_d=c["lr_d"],
                                       beta1=c["beta1"], label_smoothing=c["label_smoothing"], r1_weight=c["r1"],
                                       r1_every=c["r1_every"]), c),
    counts=lambda c: image_counts("gan", c),
    select=("selection", False), architecture=("latent_dim", "g_hidden", "d_hidden", "ema"),
    recipes={"default": _r("lesson 07's recipe: the article's networks, a faster regularized D, a weight-averaged G",
                           _GAME, _DECAY,
                           epochs=(120, "the averaged G keeps improving until about epoch 110"),
                           batch_size=(32, "more, noisier D and G updates per epoch than 64"),
                           eval_every=(5, "the FD yardstick costs 1,000 samples")),
             "article": _r("the article's plain recipe: Adam 2e-4 / beta1 0.5 for both",
                           epochs=(100, "as long as the default, for comparison"),
                           batch_size=(64, "the article's batch"),
                           eval_every=(5, "the FD yardstick costs 1,000 samples")),
             "demo": _r("lesson 07's recipe without the weight average, 20 epochs (make demo)",
                        _GAME, _DECAY,
                        ema=(0.0, "in a short run the average still remembers the untrained G"),
                        epochs=(20, "make demo's budget"),
                        batch_size=(32, "as the default recipe"),
                        eval_every=(5, "the FD yardstick costs 1,000 samples"))})

DCGAN_KIND = Kind(
    "dcgan", IMAGE, "the article's DCGAN: convolutions, BatchNorm, LeakyReLU (lesson 08)",
    settings={"latent_dim": Int(1, MAX_LATENT), "width": CHANNEL_WIDTH,
              "d_width": Float(0.0, 16.0, nullable=True, open_low=True), "alpha": Float(0.0, 10.0),
              "dropout": PROBABILITY, "lr": LR, "lr_d": Float(0.0, 10.0, nullable=True, open_low=True),
              "beta1": BETA, "label_smoothing": Float(0.0, 0.5, open_high=True), "ema": EMA,
              "r1": Float(0.0, 1e6), "r1_every": Int(1, 10 ** 6)},
    defaults={"latent_dim": 100, "width": 0.25, "d_width": None, "alpha": 0.3, "dropout": 0.3, "lr": 2e-4,
              "lr_d": None, "beta1": 0.5, "label_smoothing": 0.0, "ema": 0.0, "r1": 0.0, "r1_every": 1},
    build=lambda c, rng: _with_ema(DCGAN(c["latent_dim"], c["width"], rng=rng, d_width=c["d_width"],
                                         alpha=c["alpha"], dropout=c["dropout"], lr=c["lr"], lr_d=c["lr_d"],
                                         beta1=c["beta1"], label_smoothing=c["label_smoothing"],
                                         r1_weight=c["r1"], r1_every=c["r1_every"]), c),
    counts=lambda c: image_counts("dcgan", c),
    select=("selection", False), architecture=("latent_dim", "width", "d_width", "ema"),
    recipes={"default": _r("lesson 08's recipe: G width 1/2, D width 1/4, lazy R1 instead of Dropout",
                           _DC_GAME, _DECAY,
                           epochs=(72, "the best epoch of the measured runs was 66"),
                           batch_size=(16, "more D and G updates per epoch: the convolutional game converges in fewer epochs"),
                           eval_every=(2, "the FD yardstick costs 1,000 samples; every second epoch")),
             "article": _r("the article's recipe (LeakyReLU 0.3, Dropout 0.3, Adam 2e-4 for both) at width 1/4",
                           width=(0.25, "a quarter of the article's channels: a CPU epoch in seconds"),
                           alpha=(0.3, "the article's LeakyReLU slope"),
                           dropout=(0.3, "the article's Dropout in D"),
                           epochs=(60, "as long as lesson 08 compares"),
                           batch_size=(64, "the article's batch"),
                           eval_every=(2, "every second epoch")),
             "demo": _r("lesson 08's recipe, 8 epochs (make demo)", _DC_GAME, _DECAY,
                        epochs=(8, "make demo's budget"),
                        batch_size=(16, "as the default recipe"),
                        eval_every=(4, "two scores are enough to pick best.npz"))})

CGAN = Kind(
    "cgan", IMAGE, "conditional MLP GAN (lesson 11): the label joins z and D's input",
    settings={**_GAN_SETTINGS, "n_classes": Int(1, MAX_CLASSES), "mismatch": Flag()},
    defaults={"latent_dim": 100, "n_classes": 10, "g_hidden": [256, 512], "d_hidden": [512, 256],
              "d_dropout": 0.3, "lr": 2e-4, "lr_d": 4e-4, "beta1": 0.5, "label_smoothing": 0.1, "mismatch": True,
              "ema": 0.999, "r1": 0.0, "r1_every": 1},
    build=lambda c, rng: _with_ema(ConditionalGAN(
        mlp_generator(c["latent_dim"] + c["n_classes"], tuple(c["g_hidden"]), rng=rng),
        mlp_discriminator(tuple(c["d_hidden"]), PIXELS + c["n_classes"], dropout=c["d_dropout"], rng=rng),
        latent_dim=c["latent_dim"], n_classes=c["n_classes"], rng=rng, lr=c["lr"], lr_d=c["lr_d"],
        beta1=c["beta1"], label_smoothing=c["label_smoothing"], mismatch=c["mismatch"]), c),
    counts=lambda c: image_counts("cgan", c), conditional=True,
    select=("selection", False), architecture=("latent_dim", "n_classes", "g_hidden", "d_hidden", "ema"),
    recipes={"default": _r("lesson 11's conditional GAN (the kind's defaults: D dropout 0.3, lr G 2e-4 / D 4e-4, "
                           "label smoothing 0.1, EMA 0.999, mismatched pairs shown to D)",
                           epochs=(100, "the FD yardstick's best epoch was the last"),
                           batch_size=(32, "more updates per epoch, as the MLP GAN"),
                           eval_every=(5, "the FD yardstick costs 1,000 samples"))})

WGAN_GP = Kind(
    "wgan-gp", IMAGE, "Wasserstein GAN with gradient penalty (lesson 10): the article's G, an MLP critic",
    settings={"latent_dim": Int(1, MAX_LATENT), "g_hidden": Widths(), "critic_hidden": Widths(), "lr": LR,
              "beta1": BETA, "beta2": BETA, "n_critic": Int(1, 1000), "gp_weight": Float(0.0, 1e6), "ema": EMA},
    defaults={"latent_dim": 100, "g_hidden": [128, 256, 512, 1024], "critic_hidden": [512, 256], "lr": 1e-4,
              "beta1": 0.0, "beta2": 0.9, "n_critic": 5, "gp_weight": 10.0, "ema": 0.0},
    build=lambda c, rng: _with_ema(WGANGP(mlp_generator(c["latent_dim"], tuple(c["g_hidden"]), rng=rng),
                                          mlp_critic(tuple(c["critic_hidden"]), rng=rng), latent_dim=c["latent_dim"],
                                          rng=rng, lr=c["lr"], beta1=c["beta1"], beta2=c["beta2"],
                                          n_critic=c["n_critic"], gp_weight=c["gp_weight"]), c),
    counts=lambda c: image_counts("wgan-gp", c),
    select=("selection", False), architecture=("latent_dim", "g_hidden", "critic_hidden", "ema"),
    recipes={"default": _r("the paper's settings (the kind's defaults: Adam 1e-4, betas (0, 0.9), "
                           "5 critic steps per G step, penalty weight 10)",
                           epochs=(30, "lesson 10 compares at equal wall-clock time, not to convergence"),
                           batch_size=(64, "the paper's batch"),
                           eval_every=(5, "the FD yardstick costs 1,000 samples"))})

IMAGE_KINDS = (AE, VAE_KIND, CVAE, GAN_KIND, DCGAN_KIND, CGAN, WGAN_GP)
