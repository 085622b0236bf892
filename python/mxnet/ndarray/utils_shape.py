"""Shape helpers of MXNet 1.x's ``mx.nd`` that are Python functions rather than operators:
``concatenate``, ``moveaxis`` and ``split_v2``."""
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
    """Move axes of ``tensor`` to new positions, keeping the order of the others (a new array).

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


def split_v2(ary, indices_or_sections, axis=0, squeeze_axis=False):
    """Split ``ary`` along ``axis`` into equal sections (an int) or at the given indices (a tuple
    of ints, as in ``numpy.split``): ``(2, 3)`` gives ``ary[:2]``, ``ary[2:3]`` and ``ary[3:]``.

    Returns a list of NDArrays, or one NDArray when there is one part. ``squeeze_axis`` drops
    the split axis from parts of size 1 on it.
    """
    if not isinstance(ary, NDArray):
        raise TypeError(f"split_v2: ary must be an NDArray, got {type(ary).__name__}")
    ndim = ary.ndim
    if not -ndim <= axis < ndim:
        raise ValueError(f"split_v2: axis {axis} is out of range for an array with {ndim} dimensions")
    axis %= ndim
    size = ary.shape[axis]
    if isinstance(indices_or_sections, integer_types) and not isinstance(indices_or_sections, bool):
        sections = int(indices_or_sections)
        if sections < 1 or size % sections:
            raise ValueError(f"split_v2: {sections} sections do not divide axis {axis} of size {size} "
                             "equally; pass a divisor of the size or a tuple of split indices")
        bounds = [i * (size // sections) for i in range(sections + 1)]
    elif isinstance(indices_or_sections, tuple) and all(isinstance(i, integer_types) for i in indices_or_sections):
        bounds = [0] + list(indices_or_sections) + [size]
        for begin, end in zip(bounds[:-1], bounds[1:]):
            if not 0 <= begin <= end <= size:
                raise ValueError(f"split_v2: indices {indices_or_sections} must be sorted and within "
                                 f"[0, {size}], the size of axis {axis}")
    else:
        raise ValueError("split_v2: indices_or_sections must be an int or a tuple of ints, got "
                         f"{indices_or_sections!r}")
    parts = []
    for begin, end in zip(bounds[:-1], bounds[1:]):
        part = _invoke("slice_axis", [ary], [("axis", str(axis)), ("begin", str(begin)), ("end", str(end))])
        if squeeze_axis:
            if end - begin != 1:
                raise ValueError(f"split_v2: squeeze_axis needs parts of size 1 on axis {axis}, got a part of "
                                 f"size {end - begin}")
            part = _invoke("squeeze", [part], [("axis", str(axis))])
        parts.append(part)
    return parts[0] if len(parts) == 1 else parts
