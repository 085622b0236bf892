"""Shape helpers of MXNet 1.x's ``mx.nd`` that are Python functions rather than operators:
``concatenate`` and ``moveaxis``."""
from ..base import integer_types
from .ndarray import NDArray, _invoke


def concatenate(arrays, axis=0, always_copy=True):
    """Join a list of NDArrays along ``axis`` (the older form of ``mx.nd.concat``).

    With ``always_copy=False`` a single array is returned as it is, as MXNet 1.x does.
    """
    if not isinstance(arrays, (list, tuple)) or not arrays:
        raise ValueError("concatenate: arrays must be a non-empty list of NDArrays")
    if not all(isinstance(a, NDArray) for a in arrays):
        raise TypeError("concatenate: every element of arrays must be an NDArray")
    if len(arrays) == 1 and not always_copy:
        return arrays[0]
    return _invoke("Concat", list(arrays), [("dim", str(axis)), ("num_args", str(len(arrays)))])


def _normalize_axes(name, axes, ndim):
    axes = [axes] if isinstance(axes, integer_types) else list(axes)
    result = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"moveaxis: {name} axis {a} is out of range for an array with {ndim} dimensions")
        result.append(a % ndim)
    if len(set(result)) != len(result):
        raise ValueError(f"moveaxis: {name} axes {axes} repeat an axis")
    return result


def moveaxis(tensor, source, destination):
    """Move axes of ``tensor`` to new positions, keeping the order of the others (a view).

    ``source`` and ``destination`` are ints or equally long sequences of ints, as in
    ``numpy.moveaxis``.
    """
    ndim = tensor.ndim
    src = _normalize_axes("source", source, ndim)
    dst = _normalize_axes("destination", destination, ndim)
    if len(src) != len(dst):
        raise ValueError(f"moveaxis: source {source} and destination {destination} must have the same length")
    order = [a for a in range(ndim) if a not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return _invoke("transpose", [tensor], [("axes", str(tuple(order)))])
