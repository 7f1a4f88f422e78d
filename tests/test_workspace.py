"""The engine's workspace: reuse only memory nobody holds, never lend one block to two users."""

import threading

import numpy as np
import pytest

import convnp as cn
from convnp.fast import workspace as buffers
from convnp.fast.parallel import force_threads

BIG = (512, 1024)  # 2 MiB of float32: pooled


@pytest.fixture(autouse=True)
def fresh_pool():
    buffers.clear()
    yield
    buffers.clear()


def address(array):
    return array.__array_interface__["data"][0]


def test_a_released_array_is_handed_out_again():
    a = buffers.empty(BIG, np.float32)
    assert a.shape == BIG and a.dtype == np.float32 and a.flags.c_contiguous
    first = address(a)
    del a
    assert address(buffers.empty(BIG, np.float32)) == first


@pytest.mark.parametrize("holder", ["name", "view", "transposed view", "memoryview", "list"])
def test_an_array_still_referenced_anywhere_is_never_reused(holder):
    a = buffers.empty(BIG, np.float32)
    a.fill(7)
    keep = {"name": a, "view": a[1:], "transposed view": a.T, "memoryview": memoryview(a),
            "list": [a]}[holder]
    first = address(a)
    del a
    b = buffers.empty(BIG, np.float32)
    assert address(b) != first
    b.fill(-1)
    assert np.all(np.asarray(keep if holder != "list" else keep[0]) == 7)  # untouched


def test_a_block_serves_any_array_of_its_size_in_bytes():
    a = buffers.empty(BIG, np.float32)
    first = address(a)
    del a
    assert address(buffers.empty((512, 512), np.float64)) == first  # same bytes, other shape
    assert address(buffers.empty(BIG, np.float64)) != first  # twice the bytes


def test_small_arrays_are_not_pooled():
    a = buffers.empty((10, 10), np.float32)
    del a
    assert buffers.current().free_bytes == 0 and buffers.current().lent == {}


def test_zeros_are_zero_even_when_recycled():
    a = buffers.empty(BIG, np.float32)
    a.fill(3)
    del a
    assert not buffers.zeros(BIG, np.float32).any()


def test_free_blocks_kept_are_bounded(monkeypatch):
    monkeypatch.setattr(buffers, "MAX_FREE_BYTES", 5 * 2**20)
    for rows in range(200, 220):  # 20 distinct sizes of ~0.8 MB, each freed at once
        buffers.empty((rows, 1024), np.float32)
    buffers.empty((1, 2**20), np.float32)  # blocks come back when the next one is lent
    assert buffers.current().free_bytes <= 5 * 2**20, buffers.current().free_bytes


def test_threads_share_the_workspace_but_never_a_block():
    """Two threads lending and dropping arrays at once: every live array has a block of its own,
    and a block freed by one thread serves the other."""
    buffers.clear()
    live, errors = [], []
    barrier = threading.Barrier(2, timeout=10)

    def churn(seed):
        barrier.wait()
        for step in range(200):
            a = buffers.empty((256 + step % 3, 1024), np.float32)  # ~1 MB, three sizes
            a.fill(seed)
            live.append(a)
            if len(live) > 6:
                live.pop(0)
            if not np.all(a == seed):  # another thread wrote into this block
                errors.append(step)

    threads = [threading.Thread(target=churn, args=(seed,)) for seed in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert not any(np.shares_memory(a, b) for k, a in enumerate(live) for b in live[k + 1:])
    assert buffers.current().peak_lent < 40 * 2**20  # blocks went round, not 400 new ones


def test_an_array_that_dies_in_another_thread_comes_back_to_the_workspace():
    a = buffers.empty(BIG, np.float32)
    first, box = address(a), [a]
    del a
    thread = threading.Thread(target=box.clear)  # the last reference goes in another thread
    thread.start()
    thread.join()
    assert address(buffers.empty(BIG, np.float32)) == first


def test_clear_forgets_lent_blocks_too():
    a = buffers.empty(BIG, np.float32)
    buffers.clear()
    first = address(a)
    del a  # lent before clear: freed with the array, not kept
    b = buffers.empty(BIG, np.float32)
    assert buffers.current().free_bytes == 0 and b.size and first


@pytest.mark.parametrize("axes", [(0, 1, 2, 3), (0, 3, 1, 2), (2, 0, 3, 1)])
def test_empty_like_keeps_the_memory_order(axes):
    x = np.zeros((8, 16, 32, 64), dtype=np.float32).transpose(axes)
    y = buffers.empty_like(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert np.argsort(y.strides).tolist() == np.argsort(x.strides).tolist()
    assert buffers.empty_like(x, bool).dtype == bool


def test_layer_outputs_a_user_keeps_survive_later_steps():
    """End to end: keep every intermediate of one forward pass, run more steps, nothing changed."""
    rng = np.random.default_rng(0)
    model = cn.models.build("simple-cnn", rng=0)
    x1, x2 = rng.random((64, 1, 28, 28), dtype=np.float32), rng.random((64, 1, 28, 28), dtype=np.float32)
    kept, out = [], x1
    for layer in model.layers:
        out = layer(out)
        kept.append(out)
    snapshot = [a.copy() for a in kept]
    loss = cn.CrossEntropyLoss()
    for _ in range(3):
        loss(model.forward(x2), np.zeros(64, dtype=np.int64))
        model.backward(loss.backward())
    for before, after in zip(snapshot, kept, strict=True):
        np.testing.assert_array_equal(before, after)


@pytest.mark.parametrize("shape, dtype, error, message", [
    ((-1, 1024), np.float32, ValueError, "negative dimensions"),
    ((512, 1024), "not-a-dtype", TypeError, "not-a-dtype"),
])
def test_bad_shape_or_dtype_gets_numpys_clear_error(shape, dtype, error, message):
    with pytest.raises(error, match=message):
        buffers.empty(shape, dtype)
    assert buffers.current().lent == {}  # nothing half-made is kept


def test_free_blocks_kept_up_to_the_peak_lent(monkeypatch):
    # A step that needs more than MAX_FREE_BYTES at once gets all of its blocks back next step
    # (with a fixed budget, large-batch steps page-faulted their arrays in again every step).
    monkeypatch.setattr(buffers, "MAX_FREE_BYTES", 2**20)
    shapes = [(256 + k, 1024) for k in range(8)]  # ~8.3 MB lent at once
    held = [buffers.empty(shape, np.float32) for shape in shapes]
    first_step = sorted(address(a) for a in held)
    del held
    other = buffers.empty((300, 1024), np.float32)  # a new size: the workspace trims its free blocks
    assert sorted(address(buffers.empty(shape, np.float32)) for shape in shapes) == first_step
    del other
    buffers.clear()
    assert buffers.current().peak_lent == 0


def test_the_peak_budget_is_bounded(monkeypatch):
    monkeypatch.setattr(buffers, "MAX_FREE_BYTES", 2**20)
    monkeypatch.setattr(buffers, "MAX_PEAK_BYTES", 3 * 2**20)
    held = [buffers.empty((256 + k, 1024), np.float32) for k in range(8)]  # ~8.3 MB lent at once
    del held
    buffers.empty((300, 1024), np.float32)  # trims the free blocks to MAX_PEAK_BYTES
    assert 2 * 2**20 < buffers.current().free_bytes <= 3 * 2**20, buffers.current().free_bytes


def test_a_free_block_up_to_fit_ratio_larger_serves_a_smaller_array():
    a = buffers.empty(BIG, np.float32)  # 2 MiB
    first = address(a)
    del a
    rows = int(BIG[0] / buffers.FIT_RATIO) + 1  # just inside the ratio
    b = buffers.empty((rows, BIG[1]), np.float32)
    assert address(b) == first and b.shape == (rows, BIG[1]) and b.flags.c_contiguous
    b.fill(1)
    del b
    assert address(buffers.empty(BIG, np.float32)) == first  # the whole block came back


def test_a_free_block_beyond_fit_ratio_is_left_for_its_size():
    a = buffers.empty(BIG, np.float32)
    first = address(a)
    del a
    rows = int(BIG[0] / buffers.FIT_RATIO) - 1  # the block is more than FIT_RATIO times larger
    small = buffers.empty((rows, BIG[1]), np.float32)
    assert address(small) != first
    assert address(buffers.empty(BIG, np.float32)) == first


def test_of_larger_free_blocks_the_smallest_serves_and_never_two_arrays():
    held = [buffers.empty((rows, 1024), np.float32) for rows in (300, 280, 260)]
    addresses = {a.shape[0]: address(a) for a in held}
    del held
    first = buffers.empty((250, 1024), np.float32)  # 260 rows is the smallest that fits
    second = buffers.empty((250, 1024), np.float32)
    assert address(first) == addresses[260] and address(second) == addresses[280]
    first.fill(1)
    second.fill(2)
    assert np.all(first == 1)  # separate memory


@pytest.mark.parametrize("net", ["cifar-resnet", "deep-cnn"])
def test_a_training_step_lets_go_of_the_last_steps_caches_before_it_runs(net):
    # Caches kept for backward are replaced layer by layer; held until then, the last step's
    # would sit beside the new ones, and every step after the first would need more memory.
    model = cn.models.build(net, input_shape=(3, 16, 16), rng=0)
    x = np.random.default_rng(1).random((32, 3, 16, 16), dtype=np.float32)
    loss = cn.CrossEntropyLoss()

    def step():
        loss(model.forward(x), np.zeros(32, dtype=np.int64))
        model.backward(loss.backward(), input_grad=False)

    with force_threads(1):  # one thread: the same arrays in the same order every step
        step()
        first = buffers.current().peak_lent
        for _ in range(2):
            step()
    assert buffers.current().peak_lent == first


def test_blocks_that_come_back_together_are_kept_for_the_next_step(monkeypatch):
    # A forward pass drops the last step's caches at once: more free bytes than were ever lent
    # at once, all of which the step asks for again. Trimming then made new blocks every step.
    monkeypatch.setattr(buffers, "MAX_FREE_BYTES", 2**20)
    big = buffers.empty((1024, 1024), np.float32)  # 4 MiB: the most ever lent at once
    big.fill(7)  # a mark: a new block would not have it (an address may come round again)
    del big
    small = buffers.empty((256, 1024), np.float32)  # 1 MiB: a new block (4 MiB is too large for it)
    small.fill(5)
    del small  # 5 MiB free
    assert np.all(buffers.empty((1024, 1024), np.float32) == 7)
    assert np.all(buffers.empty((256, 1024), np.float32) == 5)
