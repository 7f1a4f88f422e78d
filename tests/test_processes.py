"""Training steps split over worker processes (convnp.fast.processes, convnp.fast.split): the
same numbers as one process — BatchNorm's statistics and Dropout's masks are the whole batch's —
and a worker that stops, an interleaved model or a bad input changes nothing but the speed."""

import os
import re
import signal
import subprocess
import sys
import threading
import warnings

import numpy as np
import pytest

import convnp as cn
from convnp.fast import processes
from convnp.losses import CrossEntropyLoss

pytestmark = pytest.mark.skipif(not processes.available(), reason="worker processes need Linux")


@pytest.fixture(scope="module", autouse=True)
def _stop_workers_at_the_end():
    yield
    processes.stop_workers()


def split_model(seed=0, dtype=np.float64, dropout=0.4, extra=False):
    """Strided and padded convolutions, BatchNorm 2-D and 1-D, a residual block with a 1x1
    shortcut, max-pooling, Dropout: everything that couples or does not couple a batch's images."""
    rng = np.random.default_rng(seed)

    def conv(c_in, c_out, k, **kw):
        return cn.Conv2d(c_in, c_out, k, dtype=dtype, rng=rng, **kw)

    block = cn.Residual(conv(6, 8, 3, padding=1), cn.BatchNorm2d(8, dtype=dtype), cn.ReLU(),
                        conv(8, 8, 3, padding=1), cn.BatchNorm2d(8, dtype=dtype),
                        shortcut=[conv(6, 8, 1), cn.BatchNorm2d(8, dtype=dtype)])
    wider = [cn.Linear(12, 12, dtype=dtype, rng=rng)] if extra else []  # more weights to share
    return cn.Sequential(conv(3, 6, 3, stride=2, padding=1), cn.BatchNorm2d(6, dtype=dtype), cn.ReLU(),
                         block, cn.ReLU(), cn.MaxPool2d(2), cn.Flatten(), cn.Dropout(dropout, rng=seed + 1),
                         cn.Linear(8 * 3 * 3, 12, dtype=dtype, rng=rng), cn.BatchNorm1d(12, dtype=dtype),
                         cn.ReLU(), *wider, cn.Linear(12, 5, dtype=dtype, rng=rng))


def batch(n, dtype=np.float64, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 3, 11, 11)).astype(dtype), rng.integers(0, 5, n)


def train_step(model, x, y, input_grad=True):
    """One step: the output, the loss, d loss / d x, every gradient, buffer and generator state."""
    loss = CrossEntropyLoss()
    out = model.forward(x)
    value = loss(out, y)
    dx = model.backward(loss.backward(), input_grad=input_grad)
    grads = {name: p.grad.copy() for name, p in model.named_parameters().items()}
    buffers = {name: np.array(b, copy=True) for name, b in model.named_buffers().items()}
    return out, value, dx, grads, buffers, model[7].rng.bit_generator.state


def assert_same_step(a, b, tol=1e-10):
    out, value, dx, grads, buffers, rng_state = a
    np.testing.assert_allclose(b[0], out, rtol=0, atol=tol)
    assert abs(b[1] - value) <= tol
    if dx is None:
        assert b[2] is None
    else:
        np.testing.assert_allclose(b[2], dx, rtol=0, atol=tol)
    for name in grads:
        np.testing.assert_allclose(b[3][name], grads[name], rtol=0, atol=tol, err_msg=name)
    for name in buffers:
        np.testing.assert_allclose(b[4][name], buffers[name], rtol=0, atol=tol, err_msg=name)
    assert b[5] == rng_state  # Dropout drew the whole batch's mask once, as one process does


def split_step(count, model, x, y, **kw):
    before = processes.split_steps()
    with cn.fast.force_processes(count, every_batch=True):
        result = train_step(model, x, y, **kw)
    assert processes.split_steps() == before + 1, "the step did not run split over processes"
    return result


@pytest.mark.parametrize("count, n", [(2, 2), (2, 7), (3, 8)])
def test_a_split_step_computes_what_one_process_and_the_textbook_compute(count, n):
    x, y = batch(n)
    split = split_step(count, split_model(), x, y)
    assert_same_step(train_step(split_model(), x, y), split)
    with cn.engine("reference"):
        textbook = train_step(split_model(), x, y)
    assert_same_step(textbook, split)


def test_steps_with_an_optimizer_between_them_stay_equal():
    x, y = batch(6)
    models = [split_model(), split_model()]
    optimizers = [cn.optim.SGD(m.parameters(), lr=0.1, momentum=0.9) for m in models]
    for _ in range(3):
        one = train_step(models[0], x, y)
        optimizers[0].step()
        assert_same_step(one, split_step(2, models[1], x, y))
        optimizers[1].step()


def test_without_the_input_gradient_and_in_float32():
    x, y = batch(6, np.float32)
    one = train_step(split_model(dtype=np.float32), x, y, input_grad=False)
    assert_same_step(one, split_step(2, split_model(dtype=np.float32), x, y, input_grad=False), tol=1e-5)


def test_fit_trains_the_same_weights():
    x, y = batch(24)
    weights = []
    for count in (1, 2):
        model = split_model()
        with cn.fast.force_processes(count, every_batch=True):
            history = model.fit(x, y, loss=CrossEntropyLoss(), optimizer=cn.optim.Adam(model.parameters()),
                                epochs=2, batch_size=8, verbose=False, seed=3)
        weights.append((model.state_dict(), history.history["loss"]))
    np.testing.assert_allclose(weights[1][1], weights[0][1], rtol=1e-12)
    for name, value in weights[0][0].items():
        np.testing.assert_allclose(weights[1][0][name], value, rtol=0, atol=1e-10, err_msg=name)


@pytest.mark.parametrize("how", ["stopped", "killed"])
def test_a_worker_lost_between_forward_and_backward_changes_nothing(how):
    x, y = batch(6)
    one = train_step(split_model(), x, y)
    model, loss = split_model(), CrossEntropyLoss()
    with cn.fast.force_processes(2, every_batch=True):
        value = loss(model.forward(x), y)
        if how == "stopped":
            processes.stop_workers()
        else:
            for pid in processes.worker_pids():
                os.kill(pid, signal.SIGKILL)
        with pytest.warns(RuntimeWarning, match="worker process failed"):
            dx = model.backward(loss.backward())
    grads = {name: p.grad.copy() for name, p in model.named_parameters().items()}
    buffers = {name: np.array(b) for name, b in model.named_buffers().items()}
    assert_same_step(one, (one[0], value, dx, grads, buffers, model[7].rng.bit_generator.state))


def test_two_models_interleaved_each_get_their_own_gradients():
    x, y = batch(6)
    expected = [train_step(split_model(seed), x, y) for seed in (0, 5)]
    models, losses = [split_model(0), split_model(5)], [CrossEntropyLoss(), CrossEntropyLoss()]
    with cn.fast.force_processes(2, every_batch=True):
        values = [losses[k](models[k].forward(x), y) for k in (0, 1)]  # the workers now hold model 1's step
        with pytest.warns(RuntimeWarning, match="worker process failed"):
            dxs = [models[k].backward(losses[k].backward()) for k in (0, 1)]
    for k in (0, 1):
        grads = {name: p.grad.copy() for name, p in models[k].named_parameters().items()}
        buffers = {name: np.array(b) for name, b in models[k].named_buffers().items()}
        assert_same_step(expected[k], (expected[k][0], values[k], dxs[k], grads, buffers,
                                       models[k][7].rng.bit_generator.state))


def test_a_bad_input_gets_the_models_own_error_and_the_workers_stay():
    x, y = batch(6)
    model = split_model()
    with cn.fast.force_processes(2, every_batch=True):
        with pytest.raises(ValueError, match=r"layer 0 .*expected input of shape") as split_error:
            model.forward(x[:, :2])
        with pytest.raises(TypeError, match="float64 input"):
            model.forward(x.astype(np.float32))
        pids = processes.worker_pids()
        before = processes.split_steps()
        model.forward(x)
        assert processes.split_steps() == before + 1 and processes.worker_pids() == pids
    with pytest.raises(ValueError) as one_error:
        split_model().forward(x[:, :2])
    assert str(split_error.value) == str(one_error.value)


class Doubled(cn.ReLU):
    """A user's own layer: no worker can rebuild it."""

    def forward(self, x):
        return 2 * super().forward(x)

    def backward(self, dy):
        return super().backward(2 * dy)


def test_models_a_worker_cannot_run_alike_stay_in_this_process():
    x, y = batch(6)
    frozen = split_model()
    frozen[1].eval()  # a frozen BatchNorm: folded into its convolution, its gradients per part
    custom = cn.Sequential(cn.Conv2d(3, 4, 3, dtype=np.float64, rng=0), Doubled(), cn.Flatten(),
                           cn.Linear(4 * 9 * 9, 5, dtype=np.float64, rng=1))
    for model in (frozen, custom):
        before = processes.split_steps()
        with cn.fast.force_processes(2, every_batch=True):
            model.forward(x)
        assert processes.split_steps() == before


@pytest.mark.parametrize("count", [0, -1, True, 1.5, "2", None])
def test_set_num_processes_rejects_what_is_not_a_positive_int(count):
    previous = processes.get_num_processes()
    expected = f"set_num_processes: the number of processes must be a positive int, got {count!r}"
    with pytest.raises(ValueError, match=re.escape(expected)):
        cn.fast.set_num_processes(count)
    assert processes.get_num_processes() == previous


def test_a_bad_environment_variable_is_reported_at_import():
    env = dict(os.environ, CONVNP_NUM_PROCESSES="two")
    run = subprocess.run([sys.executable, "-c", "import convnp"], env=env, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode != 0
    assert "$CONVNP_NUM_PROCESSES: the number of processes must be a positive int, got 'two'" in run.stderr


def test_a_larger_model_after_a_smaller_one_gets_more_shared_memory_without_a_warning(recwarn):
    x, y = batch(6)
    sizes = (False, True, False)  # the second needs more shared memory, the third fits the second's
    expected = [train_step(split_model(extra=extra), x, y) for extra in sizes]
    before = processes.split_steps()
    with cn.fast.force_processes(2, every_batch=True):  # the same workers throughout
        for extra, one in zip(sizes, expected, strict=True):
            assert_same_step(one, train_step(split_model(extra=extra), x, y))
    assert processes.split_steps() == before + 3
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_a_layer_in_another_mode_than_the_model_is_in_that_mode_in_the_workers(recwarn, monkeypatch):
    monkeypatch.setattr(cn.fast.pipes, "ANSWER_TIMEOUT", 30.0)  # a mismatch would wait for a message
    x, y = batch(6)
    models = [split_model(), split_model()]
    for model in models:
        model[7].eval()  # Dropout off while the model trains
    assert_same_step(train_step(models[0], x, y), split_step(2, models[1], x, y))
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_two_threads_training_two_models_at_once_get_their_own_steps():
    x, y = batch(6)
    expected = [train_step(split_model(seed), x, y) for seed in (0, 5)]
    models, results = [split_model(0), split_model(5)], [None, None]
    barrier = threading.Barrier(2, timeout=60)

    def run(k):
        barrier.wait()
        results[k] = train_step(models[k], x, y)  # one may find the worker busy: it runs here then

    with cn.fast.force_processes(2, every_batch=True), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        threads = [threading.Thread(target=run, args=(k,)) for k in (0, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    for k in (0, 1):
        assert_same_step(expected[k], results[k])


@pytest.mark.parametrize("offset", [0.0, 1e4])
def test_batchnorm_statistics_merged_from_the_parts_lose_no_digits(offset):
    """Each part centres on its own mean and the parts' sums meet once (Chan's rule): inputs far
    from zero, whose squares would cancel in a sum of squares, keep their variance."""
    rng = np.random.default_rng(3)
    x = (offset + rng.standard_normal((7, 3, 5, 5)) * np.array([1.0, 1e-2, 1e2])[:, None, None])
    y = rng.integers(0, 4, 7)

    def model():
        return cn.Sequential(cn.BatchNorm2d(3, dtype=np.float64), cn.Flatten(),
                             cn.Linear(75, 4, dtype=np.float64, rng=0))

    one, split = train_step_plain(model(), x, y), None
    before = processes.split_steps()
    with cn.fast.force_processes(2, every_batch=True):
        split = train_step_plain(model(), x, y)
    assert processes.split_steps() == before + 1
    for a, b in zip(one, split, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-10)


def train_step_plain(model, x, y):
    loss = CrossEntropyLoss()
    loss(model.forward(x), y)
    dx = model.backward(loss.backward())
    norm = model[0]
    return [dx, norm.weight.grad.copy(), norm.bias.grad.copy(), norm.running_mean.copy(),
            norm.running_var.copy(), model[2].weight.grad.copy()]
