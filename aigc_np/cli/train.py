"""``python -m aigc_np train KIND --out DIR``: one command for every kind, through one loop.

The run's settings are the kind's recipe, then ``--quick``'s smoke-test
settings, then the flags; every one is checked against the kind's schema
(``kinds``), and the parameter count against what a checkpoint may hold,
before any data is read or model built. A resumed run takes its settings
from its last.npz: a flag may extend its length (``--epochs``, ``--steps``)
but changing anything else is refused, naming both values.
"""
from __future__ import annotations

import os
import time

import numpy as np

from ..checkpoint import validate_checkpoint
from ..kinds import KINDS
from ..kinds.schema import check_settings
from ..runfolder import RunFolder
from ..text.data import CORPORA, UnknownCorpus
from ..threads import apply_threads
from ..training import train
from .common import UsageError, check_out_dir, check_resume

__all__ = ["cmd_train"]

LENGTH = ("epochs", "steps")   # the settings a resumed run may change: how long it trains


def _recipe_name(args, kind) -> str:
    if args.recipe is not None:
        if args.recipe not in kind.recipes:
            raise UsageError(f"--recipe {args.recipe}: {kind.name} has no such recipe; expected one of "
                             f"{list(kind.recipes)}")
        return args.recipe
    corpus = getattr(args, "corpus", None)
    return corpus if corpus in kind.recipes else "default"


def _flag_settings(args, options, kind) -> dict:
    """{setting: (value, flag)} of the given flags that set a config or training setting."""
    out = {}
    for o in options:
        value = getattr(args, o.dest, None)
        if o.setting and "train" in o.commands and value not in (None, False):
            setting = kind.settings.get(o.setting) or kind.family.train_settings.get(o.setting)
            if setting is None:
                continue
            if type(setting).__name__ == "Int" and isinstance(value, float) and value.is_integer():
                value = int(value)
            if not setting.accepts(value):
                raise UsageError(f"{o.flag} {getattr(args, o.dest)}: expected {setting.describe()} for {kind.name}")
            out[o.setting] = (value, o.flag)
    return out


def _settings(args, options, kind) -> tuple[dict, dict]:
    """(config, training settings) of the run: recipe, --quick, flags; or the resumed run's own."""
    flags = _flag_settings(args, options, kind)
    if args.resume:
        if args.recipe is not None:
            raise UsageError(f"--recipe {args.recipe}: a resumed run keeps the settings its last.npz holds; "
                             "leave --recipe out")
        meta = validate_checkpoint(args.resume)
        check_resume(args, meta)
        config, train_settings = dict(meta["config"]), dict(meta["train"])
        for name, (value, flag) in flags.items():
            stored = config.get(name, train_settings.get(name))
            if name in LENGTH:
                train_settings[name] = value
            elif name == "corpus" and os.path.abspath(value) == config["corpus"]:
                continue
            elif value != stored:
                raise UsageError(f"{flag} {value}: the run in {args.out} has {name} = {stored!r}; a resumed run "
                                 f"keeps its model and plan (only {' and '.join('--' + n for n in LENGTH)} may change)")
        return config, train_settings
    config, train_settings = kind.recipe(_recipe_name(args, kind))
    if args.quick:
        config, train_settings = kind.family.quick(config, train_settings)
    for name, (value, _) in flags.items():
        if name == "corpus" and value not in CORPORA and os.path.lexists(value):
            value = os.path.abspath(value)   # the checkpoint finds the file from anywhere
        (config if name in kind.settings else train_settings)[name] = value
    return config, train_settings


def cmd_train(args, options) -> int:
    kind = KINDS[args.kind]
    check_out_dir(args.out, args.resume, args.overwrite)
    config, train_settings = _settings(args, options, kind)
    family = kind.family
    check_settings(f"{kind.name} training", family.train_settings, train_settings, "train")
    print(apply_threads(args.threads))
    try:
        data, context = family.data(kind, config)
    except UnknownCorpus as e:
        raise UsageError(str(e)) from None
    config = family.fill(config, context)
    try:
        kind.check(config, f"train {kind.name}")
        family.check_data(context, train_settings, config)
        plan = family.plan(train_settings, data, config, quick=train_settings["quick"], patience=args.patience)
    except ValueError as e:
        raise UsageError(str(e)) from None
    seed = args.seed or 0
    rng = lambda role: np.random.default_rng(seed + family.seeds[role])  # noqa: E731
    model = kind.build_model(config, rng("model"))
    score = family.score(kind, context, config, train_settings, seed + family.seeds["score"],
                         quick=train_settings["quick"])
    best, higher = kind.select
    print(f"training {kind.name} ({model.num_params():,} parameters) on {getattr(context, 'source', None) or context.name}: "
          f"{_length(plan)}, batch {plan.batch_size}, best.npz by {best} ({'higher' if higher else 'lower'} is "
          f"better), out {args.out}")
    start = time.perf_counter()
    with RunFolder(args.out) as folder:
        if args.overwrite:
            folder.clear()
        history = train(model, family.batches(data, train_settings, config), plan,
                        rng=rng("batches"), out_dir=folder, score=score, select=kind.select,
                        grid=family.grid(kind, context, seed + family.seeds["grid"]), limit=family.limit(config),
                        train_settings=train_settings, resume=bool(args.resume), label=f"{kind.name} ",
                        unit=family.unit)
    scored = [row for row in history if best in row]
    top = (max if higher else min)(scored, key=lambda row: row[best]) if scored else history[-1]
    shown = ", ".join(f"{k}={v:.4g}" for k, v in top.items() if k not in ("step", "epoch", "seconds"))
    where = f"epoch {top['epoch']}" if "epoch" in top else f"step {top['step']}"
    print(f"done in {time.perf_counter() - start:.0f} s; best at {where}: {shown}")
    print(f"wrote {os.path.join(args.out, 'last.npz')}, best.npz and history.csv"
          + (" and sample grids" if family.unit == "img" else ""))
    return 0


def _length(plan) -> str:
    if plan.epoch_steps:
        return f"{plan.steps // plan.epoch_steps} epochs of {plan.epoch_steps} steps"
    return f"{plan.steps} steps"
