"""MobileNet v1 in PyTorch from a tfjs LayersModel (model.json + weight shards, weights matched by Keras layer
name: Google's ImageNet model, or a Doodle Lab export to continue from, head included), split like src/core/training/mobilenet.ts (a frozen prefix run in inference, the last K blocks + the app's head
trained), and written back as the tfjs LayersModel the app exports (same layer names, topology and weight
names), so the app's Import loads it unchanged."""
import json
import math
import os

import numpy as np
import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_nn
import torch.nn as nn
import torch.nn.functional as F

# Keras's default momentum is 0.99; the app fine-tunes with 0.9 (mobilenet.ts FINE_TUNE_BN_MOMENTUM).
# PyTorch's momentum is the weight of the new batch, so 0.1 is the same update.
TORCH_BN_MOMENTUM = 0.1
KERAS_FINE_TUNE_MOMENTUM = 0.9


def read_tfjs_weights(model_dir):
    """model.json's topology and {weight name: float32 array} from its shards (float32 weights only)."""
    with open(os.path.join(model_dir, 'model.json'), encoding='utf-8') as f:
        model_json = json.load(f)
    weights = {}
    for group in model_json['weightsManifest']:
        data = b''.join(open(os.path.join(model_dir, p), 'rb').read() for p in group['paths'])
        offset = 0
        for spec in group['weights']:
            if spec.get('dtype', 'float32') != 'float32' or 'quantization' in spec:
                raise ValueError(f'{spec["name"]}: only float32 weights can be read, not {spec.get("quantization", spec["dtype"])}')
            count = int(np.prod(spec['shape'], dtype=np.int64))
            weights[spec['name']] = np.frombuffer(data, np.float32, count, offset).reshape(spec['shape']).copy()
            offset += 4 * count
    return model_json, weights


class SamePad(nn.Module):
    """TensorFlow's 'same' padding for a 3×3 window: the odd pixel goes bottom/right, computed from the input size."""

    def __init__(self, stride, kernel=3):
        super().__init__()
        self.stride, self.kernel = stride, kernel

    def forward(self, x):
        pads = []
        for size in (x.shape[-1], x.shape[-2]):
            total = max((math.ceil(size / self.stride) - 1) * self.stride + self.kernel - size, 0)
            pads += [total // 2, total - total // 2]
        return F.pad(x, pads)


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm whose training statistics are those of the whole global batch across every process, so W processes
    each taking batchSize / W drawings normalise (and learn) as one process taking batchSize does: the app's recipe.
    PyTorch's own SyncBatchNorm does this on CUDA only (torch < 2.2); this one runs on any backend (gloo on CPU)."""

    def forward(self, x):
        if not self.training or not dist.is_initialized() or dist.get_world_size() == 1:
            return super().forward(x)
        shape = (1, -1, 1, 1)
        count = torch.tensor([x.shape[0] * x.shape[2] * x.shape[3]], dtype=x.dtype, device=x.device)
        # Differentiable all-reduces: their backward sums the gradients the same way, as one batch would give them.
        total = dist_nn.all_reduce(torch.cat([x.sum((0, 2, 3)), count]))
        n = total[-1]
        mean = total[:-1] / n
        centred = x - mean.view(shape)
        var = dist_nn.all_reduce((centred * centred).sum((0, 2, 3))) / n
        with torch.no_grad():
            self.num_batches_tracked += 1
            self.running_mean.mul_(1 - self.momentum).add_(mean.detach(), alpha=self.momentum)
            self.running_var.mul_(1 - self.momentum).add_(var.detach() * (n / (n - 1)), alpha=self.momentum)
        return centred * torch.rsqrt(var + self.eps).view(shape) * self.weight.view(shape) + self.bias.view(shape)


def _bn(channels):
    return GlobalBatchNorm2d(channels, eps=1e-3, momentum=TORCH_BN_MOMENTUM)


class Stem(nn.Module):
    def __init__(self, out_ch):
        super().__init__()
        self.pad, self.conv, self.bn, self.relu = SamePad(2), nn.Conv2d(3, out_ch, 3, 2, bias=False), _bn(out_ch), nn.ReLU6()

    def forward(self, x):
        return self.relu(self.bn(self.conv(self.pad(x))))


class Block(nn.Module):
    """conv_dw_i → conv_dw_i_bn → relu6 → conv_pw_i → conv_pw_i_bn → relu6; ends at conv_pw_i_relu (a block end)."""

    def __init__(self, in_ch, out_ch, stride):
        super().__init__()
        self.pad, self.dw, self.dw_bn = SamePad(stride), nn.Conv2d(in_ch, in_ch, 3, stride, groups=in_ch, bias=False), _bn(in_ch)
        self.pw, self.pw_bn, self.relu = nn.Conv2d(in_ch, out_ch, 1, bias=False), _bn(out_ch), nn.ReLU6()

    def forward(self, x):
        return self.relu(self.pw_bn(self.pw(self.relu(self.dw_bn(self.dw(self.pad(x)))))))


class Head(nn.Module):
    """head_pool → head_dropout (when the rate is above 0) → head_dense, as logits; softmax is applied on export."""

    def __init__(self, channels, classes, dropout_rate):
        super().__init__()
        self.drop = nn.Dropout(dropout_rate) if dropout_rate > 0 else nn.Identity()
        self.dense = nn.Linear(channels, classes)
        # glorotUniform like the app's head_dense; the bias starts at zero.
        nn.init.xavier_uniform_(self.dense.weight)
        nn.init.zeros_(self.dense.bias)

    def forward(self, x):
        return self.dense(self.drop(x.mean((2, 3))))


def _layer_configs(model_json):
    topology = model_json['modelTopology']
    config = topology.get('model_config', topology)
    if config['class_name'] not in ('Model', 'Functional'):
        raise ValueError(f'Expected a functional Keras model, got {config["class_name"]}.')
    return config['config']['layers']


def block_count(model_json):
    """Blocks of the backbone: each ends at a conv_pw_<i>_relu layer (mobilenet.ts blockEnds for MobileNet v1)."""
    return sum(1 for l in _layer_configs(model_json) if l['name'].startswith('conv_pw_') and l['name'].endswith('_relu'))


def _strides(layers, name):
    layer = next((l for l in layers if l['name'] == name), None)
    if layer is None:
        raise ValueError(f'The model has no layer {name}: it is not a Keras MobileNet v1.')
    return layer['config']['strides'][0]


class SplitMobileNet(nn.Module):
    """`frozen` (stem + the first 13 − K blocks, always in eval mode) and `trainable` (the last K blocks + head)."""

    def __init__(self, model_json, weights, classes, trainable_blocks, dropout_rate):
        super().__init__()
        layers = _layer_configs(model_json)
        count = block_count(model_json)
        stem = Stem(weights['conv1/kernel'].shape[3])
        blocks, channels = [], stem.conv.out_channels
        for i in range(1, count + 1):
            out_ch = weights[f'conv_pw_{i}/kernel'].shape[3]
            blocks.append(Block(channels, out_ch, _strides(layers, f'conv_dw_{i}')))
            channels = out_ch
        self._load(stem, blocks, weights)
        self.trained_blocks = max(0, min(trainable_blocks, count))
        cut = count - self.trained_blocks
        # Whole-network mode (no cut) trains the stem too, as the app's split does when nothing is frozen.
        frozen = [] if self.trained_blocks == count else [stem] + blocks[:cut]
        trained = [stem] + blocks if self.trained_blocks == count else blocks[cut:]
        self.frozen = nn.Sequential(*frozen).eval()
        for p in self.frozen.parameters():
            p.requires_grad_(False)
        head = Head(channels, classes, dropout_rate)
        kernel = weights.get('head_dense/kernel')
        # A Doodle Lab export (the app's "Export for a cluster") brings its trained head along as a starting point.
        self.head_loaded = kernel is not None and kernel.shape == (channels, classes)
        if self.head_loaded:
            head.dense.weight.data = torch.from_numpy(kernel.T.copy())
            head.dense.bias.data = torch.from_numpy(weights['head_dense/bias'])
        self.trainable = nn.Sequential(*trained, head)
        self.stem, self.blocks = stem, blocks
        # The frozen part's BatchNorm keeps ImageNet statistics in inference mode; trained layers track with 0.9.
        self.trained_bn_names = {'conv1_bn'} if not frozen else set()
        self.trained_bn_names |= {f'conv_{kind}_{i}_bn' for i in range(cut + 1, count + 1) for kind in ('dw', 'pw')}

    @staticmethod
    def _load(stem, blocks, w):
        def conv(module, name):
            module.weight.data = torch.from_numpy(w[name]).permute(3, 2, 0, 1).contiguous()

        def depthwise(module, name):
            module.weight.data = torch.from_numpy(w[name]).permute(2, 3, 0, 1).contiguous()

        def bn(module, name):
            module.weight.data, module.bias.data = torch.from_numpy(w[f'{name}/gamma']), torch.from_numpy(w[f'{name}/beta'])
            module.running_mean.data = torch.from_numpy(w[f'{name}/moving_mean'])
            module.running_var.data = torch.from_numpy(w[f'{name}/moving_variance'])

        conv(stem.conv, 'conv1/kernel')
        bn(stem.bn, 'conv1_bn')
        for i, block in enumerate(blocks, 1):
            depthwise(block.dw, f'conv_dw_{i}/depthwise_kernel')
            bn(block.dw_bn, f'conv_dw_{i}_bn')
            conv(block.pw, f'conv_pw_{i}/kernel')
            bn(block.pw_bn, f'conv_pw_{i}_bn')

    def train(self, mode=True):
        super().train(mode)
        self.frozen.eval()
        return self

    def forward(self, x):
        return self.trainable(self.frozen(x))

    def keras_weights(self):
        """{Keras weight name: float32 array} for every layer of the exported model."""
        out = {}
        to = lambda t: t.detach().cpu().float().numpy()

        def bn(module, name):
            out.update({f'{name}/gamma': to(module.weight), f'{name}/beta': to(module.bias),
                        f'{name}/moving_mean': to(module.running_mean), f'{name}/moving_variance': to(module.running_var)})

        out['conv1/kernel'] = to(self.stem.conv.weight).transpose(2, 3, 1, 0)
        bn(self.stem.bn, 'conv1_bn')
        for i, block in enumerate(self.blocks, 1):
            out[f'conv_dw_{i}/depthwise_kernel'] = to(block.dw.weight).transpose(2, 3, 0, 1)
            bn(block.dw_bn, f'conv_dw_{i}_bn')
            out[f'conv_pw_{i}/kernel'] = to(block.pw.weight).transpose(2, 3, 1, 0)
            bn(block.pw_bn, f'conv_pw_{i}_bn')
        head = self.trainable[-1]
        out['head_dense/kernel'] = to(head.dense.weight).T
        out['head_dense/bias'] = to(head.dense.bias)
        return out


def export_topology(model_json, input_size_px, classes, dropout_rate, seed, trained_bn_names):
    """The Keras topology of the app's export (mobilenet.ts inferenceModel): input `image`, the backbone's layers
    up to conv_pw_13_relu under their own names, then head_pool, head_dropout (rate > 0) and head_dense (softmax)."""
    layers = _layer_configs(model_json)
    input_layer = next(l for l in layers if l['class_name'] == 'InputLayer')
    end = next(i for i, l in enumerate(layers) if l['class_name'] in ('GlobalAveragePooling2D', 'GlobalMaxPooling2D', 'Flatten'))
    kept = []
    for layer in layers[:end]:
        layer = json.loads(json.dumps(layer))
        if layer['class_name'] == 'InputLayer':
            layer['name'] = layer['config']['name'] = 'image'
            layer['config']['batch_input_shape'] = [None, input_size_px, input_size_px, 3]
        for node in layer['inbound_nodes']:
            for ref in node:
                if ref[0] == input_layer['name']:
                    ref[0] = 'image'
        if layer['name'] in trained_bn_names:
            layer['config']['momentum'] = KERAS_FINE_TUNE_MOMENTUM
        kept.append(layer)
    last = kept[-1]['name']
    head = [{'name': 'head_pool', 'class_name': 'GlobalAveragePooling2D',
             'config': {'data_format': 'channels_last', 'name': 'head_pool', 'trainable': True}, 'inbound_nodes': [[[last, 0, 0, {}]]]}]
    if dropout_rate > 0:
        head.append({'name': 'head_dropout', 'class_name': 'Dropout',
                     'config': {'rate': dropout_rate, 'noise_shape': None, 'seed': seed, 'name': 'head_dropout', 'trainable': True},
                     'inbound_nodes': [[['head_pool', 0, 0, {}]]]})
    glorot = {'class_name': 'VarianceScaling', 'config': {'scale': 1, 'mode': 'fan_avg', 'distribution': 'uniform', 'seed': seed}}
    head.append({'name': 'head_dense', 'class_name': 'Dense',
                 'config': {'units': classes, 'activation': 'softmax', 'use_bias': True, 'kernel_initializer': glorot,
                            'bias_initializer': {'class_name': 'Zeros', 'config': {}}, 'kernel_regularizer': None, 'bias_regularizer': None,
                            'activity_regularizer': None, 'kernel_constraint': None, 'bias_constraint': None, 'name': 'head_dense', 'trainable': True},
                 'inbound_nodes': [[[head[-1]['name'], 0, 0, {}]]]})
    return {'class_name': 'Model', 'keras_version': 'tfjs-layers 4.22.0', 'backend': 'tensor_flow.js',
            'config': {'name': 'doodle_lab_classifier', 'layers': kept + head,
                       'input_layers': [['image', 0, 0]], 'output_layers': [['head_dense', 0, 0]]}}


def write_tfjs_model(out_dir, topology, weights):
    """model.json + weights.bin (float32, one group) as the app's export writes them."""
    os.makedirs(out_dir, exist_ok=True)
    specs, blobs = [], []
    for name, array in weights.items():
        array = np.ascontiguousarray(array, dtype='<f4')
        specs.append({'name': name, 'shape': list(array.shape), 'dtype': 'float32'})
        blobs.append(array.tobytes())
    with open(os.path.join(out_dir, 'weights.bin'), 'wb') as f:
        f.write(b''.join(blobs))
    model_json = {'modelTopology': topology, 'format': 'layers-model', 'generatedBy': 'Doodle Lab scale/train.py (PyTorch)',
                  'convertedBy': None, 'weightsManifest': [{'paths': ['weights.bin'], 'weights': specs}]}
    with open(os.path.join(out_dir, 'model.json'), 'w', encoding='utf-8') as f:
        json.dump(model_json, f)
