"""Hypothesis fuzzing of the IDX, CIFAR, CSV, model-file and checkpoint readers.

Property: whatever the bytes, a reader returns a valid result or raises its documented error
(``DatasetFormatError`` for data files, ``ValueError`` for model files and checkpoints) —
never anything else, and never more memory than a small bound. The fuzzers run in a child
process whose address space is capped with ``RLIMIT_AS`` (:data:`MEMORY_LIMIT`): a reader that
believed a forged size would die there with MemoryError, which fails the property.
"""

import gzip
import io
import json
import os
import pickle
import struct
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import convnp as cn
from convnp.datasets import DatasetFormatError, cifar, load_csv
from convnp.datasets.idx import parse_idx
from convnp.datasets.mnist import parse_split
from convnp.model.checkpoint import load_checkpoint, save_checkpoint

MEMORY_LIMIT = 1536 * 2**20  # bytes of address space for the fuzzing process
CHILD = os.environ.get("CONVNP_FUZZ_CHILD") == "1"
child_only = pytest.mark.skipif(not CHILD, reason="runs inside test_fuzzers_under_a_memory_limit")
FUZZ = settings(max_examples=int(os.environ.get("CONVNP_FUZZ_EXAMPLES", "120")), deadline=None,
                suppress_health_check=list(HealthCheck), derandomize=True)


@pytest.mark.skipif(CHILD or not hasattr(os, "fork"), reason="the parent of the fuzzing run (POSIX)")
def test_fuzzers_under_a_memory_limit():
    import resource

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))

    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "CONVNP_FUZZ_CHILD": "1", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    result = subprocess.run([sys.executable, "-m", "pytest", __file__, "-q", "-x", "--noconftest",
                             "-p", "no:cacheprovider"], env=env, preexec_fn=limit,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


# ---------------------------------------------------------------- mutations

def mutate(data: bytes, draw) -> bytes:
    """Flip, overwrite, cut or splice bytes of a valid file; sizes in headers included."""
    data = bytearray(data)
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "set", "cut", "insert", "uint32"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "cut":
            data = data[:at]
        elif kind == "insert":
            data[at:at] = draw(st.binary(max_size=16))
        elif kind == "uint32" and len(data) >= 4:
            at = min(at, len(data) - 4)
            data[at:at + 4] = struct.pack(">I", draw(st.sampled_from([0, 1, 2**31, 2**32 - 1, 60000])))
    return bytes(data)


@st.composite
def mutated(draw, valid: bytes):
    return mutate(valid, draw)


def idx_file(shape, type_code=0x08, dtype=">u1"):
    values = np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape) % 200
    header = bytes([0, 0, type_code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape)
    return header + values.astype(dtype).tobytes()


# ---------------------------------------------------------------- IDX

@child_only
@FUZZ
@given(data=st.one_of(mutated(idx_file((3, 4, 4))), mutated(gzip.compress(idx_file((3, 4, 4)))),
                      mutated(idx_file((5,), 0x0D, ">f4")), st.binary(max_size=64)))
def test_fuzz_idx(data):
    try:
        array = parse_idx(data, "fuzz.idx")
    except DatasetFormatError:
        return
    assert array.nbytes <= len(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)


@child_only
@FUZZ
@given(images=mutated(gzip.compress(idx_file((3, 4, 4)))), labels=mutated(idx_file((3,))))
def test_fuzz_mnist_split(images, labels):
    try:
        x, y = parse_split(images, labels, ("img", "lab"), 3, (4, 4), 10)
    except DatasetFormatError:
        return
    assert x.shape == (3, 1, 4, 4) and y.min() >= 0 and y.max() < 10


# ---------------------------------------------------------------- CIFAR

def cifar_batch():
    pixels = np.arange(10 * 3072, dtype=np.int64).reshape(10, 3072).astype(np.uint8)
    return pickle.dumps({b"data": pixels, b"labels": list(range(10))}, protocol=2)


def cifar_archive():
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name in (*cifar.TRAIN_BATCHES[:1], cifar.TEST_BATCH):
            data = cifar_batch()
            info = tarfile.TarInfo(f"{cifar.ARCHIVE_DIRECTORY}/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@child_only
@FUZZ
@given(data=st.one_of(mutated(cifar_batch()), st.binary(max_size=200)))
def test_fuzz_cifar_batch(data):
    cifar.BATCH_SIZE = 10  # the child process only
    try:
        pixels, labels = cifar.parse_batch(data, "fuzz_batch")
    except DatasetFormatError:
        return
    assert pixels.shape == (10, 3072) and labels.shape == (10,)


@child_only
@FUZZ
@given(data=mutated(cifar_archive()))
def test_fuzz_cifar_archive(data):
    try:
        batches = cifar.batches_from_archive(data, "fuzz.tar.gz")
    except DatasetFormatError:
        return
    assert all(len(value) <= cifar.MAX_BATCH_BYTES for value in batches.values())


# ---------------------------------------------------------------- CSV

CSV_TEXT = st.text(alphabet="0123456789,.-+eEnaifNI x\n\r\t\"'", max_size=200)


@child_only
@FUZZ
@given(text=st.one_of(CSV_TEXT, st.builds(lambda rows: "\n".join(rows), st.lists(
    st.builds(",".join, st.lists(st.sampled_from(["0", "1", "255", "9", "1e20", "-1", "2.5", "x", "", "nan"]),
                                  min_size=4, max_size=6)), max_size=5))))
def test_fuzz_csv(text, tmp_path_factory):
    path = tmp_path_factory.mktemp("csv") / "fuzz.csv"
    path.write_text(text)
    try:
        x, y = load_csv(path, (1, 2, 2))
    except DatasetFormatError:
        return
    assert x.shape[1:] == (1, 2, 2) and len(x) == len(y) and np.all((x >= 0) & (x <= 1)) and y.min() >= 0


# ---------------------------------------------------------------- model files and checkpoints

def tiny_model():
    model = cn.Sequential(cn.Conv2d(1, 2, 3, rng=0), cn.BatchNorm2d(2), cn.ReLU(), cn.Flatten(),
                          cn.Linear(8, 3, rng=1))
    model.metadata = {"input_shape": [1, 4, 4]}
    return model


def model_bytes():
    buffer = io.BytesIO()
    arrays = tiny_model().state_dict()
    meta = {"format": 1, "architecture": cn.model.serialization.describe(tiny_model()),
            "metadata": {"input_shape": [1, 4, 4]}}
    np.savez(buffer, **arrays, __convnp__=np.array(json.dumps(meta)))
    return buffer.getvalue()


SIZES = st.one_of(st.integers(-3, 40), st.sampled_from([2**20, 2**31, 10**12]), st.floats(), st.booleans(),
                  st.none(), st.text(max_size=3))
KINDS = ["Conv2d", "Linear", "ReLU", "MaxPool2d", "BatchNorm2d", "Flatten", "Dropout", "Softmax", "Nope"]
KEYS = ["in_channels", "out_channels", "kernel_size", "in_features", "out_features", "num_features",
        "stride", "padding", "p", "dtype", "bias"]
LAYER = st.recursive(
    st.fixed_dictionaries({"type": st.sampled_from(KINDS),
                           "config": st.dictionaries(st.sampled_from(KEYS), SIZES, max_size=4)}),
    lambda children: st.fixed_dictionaries({"type": st.sampled_from(["Sequential", "Residual"]),
                                            "layers": st.lists(children, max_size=3)}),
    max_leaves=8)


def forged_model(architecture, metadata):
    buffer = io.BytesIO()
    meta = {"format": 1, "architecture": architecture, "metadata": metadata}
    weights = {"0.weight": np.zeros((2, 1, 3, 3), np.float32)}
    np.savez(buffer, **weights, __convnp__=np.array(json.dumps(meta)))
    return buffer.getvalue()


@child_only
@FUZZ
@given(data=st.one_of(mutated(model_bytes()), st.builds(forged_model, LAYER, st.one_of(
    st.none(), st.fixed_dictionaries({"input_shape": st.lists(SIZES, max_size=4)})))))
def test_fuzz_model_file(data, tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "fuzz.npz"
    path.write_bytes(data)
    try:
        model = cn.load_model(path)
    except ValueError:
        return
    assert all(np.all(np.isfinite(value)) for value in model.state_dict().values())


def checkpoint_bytes(tmp_path):
    model = tiny_model()
    optimizer = cn.optim.Adam(model.parameters())
    model.fit(np.zeros((4, 1, 4, 4), np.float32), np.arange(4) % 3, loss=cn.CrossEntropyLoss(),
              optimizer=optimizer, verbose=False)
    save_checkpoint(tmp_path / "c.npz", model, optimizer, 1, np.random.default_rng(0), {"loss": [1.0]})
    return (tmp_path / "c.npz").read_bytes()


@child_only
@FUZZ
@given(draw=st.data())
def test_fuzz_checkpoint(draw, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ckpt")
    path = folder / "fuzz.npz"
    path.write_bytes(mutate(checkpoint_bytes(folder), draw.draw))
    model = tiny_model()
    try:
        load_checkpoint(path, model, cn.optim.Adam(model.parameters()), np.random.default_rng(1))
    except ValueError:
        return
