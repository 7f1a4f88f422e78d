"""``convnp train``: train a zoo model on a dataset, with checkpoints, history and curves."""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

from .. import datasets, models, optim, viz
from .._io import remove_stale_temporaries
from ..datasets import transforms
from ..distributed import launched_group
from ..distributed.launch import from_root, resume_from_root
from ..losses import CrossEntropyLoss
from ..model.callbacks import LRSchedulerCallback
from ..model.checkpoint import Checkpoint, load_checkpoint
from ..model.training import NonFiniteLossError
from .common import (
    CLIError,
    ensure_directory,
    load_split_data,
    percent,
    read_json,
    seeds,
    set_processes,
    write_json,
)

OPTIMIZERS = {  # name: (class, default learning rate, extra arguments)
    "sgd": (optim.SGD, 0.01, {"momentum": 0.9}),
    "adam": (optim.Adam, 1e-3, {}),
    "adamw": (optim.AdamW, 1e-3, {}),
    "rmsprop": (optim.RMSprop, 1e-3, {}),
    "adagrad": (optim.Adagrad, 0.01, {}),
    "adadelta": (optim.Adadelta, 1.0, {}),
}
DEFAULTS = {"model": "simple-cnn", "dataset": "mnist-sample", "epochs": 2, "batch_size": 64,
            "optimizer": "adam", "lr": None, "weight_decay": None, "schedule": "constant", "augment": False,
            "seed": 0, "limit": None}
SCHEDULES = ("constant", "cosine", "onecycle")


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "train", help="train a zoo model on a dataset",
        description="Train a model from the zoo. Writes model.npz, history.json, config.json, a "
                    "checkpoint after every epoch and, with the viz extra, curves.png and kernels.png.")
    parser.add_argument("--model", choices=models.names(), help=f"default {DEFAULTS['model']}")
    parser.add_argument("--dataset", choices=datasets.names(), help=f"default {DEFAULTS['dataset']}")
    parser.add_argument("--epochs", type=int, help="total epochs (default 2; with --resume, "
                        "the run's own count unless given)")
    parser.add_argument("--batch-size", type=int, help="default 64")
    parser.add_argument("--optimizer", choices=list(OPTIMIZERS), help="default adam")
    parser.add_argument("--lr", type=float, help="learning rate (default: 1e-3 for adam, 0.01 for sgd)")
    parser.add_argument("--weight-decay", type=float,
                        help="L2 penalty added to the gradients (decoupled for adamw); default: the "
                             "optimizer's own (0, 0.01 for adamw)")
    parser.add_argument("--schedule", choices=SCHEDULES,
                        help="learning rate over the run, stepped every batch: constant (default), "
                             "cosine (decays to 0) or onecycle (warms up to --lr, then anneals)")
    parser.add_argument("--augment", action="store_true", default=None,
                        help="augment training batches: random crops after padding by 1/8 of the "
                             "image size, plus horizontal flips for colour images")
    parser.add_argument("--seed", type=int, help="seed for weights and shuffling (default 0)")
    parser.add_argument("--limit", type=int, help="use only the first N train and N test images")
    parser.add_argument("--out", help="run directory (default runs/MODEL-DATASET-TIME)")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR")
    parser.add_argument("--root", help="data directory (default $CONVNP_DATA or ~/.cache/convnp)")
    parser.add_argument("--download", action="store_true", help="download missing dataset files")
    parser.add_argument("--processes", type=int, metavar="K",
                        help="split each batch over K processes, which share no interpreter lock "
                             "(Linux; default $CONVNP_NUM_PROCESSES or 1; the same numbers)")
    parser.set_defaults(run=run)


def run_config(args) -> tuple[dict, Path]:
    """The run's settings (from the resumed run's config.json, then the flags) and directory."""
    given = {key: getattr(args, key) for key in DEFAULTS if getattr(args, key) is not None}
    if args.resume:
        run_dir = Path(args.resume)
        config = read_json(run_dir / "config.json")
        if not isinstance(config, dict):
            raise CLIError(f"{run_dir / 'config.json'} is not a run's settings (a JSON object)")
        config = {**DEFAULTS, **config}
        changed = {k: v for k, v in given.items() if k != "epochs" and v != config.get(k)}
        if config["schedule"] != "constant" and given.get("epochs", config["epochs"]) != config["epochs"]:
            changed["epochs"] = given["epochs"]  # the schedule's length is fixed by the epochs
        if changed:
            raise CLIError(f"--resume keeps the run's settings; cannot change {sorted(changed)}")
        config.update(given)
        check_config(config, f"{run_dir / 'config.json'}: ")
        return config, run_dir
    config = {**DEFAULTS, **given}
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = Path(args.out or f"runs/{config['model']}-{config['dataset']}-{stamp}")
    if (run_dir / "checkpoint.npz").exists():
        raise CLIError(f"{run_dir} already holds a run; use --resume {run_dir} or another --out")
    check_config(config)
    return config, run_dir


def check_config(config, where="") -> None:
    """Every setting of a run is one ``convnp train`` accepts (flags, or an edited config.json)."""
    def positive_int(key, allow_none=False, what="at least 1"):
        value = config[key]
        if not (allow_none and value is None) and (
                not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise CLIError(f"{where}--{key.replace('_', '-')} must be {what}, got {value!r}")

    choices = {"model": models.names(), "dataset": datasets.names(), "optimizer": list(OPTIMIZERS),
               "schedule": list(SCHEDULES)}
    for key, allowed in choices.items():
        if config[key] not in allowed:
            raise CLIError(f"{where}--{key} must be one of {', '.join(allowed)}; got {config[key]!r}")
    if not isinstance(config.get("augment", False), bool):
        raise CLIError(f"{where}augment must be true or false, got {config['augment']!r}")
    positive_int("epochs")
    positive_int("batch_size")
    positive_int("limit", allow_none=True, what="a positive number of images")
    seed = config["seed"]
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**63:
        raise CLIError(f"{where}--seed must be an integer from 0 to 2**63-1, got {seed!r}")
    for key in ("lr", "weight_decay"):
        value = config[key]
        if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool)
                                  or not math.isfinite(value) or value < 0 or (key == "lr" and value == 0)):
            kind = "positive" if key == "lr" else "non-negative"
            raise CLIError(f"{where}--{key.replace('_', '-')} must be {kind} (a finite number), "
                           f"got {value!r}")


def build_optimizer(name, params, lr, weight_decay=None):
    """The optimizer ``name``; ``lr`` and ``weight_decay`` None keep its CLI default and its own."""
    cls, default_lr, extra = OPTIMIZERS[name]
    if weight_decay is not None:
        if weight_decay < 0:
            raise CLIError(f"--weight-decay must be non-negative, got {weight_decay}")
        extra = {**extra, "weight_decay": weight_decay}
    return cls(params, lr=default_lr if lr is None else lr, **extra)


def build_augment(enabled, input_shape):
    """The training-batch augmentation for ``--augment`` (None when off).

    Random crops of the original size after zero-padding by 1/8 of it (4 pixels for 32x32,
    3 for 28x28). Colour images (natural photos) are also flipped left-right at random; gray
    images are not, because a mirrored digit can be a different character.
    """
    if not enabled:
        return None
    channels, height, _ = input_shape
    steps = [transforms.RandomCrop(height, padding=max(1, height // 8))]
    if channels == 3:
        steps.append(transforms.RandomHorizontalFlip())
    return transforms.Compose(steps)


def build_schedule(name, optimizer, total_steps):
    """The per-batch learning-rate schedule ``name`` over ``total_steps`` batches (None: constant)."""
    if name == "cosine":
        return optim.CosineAnnealingLR(optimizer, T_max=total_steps)
    if name == "onecycle":
        return optim.OneCycleLR(optimizer, max_lr=optimizer.lr, total_steps=total_steps)
    return None


def run(args) -> int:
    group = launched_group()  # None unless mpiexec started several processes (then rank 0 writes)
    try:
        return train(args, group)
    except BaseException:
        if group is not None:
            group.abort_at_exit(2)  # the other ranks may wait in a collective call: end them too
        raise


def train(args, group=None) -> int:
    """Train as the flags say; under MPI (``group``) every rank trains, rank 0 alone writes."""
    set_processes(getattr(args, "processes", None), group)
    root = group is None or group.is_root
    config, run_dir = from_root(group, run_config, args)  # one run directory, rank 0's
    (x, y), (x_test, y_test) = load_split_data(config["dataset"], args.root, args.download, config["limit"])
    info = datasets.info(config["dataset"])
    init_rng, shuffle_rng = seeds(config["seed"])
    model = models.build(config["model"], x.shape[1:], len(info.classes), rng=init_rng)
    model.metadata = {"dataset": config["dataset"], "classes": list(info.classes),
                      "input_shape": list(x.shape[1:]), "model": config["model"]}
    optimizer = build_optimizer(config["optimizer"], model.parameters(), config["lr"],
                                config.get("weight_decay"))
    steps_per_epoch = -(-len(x) // config["batch_size"])
    schedule = build_schedule(config["schedule"], optimizer, config["epochs"] * steps_per_epoch)
    if root:
        remove_stale_temporaries(run_dir)  # left by a run killed mid-write
    history, done = resume_from_root(group, lambda: resume_state(args, run_dir, model, optimizer,
                                                                   shuffle_rng, schedule), schedule)
    if done >= config["epochs"]:
        return finished_run(group, model, history, run_dir, done)
    if root:
        ensure_directory(run_dir)
        write_json(run_dir / "config.json", config)
        print(f"Training {config['model']} on {config['dataset']} ({len(x)} train / {len(x_test)} test "
              f"images) for {config['epochs']} epochs → {run_dir}"
              + ("" if group is None else f" on {group.size} MPI processes"), file=sys.stderr)
    checkpoint = Checkpoint(run_dir / "checkpoint.npz", optimizer, shuffle_rng, history, schedule)
    # Under MPI every rank steps the schedule; fit runs the Checkpoint on rank 0 only.
    callbacks = [checkpoint] if schedule is None else [LRSchedulerCallback(schedule), checkpoint]
    try:
        model.fit(x, y, loss=CrossEntropyLoss(), optimizer=optimizer, epochs=config["epochs"],
                  batch_size=config["batch_size"], validation_data=(x_test, y_test),
                  seed=shuffle_rng, callbacks=callbacks, initial_epoch=done,
                  augment=build_augment(config.get("augment", False), x.shape[1:]),
                  distributed=None if group is None else group.comm)
    except KeyboardInterrupt:
        finished = len(checkpoint.history.get("loss", []))
        print(f"\ninterrupted after {finished} finished epochs; continue with: "
              f"convnp train --resume {run_dir}", file=sys.stderr)
        return 130
    except NonFiniteLossError as error:
        raise CLIError(f"{error} (--lr {optimizer.lr:g})") from None
    except OSError as error:  # e.g. the disk filled up while writing a checkpoint
        raise CLIError(f"{error}; finished epochs are kept in {run_dir / 'checkpoint.npz'}: fix "
                       f"this, then continue with: convnp train --resume {run_dir}") from None
    return finish(model, checkpoint.history, run_dir) if root else 0


def finished_run(group, model, history, run_dir, done) -> int:
    """A resumed run with every epoch done: say so, or write the files a kill left unwritten."""
    root = group is None or group.is_root
    complete = from_root(group, lambda: all((run_dir / name).is_file()
                                            for name in ("model.npz", "history.json")))
    if not root:
        return 0
    if complete:
        print(f"{run_dir} already finished {done} epochs; pass --epochs N > {done} to continue")
        return 0
    print(f"{run_dir} finished {done} epochs but has no model.npz or history.json (stopped "
          f"before writing them); writing them now", file=sys.stderr)
    return finish(model, history, run_dir)


def resume_state(args, run_dir, model, optimizer, shuffle_rng, schedule) -> tuple[dict, int]:
    """(history, finished epochs) restored from the run's checkpoint; ({}, 0) for a new run.

    A run killed before its first checkpoint has none: it starts again from epoch 0.
    """
    if not args.resume:
        return {}, 0
    path = run_dir / "checkpoint.npz"
    if not path.is_file():
        print(f"{run_dir} has no checkpoint yet (stopped during its first epoch); starting it "
              f"again from epoch 1", file=sys.stderr)
        return {}, 0
    try:
        record = load_checkpoint(path, model, optimizer, shuffle_rng, schedule)
    except ValueError as error:
        raise CLIError(f"{error}; start the run again with --out instead of --resume") from None
    return record["history"], record["epoch"]


def finish(model, history, run_dir) -> int:
    """Write the model, history and curves; print where they are."""
    model.save(run_dir / "model.npz")
    write_json(run_dir / "history.json", history)
    written = ["model.npz", "history.json", "config.json", "checkpoint.npz"]
    if viz.available():
        viz.plot_history(history, run_dir / "curves.png")
        written.append("curves.png")
        if viz.find_conv(model) is not None:
            viz.plot_kernels(model, run_dir / "kernels.png")
            written.append("kernels.png")
    else:
        print(f"(no curves.png, kernels.png: {viz.VIZ_HINT})", file=sys.stderr)
    if history.get("val_accuracy"):
        print(f"test accuracy {percent(history['val_accuracy'][-1])} after {len(history['loss'])} epochs")
    print(f"wrote {', '.join(str(run_dir / name) for name in written)}")
    return 0
