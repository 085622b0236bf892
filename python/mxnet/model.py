"""``mx.model``: MXNet 1.x model checkpoints (``prefix-symbol.json`` + ``prefix-%04d.params``)."""
from . import ndarray as nd
from . import symbol as sym
from .base import MXNetError


def save_checkpoint(prefix, epoch, symbol, arg_params, aux_params, remove_amp_cast=True):
    """Write ``prefix-symbol.json`` (when ``symbol`` is given) and ``prefix-%04d.params``.

    Parameters are stored under ``arg:<name>`` and ``aux:<name>``, arguments first, in the
    dicts' order, which is the layout MXNet 1.x writes and reads.
    """
    if symbol is not None:
        symbol.save("%s-symbol.json" % prefix)
    save_dict = {"arg:%s" % k: v for k, v in arg_params.items()}
    save_dict.update({"aux:%s" % k: v for k, v in aux_params.items()})
    nd.save("%s-%04d.params" % (prefix, epoch), save_dict)


def load_params(prefix, epoch):
    """Return ``(arg_params, aux_params)`` read from ``prefix-%04d.params``."""
    fname = "%s-%04d.params" % (prefix, epoch)
    saved = nd.load(fname)
    if not isinstance(saved, dict):
        raise MXNetError("load_params: %s contains an unnamed list of arrays; a checkpoint stores "
                         "'arg:'/'aux:' names" % fname)
    arg_params, aux_params = {}, {}
    for key, value in saved.items():
        kind, sep, name = key.partition(":")
        if not sep or kind not in ("arg", "aux"):
            raise MXNetError("load_params: key '%s' in %s has no 'arg:' or 'aux:' prefix; is it a "
                             "Gluon save_parameters file? Load that with Block.load_parameters" % (key, fname))
        (arg_params if kind == "arg" else aux_params)[name] = value
    return arg_params, aux_params


def load_checkpoint(prefix, epoch):
    """Return ``(symbol, arg_params, aux_params)`` of a checkpoint written by
    :func:`save_checkpoint` or by MXNet 1.x."""
    symbol = sym.load("%s-symbol.json" % prefix)
    arg_params, aux_params = load_params(prefix, epoch)
    return symbol, arg_params, aux_params
