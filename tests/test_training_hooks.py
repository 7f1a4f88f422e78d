"""fit's extras: gradient clipping, batch augmentation and learning-rate schedule callbacks."""

import numpy as np
import pytest
import torch

import convnp as cn
from convnp.model.training import clip_grad_norm_


def small_model(seed=0, dtype=np.float64):
    return cn.Sequential(cn.Flatten(), cn.Linear(16, 8, dtype=dtype, rng=seed), cn.ReLU(),
                         cn.Linear(8, 3, dtype=dtype, rng=seed + 1))


def data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 1, 4, 4)), rng.integers(0, 3, n)


@pytest.mark.parametrize("max_norm", [1e-3, 0.5, 1e6])
def test_clip_grad_norm_matches_torch(max_norm):
    rng = np.random.default_rng(1)
    params = [cn.Parameter(rng.standard_normal(shape)) for shape in [(3, 4), (5,), (2, 2, 3)]]
    for p in params:
        p.grad = rng.standard_normal(p.shape)
    tensors = [torch.tensor(p.data, requires_grad=True) for p in params]
    for t, p in zip(tensors, params, strict=True):
        t.grad = torch.from_numpy(p.grad.copy())
    expected_total = torch.nn.utils.clip_grad_norm_(tensors, max_norm).item()
    assert clip_grad_norm_(params, max_norm) == pytest.approx(expected_total, rel=1e-12)
    for t, p in zip(tensors, params, strict=True):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-12, atol=0)


def test_fit_clips_before_each_step():
    x, y = data()
    model = small_model()
    before = [p.data.copy() for p in model.parameters()]
    model.fit(x, y, loss=cn.CrossEntropyLoss(), optimizer=cn.optim.SGD(model.parameters(), lr=1.0),
              batch_size=40, shuffle=False, verbose=False, clip_grad_norm=1e-3)
    moved = np.sqrt(sum(np.sum((p.data - b) ** 2) for p, b in zip(model.parameters(), before, strict=True)))
    assert moved == pytest.approx(1e-3, rel=1e-4)  # one SGD step of lr 1 on a gradient of norm 1e-3
    with pytest.raises(ValueError, match="clip_grad_norm must be positive"):
        model.fit(x, y, loss=cn.CrossEntropyLoss(), optimizer=cn.optim.SGD(model.parameters(), lr=1.0),
                  verbose=False, clip_grad_norm=0)


def test_augment_sees_every_training_batch_but_no_validation_batch():
    x, y = data(30)
    seen = []

    def augment(batch, rng):
        assert isinstance(rng, np.random.Generator)
        seen.append(batch.copy())
        return batch * 0  # the model must train on what augment returns

    model = small_model()
    history = model.fit(x, y, loss=cn.CrossEntropyLoss(), optimizer=cn.optim.SGD(model.parameters(), lr=0.1),
                        batch_size=8, epochs=2, validation_data=data(10, seed=5), verbose=False,
                        augment=augment, shuffle=False)
    assert [len(b) for b in seen] == [8, 8, 8, 6] * 2
    np.testing.assert_array_equal(np.concatenate(seen[:4]), x)
    assert history.history["loss"][0] == pytest.approx(np.log(3), abs=0.2)  # zero inputs: near-uniform


def test_scheduler_callback_steps_one_cycle_per_batch_like_torch():
    x, y = data(40)
    model = small_model()
    optimizer = cn.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    schedule = cn.optim.OneCycleLR(optimizer, max_lr=0.1, total_steps=3 * 5)
    history = model.fit(x, y, loss=cn.CrossEntropyLoss(), optimizer=optimizer, epochs=3, batch_size=8,
                        verbose=False, callbacks=[cn.LRSchedulerCallback(schedule, per="batch")])
    twin = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9)
    torch_schedule = torch.optim.lr_scheduler.OneCycleLR(twin, max_lr=0.1, total_steps=15)
    lrs = []
    for _ in range(3):
        for _ in range(5):
            twin.step()
            torch_schedule.step()
        lrs.append(torch_schedule.get_last_lr()[0])
    np.testing.assert_allclose(history.history["lr"], lrs, rtol=1e-12)
    assert optimizer.lr == pytest.approx(lrs[-1], rel=1e-12)


def test_scheduler_callback_per_epoch_and_bad_argument():
    x, y = data(16)
    model = small_model()
    optimizer = cn.optim.SGD(model.parameters(), lr=1.0)
    callback = cn.LRSchedulerCallback(cn.optim.StepLR(optimizer, step_size=1, gamma=0.5), per="epoch")
    history = model.fit(x, y, loss=cn.CrossEntropyLoss(), optimizer=optimizer, epochs=3, verbose=False,
                        callbacks=[callback])
    assert history.history["lr"] == [1.0, 0.5, 0.25] and optimizer.lr == 0.125
    with pytest.raises(ValueError, match="per must be 'batch' or 'epoch'"):
        cn.LRSchedulerCallback(callback.scheduler, per="step")
