"""End to end: a small CNN trained with fit and Adam learns a synthetic image task (float32)."""

import numpy as np

import convnp as cn

SIZE, BAR_LENGTH = 16, 6
DIRECTIONS = [(0, 1), (1, 0), (1, 1), (1, -1)]  # horizontal, vertical, diagonal, anti-diagonal


def bar_images(count, rng):
    """``count`` noisy 16x16 images, each with a bar in one of four directions at a random place.

    Returns x (count, 1, 16, 16) float32 and y (count,) int64, the direction's index.
    """
    x = rng.normal(0.0, 0.2, size=(count, 1, SIZE, SIZE)).astype(np.float32)
    y = rng.integers(0, len(DIRECTIONS), size=count)
    steps = np.arange(BAR_LENGTH)
    for image, label in zip(x, y, strict=True):
        row_step, col_step = DIRECTIONS[label]
        col_low = 0 if col_step >= 0 else BAR_LENGTH - 1
        col_high = SIZE - BAR_LENGTH if col_step >= 0 else SIZE - 1
        row = rng.integers(0, SIZE - row_step * (BAR_LENGTH - 1))
        col = rng.integers(col_low, col_high + 1) if col_step else rng.integers(0, SIZE)
        image[0, row + row_step * steps, col + col_step * steps] += 1.0
    return x, y


def test_a_small_cnn_learns_to_tell_bar_directions_apart():
    rng = np.random.default_rng(0)
    x_train, y_train = bar_images(1500, rng)
    x_test, y_test = bar_images(500, rng)
    model = cn.Sequential(
        cn.Conv2d(1, 8, 3, rng=1),           # (8, 14, 14)
        cn.ReLU(),
        cn.MaxPool2d(2),                     # (8, 7, 7)
        cn.Flatten(),
        cn.Linear(8 * 7 * 7, len(DIRECTIONS), rng=2),
    )
    history = model.fit(x_train, y_train, loss=cn.CrossEntropyLoss(),
                        optimizer=cn.optim.Adam(model.parameters(), lr=0.01), epochs=4,
                        batch_size=32, seed=0, validation_data=(x_test, y_test), verbose=False)

    logits = model.predict(x_test)
    assert logits.dtype == np.float32
    assert all(p.dtype == np.float32 for p in model.parameters())
    accuracy = np.mean(logits.argmax(axis=1) == y_test)
    assert accuracy > 0.95, history.history
    assert history.history["val_accuracy"][-1] == accuracy
    assert history.history["loss"][-1] < history.history["loss"][0]
