"""A config's drawings from local folders of Google's numpy_bitmap files (`<category>.npy`, uint8 [N, 784]), the
layout `npm run pipeline -- --train-source` reads, split by drawing id exactly as src/core/training-data.ts does
(id `<category>/<row>`), plus a fingerprint of what was read. Every rank reads the same files."""
import hashlib
import json
import os

import numpy as np

from .recipe import BITMAP_SIDE_PX, split_of

PARTS = ('train', 'validation', 'test')


class DataError(ValueError):
    pass


def read_bitmaps(source_dir, category, max_rows):
    """The first `max_rows` drawings of `<source_dir>/<category>.npy` as [n, 28, 28] uint8 (memory-mapped read)."""
    path = os.path.join(source_dir, f'{category}.npy')
    if not os.path.exists(path):
        raise DataError(f'{path}: no such file. Put Google\'s numpy_bitmap/{category}.npy there '
                        f'(https://storage.googleapis.com/quickdraw_dataset/full/numpy_bitmap/{category}.npy).')
    rows = np.load(path, mmap_mode='r')
    pixels = BITMAP_SIDE_PX * BITMAP_SIDE_PX
    if rows.dtype != np.uint8 or rows.ndim != 2 or rows.shape[1] != pixels:
        raise DataError(f'{path}: expected uint8 rows of {pixels} pixels (Google\'s numpy_bitmap), got {rows.dtype} {rows.shape}.')
    if rows.shape[0] == 0:
        raise DataError(f'{path} holds no drawings.')
    return np.array(rows[:max_rows]).reshape(-1, BITMAP_SIDE_PX, BITMAP_SIDE_PX)


def load_splits(config, train_source, test_source=None):
    """{part: (bitmaps [n, 28, 28] uint8, labels [n] int64, ids [n] str)} and a dataset hash.

    With `test_source`, the test part is that folder's drawings and the main one gives only training and validation
    drawings, as the app does for a config with dataset.testDatasetId."""
    dataset, split = config['dataset'], config['split']
    validation_fraction = split['validationFraction']
    test_fraction = split['testFraction'] if test_source is None else 0
    parts = {p: ([], [], []) for p in PARTS}
    fingerprint = [dataset['maxPerCategory'], validation_fraction, test_fraction]
    for label, category in enumerate(dataset['categories']):
        bitmaps = read_bitmaps(train_source, category, dataset['maxPerCategory'])
        for i in range(len(bitmaps)):
            drawing_id = f'{category}/{i}'
            part = parts[split_of(drawing_id, validation_fraction, test_fraction)]
            part[0].append(bitmaps[i])
            part[1].append(label)
            part[2].append(drawing_id)
        fingerprint += [category, [f'npy:{len(bitmaps)}:{hashlib.sha256(bitmaps.tobytes()).hexdigest()}']]
        if test_source is not None:
            test = read_bitmaps(test_source, category, dataset['maxPerCategory'])
            parts['test'][0].extend(test)
            parts['test'][1].extend([label] * len(test))
            parts['test'][2].extend(f'test:{category}/{i}' for i in range(len(test)))
            fingerprint += [f'test:{category}', [f'npy:{len(test)}:{hashlib.sha256(test.tobytes()).hexdigest()}']]
    if not parts['train'][0]:
        raise DataError('No drawings left to train on after the validation and test split.')
    out = {}
    for name, (bitmaps, labels, ids) in parts.items():
        stacked = np.stack(bitmaps) if bitmaps else np.zeros((0, BITMAP_SIDE_PX, BITMAP_SIDE_PX), np.uint8)
        out[name] = (stacked, np.array(labels, dtype=np.int64), ids)
    digest = hashlib.sha256(json.dumps(fingerprint, separators=(',', ':'), ensure_ascii=False).encode()).hexdigest()
    return out, digest
