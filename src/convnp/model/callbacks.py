"""Callbacks for ``fit`` with Keras' names, and History, the record of a training run."""

from __future__ import annotations


class Callback:
    """Base class for objects ``fit`` calls during training (all hooks are optional no-ops).

    Hooks, with Keras' names: ``on_train_begin(logs)``, ``on_train_end(logs)``,
    ``on_epoch_begin(epoch, logs)``, ``on_epoch_end(epoch, logs)``,
    ``on_train_batch_begin(batch, logs)``, ``on_train_batch_end(batch, logs)``.
    ``epoch`` and ``batch`` count from 0. ``logs`` at a batch end has ``loss`` (and ``accuracy``
    for classification) of that batch; at an epoch end the epoch's means and ``val_*`` values.
    ``self.model`` is the model being trained; setting ``self.model.stop_training = True``
    ends training after the current epoch.
    """

    def __init__(self):
        self.model = None

    def set_model(self, model):
        self.model = model

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_batch_begin(self, batch, logs=None):
        pass

    def on_train_batch_end(self, batch, logs=None):
        pass


class History(Callback):
    """Per-epoch metrics of a ``fit`` run (returned by ``fit``).

    Attributes
    ----------
    history : dict[str, list[float]]
        ``loss``, ``accuracy`` and, with validation data, ``val_loss``, ``val_accuracy``;
        one value per completed epoch.
    epoch : list[int]
        The epoch indices recorded (0-based).
    """

    def __init__(self):
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))

    def __repr__(self):
        return f"History(epochs={len(self.epoch)}, keys={list(self.history)})"


def call_hook(callbacks, name, *args):
    """Call hook ``name`` on every callback that has it (plain objects work too)."""
    for callback in callbacks:
        hook = getattr(callback, name, None)
        if hook is not None:
            hook(*args)


class LRSchedulerCallback(Callback):
    """Step a learning-rate schedule after every batch (``per="batch"``) or every epoch.

    ``OneCycleLR`` is meant to step per batch; ``StepLR`` and ``CosineAnnealingLR`` usually per
    epoch. The current learning rate is added to the epoch logs as ``lr``.
    """

    def __init__(self, scheduler, per: str = "batch"):
        super().__init__()
        if per not in ("batch", "epoch"):
            raise ValueError(f"LRSchedulerCallback: per must be 'batch' or 'epoch', got {per!r}")
        self.scheduler, self.per = scheduler, per

    def on_train_batch_end(self, batch, logs=None):
        if self.per == "batch":
            self.scheduler.step()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["lr"] = float(self.scheduler.get_last_lr()[0])
        if self.per == "epoch":
            self.scheduler.step()
