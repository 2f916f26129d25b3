"""`npm run bench:scale`: the cluster trainer's samples/s per process beside the native reference's on the same machine,
recipe and drawings, and what augmenting a batch costs. Prints one line per figure; the last line is JSON.

  python3 -m scale.bench [--size 48] [--batch 64] [--epochs 2] [--rows 3000] [--source DIR] [--model-dir DIR]
                         [--peer FILE] [--threads N]

On a lent GPU (no Node there, no ../shared): `npm run bench:gpu-kit` here, then, carrying .gpu-kit, `bash
.gpu-kit/run-all.sh`, whose scale phase runs this on the kit's weights, drawings and copy of torch_peer.py.

- scale/train.py (one process, `python3 -m scale.train`) trains datasets/configs/quality.json at the given size, batch
  and epochs; the reference is ../shared/gpu/torch_peer.py (PyTorch, the same Google weights and a similar recipe, its
  whole training set and augmentation on the device). Both run on CUDA when there is one, else on the CPU with one
  thread a core. Each one's last epoch counts (the first one includes cuDNN's kernel search and warm-up).
- Augmentation: recipe.augment_bitmaps on a batch of real drawings, on the CPU (numpy in, one thread) and, with CUDA,
  on the GPU, in bitmaps/s.
Issue 16's target: on a GPU, scale/train.py within 1.5× of the reference (ratio ≥ 0.67)."""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

from scale import recipe

REPO = recipe.REPO
SHARED = os.path.join(os.path.dirname(REPO), 'shared')
MODEL_DIR = os.path.join(REPO, 'public', 'assets', 'models', 'mobilenet_v1_0.25_224')


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--size', type=int, default=48)
    p.add_argument('--batch', type=int, default=64)
    p.add_argument('--epochs', type=int, default=2)
    p.add_argument('--rows', type=int, default=3000, help='drawings a category (10 categories)')
    p.add_argument('--source', default=os.path.join(SHARED, 'quickdraw', 'numpy_bitmap'), help='folder of <category>.npy')
    p.add_argument('--model-dir', default=MODEL_DIR, help='MobileNet v1 α=0.25 in tfjs LayersModel format')
    p.add_argument('--peer', default=os.path.join(SHARED, 'gpu', 'torch_peer.py'))
    p.add_argument('--threads', type=int, default=os.cpu_count() or 1, help='CPU threads of each trainer (CPU only)')
    opts = p.parse_args(argv)
    # The trainers run from the repository root; a relative path means the caller's working directory.
    opts.source, opts.model_dir, opts.peer = (os.path.abspath(x) for x in (opts.source, opts.model_dir, opts.peer))
    return opts


def json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.startswith('{')]


def run(args, env=None, timeout=3600):
    done = subprocess.run(args, cwd=REPO, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise SystemExit(f'{" ".join(args[:3])} exited {done.returncode}: {done.stderr.strip()[-2000:]}')
    return done.stdout


def scale_rate(opts, threads, work):
    with open(os.path.join(REPO, 'datasets', 'configs', 'quality.json'), encoding='utf-8') as f:
        config = json.load(f)
    config.update(inputSizePx=opts.size, batchSize=opts.batch, epochs=opts.epochs)
    config['dataset']['maxPerCategory'] = opts.rows
    config_path = os.path.join(work, 'config.json')
    with open(config_path, 'w', encoding='utf-8') as f:
        json.dump(config, f)
    out = os.path.join(work, 'scale-out')
    run([sys.executable, '-m', 'scale.train', '--config', config_path, '--train-source', opts.source, '--out', out,
         '--model-dir', opts.model_dir, '--threads', str(threads)])
    with open(os.path.join(out, 'metrics.json'), encoding='utf-8') as f:
        metrics = json.load(f)
    return metrics['epochs'][-1]['samplesPerSec'], metrics['trainedWith']['device'], metrics['counts']['train']


def peer_rate(opts, threads, device):
    if not os.path.exists(opts.peer):
        return None, f'{opts.peer} is missing'
    env = {'MODEL_DIR': opts.model_dir, 'DATA_DIR': opts.source, 'HIDDEN_DIR': opts.source, 'SIZE': str(opts.size),
           'BATCH': str(opts.batch), 'EPOCHS': str(opts.epochs), 'MAX_ROWS': str(opts.rows), 'THREADS': str(threads),
           'DEVICE': device}
    epochs = [line for line in json_lines(run([sys.executable, opts.peer], env)) if line.get('phase') == 'torch-epoch']
    return epochs[-1]['samplesPerSec'], os.path.relpath(opts.peer, REPO)


def augment_rate(batch, device, seconds=3.0):
    """Bitmaps/s of recipe.augment_bitmaps (quality.json's options, mirroring too) on `batch` (numpy) on `device`."""
    options = {'scale': 0.1, 'rotationDeg': 10, 'translatePx': 1.5, 'thickenProbability': 0.2, 'flipProbability': 0.5}
    batch = batch if device == 'numpy' else torch.from_numpy(batch).to(device)
    sync = (lambda: torch.cuda.synchronize()) if device == 'cuda' else (lambda: None)  # noqa: E731
    rate = 0.0
    for _ in range(2):  # the first round warms up
        count, start = 0, time.time()
        while time.time() - start < seconds / 2:
            recipe.augment_bitmaps(batch, options, 1, np.arange(count, count + len(batch)))
            count += len(batch)
        sync()
        rate = count / (time.time() - start)
    return rate


def main(argv=None):
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    cuda = torch.cuda.is_available()
    device = 'cuda' if cuda else 'cpu'
    threads = opts.threads
    hardware = f'CUDA: {torch.cuda.get_device_name()}' if cuda else f'CPU, {threads} thread{"s" if threads != 1 else ""}'
    print(f'bench:scale: {opts.size} px, batch {opts.batch}, {opts.epochs} epochs, {opts.rows} drawings × 10 categories, '
          f'{hardware}, torch {torch.__version__}', flush=True)

    sample = np.load(os.path.join(opts.source, 'cat.npy'), mmap_mode='r')[:64].reshape(-1, 28, 28).copy()
    torch.set_num_threads(1)
    augment = {'cpuNumpyOneThread': augment_rate(sample, 'numpy')}
    if cuda:
        augment['gpu'] = augment_rate(sample, 'cuda')
    torch.set_num_threads(threads)
    for name, rate in augment.items():
        print(f'  augmentation ({name}): {rate:,.0f} bitmaps/s', flush=True)

    with tempfile.TemporaryDirectory(prefix='bench-scale-') as work:
        # Peer, ours, peer: the reference brackets our run, so a machine whose speed drifts shows it.
        peer_before, peer_note = peer_rate(opts, threads, device)
        ours, where, train_count = scale_rate(opts, threads, work)
        peer_after, _ = peer_rate(opts, threads, device) if peer_before is not None else (None, None)
    print(f'  scale/train.py (1 process, {where}, {train_count:,} training drawings): {ours:,.0f} samples/s, last epoch', flush=True)
    if peer_before is None:
        print(f'  reference: skipped: {peer_note}')
        peer, ratio = None, None
    else:
        peer = (peer_before + peer_after) / 2
        ratio = ours / peer
        print(f'  reference ({peer_note}): {peer_before:,.0f} before and {peer_after:,.0f} after, samples/s, last epoch')
        print(f'  scale/train.py ÷ reference: {ratio:.2f} (issue 16 asks ≥ 0.67 on a GPU)')
    print(json.dumps({'device': where, 'sizePx': opts.size, 'batch': opts.batch, 'epochs': opts.epochs,
                      'scaleSamplesPerSec': round(ours, 1), 'referenceSamplesPerSec': peer and round(peer, 1),
                      'ratio': ratio and round(ratio, 3), 'augmentBitmapsPerSec': {k: round(v) for k, v in augment.items()}}))


if __name__ == '__main__':
    main()
