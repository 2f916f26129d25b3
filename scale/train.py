"""Trains a Doodle Lab config under torchrun (DistributedDataParallel, one process per GPU, or per CPU slot) and
writes what the app's Import loads: <out>/model/{model.json, weights.bin, metadata.json}, plus <out>/metrics.json.

  torchrun --nproc_per_node=N [--nnodes=M --rdzv_backend=c10d --rdzv_endpoint=HOST:PORT] -m scale.train \
      --config run.json --train-source DIR_OR_URL [--test-source DIR_OR_URL] --out DIR

The config's batchSize is the global batch (each of the W processes takes batchSize / W of it), so the steps, the
learning-rate schedule and the epoch order are the app's whatever W is. Run from the repository root."""
import argparse
import datetime
import faulthandler
import json
import math
import os
import platform
import signal
import socket
import sys
import threading
import time

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data.distributed import DistributedSampler

from . import recipe
from .data import GOOGLE_NUMPY_URL, DataError, load_splits
from .mobilenet import SplitMobileNet, block_count, export_topology, read_tfjs_weights, write_tfjs_model

INFERENCE_BATCH = 256
PREPROCESSING = {
    # The same four facts as src/core/exchange/export.ts PREPROCESSING; tests/scale/round-trip.test.ts compares them.
    'source': '28×28 uint8 bitmap, white strokes (255) on black (0), rendered as Quick, Draw! numpy_bitmap',
    'resize': 'bilinear with aligned corners to imageSize × imageSize',
    'channels': 3,
    'scale': 'value / 127.5 - 1',
}


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--config', required=True, help="the app's training config (JSON, src/core/training/train-config.schema.json)")
    p.add_argument('--train-source', required=True, help='folder or URL of <category>.npy (Google numpy_bitmap files), e.g. ' + GOOGLE_NUMPY_URL)
    p.add_argument('--test-source', help='folder or URL of <category>.npy for the test split: up to maxPerCategory drawings a category, in file order, leaving out those the training source holds')
    p.add_argument('--out', required=True)
    p.add_argument('--model-dir', help="tfjs LayersModel folder; default: the config's model.url under public/")
    p.add_argument('--predictions', type=int, default=0, help='also write the probabilities of the first N test drawings')
    p.add_argument('--threads', type=int, default=0, help='CPU threads per process (default: OMP_NUM_THREADS, else cores / local processes)')
    p.add_argument('--timeout-minutes', type=float, default=30, help='how long a process waits for its peers (start-up and each collective) before failing')
    return p.parse_args(argv)


class Dist:
    """This process's place in the job; a plain run (no torchrun) is a job of one."""

    def __init__(self, timeout_minutes=30):
        self.world = int(os.environ.get('WORLD_SIZE', '1'))
        self.rank = int(os.environ.get('RANK', '0'))
        self.local_rank = int(os.environ.get('LOCAL_RANK', '0'))
        self.local_world = int(os.environ.get('LOCAL_WORLD_SIZE', '1'))
        cuda = torch.cuda.is_available()
        self.device = torch.device(f'cuda:{self.local_rank}' if cuda else 'cpu')
        if cuda:
            torch.cuda.set_device(self.device)
        if self.world > 1:
            if not cuda and self.local_world == self.world and 'GLOO_SOCKET_IFNAME' not in os.environ:
                # One machine: gloo's peers meet on loopback. Left alone, gloo binds to whatever the hostname resolves
                # to, which in some containers is an address the processes cannot reach one another on.
                loopback = next((name for _, name in socket.if_nameindex() if name in ('lo', 'lo0')), None)
                if loopback:
                    os.environ['GLOO_SOCKET_IFNAME'] = loopback
            dist.init_process_group('nccl' if cuda else 'gloo', timeout=datetime.timedelta(minutes=timeout_minutes))

    def close(self, seconds=60):
        """Leaves the job once every process is done (rank 0 has written the outputs by then). Tearing the process group
        down sometimes never returns (pytorch/pytorch#75097), and then torchrun waits for this process forever: so the
        teardown gets `seconds` on a thread of its own, and the process exits when it returns or the time is up."""
        if self.world == 1:
            return
        dist.barrier()
        teardown = threading.Thread(target=dist.destroy_process_group, daemon=True)
        teardown.start()
        teardown.join(seconds)
        if teardown.is_alive():
            print(f'rank {self.rank}: the process group did not shut down within {seconds} s; exiting anyway (the job is done)', file=sys.stderr, flush=True)
        # os._exit: nothing is left to run, and an interpreter shutdown could wait on the stuck thread or gloo's own.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)

    def sum(self, values):
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        if self.world > 1:
            dist.all_reduce(t)
        return t.cpu().numpy()

    def log(self, **fields):
        if self.rank == 0:
            print(json.dumps(fields), flush=True)


def model_dir_of(config, given):
    if given:
        return given
    url = config['model']['url']
    if '://' in url:
        raise SystemExit(f'model.url {url} is remote: download model.json and its weight files, then pass --model-dir.')
    return os.path.join(recipe.REPO, 'public', os.path.dirname(url))


def batched_forward(run, inputs, device):
    outs = []
    for start in range(0, len(inputs), INFERENCE_BATCH):
        outs.append(run(inputs[start:start + INFERENCE_BATCH].to(device)).float().cpu())
    return torch.cat(outs) if outs else torch.zeros(0)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if hasattr(signal, 'SIGUSR1'):
        # `kill -USR1 <pid>` prints where every thread of a stuck process is (the tests do it before killing a job).
        faulthandler.register(signal.SIGUSR1, all_threads=True)
    job = Dist(args.timeout_minutes)
    if job.device.type == 'cpu' and (args.threads or 'OMP_NUM_THREADS' not in os.environ):
        # Cores shared out among this node's processes (torchrun sets OMP_NUM_THREADS=1 for several, unless told).
        torch.set_num_threads(args.threads or max(1, (os.cpu_count() or 1) // job.local_world))
    started = time.time()
    try:
        config = recipe.parse_config(json.load(open(args.config, encoding='utf-8')))
        splits, dataset_hash = load_splits(config, args.train_source, args.test_source)
    except (recipe.ConfigError, DataError) as error:
        raise SystemExit(f'{args.config}: {error}')
    batch_size = config['batchSize']
    if batch_size % job.world != 0:
        raise SystemExit(f'batchSize {batch_size} is the global batch and must divide among {job.world} processes: choose a multiple of {job.world}.')
    local_batch = batch_size // job.world
    classes = config['dataset']['categories']
    model_json, weights = read_tfjs_weights(model_dir_of(config, args.model_dir))
    torch.manual_seed(config['seed'])
    net = SplitMobileNet(model_json, weights, len(classes), recipe.trainable_blocks_of(config, block_count(model_json)), config['dropoutRate'])
    net.to(job.device)
    cuda = job.device.type == 'cuda'
    # NHWC: a training step of this network took 75 ms instead of 180 ms on this machine's CPU (oneDNN), and it suits
    # cuDNN's depthwise and 1×1 convolutions too; fixed shapes let cuDNN pick its kernels once.
    net.to(memory_format=torch.channels_last)
    torch.backends.cudnn.benchmark = cuda
    to_device = lambda x: x.contiguous(memory_format=torch.channels_last)  # noqa: E731
    size = config['inputSizePx']
    job.log(phase='start', processes=job.world, device=str(job.device), torch=torch.__version__, localBatch=local_batch,
            counts={p: len(splits[p][1]) for p in splits}, trainedBlocks=net.trained_blocks, headFromModel=net.head_loaded)

    # Head-only and last-blocks runs train on the frozen part's outputs, computed once, so (as in the app) they are
    # not augmented; whole-network runs preprocess (and augment) each batch.
    cached = len(net.frozen) > 0
    load_seconds = time.time() - started
    t = time.time()
    inputs = {}
    # Under test-time 'flip' the scored splits are also seen mirrored (augment.ts testTimeViews).
    views = {part: bitmaps for part, (bitmaps, _, _) in splits.items()}
    if config['testTimeAugmentation'] == 'flip':
        views.update({f'{part}-mirrored': np.ascontiguousarray(splits[part][0][:, :, ::-1]) for part in ('validation', 'test')})
    for part, bitmaps in views.items():
        with torch.no_grad():
            inputs[part] = batched_forward(lambda x: net.frozen(to_device(recipe.preprocess(x, size))), torch.from_numpy(bitmaps), job.device) if cached else torch.from_numpy(bitmaps)
    cache_seconds = time.time() - t
    labels = {p: torch.from_numpy(splits[p][1]) for p in splits}

    model = DistributedDataParallel(net.trainable, device_ids=[job.device.index] if job.device.type == 'cuda' else None) if job.world > 1 else net.trainable
    params = [p for p in net.trainable.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=config['learningRate'], betas=(0.9, 0.999), eps=1e-7)  # tfjs's Adam defaults
    train_count = len(labels['train'])
    sampler = DistributedSampler(range(train_count), num_replicas=job.world, rank=job.rank, shuffle=False, drop_last=False)
    positions = torch.tensor(list(sampler), dtype=torch.int64)
    batches = math.ceil(train_count / batch_size)
    augmenting = not cached and recipe.is_augmenting(config['augmentation'])

    # The training inputs (uint8 drawings, or the frozen part's outputs) stay on the device when they fit in a quarter
    # of its memory: a step then gathers, augments and resizes its batch there, and the CPU only draws the batch's
    # random numbers (recipe.augment_bitmaps), so it cannot starve a GPU.
    train_pool, train_labels = inputs['train'], labels['train']
    if cuda and train_pool.element_size() * train_pool.numel() < torch.cuda.get_device_properties(job.device).total_memory // 4:
        train_pool, train_labels = train_pool.to(job.device), train_labels.to(job.device)

    positions_there = positions.to(train_pool.device)

    def onto_device(t):
        """`t` on the job's device. A step's copies to a GPU are pinned and asynchronous: a plain one waits for all the
        work queued there, and the CPU could no longer run ahead of the GPU."""
        return t if t.device == job.device else t.pin_memory().to(job.device, non_blocking=True)

    def train_input(sample_indices, sample_positions, epoch):
        x = onto_device(train_pool[sample_indices])
        if cached:
            return to_device(x)
        if augmenting:
            # Draw numbers follow the app's single augmentation stream: five per image trained, epoch after epoch.
            x = recipe.augment_bitmaps(x, config['augmentation'], config['seed'], epoch * train_count + sample_positions)
        return to_device(recipe.preprocess(x, size))

    def evaluate(part):
        """Loss, correct top-1 and top-3, and the confusion matrix over a split, each process scoring its share."""
        mine = torch.arange(job.rank, len(labels[part]), job.world)
        if job.world > 1:
            # GlobalBatchNorm2d keeps every process's statistics the same; sending rank 0's (the exported ones) makes
            # sure each process scores with exactly those.
            for buffer in net.trainable.buffers():
                dist.broadcast(buffer, 0)
        net.eval()
        with torch.no_grad():
            run = (lambda x: net.trainable(to_device(x))) if cached else (lambda x: net.trainable(to_device(recipe.preprocess(x, size))))
            scored = [view for view in (part, f'{part}-mirrored') if view in inputs]
            # The mean of the views' probabilities (augment.ts averageViews).
            probs = sum(F.softmax(batched_forward(run, inputs[view][mine], job.device), dim=1) for view in scored) / len(scored) \
                if len(mine) else torch.zeros(0, len(classes))
        net.train()
        y = labels[part][mine]
        confusion = np.zeros((len(classes), len(classes)))
        if len(mine):
            np.add.at(confusion, (y.numpy(), probs.argmax(1).numpy()), 1)
            loss = -torch.log(probs[torch.arange(len(y)), y].clamp_min(1e-7)).sum().item()
            top3 = (probs.topk(min(3, len(classes)), 1).indices == y[:, None]).any(1).sum().item()
        else:
            loss, top3 = 0.0, 0
        totals = job.sum([loss, top3, *confusion.ravel()])
        count = max(1, len(labels[part]))
        confusion = totals[2:].reshape(len(classes), len(classes))
        return {'loss': totals[0] / count, 'top1': float(np.trace(confusion)) / count, 'top3': totals[1] / count, 'confusion': confusion}

    epochs = []
    train_seconds = 0.0
    net.train()
    for epoch in range(config['epochs']):
        order = torch.from_numpy(recipe.epoch_order(train_count, config['seed'], epoch)).to(train_pool.device)
        t = time.time()
        # Summed on the device and read once an epoch: a read every step would make the GPU wait for the CPU.
        loss_sum = torch.zeros((), dtype=torch.float64, device=job.device)
        correct = torch.zeros((), dtype=torch.int64, device=job.device)
        seen = 0
        for b in range(batches):
            pos = positions[b * local_batch:(b + 1) * local_batch]
            if len(pos) == 0:
                raise SystemExit('internal: a process ran out of samples before the last batch')
            idx = order[positions_there[b * local_batch:(b + 1) * local_batch] % train_count]
            x, y = train_input(idx, pos.numpy(), epoch), onto_device(train_labels[idx])
            for group in optimizer.param_groups:
                group['lr'] = recipe.learning_rate_at(config, epoch * batches + b, config['epochs'] * batches)
            logits = model(x)
            loss = F.cross_entropy(logits, y, label_smoothing=config['labelSmoothing'])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach().double() * len(y)
            correct += (logits.detach().argmax(1) == y).sum()
            seen += len(y)
        if cuda:
            torch.cuda.synchronize()
        seconds = time.time() - t
        train_seconds += seconds
        loss_sum, correct, seen = job.sum([loss_sum.item(), correct.item(), seen])
        validation = evaluate('validation') if len(labels['validation']) else None
        metrics = {'epoch': epoch + 1, 'loss': loss_sum / seen, 'accuracy': correct / seen,
                   'valLoss': validation and validation['loss'], 'valAccuracy': validation and validation['top1'],
                   'samplesPerSec': train_count / seconds, 'seconds': seconds}
        epochs.append(metrics)
        job.log(phase='epoch', **metrics)

    t = time.time()
    test = evaluate('test') if len(labels['test']) else None
    evaluate_seconds = time.time() - t
    if job.rank == 0:
        write_outputs(args, config, net, model_json, splits, dataset_hash, epochs, test, job,
                      {'load': load_seconds, 'cache': cache_seconds, 'train': train_seconds, 'evaluate': evaluate_seconds, 'total': time.time() - started},
                      inputs, cached, size)
    job.close()


def write_outputs(args, config, net, model_json, splits, dataset_hash, epochs, test, job, seconds, inputs, cached, size):
    classes = config['dataset']['categories']
    model_dir = os.path.join(args.out, 'model')
    topology = export_topology(model_json, size, len(classes), config['dropoutRate'], config['seed'], net.trained_bn_names)
    write_tfjs_model(model_dir, topology, net.keras_weights())
    device_name = torch.cuda.get_device_name(job.device) if job.device.type == 'cuda' else f'CPU ({platform.machine()})'
    trained_with = {'engine': 'pytorch', 'torch': torch.__version__, 'processes': job.world, 'device': device_name,
                    'host': socket.gethostname(), 'script': 'scale/train.py'}
    top1, top3 = (test['top1'], test['top3']) if test else (None, None)
    metadata = {
        'packageName': 'doodle-lab', 'packageVersion': '0.1.0', 'tfjsVersion': 'none (written by scale/train.py)',
        'timeStamp': datetime.datetime.now(datetime.timezone.utc).isoformat().replace('+00:00', 'Z'),
        'modelName': config['name'], 'labels': classes, 'imageSize': size, 'preprocessing': PREPROCESSING,
        'datasetHash': dataset_hash, 'config': config, 'weightPrecision': 'float32',
        'metrics': {'top1': top1, 'top3': top3, 'epochs': epochs}, 'trainedWith': trained_with,
    }
    with open(os.path.join(model_dir, 'metadata.json'), 'w', encoding='utf-8') as f:
        json.dump(metadata, f, indent=2, ensure_ascii=False)
    per_class = []
    if test:
        confusion = test['confusion']
        for c, label in enumerate(classes):
            tp, predicted, support = confusion[c, c], confusion[:, c].sum(), confusion[c, :].sum()
            precision = tp / predicted if predicted else 0.0
            recall = tp / support if support else 0.0
            per_class.append({'label': label, 'precision': precision, 'recall': recall,
                              'f1': 2 * precision * recall / (precision + recall) if precision + recall else 0.0, 'support': int(support)})
    train_seconds = sum(e['seconds'] for e in epochs)
    metrics = {
        'top1': top1, 'top3': top3, 'perClass': per_class, 'confusion': test['confusion'].astype(int).tolist() if test else [],
        'labels': classes, 'samplesPerSec': sum(len(splits['train'][1]) for _ in epochs) / max(train_seconds, 1e-9),
        'samplesPerSecPerProcess': sum(len(splits['train'][1]) for _ in epochs) / max(train_seconds, 1e-9) / job.world,
        'secondsPerPhase': seconds, 'counts': {p: len(splits[p][1]) for p in splits}, 'datasetHash': dataset_hash,
        'epochs': epochs, 'config': config, 'trainedWith': trained_with,
    }
    with open(os.path.join(args.out, 'metrics.json'), 'w', encoding='utf-8') as f:
        json.dump(metrics, f, indent=2, ensure_ascii=False)
    if args.predictions > 0:
        bitmaps, labels, ids = splits['test']
        count = min(args.predictions, len(ids))
        net.eval()
        with torch.no_grad():
            x = inputs['test'][:count] if cached else recipe.preprocess(torch.from_numpy(bitmaps[:count]), size)
            probs = F.softmax(batched_forward(net.trainable, x.contiguous(memory_format=torch.channels_last), job.device), dim=1)
        with open(os.path.join(args.out, 'predictions.json'), 'w', encoding='utf-8') as f:
            json.dump({'ids': ids[:count], 'labels': labels[:count].tolist(), 'probabilities': probs.tolist()}, f)
    job.log(phase='done', top1=top1, top3=top3, samplesPerSec=metrics['samplesPerSec'], out=args.out, seconds=seconds)


if __name__ == '__main__':
    main()
