"""A group of MPI processes training one model: broadcasts, checks and sums over mpi4py.

Only this module and :mod:`convnp.distributed.launch` import mpi4py, and only when asked to:
a plain ``import convnp`` never starts MPI.
"""

from __future__ import annotations

import os

import numpy as np

from ..fast import parallel

NEVER_SENT = 7_023  # a message tag nobody sends: see MPIGroup.fail_together
INSTALL_HINT = ("distributed='mpi' needs mpi4py and an MPI library: pip install 'convnp[mpi]' "
                "(mpi4py and the mpich wheel, which provides mpiexec)")


def import_mpi():
    """``mpi4py.MPI``, or an ImportError that says how to install it."""
    try:
        from mpi4py import MPI
    except ImportError as error:
        raise ImportError(f"{INSTALL_HINT} ({error})") from None
    return MPI


def connect(spec) -> MPIGroup:
    """The group ``spec`` names: ``"mpi"`` (MPI.COMM_WORLD) or an mpi4py communicator."""
    if isinstance(spec, str):
        if spec != "mpi":
            raise ValueError(f"fit: distributed must be None, 'mpi' or an mpi4py communicator, got {spec!r}")
        return MPIGroup(import_mpi().COMM_WORLD)
    if all(hasattr(spec, name) for name in ("Get_rank", "Get_size", "Allreduce", "bcast")):
        return MPIGroup(spec)
    raise ValueError(f"fit: distributed must be None, 'mpi' or an mpi4py communicator, "
                     f"got {type(spec).__name__}")


class MPIGroup:
    """The processes of one communicator; rank 0 is the root whose state everyone adopts.

    Parameters
    ----------
    comm : mpi4py.MPI.Comm
        Usually ``MPI.COMM_WORLD``.
    """

    def __init__(self, comm):
        self.comm = comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.is_root = self.rank == 0
        self._share_cores()

    def _share_cores(self) -> None:
        """Ranks on one machine share its cores: each runs the engine's layers on its share of
        them (``convnp.fast.set_num_threads``), unless ``CONVNP_NUM_THREADS`` says otherwise."""
        if os.environ.get(parallel.ENV_VAR):
            return
        try:
            from mpi4py import MPI

            on_this_machine = self.comm.Split_type(MPI.COMM_TYPE_SHARED).Get_size()
        except Exception:  # another kind of communicator: assume every rank is here
            on_this_machine = self.size
        parallel.set_num_threads(max(1, parallel.available_cores() // on_this_machine))

    def share(self, value):
        """Rank 0's ``value`` on every rank (a pickled broadcast: for small or one-off objects)."""
        return self.comm.bcast(value, root=0)

    def gather_all(self, value) -> list:
        """Every rank's ``value``, in rank order, on every rank."""
        return self.comm.allgather(value)

    def sum_(self, buffer: np.ndarray) -> np.ndarray:
        """Replace the contiguous ``buffer`` by its element-wise sum over the ranks (one Allreduce)."""
        from mpi4py import MPI

        self.comm.Allreduce(MPI.IN_PLACE, buffer, op=MPI.SUM)
        return buffer

    def abort_at_exit(self, status: int = 1) -> None:
        """Make this process end the whole MPI job when Python exits (``python -m mpi4py``'s rule).

        Call it in an ``except`` block and re-raise: the other ranks may be waiting in a
        collective call this rank will never make, and MPI_Abort is what ends them.
        """
        if self.size > 1:
            from mpi4py.run import set_abort_status

            set_abort_status(status)

    def fail_together(self, error: Exception):
        """End the job over ``error``, which every rank found alike: rank 0 raises it (one message)
        and, when its Python exits, calls MPI_Abort, which ends the others, waiting here.

        With one process this just raises ``error``.
        """
        self.abort_at_exit(1)
        if self.size > 1 and not self.is_root:
            self.comm.recv(source=0, tag=NEVER_SENT)  # returns only if rank 0 went on regardless
        raise error

    def check_same(self, what: str, facts: dict) -> None:
        """Fail (:meth:`fail_together`), naming the first fact that differs from rank 0's.

        ``facts`` maps a description (``"parameter 0.weight"``, ``"batch_size"``) to a value that
        must be equal on all ranks: the shape check that catches mismatched models or data.
        """
        everyone = self.gather_all(facts)
        reference = everyone[0]
        for rank, theirs in enumerate(everyone[1:], start=1):
            for key in sorted(set(reference) | set(theirs), key=str):
                if reference.get(key) != theirs.get(key):
                    self.fail_together(ValueError(f"{what}: rank {rank} differs from rank 0 in {key}: "
                                     f"{theirs.get(key, 'missing')} vs {reference.get(key, 'missing')}; "
                                     f"every process must build the same model on the same data"))

    def adopt_root_state(self, model, optimizer, rng) -> None:
        """Rank 0's weights, buffers, optimizer state and shuffling-generator state everywhere."""
        state = self.share((model.state_dict(), optimizer.state_dict(), rng.bit_generator.state)
                           if self.is_root else None)
        if not self.is_root:
            model.load_state_dict(state[0])
            optimizer.load_state_dict(state[1])
            rng.bit_generator.state = state[2]

    def separate_layer_generators(self, model) -> None:
        """Give every layer with its own generator (Dropout) a different random stream per rank.

        Every rank first takes rank 0's state, then rank ``r`` jumps its stream ``r`` times
        (``bit_generator.jumped``: 2**127 draws apart for PCG64), so rank 0's masks are those
        of a single process and a checkpoint (written by rank 0) resumes rank 0's stream.
        """
        layers = _layers_with_generators(model)
        states = self.share({name: layer.rng.bit_generator.state for name, layer in layers.items()})
        for name, layer in layers.items():
            layer.rng.bit_generator.state = states[name]
            bits = layer.rng.bit_generator
            if self.rank == 0:
                continue
            if hasattr(bits, "jumped"):
                layer.rng = np.random.Generator(bits.jumped(self.rank))
            else:  # e.g. SFC64, which cannot jump: an independent child seed per rank
                layer.rng = np.random.default_rng([int(layer.rng.integers(2**63)), self.rank])

    def average_buffers(self, model) -> None:
        """Average the floating-point buffers (BatchNorm running statistics) over the ranks, in place.

        One Allreduce over a flat copy of all of them; integer buffers (``num_batches_tracked``)
        are equal on every rank already.
        """
        buffers = [b for b in model.named_buffers().values() if np.issubdtype(b.dtype, np.floating)]
        if self.size == 1 or not buffers:
            return
        flat = np.concatenate([b.ravel().astype(np.float64) for b in buffers])
        self.sum_(flat)
        flat /= self.size
        offset = 0
        for buffer in buffers:
            buffer[...] = flat[offset:offset + buffer.size].reshape(buffer.shape)
            offset += buffer.size


def _layers_with_generators(layer, prefix="") -> dict:
    """``{path: layer}`` for every layer holding a ``numpy.random.Generator`` as ``rng``."""
    found = {}
    if isinstance(getattr(layer, "rng", None), np.random.Generator):
        found[prefix.rstrip(".") or "."] = layer
    for name, child in layer.children().items():
        found.update(_layers_with_generators(child, f"{prefix}{name}."))
    return found
