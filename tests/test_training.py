"""fit / evaluate / predict: history, determinism, batching, callbacks, errors, explicit-loop equality."""

import numpy as np
import pytest

import convnp as cn

N_SAMPLES, N_CLASSES = 50, 3


class Recorder(cn.Layer):
    """Identity layer that remembers every batch it sees in forward."""

    def __init__(self):
        super().__init__()
        self.batches = []

    def forward(self, x):
        self.batches.append(x.copy())
        return x

    def backward(self, dy):
        return dy


def _model(seed=0, dtype=np.float64, recorder=None):
    rng = np.random.default_rng(seed)
    layers = [cn.Conv2d(1, 2, 3, dtype=dtype, rng=rng), cn.ReLU(), cn.Flatten(),
              cn.Linear(2 * 4 * 4, N_CLASSES, dtype=dtype, rng=rng)]
    return cn.Sequential(*([recorder] if recorder else []), *layers)


@pytest.fixture
def data():
    rng = np.random.default_rng(123)
    x = rng.standard_normal((N_SAMPLES, 1, 6, 6))
    y = rng.integers(0, N_CLASSES, size=N_SAMPLES)
    return x, y


def _fit(model, x, y, optimizer=None, **kwargs):
    optimizer = optimizer or cn.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    options = {"epochs": 2, "batch_size": 16, "verbose": False, **kwargs}
    return model.fit(x, y, loss=cn.CrossEntropyLoss(), optimizer=optimizer, **options)


def _assert_same_weights(a, b):
    for (name, p), q in zip(a.named_parameters().items(), b.parameters(), strict=True):
        np.testing.assert_array_equal(p.data, q.data, err_msg=name)


def test_history_has_one_value_per_epoch(data):
    x, y = data
    history = _fit(_model(), x, y, epochs=3, validation_data=(x[:20], y[:20]))
    assert isinstance(history, cn.History)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(values) == 3 for values in history.history.values())
    assert history.epoch == [0, 1, 2]
    assert all(type(v) is float for values in history.history.values() for v in values)
    assert all(0 <= a <= 1 for a in history.history["accuracy"] + history.history["val_accuracy"])


def test_history_without_validation_has_no_val_keys(data):
    x, y = data
    assert set(_fit(_model(), x, y).history) == {"loss", "accuracy"}


def test_training_reduces_the_loss(data):
    x, y = data
    model = _model()
    history = _fit(model, x, y, epochs=15, optimizer=cn.optim.Adam(model.parameters(), lr=0.02))
    assert history.history["loss"][-1] < 0.7 * history.history["loss"][0]


def test_same_seed_gives_identical_weights_and_history(data):
    x, y = data
    first, second, other = _model(seed=5), _model(seed=5), _model(seed=5)
    history_first = _fit(first, x, y, seed=7)
    history_second = _fit(second, x, y, seed=7)
    assert history_first.history == history_second.history
    _assert_same_weights(first, second)
    _fit(other, x, y, seed=8)  # a different shuffling order must give different weights
    assert not np.array_equal(first[0].weight.data, other[0].weight.data)


def test_shuffle_false_visits_samples_in_order_with_a_partial_last_batch(data):
    x, y = data
    recorder = Recorder()
    _fit(_model(recorder=recorder), x, y, epochs=2, batch_size=16, shuffle=False)
    sizes = [len(batch) for batch in recorder.batches]
    assert sizes == [16, 16, 16, 2] * 2
    np.testing.assert_array_equal(np.concatenate(recorder.batches[:4]), x)
    np.testing.assert_array_equal(np.concatenate(recorder.batches[4:]), x)


def test_shuffle_visits_every_sample_once_per_epoch(data):
    x, y = data
    recorder = Recorder()
    _fit(_model(recorder=recorder), x, y, epochs=2, batch_size=16, shuffle=True, seed=0)
    epoch_one = np.concatenate(recorder.batches[:4])
    epoch_two = np.concatenate(recorder.batches[4:])
    assert not np.array_equal(epoch_one, x) and not np.array_equal(epoch_one, epoch_two)
    key = x.reshape(len(x), -1)[:, 0]
    for seen in (epoch_one, epoch_two):
        np.testing.assert_array_equal(np.sort(seen.reshape(len(seen), -1)[:, 0]), np.sort(key))


def test_epoch_loss_is_the_sample_weighted_mean_of_batch_losses(data):
    x, y = data
    batch_losses = []

    class BatchLosses:
        def on_train_batch_end(self, batch, logs=None):
            batch_losses.append(logs["loss"])

    history = _fit(_model(), x, y, epochs=1, batch_size=16, shuffle=False,
                   callbacks=[BatchLosses()])
    weights = np.array([16, 16, 16, 2])
    expected = float(np.sum(np.array(batch_losses) * weights) / N_SAMPLES)
    assert history.history["loss"][0] == pytest.approx(expected, rel=1e-12)


def test_one_epoch_of_fit_equals_the_explicit_loop(data):
    x, y = data
    fitted, by_hand = _model(seed=3), _model(seed=3)
    _fit(fitted, x, y, cn.optim.SGD(fitted.parameters(), lr=0.1, momentum=0.9),
         epochs=1, batch_size=16, shuffle=False)

    loss = cn.CrossEntropyLoss()
    optimizer = cn.optim.SGD(by_hand.parameters(), lr=0.1, momentum=0.9)
    for start in range(0, N_SAMPLES, 16):
        logits = by_hand.forward(x[start:start + 16])
        loss(logits, y[start:start + 16])
        by_hand.backward(loss.backward())
        optimizer.step()
    _assert_same_weights(fitted, by_hand)


def test_fit_gives_the_pooled_work_arrays_back():
    from convnp.fast import workspace as buffers

    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((64, 1, 28, 28)), rng.integers(0, N_CLASSES, 64)
    model = cn.Sequential(cn.Conv2d(1, 8, 5, dtype=np.float64, rng=rng), cn.ReLU(), cn.Flatten(),
                          cn.Linear(8 * 24 * 24, N_CLASSES, dtype=np.float64, rng=rng))
    model.forward(x)
    assert buffers.current().lent  # a step's large arrays come from the engine's workspace
    _fit(model, x, y, epochs=1, batch_size=64)
    assert buffers.current().lent == {} and buffers.current().free_bytes == 0


class Log(cn.Callback):
    """Records every hook call as a tuple."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def on_train_begin(self, logs=None):
        self.calls.append(("train_begin",))

    def on_train_end(self, logs=None):
        self.calls.append(("train_end",))

    def on_epoch_begin(self, epoch, logs=None):
        self.calls.append(("epoch_begin", epoch))

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append(("epoch_end", epoch, sorted(logs)))

    def on_train_batch_begin(self, batch, logs=None):
        self.calls.append(("batch_begin", batch))

    def on_train_batch_end(self, batch, logs=None):
        self.calls.append(("batch_end", batch, sorted(logs)))


def test_callbacks_receive_hooks_in_keras_order(data):
    x, y = data
    log = Log()
    model = _model()
    _fit(model, x[:20], y[:20], epochs=2, batch_size=8, callbacks=[log],
         validation_data=(x[20:], y[20:]))
    assert log.model is model
    expected = [("train_begin",)]
    for epoch in range(2):
        expected.append(("epoch_begin", epoch))
        for batch in range(3):  # 20 samples in batches of 8: 8, 8, 4
            expected += [("batch_begin", batch), ("batch_end", batch, ["accuracy", "loss"])]
        expected.append(("epoch_end", epoch, ["accuracy", "loss", "val_accuracy", "val_loss"]))
    expected.append(("train_end",))
    assert log.calls == expected


def test_a_plain_object_with_some_hooks_is_a_callback(data):
    x, y = data
    epochs_seen = []

    class OnlyEpochEnd:
        def on_epoch_end(self, epoch, logs):
            epochs_seen.append((epoch, logs["loss"]))

    history = _fit(_model(), x, y, epochs=3, callbacks=[OnlyEpochEnd()])
    assert [epoch for epoch, _ in epochs_seen] == [0, 1, 2]
    assert [value for _, value in epochs_seen] == history.history["loss"]


def test_stop_training_in_on_epoch_end_stops_early(data):
    x, y = data
    log = Log()

    class StopAfterSecondEpoch(cn.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                self.model.stop_training = True

    model = _model()
    history = _fit(model, x, y, epochs=10, callbacks=[StopAfterSecondEpoch(), log])
    assert history.epoch == [0, 1]
    assert len(history.history["loss"]) == 2
    assert log.calls[-1] == ("train_end",)
    # a new fit starts afresh
    assert _fit(model, x, y, epochs=2).epoch == [0, 1]


def test_nan_in_the_data_is_refused_before_training_naming_the_sample(data):
    x, y = data
    x = x.copy()
    x[20, 0, 2, 2] = np.nan
    model = _model()
    before = model.state_dict()
    with pytest.raises(ValueError, match=r"fit: x holds NaN .* 1 of its \d+ samples .*sample 20"):
        _fit(model, x, y, epochs=3, batch_size=8, shuffle=False)
    assert all(np.array_equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning", "ignore:invalid:RuntimeWarning")
def test_a_huge_learning_rate_raises_non_finite_loss(data):
    x, y = data
    model = _model(dtype=np.float32)
    with pytest.raises(cn.NonFiniteLossError, match=r"epoch \d+/50, batch \d+"):
        _fit(model, x.astype(np.float32), y, cn.optim.SGD(model.parameters(), lr=1e30),
             epochs=50, batch_size=8)


def test_fit_rejects_bad_data(data):
    x, y = data
    model = _model()
    with pytest.raises(TypeError, match="dtype int64"):
        _fit(model, (x * 10).astype(np.int64), y)
    with pytest.raises(ValueError, match="50 samples but y has 49"):
        _fit(model, x, y[:-1])
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        _fit(model, x, y, batch_size=0)
    with pytest.raises(ValueError, match="validation_data"):
        _fit(model, x, y, validation_data=x)


@pytest.mark.parametrize("batch_size", [7, 256])
def test_evaluate_matches_a_manual_computation(data, batch_size):
    x, y = data
    model = _model()
    logits = model.forward(x)
    expected_loss = cn.CrossEntropyLoss()(logits, y)
    expected_accuracy = np.mean(logits.argmax(axis=1) == y)
    model.train()
    scores = model.evaluate(x, y, loss=cn.CrossEntropyLoss(), batch_size=batch_size)
    assert scores["loss"] == pytest.approx(expected_loss, rel=1e-12)
    assert scores["accuracy"] == expected_accuracy
    assert model.training and model[0].training  # mode restored
    assert model.evaluate(x, y) == {"accuracy": expected_accuracy}
    model.eval()
    model.evaluate(x, y)
    assert not model.training


def test_fit_trains_in_training_mode_even_if_the_model_was_in_eval_mode(data):
    x, y = data
    modes = []

    class ModeSpy(Recorder):
        def forward(self, x):
            modes.append(self.training)
            return x

    model = _model()
    model.layers.insert(0, ModeSpy())
    model.eval()
    _fit(model, x, y, epochs=1, batch_size=25, validation_data=(x[:10], y[:10]))
    assert modes == [True, True, False]  # two training batches, then validation
    assert model.training


def test_predict_equals_forward_in_eval_mode(data):
    x, _ = data
    model = _model()
    states_seen = []

    class ModeSpy(Recorder):
        def forward(self, x):
            states_seen.append(self.training)
            return x

    model.layers.insert(0, ModeSpy())
    predictions = model.predict(x, batch_size=7)  # 50 = 7 * 7 + 1
    assert states_seen == [False] * 8
    assert model.training
    model.eval()
    expected = model.forward(x)
    assert predictions.shape == (N_SAMPLES, N_CLASSES)
    np.testing.assert_allclose(predictions, expected, rtol=0, atol=1e-14)


def test_predict_casts_the_input_to_the_model_dtype(data):
    x, _ = data
    model = _model(dtype=np.float32)
    assert model.predict(x).dtype == np.float32


def test_verbose_fit_prints_an_epoch_line(data, capsys):
    x, y = data
    _fit(_model(), x, y, epochs=2, verbose=True)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "Epoch 1/2" in captured.err and "Epoch 2/2" in captured.err
    assert "loss " in captured.err and "accuracy " in captured.err


def test_quiet_fit_prints_nothing(data, capsys):
    x, y = data
    _fit(_model(), x, y, verbose=False)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
