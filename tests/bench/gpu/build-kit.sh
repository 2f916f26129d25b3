#!/usr/bin/env bash
# `npm run bench:gpu-kit`: everything one `device` call needs to run the training benchmark on a lent GPU, in
# .gpu-kit/ (git-ignored, ~32 MB): ../shared/gpu's kit (Node, Dawn, the Vulkan loader), the benchmark bundled with
# tfjs and the project's core (tests/bench/gpu/engine-bench.ts), and the MobileNet weights it trains.
# It also holds what `python3 -m scale.bench` (issue 16: the cluster trainer against ../shared/gpu/torch_peer.py) needs
# there, since that machine has no ../shared: the reference script and the ten default categories' drawings.
# Then, on the device: `bash .gpu-kit/device-run.sh .gpu-kit/engine-bench.mjs` and
# `python3 -m scale.bench --model-dir .gpu-kit/model --source .gpu-kit/quickdraw --peer .gpu-kit/torch_peer.py`
# (carry .gpu-kit). Here, on
# SwiftShader: `VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json SIZES=32x8 bash .gpu-kit/device-run.sh .gpu-kit/engine-bench.mjs`.
set -euo pipefail
cd "$(dirname "$0")/../../.."
kit=.gpu-kit
[ -f "$kit/device-run.sh" ] || bash ../shared/gpu/make-kit.sh "$kit"
npx esbuild tests/bench/gpu/engine-bench.ts --bundle --platform=node --format=esm --target=node20 --log-level=warning \
  --outfile="$kit/engine-bench.mjs" --banner:js="import { createRequire } from 'module'; const require = createRequire(import.meta.url);"
mkdir -p "$kit/model" && cp public/assets/models/mobilenet_v1_0.25_224/* "$kit/model/"
mkdir -p "$kit/quickdraw" && cp ../shared/gpu/torch_peer.py "$kit/"
for category in airplane banana bird book cat clock dog flower house rainbow; do
  cp "../shared/quickdraw/numpy_bitmap/$category.npy" "$kit/quickdraw/"
done
du -sh "$kit"
