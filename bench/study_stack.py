"""A study's patch stacks (NRRD, raw or gzip, 8-bit, x y patch), as the diagnostics in bench/ read them."""
import gzip
import numpy as np


def read_nrrd(path):
    """The header text and the stack as an array (patch, y, x)."""
    raw = open(path, 'rb').read()
    end = raw.index(b'\n\n')
    head = raw[:end].decode()
    f = dict(l.split(': ', 1) for l in head.splitlines()[1:] if ': ' in l)
    data = raw[end + 2:]
    if f.get('encoding', 'raw') == 'gzip':
        data = gzip.decompress(data)
    sx, sy, n = [int(v) for v in f['sizes'].split()]
    return head, np.frombuffer(data, np.uint8).reshape(n, sy, sx)


def nrrd(path):
    """The stack only."""
    return read_nrrd(path)[1]
