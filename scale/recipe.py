"""The app's recipe in Python: config parsing against the app's own schema file, the drawing-id split, the
seeded random stream (mulberry32), epoch shuffles, augmentation, preprocessing and the learning-rate schedule.
Each function mirrors one in src/core (named in its docstring); tests/scale/round-trip.test.ts checks that both
give the same numbers for the same inputs. Pure numpy/torch, no distributed state."""
import copy
import json
import math
import os

import numpy as np
import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCHEMA_PATH = os.path.join(REPO, 'src', 'core', 'training', 'train-config.schema.json')
BITMAP_SIDE_PX = 28
U32 = 0xFFFFFFFF


class ConfigError(ValueError):
    pass


# ---- config (src/core/training/train-config.ts parseConfig) ----

def _check(value, schema, path, problems):
    """The subset of JSON Schema draft-07 that train-config.schema.json uses, filling defaults like ajv's useDefaults."""
    kind = schema.get('type')
    types = {'object': dict, 'array': list, 'string': str, 'number': (int, float), 'integer': int}
    if kind is not None and (not isinstance(value, types[kind]) or isinstance(value, bool)
                             or (kind == 'integer' and isinstance(value, float) and not value.is_integer())):
        problems.append(f'{path or "(config)"} must be {kind}')
        return
    if 'enum' in schema and value not in schema['enum']:
        problems.append(f'{path} must be one of {", ".join(map(str, schema["enum"]))}')
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if 'minimum' in schema and value < schema['minimum']:
            problems.append(f'{path} must be >= {schema["minimum"]}')
        if 'maximum' in schema and value > schema['maximum']:
            problems.append(f'{path} must be <= {schema["maximum"]}')
        if 'exclusiveMinimum' in schema and value <= schema['exclusiveMinimum']:
            problems.append(f'{path} must be > {schema["exclusiveMinimum"]}')
    if isinstance(value, str):
        if len(value) < schema.get('minLength', 0) or len(value) > schema.get('maxLength', math.inf):
            problems.append(f'{path} has the wrong length')
    if isinstance(value, list):
        if len(value) < schema.get('minItems', 0):
            problems.append(f'{path} must have at least {schema["minItems"]} items')
        for i, item in enumerate(value):
            _check(item, schema.get('items', {}), f'{path}/{i}', problems)
    if isinstance(value, dict):
        props = schema.get('properties', {})
        for name, sub in props.items():
            if name not in value and 'default' in sub:
                value[name] = copy.deepcopy(sub['default'])
        for name in schema.get('required', []):
            if name not in value:
                problems.append(f'{path or "(config)"} must have required property \'{name}\'')
        for name, item in value.items():
            if name in props:
                _check(item, props[name], f'{path}/{name}', problems)
            elif schema.get('additionalProperties') is False:
                problems.append(f'{path or "(config)"} has an unknown field “{name}”')


def parse_config(raw):
    """Validates a config against the app's schema file (filling defaults) plus the checks parseConfig adds."""
    with open(SCHEMA_PATH, encoding='utf-8') as f:
        schema = json.load(f)
    config = copy.deepcopy(raw)
    problems = []
    _check(config, schema, '', problems)
    if problems:
        raise ConfigError('Invalid training config: ' + '; '.join(problems))
    split = config['split']
    if split['validationFraction'] + split['testFraction'] >= 1:
        raise ConfigError('Invalid training config: validation and test fractions must leave drawings to train on.')
    categories = config['dataset']['categories']
    if len(set(categories)) != len(categories):
        raise ConfigError('Invalid training config: a category is listed twice.')
    return config


def trainable_blocks_of(config, total_blocks):
    """train-config.ts trainableBlocksOf."""
    if config['mode'] == 'head':
        return 0
    if config['mode'] == 'whole':
        return total_blocks
    return min(config['trainableBlocks'], total_blocks)


def learning_rate_at(config, step, total_steps):
    """train-config.ts learningRateAt."""
    warmup = _warmup_steps_of(config, total_steps)
    if step < warmup:
        return config['learningRate'] * (step + 1) / warmup
    rest = total_steps - warmup
    if config.get('learningRateSchedule') != 'cosine' or rest <= 1:
        return config['learningRate']
    return config['learningRate'] * 0.5 * (1 + math.cos(math.pi * min(step - warmup, rest) / rest))


def _warmup_steps_of(config, total_steps):
    """train-config.ts warmupStepsOf."""
    epochs = config.get('warmupEpochs', 0)
    return min(total_steps, math.floor(total_steps * epochs / config['epochs'])) if epochs > 0 else 0


# ---- hashing and randomness (src/core/training/random.ts) ----

def hash_to_unit(text):
    """random.ts hashToUnit: FNV-1a over UTF-16 code units plus one avalanche round, as a fraction in [0, 1)."""
    h = 0x811C9DC5
    units = text.encode('utf-16-le')
    for i in range(0, len(units), 2):
        h ^= units[i] | (units[i + 1] << 8)
        h = (h * 0x01000193) & U32
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & U32
    h ^= h >> 13
    return h / 4294967296


def split_of(drawing_id, validation_fraction, test_fraction):
    """random.ts splitOf."""
    u = hash_to_unit(drawing_id)
    if u < test_fraction:
        return 'test'
    if u < test_fraction + validation_fraction:
        return 'validation'
    return 'train'


def mulberry32(state, draws):
    """`Random(state).next()` for the draw numbers `draws` (0-based, any order): mulberry32's state is a counter,
    so draw k of a stream is a pure function of state + (k + 1)·0x6d2b79f5, and a whole batch is one numpy op."""
    k = np.asarray(draws, dtype=np.uint64)
    t = ((np.uint64(state & U32) + (k + np.uint64(1)) * np.uint64(0x6D2B79F5)) & np.uint64(U32)).astype(np.uint32)
    with np.errstate(over='ignore'):
        t = (t ^ (t >> np.uint32(15))) * (t | np.uint32(1))
        t ^= t + (t ^ (t >> np.uint32(7))) * (t | np.uint32(61))
    return (t ^ (t >> np.uint32(14))).astype(np.float64) / 4294967296


def shuffled(n, state):
    """random.ts Random.shuffle over 0..n-1: Fisher–Yates from the end, one draw per swap."""
    order = list(range(n))
    draws = mulberry32(state, np.arange(max(n - 1, 0))) if n > 1 else []
    for step, i in enumerate(range(n - 1, 0, -1)):
        j = int(draws[step] * (i + 1))
        order[i], order[j] = order[j], order[i]
    return np.array(order, dtype=np.int64)


def epoch_order(n, seed, epoch):
    """training.ts Trainer.epochOrder."""
    return shuffled(n, (seed ^ ((epoch + 1) * 0x9E3779B1)) & U32)


# ---- augmentation (src/core/training/augment.ts) ----

def _draws_per_image(options):
    """augment.ts drawAugmentation: five draws, and a sixth where the options mirror."""
    return 6 if options.get('flipProbability', 0) > 0 else 5


def is_augmenting(options):
    return any(options.get(k, 0) > 0 for k in ('scale', 'rotationDeg', 'translatePx', 'thickenProbability', 'flipProbability'))


def _js_round(x):
    """Math.round for a float64 tensor."""
    return torch.floor(x + 0.5)


def augment_bitmaps(bitmaps, options, seed, image_numbers):
    """augment.ts augmentBitmaps for `bitmaps` [n, s, s] uint8, image i being number image_numbers[i] of the run's
    augmentation stream (Random(seed), five draws per image: scale, angle, dx, dy, thicken; and flip where the options
    mirror), vectorised. A tensor is warped where it lies (on a GPU: on the GPU, so the CPU only draws the n × 6 random
    numbers and cannot starve it) and comes back as a tensor; a numpy array comes back as one."""
    as_numpy = not torch.is_tensor(bitmaps)
    images = torch.from_numpy(np.ascontiguousarray(bitmaps)) if as_numpy else bitmaps
    n, size, _ = images.shape
    device = images.device
    numbers = np.asarray(image_numbers, dtype=np.int64)
    per = _draws_per_image(options)
    draws = mulberry32(seed, numbers[:, None] * per + np.arange(per)[None, :])
    sym = lambda col, magnitude: (draws[:, col] * 2 - 1) * magnitude  # noqa: E731
    # Per image, in numpy float64 as the app's Math does; per pixel, torch float64 in the app's order of operations.
    scale = 1 + sym(0, options['scale'])
    angle = (sym(1, options['rotationDeg']) * math.pi) / 180
    mirror = np.where(draws[:, 5] < options['flipProbability'], -1.0, 1.0) if per == 6 else np.ones(n)
    thickened = draws[:, 4] < options['thickenProbability']
    per_image = torch.from_numpy(np.stack([np.cos(angle) / scale, np.sin(angle) / scale, sym(2, options['translatePx']),
                                           sym(3, options['translatePx']), mirror, thickened], 1))
    # One copy to a GPU, from pinned memory and asynchronous: a plain copy there waits for all queued work first.
    per_image = per_image.pin_memory().to(device, non_blocking=True) if device.type == 'cuda' else per_image
    cos, sin, dx, dy, mirror, thicken = (per_image[:, i, None, None] for i in range(6))
    centre = (size - 1) / 2
    axis = torch.arange(size, dtype=torch.float64, device=device)
    ys, xs = axis[None, :, None], axis[None, None, :]
    u = mirror * (xs - centre) - dx
    v = ys - centre - dy
    sx, sy = cos * u + sin * v + centre, -sin * u + cos * v + centre
    x0, y0 = torch.floor(sx), torch.floor(sy)
    fx, fy = sx - x0, sy - y0
    src = images.to(torch.float64)
    batch = torch.arange(n, device=device)[:, None, None]

    def at(x, y):
        inside = (x >= 0) & (y >= 0) & (x < size) & (y < size)
        xi, yi = x.clamp(0, size - 1).long(), y.clamp(0, size - 1).long()
        return torch.where(inside, src[batch, yi, xi], torch.zeros((), dtype=torch.float64, device=device))

    value = (1 - fx) * (1 - fy) * at(x0, y0) + fx * (1 - fy) * at(x0 + 1, y0) \
        + (1 - fx) * fy * at(x0, y0 + 1) + fx * fy * at(x0 + 1, y0 + 1)
    warped = _js_round(value)
    if thickened.any():
        # Every image is thickened and the chosen ones kept: selecting them first would make a GPU report their count.
        padded = torch.nn.functional.pad(warped, (1, 1, 1, 1))
        biggest = torch.stack([padded[:, 1 + j:1 + j + size, 1 + i:1 + i + size] for j in (-1, 0, 1) for i in (-1, 0, 1)]).amax(0)
        warped = torch.where(thicken > 0, _js_round(warped + (biggest - warped) / 2), warped)
    out = warped.to(torch.uint8)
    return out.numpy() if as_numpy else out


# ---- preprocessing (src/core/training/mobilenet.ts preprocess) ----

def resize_bilinear_aligned(images, size):
    """tf.image.resizeBilinear(…, alignCorners=true) as tfjs's CPU kernel computes it: float64 arithmetic in its order
    (top = tl + (tr − tl)·fx, bottom likewise, top + (bottom − top)·fy), stored as float32. [n, h, w] → [n, size, size]."""
    n, height, width = images.shape
    x = images.to(torch.float64)

    def axis(old, new):
        ratio = ((old - 1) / (new - 1)) if new > 1 else (old / new)
        source = ratio * torch.arange(new, dtype=torch.float64, device=images.device)
        low = torch.clamp(torch.floor(source), min=0)
        return low.long(), torch.clamp(torch.ceil(source), max=old - 1).long(), source - low

    r0, r1, fy = axis(height, size)
    c0, c1, fx = axis(width, size)
    fx, fy = fx[None, None, :], fy[None, :, None]
    top_left, top_right = x[:, r0][:, :, c0], x[:, r0][:, :, c1]
    bottom_left, bottom_right = x[:, r1][:, :, c0], x[:, r1][:, :, c1]
    top = top_left + (top_right - top_left) * fx
    bottom = bottom_left + (bottom_right - bottom_left) * fx
    return (top + (bottom - top) * fy).to(torch.float32)


def preprocess(bitmaps, input_size_px):
    """mobilenet.ts preprocess: [n, 28, 28] uint8 (tensor or array) → [n, 3, s, s] float32, resized bilinearly with
    aligned corners, then value / 127.5 − 1 in float32, as the app's tfjs computes it (to the last bit on its CPU backend)."""
    x = bitmaps if torch.is_tensor(bitmaps) else torch.from_numpy(np.array(bitmaps, dtype=np.uint8))
    x = resize_bilinear_aligned(x, input_size_px) if input_size_px != x.shape[-1] else x.to(torch.float32)
    return (x / 127.5 - 1).unsqueeze(1).repeat(1, 3, 1, 1)
