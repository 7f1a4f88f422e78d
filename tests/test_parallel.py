"""The engine's threads (convnp.fast.parallel): how a batch is split, that parts run side by side
with BLAS on one thread, and that every threaded layer computes the textbook's numbers."""

import copy
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import convnp as cn
from convnp.fast import parallel
from test_engines import assert_engines_agree, random_conv


@pytest.fixture
def threads(routes):
    """Enter ``force_threads(count, every_batch=True)`` for the rest of the test."""
    return lambda count: routes.enter_context(cn.fast.force_threads(count, every_batch=True))


@pytest.mark.parametrize("n", [0, 1, 2, 3, 7, 64])
@pytest.mark.parametrize("count", [1, 2, 3, 8])
def test_image_parts_cover_the_batch_in_order(threads, n, count):
    threads(count)
    parts = parallel.image_parts(n, 1.0, 1.0)
    assert parts[0].start == 0 and parts[-1].stop == n
    assert all(a.stop == b.start for a, b in zip(parts, parts[1:], strict=False))
    assert len(parts) == (1 if n < 2 else min(count, n))
    assert all(part.stop > part.start for part in parts) or n == 0


def test_small_work_is_not_split():
    with cn.fast.force_threads(4):
        assert len(parallel.image_parts(64, 10.0, 1000.0)) == 1  # 640 in all: not worth a thread
        assert len(parallel.image_parts(64, 10.0, 200.0)) == 3  # three parts of >= 200
        assert len(parallel.image_parts(64, 10.0, 1.0)) == 4  # never more than the threads


def test_parts_run_on_several_threads_and_come_back_in_order(threads):
    threads(3)
    barrier = threading.Barrier(3, timeout=10)  # passes only if all three parts run at once

    def part(rows):
        barrier.wait()
        return rows.start, threading.get_ident()

    results = parallel.run_parts(part, parallel.image_parts(9, 1.0, 1.0), uses_blas=False)
    assert [start for start, _ in results] == [0, 3, 6]
    assert len({ident for _, ident in results}) == 3
    assert results[0][1] == threading.get_ident()  # the caller takes the first part


def test_blas_runs_on_one_thread_inside_parts_and_gets_its_count_back(threads):
    if parallel.blas_threads() is None:
        pytest.skip("OpenBLAS's thread control was not found in this process")
    threads(2)
    before = parallel.blas_threads()
    seen = parallel.run_parts(lambda rows: parallel.blas_threads(), parallel.image_parts(4, 1.0, 1.0))
    assert seen == [1, 1]
    assert parallel.blas_threads() == before
    with parallel.single_threaded_blas():
        with parallel.single_threaded_blas():
            assert parallel.blas_threads() == 1
        assert parallel.blas_threads() == 1  # the outer block still holds
    assert parallel.blas_threads() == before


def test_an_error_in_a_part_reaches_the_caller_after_every_part_ended(threads):
    threads(2)
    finished = []

    def part(rows):
        if rows.start == 0:
            raise ValueError("first part failed")
        threading.Event().wait(0.2)
        finished.append(rows.start)

    with pytest.raises(ValueError, match="first part failed"):
        parallel.run_parts(part, parallel.image_parts(4, 1.0, 1.0))
    assert finished == [2]


def test_a_part_does_not_split_again(threads):
    threads(2)
    inner = parallel.run_parts(lambda rows: len(parallel.image_parts(10, 1.0, 1.0)),
                               parallel.image_parts(4, 1.0, 1.0), uses_blas=False)
    assert inner == [1, 1]


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True, None])
def test_a_bad_thread_count_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="number of threads must be a positive int"):
        cn.fast.set_num_threads(bad)
    assert cn.fast.get_num_threads() >= 1


def test_set_num_threads_returns_the_previous_count():
    previous = cn.fast.set_num_threads(3)
    try:
        assert cn.fast.get_num_threads() == 3
        assert cn.fast.set_num_threads(1) == 3
    finally:
        cn.fast.set_num_threads(previous)


@pytest.mark.parametrize("value, expected", [("3", "3"), ("", str(len(os.sched_getaffinity(0)))),
                                             ("zero", "error"), ("0", "error")])
def test_convnp_num_threads_sets_the_default_at_import(value, expected):
    code = "import convnp; print(convnp.fast.get_num_threads())"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "CONVNP_NUM_THREADS": value}, timeout=120)
    if expected == "error":
        assert result.returncode != 0 and "CONVNP_NUM_THREADS" in result.stderr
    else:
        assert result.stdout.strip() == expected, result.stderr


def test_matmul_equals_numpy(threads):
    threads(3)
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((11, 7)), rng.standard_normal((7, 5))
    out = np.full((11, 5), np.nan)
    assert parallel.matmul(a, b, out=out) is out
    np.testing.assert_allclose(out, a @ b, rtol=1e-13, atol=1e-13)
    single = parallel.matmul(a.astype(np.float32), b.astype(np.float32))
    np.testing.assert_allclose(single, a @ b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("count", [2, 3])
@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_threaded_convolutions_equal_the_textbook(threads, count, seed, dtype):
    threads(count)
    layer, x = random_conv(np.random.default_rng(200 + seed), dtype)
    x = np.concatenate([x] * 3)  # at least three images to split
    assert_engines_agree(layer, x, seed, label=f"{count} threads {layer!r}")
    assert_engines_agree(cn.Sequential(layer, cn.ReLU()), x, seed, label=f"{count} threads {layer!r} + ReLU")


@pytest.mark.parametrize("count", [2, 3])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("make, shape", [
    (lambda d: cn.BatchNorm2d(5, dtype=d), (7, 5, 6, 3)),
    (lambda d: cn.BatchNorm1d(4, dtype=d), (9, 4)),
    (lambda d: cn.BatchNorm1d(3, dtype=d), (5, 3, 8)),
    (lambda d: cn.Linear(6, 4, dtype=d, rng=0), (7, 6)),
    (lambda d: cn.Sequential(cn.Conv2d(3, 4, 3, padding=1, bias=False, dtype=d, rng=0),
                             cn.BatchNorm2d(4, dtype=d), cn.ReLU()), (5, 3, 6, 7)),
], ids=["batchnorm2d", "batchnorm1d", "batchnorm1d-ncl", "linear", "conv-bn-relu"])
def test_threaded_layers_equal_the_textbook(threads, count, make, shape, dtype):
    threads(count)
    x = (np.random.default_rng(4).standard_normal(shape) * 3 + 1).astype(dtype)
    for training in (True, False):
        assert_engines_agree(make(dtype), x, training=training, label=f"{count} threads")


def test_threads_change_no_batchnorm_number(routes):
    """BatchNorm's sums are per block and added in block order: one thread or three, the same bits."""
    layer = cn.BatchNorm2d(16)
    x = np.random.default_rng(5).standard_normal((64, 16, 32, 32)).astype(np.float32)
    x = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)  # as a convolution leaves it
    results = []
    for count in (1, 3):
        with cn.fast.force_threads(count, every_batch=True):
            copy_ = copy.deepcopy(layer)
            y = copy_.forward(x)
            results.append((y.copy(), copy_.backward(y).copy(), copy_.weight.grad.copy(), copy_.running_var))
    for one, three in zip(*results, strict=True):
        np.testing.assert_array_equal(one, three)


@pytest.mark.parametrize("name", ["cifar-resnet", "cifar-small", "lenet5"])
def test_threaded_zoo_models_equal_the_textbook(threads, name):
    from test_zoo import as_float64
    threads(2)
    shape = (3, 32, 32) if "cifar" in name else (1, 28, 28)
    model = as_float64(cn.models.build(name, shape, 10, rng=0))
    x = np.random.default_rng(1).random((4, *shape))
    for training in (True, False):
        assert_engines_agree(model, x, training=training, label=f"{name} 2 threads training={training}")


def test_worker_threads_lend_from_the_one_workspace(threads):
    from convnp.fast import workspace

    threads(2)
    spaces = parallel.run_parts(lambda rows: workspace.current(), parallel.image_parts(2, 1.0, 1.0),
                                uses_blas=False)
    assert spaces[0] is spaces[1] is workspace.current()
