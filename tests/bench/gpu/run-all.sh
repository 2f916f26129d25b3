#!/usr/bin/env bash
# On a lent GPU machine, in one `device` call (timeout_s 600; carry .gpu-kit): every GPU figure the open issues ask
# for, each phase under its own time limit so that a slow one leaves the others their time, and each writing its
# results under $OUT as it goes (what a killed call leaves there still comes back). From the repository root:
#   bash .gpu-kit/run-all.sh
# speed     engine-bench.mjs (issue 12): tfjs and engine samples/s at 48/96 px × batch 64/256, dispatches a step, the
#           engine's guess latency. SPEED_BUDGET_SEC (100) of measuring, then at most 60 s more.
# scale     python3 -m scale.bench (issue 16): the cluster trainer against torch_peer.py on the same GPU; 120 s at most
#           (PYTHON: a python3 with torch, /usr/bin/python3 here).
# accuracy  time-to-accuracy.mjs (issues 15 and 12): CONFIG (configs/fast.json) trained through the engine for at most
#           ACCURACY_BUDGET_SEC (240), validation after each epoch against minutes, then the test split; 300 s at most.
#           OVERRIDE (JSON) is merged into the config. Last, since it reports after every epoch: a call cut short
#           still brings back the epochs so far.
# PHASES ("speed scale accuracy", at most 580 s in all) picks and orders them. Here, on SwiftShader (slow: tiny
# settings), e.g.
#   VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json SIZES=32x8 SPEED_BUDGET_SEC=30 \
#   OVERRIDE='{"inputSizePx":32,"epochs":1,"batchSize":16,"dataset":{"maxPerCategory":20}}' PHASES="speed accuracy" bash .gpu-kit/run-all.sh
# then `npm run bench:gpu-kit` again before carrying it: trying it unpacks Node and Dawn into the kit, which would not fit.
set -u
kit=$(cd "$(dirname "$0")" && pwd)
export OUT=${OUT:-$kit}
# The drawings travel xz-packed (a call carries 64 MiB in all); scale.bench and time-to-accuracy read .npy files,
# unpacked outside the kit so that trying it here leaves the kit small enough to carry.
export DATA=${TMPDIR:-/tmp}/gpu-kit-quickdraw
mkdir -p "$DATA"
python3 - "$kit/quickdraw" "$DATA" <<'PY'
import lzma, os, shutil, sys
src, dst = sys.argv[1:]
for name in os.listdir(src):
    if name.endswith('.npy.xz') and not os.path.exists(os.path.join(dst, name[:-3])):
        with lzma.open(os.path.join(src, name)) as i, open(os.path.join(dst, name[:-3]), 'wb') as o: shutil.copyfileobj(i, o)
PY
for phase in ${PHASES:-speed scale accuracy}; do
  start=$SECONDS
  case $phase in
    speed) BUDGET_SEC=${SPEED_BUDGET_SEC:-100} timeout $(( ${SPEED_BUDGET_SEC:-100} + 60 )) bash "$kit/device-run.sh" "$kit/engine-bench.mjs" ;;
    accuracy) CONFIG=${CONFIG:-$kit/configs/fast.json} BUDGET_SEC=${ACCURACY_BUDGET_SEC:-240} timeout $(( ${ACCURACY_BUDGET_SEC:-240} + 60 )) bash "$kit/device-run.sh" "$kit/time-to-accuracy.mjs" ;;
    scale) timeout 120 "${PYTHON:-python3}" -m scale.bench --model-dir "$kit/models/mobilenet_v1_0.25_224" --source "$DATA" --peer "$kit/torch_peer.py" 2>&1 | tee "$OUT/scale-bench.log" ;;
    *) echo "run-all: no phase named $phase (speed, accuracy, scale)"; false ;;
  esac
  echo "run-all: phase $phase exited ${PIPESTATUS[0]} after $(( SECONDS - start )) s"
done
