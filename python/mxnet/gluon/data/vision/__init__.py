"""Vision datasets and transforms."""
from . import transforms
from .datasets import MNIST, FashionMNIST, bundled_mnist_path

__all__ = ['MNIST', 'FashionMNIST', 'bundled_mnist_path', 'transforms']
