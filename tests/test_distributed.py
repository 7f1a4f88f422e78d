"""convnp.distributed in one process: sharding, the one-rank world, errors, rank-0-only callbacks.

The multi-process behaviour (equivalence with one process, the CLI, failures) is proven under
``mpiexec`` in test_distributed_mpi.py.
"""

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import convnp as cn
from convnp.distributed import DataParallel, MPIGroup, launched_group, shard
from convnp.model.checkpoint import Checkpoint

HAVE_MPI4PY = importlib.util.find_spec("mpi4py") is not None
needs_mpi4py = pytest.mark.skipif(not HAVE_MPI4PY and os.environ.get("CI") != "true",
                                  reason="needs the mpi extra (mpi4py)")


@given(n=st.integers(0, 200), size=st.integers(1, 9))
def test_shards_cover_the_batch_in_order_with_sizes_one_apart(n, size):
    parts = [shard(n, rank, size) for rank in range(size)]
    assert [i for part in parts for i in range(n)[part]] == list(range(n))
    sizes = [part.stop - part.start for part in parts]
    assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)


def tiny_problem(seed=0):
    rng = np.random.default_rng(seed)
    x, y = rng.random((21, 1, 6, 6)), rng.integers(0, 3, 21)
    model = cn.Sequential(cn.Conv2d(1, 2, 3, dtype=np.float64, rng=1), cn.ReLU(), cn.Flatten(),
                          cn.Linear(2 * 4 * 4, 3, dtype=np.float64, rng=2))
    return model, x, y


def train(model, x, y, **options):
    optimizer = cn.optim.Adam(model.parameters(), lr=0.01)
    return model.fit(x, y, loss=cn.CrossEntropyLoss(), optimizer=optimizer, epochs=2, batch_size=4,
                     seed=5, verbose=False, validation_data=(x[:5], y[:5]), **options)


@needs_mpi4py
def test_a_world_of_one_process_trains_exactly_as_plain_fit():
    model, x, y = tiny_problem()
    history = train(model, x, y, distributed="mpi")
    plain, _, _ = tiny_problem()
    expected = train(plain, x, y)
    assert history.history == expected.history
    for key, value in plain.state_dict().items():
        np.testing.assert_array_equal(model.state_dict()[key], value, err_msg=key)


class CountingComm:
    """MPI.COMM_WORLD, counting the Allreduce calls and the numbers they carry."""

    def __init__(self):
        from mpi4py import MPI

        self.world, self.calls, self.sizes = MPI.COMM_WORLD, 0, []

    def Allreduce(self, send, receive, op):
        self.calls += 1
        self.sizes.append(receive.size)
        return self.world.Allreduce(send, receive, op=op)

    def __getattr__(self, name):
        return getattr(self.world, name)


@needs_mpi4py
def test_each_step_sends_all_gradients_in_one_allreduce():
    model, x, y = tiny_problem()
    comm = CountingComm()
    train(model, x, y, distributed=comm)  # 21 samples in global batches of 4: 6 steps per epoch
    parameters = sum(p.size for p in model.parameters())
    assert comm.sizes == 2 * ([parameters + 4] * 6 + [3])  # the steps, then the validation sums


def test_without_mpi4py_distributed_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # makes `import mpi4py` fail
    model, x, y = tiny_problem()
    with pytest.raises(ImportError, match=r"pip install 'convnp\[mpi\]'"):
        train(model, x, y, distributed="mpi")


@pytest.mark.parametrize("spec", ["horovod", 3])
def test_an_unknown_distributed_value_is_a_clear_error(spec):
    model, x, y = tiny_problem()
    with pytest.raises(ValueError, match="distributed must be None, 'mpi' or an mpi4py communicator"):
        train(model, x, y, distributed=spec)


def test_a_plain_process_is_not_an_mpi_launch(monkeypatch):
    for name in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"):
        monkeypatch.delenv(name, raising=False)
    assert launched_group() is None


def test_a_plain_convnp_never_imports_mpi4py():
    code = "import sys, convnp, convnp.cli.train; print(any(m.startswith('mpi4py') for m in sys.modules))"
    env = {k: v for k, v in os.environ.items() if k not in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                            timeout=60, check=True)
    assert result.stdout.strip() == "False"


class FakeComm:
    """The few communicator calls MPIGroup makes, for a rank of a world that is not there."""

    def __init__(self, rank, size):
        self.rank, self.size = rank, size

    def Get_rank(self):
        return self.rank

    def Get_size(self):
        return self.size


class Marked:
    rank_zero_only = True


def test_only_rank_zero_runs_checkpoints_and_callbacks_marked_rank_zero_only(tmp_path):
    model, _, _ = tiny_problem()
    checkpoint = Checkpoint(tmp_path / "c.npz", cn.optim.SGD(model.parameters(), lr=0.1))
    plain, marked = cn.Callback(), Marked()
    every = [checkpoint, plain, marked]
    assert DataParallel(MPIGroup(FakeComm(0, 2))).rank_callbacks(every) == every
    assert DataParallel(MPIGroup(FakeComm(1, 2))).rank_callbacks(every) == [plain]


def test_a_failure_every_rank_sees_is_raised_in_a_world_of_one():
    with pytest.raises(ValueError, match="same everywhere"):
        MPIGroup(FakeComm(0, 1)).fail_together(ValueError("same everywhere"))
