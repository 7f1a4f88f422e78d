"""Reading image files as model inputs: what ``convnp predict`` feeds a model (needs Pillow).

A picture from a phone, a drawing program or a scanner is not an MNIST image, so each file
goes through these steps, and every one that changes the picture says so:

1. Pillow opens it lazily; a header larger than :data:`MAX_PIXELS` (or Pillow's own
   decompression-bomb limit) is refused before any pixel is decoded.
2. An animated image (GIF, APNG, TIFF pages) uses its first frame that is not blank.
3. EXIF orientation is applied (a phone photo taken sideways is turned upright).
4. Transparency is composited onto white paper: black ink on a transparent sheet stays ink.
5. 16/32-bit integer and float images are scaled to [0, 1] by their range (a float TIFF in
   [0, 1] stays as it is), then converted to the model's channels and resized to its input.
6. Gray models (trained on light digits on a dark background, as MNIST) get a dark drawing on
   light paper inverted automatically; ``invert=True``/``False`` forces the choice.
"""

from __future__ import annotations

import warnings

import numpy as np

from ._figure import VIZ_HINT

MAX_PIXELS = 2**24  # 16.7 million pixels (4096 x 4096): far more than any model input needs
MAX_FRAMES = 256
LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R 601, as Pillow's "L" conversion


def read_image(path, input_shape, invert=None) -> tuple[np.ndarray, list[str]]:
    """Read an image file as one model input.

    Parameters
    ----------
    path : str or Path
    input_shape : (C, H, W)
        C is 1 (gray) or 3 (RGB).
    invert : bool or None
        True: ``1 - x``; False: never; None: for gray inputs, invert when the picture's border
        is light (a dark drawing on light paper), since MNIST-style models expect light on dark.

    Returns
    -------
    pixels : ndarray, shape (C, H, W), float32 in [0, 1]
    notes : list of str
        One sentence per change made to the picture (frame chosen, inversion).

    Raises
    ------
    ValueError
        A missing, unreadable, oversized or empty file, naming it. ImportError without Pillow.
    """
    channels, height, width = input_shape
    if channels not in (1, 3):
        raise ValueError(f"the model takes {channels}-channel inputs; only 1 (gray) or 3 (RGB) "
                         f"can be read from image files")
    image, notes = _open(path)
    try:
        rgb = _to_rgb(image, path)  # (h, w, 3) in [0, 1], alpha composited on white
    finally:
        image.close()
    pixels = rgb @ LUMA if channels == 1 else rgb  # (h, w) or (h, w, 3)
    if invert is None and channels == 1 and _border_is_light(pixels):
        invert = True
        notes.append(f"{path}: a dark drawing on a light background; inverted it to light on "
                     f"dark like the model's training images (--no-invert keeps it as it is)")
    pixels = _resize(pixels, width, height)  # (H, W) or (H, W, 3)
    pixels = pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)  # (C, H, W)
    pixels = np.clip(pixels, 0.0, 1.0).astype(np.float32)
    return (1.0 - pixels if invert else pixels), notes


def _open(path):
    """Open ``path`` with Pillow, refusing bombs; pick the frame to use. Returns (image, notes)."""
    try:
        from PIL import Image
    except ImportError:
        raise ImportError(f"reading images needs Pillow; {VIZ_HINT}") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path)
    except FileNotFoundError:
        raise ValueError(f"no such image: {path}") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ValueError(f"{path} is too large to be an input image ({error})") from None
    except Exception as error:  # Pillow's plugins raise many kinds on malformed files
        raise ValueError(f"cannot read {path} as an image ({type(error).__name__}: {error})") from None
    width, height = image.size
    if width * height > MAX_PIXELS or width * height == 0:
        image.close()
        raise ValueError(f"{path} is {width}x{height} pixels; expected at least 1 and at most "
                         f"{MAX_PIXELS:,} pixels (a decompression bomb is refused)")
    return _pick_frame(image, path)


def _pick_frame(image, path):
    """The first frame of an animation that is not blank (a GIF often starts empty)."""
    frames = min(getattr(image, "n_frames", 1), MAX_FRAMES)
    if frames <= 1:
        return image, []
    for index in range(frames):
        image.seek(index)
        rgb = _to_rgb(image.copy(), path)
        if np.ptp(rgb) > 1e-3:
            note = [] if index == 0 else [f"{path}: animated ({frames} frames), frames 1-{index} "
                                          f"are blank; using frame {index + 1}"]
            return image.copy(), note
    image.seek(0)
    return image.copy(), [f"{path}: animated ({frames} frames), all blank"]


def _to_rgb(image, path) -> np.ndarray:
    """(h, w, 3) float32 in [0, 1]: EXIF orientation applied, alpha composited on white."""
    from PIL import ImageOps

    try:
        image = ImageOps.exif_transpose(image)
        wide = image.mode in ("F", "I", "I;16", "I;16L", "I;16B", "I;16N")
        has_alpha = "A" in image.mode or "transparency" in image.info
        values = np.asarray(image if wide else image.convert("RGBA" if has_alpha else "RGB"),
                            dtype=np.float64 if wide else np.float32)
    except Exception as error:  # corrupt pixel data shows up only when decoding; odd modes
        raise ValueError(f"cannot read {path} as an image ({type(error).__name__}: {error})") from None
    if wide:
        gray = _scaled(values, image.mode, path)  # (h, w) in [0, 1]
        return np.repeat(gray[..., None], 3, axis=2).astype(np.float32)
    rgba = values / 255
    if not has_alpha:
        return rgba
    alpha = rgba[..., 3:]  # (h, w, 1): 0 transparent, 1 opaque
    return rgba[..., :3] * alpha + (1 - alpha)  # onto white paper


def _scaled(values, mode, path) -> np.ndarray:
    """Integer or float pixels scaled to [0, 1] by the range their format or values imply."""
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{path}: the image holds NaN or infinite pixel values")
    low, high = float(values.min()), float(values.max())
    if mode == "F" and low >= 0 and high <= 1:
        return values  # already [0, 1]
    if mode.startswith("I;16") or (high > 255 and high <= 65535 and low >= 0):
        return values / 65535
    if low >= 0 and high <= 255:
        return values / 255
    return (values - low) / (high - low) if high > low else np.zeros_like(values)


def _border_is_light(gray) -> bool:
    """Whether the outermost pixels (the paper) are mostly light: median above 0.5."""
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    return float(np.median(border)) > 0.5


def _resize(pixels, width, height) -> np.ndarray:
    """Resize (h, w) or (h, w, 3) float pixels to (height, width) with Pillow's bilinear filter."""
    from PIL import Image

    if pixels.shape[:2] == (height, width):
        return pixels
    planes = pixels[..., None] if pixels.ndim == 2 else pixels  # (h, w, C)
    resized = [np.asarray(Image.fromarray(np.ascontiguousarray(planes[..., c], dtype=np.float32),
                                          mode="F").resize((width, height), Image.BILINEAR))
               for c in range(planes.shape[2])]
    stacked = np.stack(resized, axis=2)  # (height, width, C)
    return stacked[..., 0] if pixels.ndim == 2 else stacked
