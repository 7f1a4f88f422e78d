"""For the command line: notice an ``mpiexec`` launch, and let rank 0 decide and read for all."""

from __future__ import annotations

import os
import sys

from .group import MPIGroup, import_mpi

# Set by the launchers of MPICH (Hydra), Intel MPI, Open MPI and PMIx-based ones (Slurm's srun).
SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS")


def launched_group() -> MPIGroup | None:
    """The world's group when this process is one of several that ``mpiexec`` started, else None.

    Looks at the launcher's environment variables (and at whether ``python -m mpi4py`` already
    started MPI) before importing mpi4py, so a plain ``convnp train`` never loads MPI.
    """
    sizes = [os.environ.get(name, "") for name in SIZE_VARIABLES]
    if not any(size.isdigit() and int(size) > 1 for size in sizes) and "mpi4py.MPI" not in sys.modules:
        return None
    group = MPIGroup(import_mpi().COMM_WORLD)
    return group if group.size > 1 else None


def from_root(group: MPIGroup | None, compute, *args):
    """``compute(*args)`` run on rank 0 only, its result handed to every rank (or just the call
    when ``group`` is None). If rank 0 raises, it ends the job (``abort_at_exit``)."""
    if group is None:
        return compute(*args)
    return group.share(compute(*args) if group.is_root else None)


def resume_from_root(group: MPIGroup | None, load, schedule) -> dict:
    """Rank 0 reads the checkpoint with ``load()``; every rank gets its record and LR-schedule state.

    The model, optimizer and generators need not be sent here: ``fit`` adopts rank 0's.
    """
    if group is None:
        return load()
    record, schedule_state = group.share(
        (load(), None if schedule is None else schedule.state_dict()) if group.is_root else None)
    if not group.is_root and schedule is not None:
        schedule.load_state_dict(schedule_state)
    return record
