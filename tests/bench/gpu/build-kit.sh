#!/usr/bin/env bash
# `npm run bench:gpu-kit`: everything one `device` call needs to measure on a lent GPU, in .gpu-kit/ (git-ignored,
# about 57 MB of the 64 MiB a call may carry): ../shared/gpu's kit (Node, Dawn, the Vulkan loader); the two Node
# benchmarks bundled with tfjs and the project's core (tests/bench/gpu/engine-bench.ts, time-to-accuracy.ts: one
# shared chunk, so tfjs travels once); the configs and the weights they train (MobileNet v1 α=0.25 and 0.75); the ten
# default categories' drawings (xz-packed) and ../shared/gpu/torch_peer.py, for time-to-accuracy and for
# `python3 -m scale.bench` (issue 16), since that machine has no ../shared; and run-all.sh, which runs them all.
# Then, on the device: `bash .gpu-kit/run-all.sh` (carry .gpu-kit; its header says what each phase measures and how to
# try it here on SwiftShader).
set -euo pipefail
cd "$(dirname "$0")/../../.."
kit=.gpu-kit
[ -f "$kit/device-run.sh" ] || bash ../shared/gpu/make-kit.sh "$kit"
# What trying the kit here unpacked (device-run.sh's node and Dawn) would not fit in a call: only the packed copies go.
rm -rf "$kit/chunks" "$kit/model" "$kit"/*.mjs "$kit/node" "$kit/webgpu/dist/linux-x64/dawn.node"
npx esbuild tests/bench/gpu/engine-bench.ts tests/bench/gpu/time-to-accuracy.ts --bundle --splitting --platform=node \
  --format=esm --target=node20 --log-level=warning --outdir="$kit" --chunk-names='chunks/[name]-[hash]' --out-extension:.js=.mjs \
  --banner:js="import { createRequire } from 'module'; const require = createRequire(import.meta.url);"
for model in mobilenet_v1_0.25_224 mobilenet_v1_0.75_224; do
  mkdir -p "$kit/models/$model" && cp public/assets/models/$model/* "$kit/models/$model/"
done
mkdir -p "$kit/configs" && cp datasets/configs/*.json "$kit/configs/"
cp tests/bench/gpu/run-all.sh ../shared/gpu/torch_peer.py "$kit/"
mkdir -p "$kit/quickdraw"
for category in airplane banana bird book cat clock dog flower house rainbow; do
  [ -f "$kit/quickdraw/$category.npy.xz" ] || xz -T2 -6 -c "../shared/quickdraw/numpy_bitmap/$category.npy" > "$kit/quickdraw/$category.npy.xz"
done
du -sh "$kit"
