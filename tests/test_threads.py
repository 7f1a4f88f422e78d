"""Batch-split threading (convnp.functional._threads): every split kernel gives exactly the
single-thread result, whatever the number of threads and however the batch divides."""

import threading

import numpy as np
import pytest

from convnp.functional import _threads, conv, pooling
from convnp.functional import activations as A
from convnp.functional.windows import columns_transposed, pad_channels_last


@pytest.fixture
def split_everything(monkeypatch):
    """Return a runner: f() computed on one thread and on `threads` threads, tiny arrays included."""
    monkeypatch.setattr(_threads, "MIN_BYTES_PER_THREAD", 1)

    def run(f, threads):
        monkeypatch.setenv("CONVNP_NUM_THREADS", "1")
        single = f()
        monkeypatch.setenv("CONVNP_NUM_THREADS", str(threads))
        return single, f()

    return run


def assert_identical(a, b):
    for x, y in zip(a if isinstance(a, tuple) else (a,), b if isinstance(b, tuple) else (b,), strict=True):
        if x is None:
            assert y is None
        else:
            np.testing.assert_array_equal(x, y)


def conv_step(x, w, b, stride, padding):
    y, cache = conv.conv2d_forward(x, w, b, stride=stride, padding=padding)
    dx, dw, db = conv.conv2d_backward(np.cos(y), cache)
    return y, dx, dw, db


@pytest.mark.parametrize("threads", [2, 3, 7])
@pytest.mark.parametrize("channels", [2, 6])  # transposed and row window layouts
def test_conv_forward_and_backward_are_identical_split(split_everything, threads, channels):
    rng = np.random.default_rng(channels)
    x = rng.standard_normal((5, channels, 9, 8))
    w, b = rng.standard_normal((4, channels, 3, 2)), rng.standard_normal(4)
    single, split = split_everything(lambda: conv_step(x, w, b, (2, 1), 1), threads)
    assert_identical(single, split)


@pytest.mark.parametrize("threads", [2, 5])
@pytest.mark.parametrize("kernel, stride, padding", [(2, 2, 0), (3, 2, 1), (3, 1, 1)])
def test_max_pool_is_identical_split_with_ties_and_nan(split_everything, threads, kernel, stride, padding):
    rng = np.random.default_rng(kernel + stride)
    x = np.round(rng.standard_normal((6, 3, 7, 8)))  # many exact ties
    x[1, 2, 3, 3] = np.nan

    def step():
        y, cache = pooling.max_pool2d_forward(x, kernel, stride, padding)
        return y, pooling.max_pool2d_backward(np.sin(y) + 2, cache)

    single, split = split_everything(step, threads)
    assert_identical(single, split)
    assert np.isnan(single[0]).sum() >= 1 and (single[1] == 0).mean() > 0.3  # the cases were exercised


@pytest.mark.parametrize("threads", [2, 4])
def test_relu_padding_and_columns_are_identical_split(split_everything, threads):
    x = np.random.default_rng(0).standard_normal((7, 3, 5, 6)).astype(np.float32)
    dy = np.random.default_rng(1).standard_normal(x.shape).astype(np.float32)
    nhwc_view = x.transpose(0, 2, 3, 1).copy().transpose(0, 3, 1, 2)  # channels-last NCHW view
    for f in (lambda: (A.relu(x), A.relu_backward(dy, x)),
              lambda: A.relu(nhwc_view),
              lambda: pad_channels_last(x, (1, 2, 0, 3), fill=-np.inf),
              lambda: columns_transposed(x, (3, 2), (2, 1), (1, 1, 0, 2), (3, 7), ones_row=True)):
        single, split = split_everything(f, threads)
        assert_identical(single, split)
    assert A.relu(nhwc_view).strides == nhwc_view.strides  # the layout is kept
    assert A.relu(x).dtype == np.float32


def test_small_work_stays_on_the_calling_thread(monkeypatch):
    monkeypatch.setenv("CONVNP_NUM_THREADS", "4")
    seen = []
    _threads.over_batch(lambda b: seen.append((b, threading.current_thread().name)), 64, 1000)
    assert seen == [(slice(0, 64), threading.current_thread().name)]


def test_big_work_is_split_evenly_and_worker_errors_reach_the_caller(monkeypatch):
    monkeypatch.setenv("CONVNP_NUM_THREADS", "3")
    seen = []
    _threads.over_batch(lambda b: seen.append(b), 10, 100 * 2**20)
    assert sorted((s.start, s.stop) for s in seen) == [(0, 3), (3, 6), (6, 10)]

    def fail_on_last(b):
        if b.stop == 10:
            raise RuntimeError("worker failed")

    with pytest.raises(RuntimeError, match="worker failed"):
        _threads.over_batch(fail_on_last, 10, 100 * 2**20)


def test_thread_count_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("CONVNP_NUM_THREADS", "3")
    assert _threads.num_threads() == 3
    monkeypatch.setenv("CONVNP_NUM_THREADS", "0")
    assert _threads.num_threads() == 1
    monkeypatch.setenv("CONVNP_NUM_THREADS", "two")
    with pytest.raises(ValueError, match="CONVNP_NUM_THREADS must be a whole number, got 'two'"):
        _threads.num_threads()
    monkeypatch.delenv("CONVNP_NUM_THREADS")
    assert 1 <= _threads.num_threads() <= 8
