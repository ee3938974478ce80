"""scikit-learn's handwritten digits, binarised, with a fixed train/test split.

The 1797 images of ``sklearn.datasets.load_digits`` are 8x8 grey levels 0..16; a pixel
is "on" when its level exceeds ``threshold``. The split is a fixed random permutation
(``split_seed``), so every chapter and every run sees the same train and test images.
Nothing is downloaded: scikit-learn ships the data.

The retrieval digits (chapter 9) are grey-level images, corrupted once
(:func:`corrupted_digits`), split by class (:func:`load_retrieval_digits`) or by image within
every class (:func:`load_retrieval_splits`).

Book: chapter 6 (the discrete VAE); also the retrieval and DAB chapters.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np
import torch

N_IMAGES = 1797
N_PIXELS = 64


class DigitsSplit(NamedTuple):
    """Binarised digits: ``x_*`` of shape ``(n, 64)`` with 0/1 entries, labels ``y_*`` 0..9."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def load_binary_digits(threshold: int = 8, test_fraction: float = 0.2, split_seed: int = 0,
                       dtype: torch.dtype = torch.float32, device=None) -> DigitsSplit:
    """Load the 8x8 digits as 0/1 pixel vectors with a fixed train/test split.

    Args:
        threshold: a pixel is 1 when its grey level (0..16) is ``> threshold``.
        test_fraction: the share of the 1797 images held out, in ``(0, 1)``.
        split_seed: the seed of the permutation that makes the split (fixed: 0).
        dtype: the floating dtype of the images.
        device: where the tensors live (default: the CPU).

    Returns:
        a :class:`DigitsSplit`; with the defaults 1438 training and 359 test images.

    Example:
        >>> d = load_binary_digits()
        >>> tuple(d.x_train.shape), tuple(d.x_test.shape)
        ((1438, 64), (359, 64))
        >>> sorted(d.x_train.unique().tolist())
        [0.0, 1.0]
    """
    if not 0 <= threshold < 16:
        raise ValueError(f"threshold must be in 0..15, got {threshold}")
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    try:
        from sklearn.datasets import load_digits
    except ImportError:  # scikit-learn ships the data; it is in requirements.txt
        raise ImportError("load_binary_digits needs scikit-learn: pip install scikit-learn") from None
    digits = load_digits()
    x = (digits.data > threshold).astype(np.float32)
    y = digits.target.astype(np.int64)
    order = np.random.RandomState(split_seed).permutation(len(x))
    n_test = int(round(test_fraction * len(x)))
    test, train = order[:n_test], order[n_test:]
    as_x = lambda a: torch.as_tensor(a, dtype=dtype, device=device)  # noqa: E731
    as_y = lambda a: torch.as_tensor(a, device=device)  # noqa: E731
    return DigitsSplit(as_x(x[train]), as_y(y[train]), as_x(x[test]), as_y(y[test]))


class RetrievalDigits(NamedTuple):
    """Corrupted grey-level digits ``(n, 64)`` in roughly ``[0, 1]``, split by class."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def corrupted_digits(shift: int = 1, pixel_noise: float = 0.35, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1797 digits, each corrupted once: ``(x (1797, 64), y (1797,))`` as arrays.

    Each image (grey levels scaled to ``[0, 1]``) is moved by a random shift of
    ``-shift..shift`` pixels in each direction (zero padding) and gets Gaussian noise of
    standard deviation ``pixel_noise``; the corruption is drawn once with ``seed``, so every
    run sees the same images (chapter 9, image retrieval). Nothing is downloaded.

    Example:
        >>> x, y = corrupted_digits()
        >>> x.shape, y.shape, x.dtype
        ((1797, 64), (1797,), dtype('float32'))
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError:  # scikit-learn ships the data; it is in requirements.txt
        raise ImportError("the retrieval digits need scikit-learn: pip install scikit-learn") from None

    digits = load_digits()
    images = digits.images.astype(np.float32) / 16.0
    rng = np.random.RandomState(seed)
    padded = np.pad(images, ((0, 0), (shift, shift), (shift, shift)))
    moved = np.empty_like(images)
    for i, (dy, dx) in enumerate(rng.randint(-shift, shift + 1, size=(len(images), 2))):
        moved[i] = padded[i, shift + dy:shift + dy + 8, shift + dx:shift + dx + 8]
    x = moved.reshape(len(images), 64) + pixel_noise * rng.randn(len(images), 64).astype(np.float32)
    return x, digits.target.astype(np.int64)


def load_retrieval_digits(shift: int = 1, pixel_noise: float = 0.35, seed: int = 0,
                          device=None, train_classes: Sequence[int] = (0, 1, 2, 3, 4)) -> RetrievalDigits:
    """scikit-learn's 1797 digits, corrupted once, split by class: 0-4 (train) and 5-9 (test).

    The images of :func:`corrupted_digits`; those of ``train_classes`` form the training
    split, all others the test split, so test queries come from classes never trained on.

    Example:
        >>> d = load_retrieval_digits()
        >>> tuple(d.x_train.shape), tuple(d.x_test.shape)
        ((901, 64), (896, 64))
        >>> sorted(d.y_train.unique().tolist()), sorted(d.y_test.unique().tolist())
        ([0, 1, 2, 3, 4], [5, 6, 7, 8, 9])
    """
    x, y = corrupted_digits(shift, pixel_noise, seed)
    train = np.isin(y, tuple(train_classes))
    as_t = lambda a: torch.as_tensor(a, device=device)  # noqa: E731
    return RetrievalDigits(as_t(x[train]), as_t(y[train]), as_t(x[~train]), as_t(y[~train]))


class LabelledImages(NamedTuple):
    """Images ``x (n, 64)`` with their labels ``y (n,)``: one split of a retrieval task."""

    x: torch.Tensor
    y: torch.Tensor


def load_retrieval_splits(shift: int = 1, pixel_noise: float = 0.35, val_per_class: int = 30,
                          test_per_class: int = 30, seed: int = 0, split_seed: int = 0,
                          device=None) -> tuple[LabelledImages, LabelledImages, LabelledImages]:
    """The corrupted digits of :func:`corrupted_digits`, split by image within every class.

    For each of the ten classes a fixed random order of its images (``split_seed``) gives
    ``test_per_class`` test images, then ``val_per_class`` validation images, and the rest
    (about 120 per class) for training: the three splits share the classes, not the images.

    Returns:
        ``(train, val, test)``, each a :class:`LabelledImages`, in class order.

    Example:
        >>> train, val, test = load_retrieval_splits()
        >>> len(train.y), len(val.y), len(test.y)
        (1197, 300, 300)
        >>> test.y.bincount().tolist() == [30] * 10
        True
    """
    x, y = corrupted_digits(shift, pixel_noise, seed)
    rng = np.random.RandomState(split_seed)
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    for c in np.unique(y):
        members = np.flatnonzero(y == c)[rng.permutation(int((y == c).sum()))]
        if len(members) <= val_per_class + test_per_class:
            raise ValueError(f"class {c} has {len(members)} images, too few for {val_per_class} validation "
                             f"and {test_per_class} test images")
        parts["test"].append(members[:test_per_class])
        parts["val"].append(members[test_per_class:test_per_class + val_per_class])
        parts["train"].append(members[test_per_class + val_per_class:])

    def split(name):
        index = np.concatenate(parts[name])
        return LabelledImages(torch.as_tensor(x[index], device=device), torch.as_tensor(y[index], device=device))

    return split("train"), split("val"), split("test")
