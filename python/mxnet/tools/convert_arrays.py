"""Convert NDArray files between MXNet's binary format and NDJSON.

Usage: ``python -m mxnet.tools.convert_arrays IN OUT [--readable]``

The format of each file comes from its extension: ``.params`` is the binary format of
``mx.nd.save`` (what Apache MXNet writes), ``.ndjson`` is the text format of
``mx.nd.save_ndjson``. A list stays a list and a dict stays a dict, in the same order.
"""
import argparse
import os
import secrets
import sys

import mxnet as mx
from mxnet.base import MXNetError

_FORMATS = {'.params': 'params', '.ndjson': 'ndjson'}


def _format_of(parser, path, role):
    extension = os.path.splitext(path)[1].lower()
    if extension not in _FORMATS:
        parser.error('%s file %r has unknown extension %r; use %s'
                     % (role, path, extension, ' or '.join(sorted(_FORMATS))))
    return _FORMATS[extension]


def _save_params_atomically(path, data):
    """Write ``data`` with ``mx.nd.save`` to a temporary file next to ``path``, then rename
    it, so a failed conversion leaves an existing ``path`` unchanged."""
    folder = os.path.dirname(os.path.abspath(path))
    temp_path = os.path.join(folder, '.%s.%s.tmp' % (os.path.basename(path),
                                                     secrets.token_hex(8)))
    try:
        mx.nd.save(temp_path, data)
        os.replace(temp_path, path)
    except BaseException:
        if os.path.exists(temp_path):
            os.unlink(temp_path)
        raise


def build_parser():
    parser = argparse.ArgumentParser(
        prog='python -m mxnet.tools.convert_arrays',
        description='Convert NDArray files between MXNet binary (.params) and NDJSON '
                    '(.ndjson). The extension of each file selects its format.')
    parser.add_argument('input', metavar='IN',
                        help='file to read: a .params file (mx.nd.save format) or a .ndjson file')
    parser.add_argument('output', metavar='OUT',
                        help='file to write, replaced if it exists: .params or .ndjson')
    parser.add_argument('--readable', action='store_true',
                        help='for .ndjson output, write array data as nested JSON lists '
                             'instead of base64 bytes (larger, but readable and diffable)')
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    input_format = _format_of(parser, args.input, 'input')
    output_format = _format_of(parser, args.output, 'output')
    if args.readable and output_format != 'ndjson':
        parser.error('--readable applies only to .ndjson output, but OUT is %r' % args.output)

    try:
        if input_format == 'params':
            data = mx.nd.load(args.input)
        else:
            data = mx.nd.load_ndjson(args.input)
        if output_format == 'params':
            _save_params_atomically(args.output, data)
        else:
            mx.nd.save_ndjson(args.output, data, readable=args.readable)
    except (MXNetError, OSError, TypeError) as err:
        print('convert_arrays: %s' % err, file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
