"""A config's drawings from Google's numpy_bitmap files (`<category>.npy`, uint8 [N, 784]) in a local folder (the
layout `npm run pipeline -- --train-source` reads) or at a URL (Google's bucket or a mirror, read with range
requests), split by drawing id exactly as src/core/training/training-data.ts does (id `<category>/<row>`), plus a
fingerprint of what was read. Every process reads the same rows."""
import ast
import hashlib
import json
import os
import struct
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import numpy as np

from .recipe import BITMAP_SIDE_PX, split_of

PARTS = ('train', 'validation', 'test')
GOOGLE_NUMPY_URL = 'https://storage.googleapis.com/quickdraw_dataset/full/numpy_bitmap'


class DataError(ValueError):
    pass


def read_bitmaps(source, category, max_rows):
    """The first `max_rows` drawings of `<source>/<category>.npy` as [n, 28, 28] uint8: a memory-mapped read from a
    folder, or two HTTP range requests (header, then just those rows) from a URL such as Google's bucket."""
    if source.startswith(('http://', 'https://')):
        return _read_remote(f'{source.rstrip("/")}/{urllib.parse.quote(category)}.npy', max_rows)
    path = os.path.join(source, f'{category}.npy')
    if not os.path.exists(path):
        raise DataError(f'{path}: no such file. Put Google\'s numpy_bitmap/{category}.npy there '
                        f'({GOOGLE_NUMPY_URL}/{urllib.parse.quote(category)}.npy), or pass that folder\'s URL as the source.')
    rows = np.load(path, mmap_mode='r')
    pixels = BITMAP_SIDE_PX * BITMAP_SIDE_PX
    if rows.dtype != np.uint8 or rows.ndim != 2 or rows.shape[1] != pixels:
        raise DataError(f'{path}: expected uint8 rows of {pixels} pixels (Google\'s numpy_bitmap), got {rows.dtype} {rows.shape}.')
    if rows.shape[0] == 0:
        raise DataError(f'{path} holds no drawings.')
    return np.array(rows[:max_rows]).reshape(-1, BITMAP_SIDE_PX, BITMAP_SIDE_PX)


def read_unseen(source, category, count, seen):
    """Up to `count` (row, bitmap) of `<source>/<category>.npy` whose bitmap bytes are not in `seen`, in file order, and
    how many were left out before the last one kept. Reads more rows while what it read began with seen ones."""
    wanted = count
    while True:
        bitmaps = read_bitmaps(source, category, wanted)
        kept, left_out = [], 0
        for row, bitmap in enumerate(bitmaps):
            if len(kept) == count:
                break
            if bitmap.tobytes() in seen:
                left_out += 1
            else:
                kept.append((row, bitmap))
        if len(kept) == count or len(bitmaps) < wanted:
            return kept, left_out
        wanted = count + left_out


def _fetch(url, start, end, attempts=4):
    """Bytes start..end (inclusive) of `url`; a server that ignores Range sends everything, which is cut here."""
    for attempt in range(attempts):
        try:
            request = urllib.request.Request(url, headers={'Range': f'bytes={start}-{end}'})
            with urllib.request.urlopen(request, timeout=120) as response:
                body = response.read()
                return body if response.status == 206 else body[start:end + 1]
        except urllib.error.HTTPError as error:
            if error.code == 416:  # asked past the end: the file is shorter than a header read
                return b''
            if error.code < 500 or attempt == attempts - 1:
                raise DataError(f'{url}: HTTP {error.code} {error.reason}.') from error
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            if attempt == attempts - 1:
                raise DataError(f'{url}: {error}.') from error
        time.sleep(2 ** attempt)
    raise AssertionError('unreachable')


def _read_remote(url, max_rows):
    head = _fetch(url, 0, 4095)
    if head[:6] != b'\x93NUMPY' or len(head) < 10:
        raise DataError(f'{url} is not a NumPy .npy file.')
    major = head[6]
    length, start = (struct.unpack('<H', head[8:10])[0], 10) if major == 1 else (struct.unpack('<I', head[8:12])[0], 12)
    header = ast.literal_eval(head[start:start + length].decode('latin1'))
    shape, pixels = header.get('shape', ()), BITMAP_SIDE_PX * BITMAP_SIDE_PX
    if header.get('descr') != '|u1' or header.get('fortran_order') or len(shape) != 2 or shape[1] != pixels or shape[0] == 0:
        raise DataError(f'{url}: expected uint8 rows of {pixels} pixels (Google\'s numpy_bitmap), got {header}.')
    rows = min(shape[0], max_rows)
    offset = start + length
    body = _fetch(url, offset, offset + rows * pixels - 1)
    if len(body) != rows * pixels:
        raise DataError(f'{url}: got {len(body)} bytes of drawings, expected {rows * pixels} (a cut-off download?).')
    return np.frombuffer(body, np.uint8).reshape(-1, BITMAP_SIDE_PX, BITMAP_SIDE_PX).copy()


def load_splits(config, train_source, test_source=None):
    """{part: (bitmaps [n, 28, 28] uint8, labels [n] int64, ids [n] str)} and a dataset hash.

    With `test_source`, the test part is that folder's drawings and the main one gives only training and validation
    drawings, as the app does for a config with dataset.testDatasetId: up to maxPerCategory a category, in file order,
    leaving out those whose bitmap the training source holds (src/core/training/training-data.ts)."""
    dataset, split = config['dataset'], config['split']
    validation_fraction = split['validationFraction']
    test_fraction = split['testFraction'] if test_source is None else 0
    parts = {p: ([], [], []) for p in PARTS}
    fingerprint = [dataset['maxPerCategory'], validation_fraction, test_fraction]
    seen = set()
    for label, category in enumerate(dataset['categories']):
        bitmaps = read_bitmaps(train_source, category, dataset['maxPerCategory'])
        for i in range(len(bitmaps)):
            drawing_id = f'{category}/{i}'
            part = parts[split_of(drawing_id, validation_fraction, test_fraction)]
            part[0].append(bitmaps[i])
            part[1].append(label)
            part[2].append(drawing_id)
            if test_source is not None:
                seen.add(bitmaps[i].tobytes())
        fingerprint += [category, [f'npy:{len(bitmaps)}:{hashlib.sha256(bitmaps.tobytes()).hexdigest()}']]
    if test_source is not None:
        overlap = 0
        for label, category in enumerate(dataset['categories']):
            rows, left_out = read_unseen(test_source, category, dataset['maxPerCategory'], seen)
            overlap += left_out
            test = np.stack([b for _, b in rows]) if rows else np.zeros((0, BITMAP_SIDE_PX, BITMAP_SIDE_PX), np.uint8)
            parts['test'][0].extend(test)
            parts['test'][1].extend([label] * len(test))
            parts['test'][2].extend(f'test:{category}/{row}' for row, _ in rows)
            fingerprint += [f'test:{category}', [f'npy:{len(test)}:{hashlib.sha256(test.tobytes()).hexdigest()}']]
        if overlap:
            print(f'{overlap} drawings of the test source left out: the training source has the same bitmaps', file=sys.stderr)
            if not parts['test'][0]:
                raise DataError(f'Every drawing of the test source {test_source} is also in the training source: test on other drawings of the same classes.')
    if not parts['train'][0]:
        raise DataError('No drawings left to train on after the validation and test split.')
    out = {}
    for name, (bitmaps, labels, ids) in parts.items():
        stacked = np.stack(bitmaps) if bitmaps else np.zeros((0, BITMAP_SIDE_PX, BITMAP_SIDE_PX), np.uint8)
        out[name] = (stacked, np.array(labels, dtype=np.int64), ids)
    digest = hashlib.sha256(json.dumps(fingerprint, separators=(',', ':'), ensure_ascii=False).encode()).hexdigest()
    return out, digest
