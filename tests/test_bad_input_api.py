"""Silent wrong answers and misleading messages in the Python API: each is now a clear error."""

import numpy as np
import pytest

import convnp as cn


@pytest.fixture
def setup():
    rng = np.random.default_rng(0)
    x = rng.random((64, 1, 4, 4), dtype=np.float32)
    y = rng.integers(0, 3, 64)
    model = cn.Sequential(cn.Flatten(), cn.Linear(16, 3, rng=1))
    return model, x, y


def fit(model, x, y, optimizer=None, **options):
    optimizer = optimizer or cn.optim.SGD(model.parameters(), lr=0.1)
    return model.fit(x, y, loss=cn.CrossEntropyLoss(), optimizer=optimizer, verbose=False, **options)


def nan_x(x):
    return np.full_like(x, np.nan)


def one_inf(x):
    x = x.copy()
    x[5, 0, 1, 1] = np.inf
    return x


EVALUATE_CASES = {
    "all-nan-x": (lambda x, y: (nan_x(x), y), ValueError, "x holds NaN or infinite values in 64 of"),
    "one-inf-x": (lambda x, y: (one_inf(x), y), ValueError, "sample 5"),
    "label-3-of-3": (lambda x, y: (x, np.where(y == 0, 3, y)), ValueError, r"labels must be in \[0, 2\]"),
    "label-negative": (lambda x, y: (x, y - 1), ValueError, r"got values in \[-1, 1\]"),
    "float-labels": (lambda x, y: (x, y.astype(np.float64)), TypeError, "float64 labels"),
    "list-y": (lambda x, y: (x, list(y)), TypeError, "y must be a NumPy array, got list"),
    "string-y": (lambda x, y: (x, y.astype(str)), TypeError, "labels"),
    "short-y": (lambda x, y: (x, y[:10]), ValueError, "x has 64 samples but y has 10"),
    "scalar-y": (lambda x, y: (x, np.int64(3)), TypeError, "y must be a NumPy array"),
    "nan-prob-targets": (lambda x, y: (x, np.full((64, 3), np.nan)), ValueError, "y holds NaN"),
}


@pytest.mark.parametrize("name", list(EVALUATE_CASES))
def test_evaluate_refuses_data_it_cannot_score(setup, name):
    model, x, y = setup
    make, error, message = EVALUATE_CASES[name]
    with pytest.raises(error, match=message):
        model.evaluate(*make(x, y), loss=cn.CrossEntropyLoss())


@pytest.mark.parametrize("name", list(EVALUATE_CASES))
def test_fit_refuses_the_same_data_and_changes_nothing(setup, name):
    model, x, y = setup
    make, error, message = EVALUATE_CASES[name]
    before = model.state_dict()
    with pytest.raises(error, match=message):
        fit(model, *make(x, y))
    assert all(np.array_equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize("name", ["all-nan-x", "label-3-of-3", "float-labels"])
def test_bad_validation_data_is_refused_before_training(setup, name):
    model, x, y = setup
    make, error, message = EVALUATE_CASES[name]
    with pytest.raises(error, match="validation_data"):
        fit(model, x, y, validation_data=make(x, y))


def test_labels_outside_the_classes_are_refused_even_without_a_loss(setup):
    model, x, y = setup
    with pytest.raises(ValueError, match="3 outputs"):
        model.evaluate(x, np.full(64, 7))


@pytest.mark.parametrize("target, message", [
    (np.array([[1.5, -0.5, 0.0]]), "non-negative"),
    (np.array([[0.2, 0.2, 0.2]]), "sum to 1, row 0 sums to 0.6"),
    (np.array([[np.nan, 0.5, 0.5]]), "NaN"),
    (np.array([[np.inf, 0.0, 0.0]]), "NaN or infinite"),
])
def test_cross_entropy_refuses_targets_that_are_not_probabilities(target, message):
    with pytest.raises(ValueError, match=message):
        cn.CrossEntropyLoss()(np.zeros((1, 3)), target)


def test_cross_entropy_still_accepts_soft_and_smoothed_targets():
    soft = np.array([[0.7, 0.2, 0.1], [1 / 3, 1 / 3, 1 / 3]], dtype=np.float32)
    assert np.isfinite(cn.CrossEntropyLoss(label_smoothing=0.1)(np.zeros((2, 3), np.float32), soft))


def test_mse_refuses_nan_targets():
    with pytest.raises(ValueError, match="finite"):
        cn.MSELoss()(np.zeros((2, 3)), np.full((2, 3), np.nan))


def test_fit_refuses_an_optimizer_of_another_model(setup):
    model, x, y = setup
    other = cn.Sequential(cn.Flatten(), cn.Linear(16, 3, rng=1))
    with pytest.raises(ValueError, match="not this model's, so training would never change"):
        fit(model, x, y, optimizer=cn.optim.Adam(other.parameters()))


@pytest.mark.parametrize("seed", [-1, 1.5, "7", True])
def test_a_bad_seed_is_named(setup, seed):
    model, x, y = setup
    with pytest.raises(ValueError, match=f"fit: seed must be a non-negative int.*got {seed!r}"):
        fit(model, x, y, seed=seed)


@pytest.mark.parametrize("call", ["fit", "evaluate", "predict"])
@pytest.mark.parametrize("batch_size", [0, -3, 2.5])
def test_a_bad_batch_size_is_named_by_the_call_that_got_it(setup, call, batch_size):
    model, x, y = setup
    run = {"fit": lambda: fit(model, x, y, batch_size=batch_size),
           "evaluate": lambda: model.evaluate(x, y, batch_size=batch_size),
           "predict": lambda: model.predict(x, batch_size=batch_size)}[call]
    with pytest.raises(ValueError, match=f"{call}: batch_size must be a positive int"):
        run()


def test_fit_with_a_list_y_no_longer_says_64_but_64(setup):
    model, x, y = setup
    with pytest.raises(TypeError) as info:
        fit(model, x, y.tolist())
    assert "64 samples but y has 64" not in str(info.value) and "np.asarray" in str(info.value)


@pytest.mark.parametrize("options, error, message", [
    ({"loss": None}, TypeError, "loss must be a loss object"),
    ({"loss": cn.CrossEntropyLoss}, TypeError, "note the parentheses"),
    ({"optimizer": None}, TypeError, "optimizer must be an optimizer"),
    ({"optimizer": cn.optim.SGD}, TypeError, "optimizer must be an optimizer"),
])
def test_fit_names_a_loss_or_optimizer_that_is_not_one(setup, options, error, message):
    model, x, y = setup
    arguments = {"loss": cn.CrossEntropyLoss(), "optimizer": cn.optim.SGD(model.parameters(), lr=0.1),
                 **options}
    with pytest.raises(error, match=message):
        model.fit(x, y, verbose=False, **arguments)


@pytest.mark.parametrize("smoothing", ["0.1", None, float("nan"), 1.5, True])
def test_label_smoothing_must_be_a_number_in_0_1(smoothing):
    with pytest.raises(ValueError, match="label_smoothing must be a number in"):
        cn.CrossEntropyLoss(label_smoothing=smoothing)


@pytest.mark.parametrize("shape", [(0,), (1, -28, 28), (), "28x28", (1.5, 2)])
def test_load_csv_names_a_bad_image_shape(tmp_path, shape):
    (tmp_path / "d.csv").write_text("1,0,0\n")
    with pytest.raises(ValueError, match="image_shape must be a tuple of positive ints"):
        cn.datasets.load_csv(tmp_path / "d.csv", shape)


@pytest.mark.parametrize("column", ["0", 1.0, 99, None])
def test_load_csv_names_a_bad_label_column(tmp_path, column):
    (tmp_path / "d.csv").write_text("1,0,0\n")
    with pytest.raises(ValueError, match="label_column"):
        cn.datasets.load_csv(tmp_path / "d.csv", (1, 2), label_column=column)
