"""convnp bench: speed tables, alone and against PyTorch (no timing assertions)."""

import importlib.util

from helpers import run_cli


def test_bench_prints_train_and_infer_rates(capsys):
    status, out, _ = run_cli(capsys, "bench", "--models", "seed000", "seed002", "--batch-sizes", "8", "16",
                             "--seconds", "0.02", "--rounds", "1")
    assert status == 0
    rows = [line.split() for line in out.splitlines()[1:]]
    assert [(r[0], r[1], r[2]) for r in rows] == [(m, b, mode) for m in ("seed000", "seed002")
                                                 for b in ("8", "16") for mode in ("train", "infer")]
    assert all(float(r[3]) > 0 for r in rows)


def test_bench_against_torch_adds_torch_rate_and_ratio(capsys):
    status, out, _ = run_cli(capsys, "bench", "--models", "seed000", "--batch-sizes", "8",
                             "--seconds", "0.02", "--rounds", "1", "--torch")
    assert status == 0
    header, *rows = out.splitlines()
    assert "torch img/s" in header and "ratio" in header and len(rows) == 2
    for row in rows:
        mine, theirs, ratio = map(float, row.split()[3:])
        rounding = 0.5 / theirs + 0.5 / mine  # the rates are printed as whole img/s
        assert abs(mine / theirs - ratio) <= (0.01 + rounding) * ratio + 0.01


def test_bench_errors_are_one_line(capsys, monkeypatch):
    status, _, err = run_cli(capsys, "bench", "--batch-sizes", "0")
    assert status == 2 and err.startswith("convnp: error:") and err.count("\n") == 1
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    status, _, err = run_cli(capsys, "bench", "--torch")
    assert status == 2 and "needs PyTorch" in err


def test_bench_all_runs_every_zoo_model(capsys, monkeypatch):
    from convnp.cli import bench

    monkeypatch.setattr(bench.models, "names", lambda: ["seed000", "lenet5"])  # two stand for all
    status, out, _ = run_cli(capsys, "bench", "--models", "all", "--batch-sizes", "4",
                             "--seconds", "0.01", "--rounds", "1")
    assert status == 0
    rows = [line.split()[:3] for line in out.splitlines()[1:]]
    assert rows == [[name, "4", mode] for name in ("seed000", "lenet5") for mode in ("train", "infer")]
