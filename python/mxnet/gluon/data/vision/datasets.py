"""MNIST and Fashion-MNIST read from local IDX files.

Nothing is downloaded. Put the four files of a dataset (gzip-compressed or raw) into
``root``. MNIST without local files uses the test split shipped with the package.
"""
import gzip
import os
import struct
import warnings

import numpy as np

from .._worker import in_worker_process
from ..dataset import Dataset

__all__ = ['MNIST', 'FashionMNIST', 'bundled_mnist_path', 'read_idx']

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype('>i2'), 0x0C: np.dtype('>i4'),
               0x0D: np.dtype('>f4'), 0x0E: np.dtype('>f8')}

_SPLIT_FILES = {
    True: ('train-images-idx3-ubyte', 'train-labels-idx1-ubyte'),
    False: ('t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'),
}


def _default_root(name):
    base = os.environ.get('MXNET_HOME', os.path.join('~', '.mxnet'))
    return os.path.join(base, 'datasets', name)


def bundled_mnist_path():
    """Return the folder of the MNIST test split shipped with the package."""
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))))
    return os.path.join(package_root, '_data', 'mnist')


def read_idx(path):
    """Read an IDX file (gzip-compressed when the name ends in .gz) into a NumPy array.

    Raises ValueError when the header is invalid or the data length does not match it.
    """
    opener = gzip.open if path.endswith('.gz') else open
    with opener(path, 'rb') as stream:
        raw = stream.read()

    if len(raw) < 4:
        raise ValueError('read_idx: %s is too short to be an IDX file (%d bytes)'
                         % (path, len(raw)))
    zero, type_code, ndim = struct.unpack('>HBB', raw[:4])
    if zero != 0 or type_code not in _IDX_DTYPES:
        raise ValueError('read_idx: %s is not an IDX file (header bytes %s)'
                         % (path, raw[:4].hex()))
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise ValueError('read_idx: %s is truncated inside its %d-dim header' % (path, ndim))
    shape = struct.unpack('>%dI' % ndim, raw[4:header_len])

    dtype = np.dtype(_IDX_DTYPES[type_code])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header_len != expected:
        raise ValueError('read_idx: %s has %d data bytes but its header shape %s needs %d'
                         % (path, len(raw) - header_len, shape, expected))
    data = np.frombuffer(raw, dtype=dtype, offset=header_len).reshape(shape)
    return data.astype(dtype.newbyteorder('='))


def _find_file(root, stem):
    for name in (stem + '.gz', stem):
        path = os.path.join(root, name)
        if os.path.isfile(path):
            return path
    return None


class _IDXImageDataset(Dataset):
    """Images of shape (28, 28, 1) uint8 with int32 labels from a pair of IDX files."""

    _dataset_name = None

    def __init__(self, root, train, transform):
        self._root = os.path.expanduser(root)
        self._train = train
        self._transform = transform
        images, labels = self._load()
        if images.ndim != 3 or len(images) != len(labels):
            raise ValueError('%s: image file of shape %s does not match %d labels in %s'
                             % (type(self).__name__, images.shape, len(labels), self._root))
        self._images = images.reshape(images.shape + (1,))
        self._labels = labels.astype(np.int32)
        self._data_cache = None

    def _load(self):
        image_stem, label_stem = _SPLIT_FILES[self._train]
        image_path = _find_file(self._root, image_stem)
        label_path = _find_file(self._root, label_stem)
        if image_path is None or label_path is None:
            image_path, label_path = self._missing_files(image_stem, label_stem)
        return read_idx(image_path), read_idx(label_path)

    def _missing_files(self, image_stem, label_stem):
        stems = _SPLIT_FILES[True] + _SPLIT_FILES[False]
        raise FileNotFoundError(
            '%s: %s or %s (optionally .gz) not found in %s. Nothing is downloaded; copy the '
            'IDX files %s (gzip or raw) into that folder or pass root=<folder with them>.'
            % (type(self).__name__, image_stem, label_stem, self._root, ', '.join(stems)))

    def __getitem__(self, idx):
        image = self._images[idx]
        label = self._labels[idx]
        if not in_worker_process():
            image = self._image_ndarray(idx)
        if self._transform is not None:
            return self._transform(image, label)
        return image, label

    def _image_ndarray(self, idx):
        return self._data[idx]

    @property
    def _data(self):
        """All images as one uint8 NDArray (N, 28, 28, 1), the attribute MXNet's dataset has.

        It is made on first use in the parent process only, so that worker processes never
        touch the native engine.
        """
        if self._data_cache is None:
            from .... import ndarray as nd
            self._data_cache = nd.array(self._images, dtype=self._images.dtype)
        return self._data_cache

    @property
    def _label(self):
        """All labels as an int32 numpy array, the attribute MXNet's dataset has."""
        return self._labels

    def __len__(self):
        return len(self._labels)


class MNIST(_IDXImageDataset):
    """MNIST handwritten digits: items are (uint8 NDArray 28x28x1 HWC, int32 label).

    Parameters
    ----------
    root : str
        Folder with ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
        ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte`` (each raw or ``.gz``).
        Without them the bundled test split is used; for ``train=True`` a warning is issued.
    train : bool
        Training split (60,000 images) or test split (10,000 images).
    transform : callable or None
        Called as ``transform(data, label)``; it returns the new sample.

    Inside DataLoader worker processes the image is a NumPy array instead of an NDArray.
    """

    def __init__(self, root=_default_root('mnist'), train=True, transform=None):
        super(MNIST, self).__init__(root, train, transform)

    def _missing_files(self, image_stem, label_stem):
        bundled = bundled_mnist_path()
        test_images, test_labels = _SPLIT_FILES[False]
        if self._train:
            warnings.warn(
                'MNIST: no training files in %s, so the bundled 10,000-image test split is '
                'used as training data. For the real training split copy '
                'train-images-idx3-ubyte.gz and train-labels-idx1-ubyte.gz (and the t10k-* '
                'files) into that folder or pass root=<folder with them>.' % self._root,
                UserWarning, stacklevel=5)
        return (os.path.join(bundled, test_images + '.gz'),
                os.path.join(bundled, test_labels + '.gz'))


class FashionMNIST(_IDXImageDataset):
    """Fashion-MNIST clothing images: items are (uint8 NDArray 28x28x1 HWC, int32 label).

    Parameters
    ----------
    root : str
        Folder with ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
        ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte`` (each raw or ``.gz``).
        FileNotFoundError lists the files when they are missing.
    train : bool
        Training split (60,000 images) or test split (10,000 images).
    transform : callable or None
        Called as ``transform(data, label)``; it returns the new sample.
    """

    def __init__(self, root=_default_root('fashion-mnist'), train=True, transform=None):
        super(FashionMNIST, self).__init__(root, train, transform)
