"""Images in ``predict``: bombs refused, EXIF, alpha, float TIFF, animations and polarity handled.

Every file is generated here. A digit (light on dark, as MNIST) is the reference; each case
stores it the way some program would, and ``read_image`` must give back the same pixels.
"""

import struct
import zlib

import numpy as np
import pytest

import convnp as cn
from convnp.viz.image_files import read_image
from helpers import run_cli

Image = pytest.importorskip("PIL.Image")

SHAPE = (1, 28, 28)


@pytest.fixture(scope="module")
def digit():
    """A light digit on a dark background, (28, 28) in [0, 1], exact in 8 bits."""
    _, (x, _) = cn.datasets.load("mnist-sample")
    return np.round(x[0, 0] * 255) / 255


def read(path, invert=None, shape=SHAPE):
    pixels, notes = read_image(path, shape, invert)
    return pixels[0] if shape[0] == 1 else pixels, notes


def to_uint8(pixels):
    return np.round(pixels * 255).astype(np.uint8)


def test_plain_png_reads_back_exactly(tmp_path, digit):
    Image.fromarray(to_uint8(digit)).save(tmp_path / "d.png")
    pixels, notes = read(tmp_path / "d.png")
    assert np.allclose(pixels, digit, atol=1e-6) and notes == []


def test_black_ink_on_a_transparent_sheet_keeps_its_ink(tmp_path, digit):
    rgba = np.zeros((28, 28, 4), dtype=np.uint8)  # black everywhere; only alpha draws the digit
    rgba[..., 3] = to_uint8(digit)
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "ink.png")
    pixels, notes = read(tmp_path / "ink.png")  # on white paper: dark ink, inverted automatically
    assert np.allclose(pixels, digit, atol=1 / 255) and "inverted" in notes[0]


def test_a_palette_image_with_a_transparent_colour(tmp_path, digit):
    image = Image.fromarray(to_uint8(digit)).convert("P")
    image.info["transparency"] = 0
    image.save(tmp_path / "p.png", transparency=0)
    pixels, _ = read(tmp_path / "p.png", invert=False)
    assert pixels[0, 0] == 1.0  # the transparent background is white paper, not black


@pytest.mark.parametrize("orientation, undo", [
    (3, lambda a: np.rot90(a, 2)), (6, lambda a: np.rot90(a, 1)), (8, lambda a: np.rot90(a, -1)),
    (2, np.fliplr), (4, np.flipud)])
def test_exif_orientation_is_applied(tmp_path, digit, orientation, undo):
    stored = undo(digit)  # what the camera wrote; the EXIF tag says how to turn it upright
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(to_uint8(stored)).save(tmp_path / "photo.png", exif=exif)
    pixels, _ = read(tmp_path / "photo.png")
    assert np.allclose(pixels, digit, atol=1e-6)


@pytest.mark.parametrize("scale, mode", [(1.0, "F"), (255.0, "F"), (65535.0, "I;16"), (65535.0, "I")])
def test_wide_and_float_images_are_scaled_by_their_range(tmp_path, digit, scale, mode):
    values = digit * scale
    if mode == "F":
        image = Image.fromarray(values.astype(np.float32), mode="F")
    elif mode == "I;16":
        image = Image.fromarray(np.round(values).astype(np.uint16))
    else:
        image = Image.fromarray(np.round(values).astype(np.int32), mode="I")
    image.save(tmp_path / "wide.tif")
    pixels, _ = read(tmp_path / "wide.tif")
    assert np.allclose(pixels, digit, atol=1e-4)


@pytest.mark.parametrize("mode", ["CMYK", "RGB", "LA", "1"])
def test_other_modes_read_as_the_same_picture(tmp_path, digit, mode):
    source = (digit > 0.5) if mode == "1" else digit
    Image.fromarray(to_uint8(source)).convert(mode).save(tmp_path / "m.tif")
    pixels, _ = read(tmp_path / "m.tif")
    assert np.allclose(pixels, source, atol=2 / 255)


def test_a_float_tiff_with_nan_is_refused(tmp_path, digit):
    values = digit.astype(np.float32)
    values[3, 3] = np.nan
    Image.fromarray(values, mode="F").save(tmp_path / "nan.tif")
    with pytest.raises(ValueError, match="NaN"):
        read(tmp_path / "nan.tif")


def test_an_animated_gif_uses_its_first_frame_that_is_not_blank(tmp_path, digit):
    frames = [Image.fromarray(np.zeros((28, 28), np.uint8)), Image.fromarray(to_uint8(digit))]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:], duration=100)
    pixels, notes = read(tmp_path / "a.gif")
    assert np.allclose(pixels, digit, atol=1e-6) and "using frame 2" in notes[0]


def test_dark_on_light_is_inverted_and_said_and_the_flags_force_it(tmp_path, digit):
    Image.fromarray(to_uint8(1 - digit)).save(tmp_path / "paper.png")
    pixels, notes = read(tmp_path / "paper.png")
    assert np.allclose(pixels, digit, atol=1e-6) and "--no-invert" in notes[0]
    kept, notes = read(tmp_path / "paper.png", invert=False)
    assert np.allclose(kept, 1 - digit, atol=1e-6) and notes == []
    Image.fromarray(to_uint8(digit)).save(tmp_path / "dark.png")
    forced, _ = read(tmp_path / "dark.png", invert=True)
    assert np.allclose(forced, 1 - digit, atol=1e-6)


def test_colour_models_are_never_inverted_automatically(tmp_path):
    Image.new("RGB", (32, 32), (250, 250, 250)).save(tmp_path / "white.png")
    pixels, notes = read(tmp_path / "white.png", shape=(3, 32, 32))
    assert pixels.shape == (3, 32, 32) and pixels.min() > 0.9 and notes == []


def png_with_size(width, height):
    """A tiny valid PNG whose header claims ``width`` x ``height`` (a decompression bomb)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit gray
    body = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


@pytest.mark.parametrize("width, height", [(100_000, 100_000), (5000, 5000), (2**31 - 1, 1)])
def test_a_decompression_bomb_is_refused_from_its_header(tmp_path, width, height):
    (tmp_path / "bomb.png").write_bytes(png_with_size(width, height))
    with pytest.raises(ValueError, match="bomb|too large"):
        read(tmp_path / "bomb.png")


@pytest.mark.parametrize("content", [b"", b"GIF89a", b"\x89PNG\r\n\x1a\n" + b"\0" * 30, b"BM" + b"\xff" * 60,
                                     png_with_size(28, 28)[:-20]])
def test_broken_files_are_one_clear_error(tmp_path, content):
    (tmp_path / "broken.png").write_bytes(content)
    with pytest.raises(ValueError, match="broken.png"):
        read(tmp_path / "broken.png")


def test_predict_prints_the_inversion_note_and_accepts_no_invert(tmp_path, digit, capsys):
    model = cn.Sequential(cn.Flatten(), cn.Linear(784, 10, rng=0))
    model.metadata = {"input_shape": [1, 28, 28]}
    model.save(tmp_path / "m.npz")
    Image.fromarray(to_uint8(1 - digit)).save(tmp_path / "paper.png")
    status, out, err = run_cli(capsys, "predict", tmp_path / "m.npz", tmp_path / "paper.png")
    assert status == 0 and "inverted" in err and out.startswith(str(tmp_path / "paper.png"))
    status, _, err = run_cli(capsys, "predict", tmp_path / "m.npz", tmp_path / "paper.png", "--no-invert")
    assert status == 0 and "inverted" not in err
    (tmp_path / "bomb.png").write_bytes(png_with_size(100_000, 100_000))
    status, _, err = run_cli(capsys, "predict", tmp_path / "m.npz", tmp_path / "bomb.png")
    assert status == 2 and err.count("\n") == 1 and "bomb.png" in err
