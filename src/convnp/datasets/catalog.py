"""What convnp knows about each dataset: classes, shapes, canonical files, checksums and URLs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

# Where the embedded "mnist-sample" files live inside the installed package.
PACKAGE_DATA = Path(__file__).resolve().parent / "data"

MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
CIFAR_ARCHIVE = "cifar-10-python.tar.gz"


@dataclass(frozen=True)
class DatasetInfo:
    """Public description of a dataset.

    Attributes
    ----------
    name : str
    classes : tuple of str
        Class names, indexed by label.
    input_shape : tuple of int
        (C, H, W) of one image.
    files : tuple of str
        Canonical file names expected in ``<root>/<name>/``.
    description : str
        One line.
    """

    name: str
    classes: tuple[str, ...]
    input_shape: tuple[int, int, int]
    files: tuple[str, ...]
    description: str


@dataclass(frozen=True)
class Source:
    """Internal: how to verify, fetch and read a dataset's files.

    ``sha256`` maps each canonical file name to its SHA-256; ``raw_sha256`` gives the SHA-256 of
    the uncompressed content of ``.gz`` files (so an unpacked ``…-ubyte`` copy also verifies).
    ``urls`` are base URLs tried in order (file URL = base + file name). ``counts`` maps a file
    prefix (``"train"``, ``"t10k"``) to its number of images; ``split_at`` makes a train/test
    split of the ``t10k`` files (for the embedded sample).
    """

    format: str  # "idx" or "cifar"
    sha256: dict[str, str]
    raw_sha256: dict[str, str] = field(default_factory=dict)
    urls: tuple[str, ...] = ()
    counts: dict[str, int] = field(default_factory=dict)
    split_at: int | None = None
    embedded: bool = False


DIGITS = tuple(str(digit) for digit in range(10))
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                   "Bag", "Ankle boot")
CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

CATALOG = {
    "mnist": DatasetInfo(
        "mnist", DIGITS, (1, 28, 28), MNIST_FILES,
        "MNIST handwritten digits: 60,000 train / 10,000 test grayscale 28x28 images, 10 classes."),
    "fashion-mnist": DatasetInfo(
        "fashion-mnist", FASHION_CLASSES, (1, 28, 28), MNIST_FILES,
        "Fashion-MNIST (Zalando): 60,000 train / 10,000 test grayscale 28x28 clothing images, 10 classes."),
    "cifar10": DatasetInfo(
        "cifar10", CIFAR_CLASSES, (3, 32, 32), (CIFAR_ARCHIVE,),
        "CIFAR-10: 50,000 train / 10,000 test color 32x32 images, 10 classes."),
    "mnist-sample": DatasetInfo(
        "mnist-sample", DIGITS, (1, 28, 28), MNIST_FILES[2:],
        "The 10,000 MNIST test images, embedded in convnp: 8,000 train / 2,000 test, works offline."),
}

MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
MNIST_RAW_SHA256 = {
    "train-images-idx3-ubyte.gz": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte.gz": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte.gz": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte.gz": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
MNIST_COUNTS = {"train": 60000, "t10k": 10000}

SOURCES = {
    "mnist": Source(
        "idx", MNIST_SHA256, MNIST_RAW_SHA256,
        urls=("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
        counts=MNIST_COUNTS),
    "fashion-mnist": Source(
        "idx",
        {
            "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        },
        {
            "train-images-idx3-ubyte.gz": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "train-labels-idx1-ubyte.gz": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        },
        urls=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
              "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/"),
        counts=MNIST_COUNTS),
    "cifar10": Source(
        "cifar",
        {CIFAR_ARCHIVE: "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"},
        urls=("https://www.cs.toronto.edu/~kriz/",)),
    "mnist-sample": Source(
        "idx",
        {name: MNIST_SHA256[name] for name in MNIST_FILES[2:]},
        {name: MNIST_RAW_SHA256[name] for name in MNIST_FILES[2:]},
        counts={"t10k": 10000}, split_at=8000, embedded=True),
}


def names() -> list[str]:
    """Names accepted by :func:`convnp.datasets.load`."""
    return list(CATALOG)


def info(name: str) -> DatasetInfo:
    """The :class:`DatasetInfo` of ``name``; ``ValueError`` listing the known names if unknown."""
    try:
        return CATALOG[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(CATALOG)}") from None
