"""Data-parallel training on MPI, with Horovod's semantics (DESIGN.md §7).

``model.fit(..., distributed="mpi")`` under ``mpiexec -n K python -m mpi4py script.py``, or
``mpiexec -n K python -m mpi4py -m convnp train …``, trains one model on K processes:

- rank 0's initial weights, buffers and optimizer state are broadcast;
- every rank shuffles with the same generator and trains on its 1/K slice of each global batch
  (``batch_size`` is the global batch and must be divisible by K);
- the gradients are averaged with one Allreduce per step over a single flat buffer;
- BatchNorm running statistics are averaged at the end of each epoch, Dropout masks differ per
  rank, validation is split across ranks and reduced;
- checkpoints, history files and progress come from rank 0 only;
- a rank that fails ends the whole job: ``python -m mpi4py`` calls MPI_Abort on an uncaught
  exception (and the CLI does so itself).

Without BatchNorm and Dropout, K processes reach the weights one process reaches with the same
global batch. mpi4py is imported only when MPI is asked for (the ``mpi`` extra installs it).
"""

from .group import INSTALL_HINT, MPIGroup, connect, import_mpi
from .launch import launched_group
from .training import DataParallel, DistributedStep, shard, start

__all__ = ["INSTALL_HINT", "MPIGroup", "connect", "import_mpi", "launched_group", "DataParallel",
           "DistributedStep", "shard", "start"]
