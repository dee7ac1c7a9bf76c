#!/usr/bin/env bash
# What a session does with a lent GPU machine (not CI: CI runs `.ci/run` on a CPU).
#
#   here:   bash .ci/gpu_session.sh prep pack     # a fresh checkout: the data pack needs (~5 min), then
#                                                 # .device/ (git-ignored, ~31 MB)
#   there:  bash .ci/gpu_session.sh setup test bench "tas_q:run tas -p preset quick" ...
#           (a notebook stage's words split on spaces: write lists as [0,1,2]; env:KEY=VALUE
#           exports for the stages after it, e.g. env:AUKIT_PRECISION=fp32 before an fp32 rerun)
#           BENCH_ARGS="--methods scc --data scc.batch_size=128 --compile" (see aukit bench -h; unset, it is
#           "--data rtatl.flow_size=32": keep that in your own when RTATL is among the methods)
#   here:   bash .ci/gpu_session.sh pack_dlib     # .dlib_a/, .dlib_b/ (git-ignored, ~30 MB each)
#   there:  bash .ci/gpu_session.sh dlib_keep     (carry .dlib_a), then at once
#           bash .ci/gpu_session.sh dlib predict  (carry .dlib_b): aukit predict on the GPU
#
# The GPU image has PyTorch but no dlib model (face-recognition-models is ~100 MB, over
# what travels), no opencv-contrib (TV-L1 flow) and no papermill. So `pack` carries:
#   .device/whl/            wheels of papermill, ipykernel, nbconvert, ipywidgets, simplejpeg (aukit's
#                           JPEG reader, not in the image) and their needs
#   .device/cache.tar.xz    the dlib faces of every SynthAU set (status, box, 68 landmarks per
#                           frame: prepare's expensive pass) and RTATL's TV-L1 flow cache, as
#                           computed here; the store keys hold the absolute data root, so the
#                           repo is copied to the same path there (/work/main)
#   .device/ref/            two frames of this machine's SynthAU, to show the GPU machine
#                           regenerates the same pixels (seed 0, default preset)
# Every stage prints its wall time; results go to $OUT (tarred: only 8 files come back).
set -uo pipefail
OUT=${OUT:-/tmp/aukit_out}
SAME=/work/main
stamp() { echo "[gpu_session $(date +%H:%M:%S)] $*"; }

# The stores every bench case and notebook opens: prepared here (prep, before pack carries their
# dlib faces) and there (setup, from the carried faces).
prepare_stores() {
  "$1" -c "
if __name__ == '__main__':
    from aukit.data import prepare
    for ds, pol in [('synthau-bp4d', 'tas'), ('synthau-bp4d', 'rtatl'), ('synthau-emotionet', 'rtatl'),
                    ('synthau-bp4d', 'piap'), ('synthau-disfa', 'scc'), ('synthau-disfa', 'cpc'),
                    ('synthau-affwild2', 'cpc'), ('synthau-disfa', 'piap'), ('synthau-casia_webface', 'piap'),
                    ('synthau-afew_va', 'piap')]:
        prepare(ds, pol, progress=False)
"
}

prep() {  # here, on a checkout without data/: SynthAU default, every store's dlib faces, RTATL's 32 px flow
  local t0=$SECONDS py=${PY:-.venv/bin/python}
  [ -x "$py" ] || { echo "no $py: run make setup first"; exit 1; }
  $py -c "
if __name__ == '__main__':
    import os
    from aukit.data.synthau import generate, stale
    why = stale('data/synthau', preset='default', seed=0)
    if why or not os.path.isfile('data/synthau/meta.json'):  # absent, or another SynthAU version, preset or seed
        print(why or 'no SynthAU tree: generating it')
        generate('data/synthau', preset='default', seed=0, progress=False)
" || exit 1
  prepare_stores "$py" || exit 1
  $py -c "
if __name__ == '__main__':
    from aukit.data import flow, prepare
    from aukit.methods.rtatl.config import RTATLTrainConfig
    flow(prepare('synthau-bp4d', 'rtatl', progress=False), RTATLTrainConfig().flow_step, size=32, progress=False)
" || exit 1
  stamp "prep done in $((SECONDS - t0)) s"
}

pack() {
  rm -rf .device && mkdir -p .device/whl .device/ref .device/cache
  local plat="--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
              --platform manylinux2014_x86_64 --platform manylinux_2_5_x86_64 --platform manylinux1_x86_64"
  # shellcheck disable=SC2086
  python3 -m pip download -q --only-binary=:all: --python-version 3.12 --implementation cp $plat -d .device/whl \
    papermill==2.7.0 ipykernel==7.4.0 nbclient==0.11.0 nbformat==5.11.1 nbconvert==7.17.2 ipywidgets==8.1.9 \
    simplejpeg==1.9.0
  # already in the GPU image (KINDS.md): keep its versions
  (cd .device/whl && rm -f attrs-* certifi-* charset_normalizer-* click-* idna-* packaging-* psutil-* pygments-* \
     python_dateutil-* pyyaml-* requests-* tqdm-* typing_extensions-* tzdata-* urllib3-* jinja2-* markupsafe-* six-* \
     numpy-*)
  for d in data/cache/synthau-*__faces__*; do
    mkdir -p ".device/cache/$(basename "$d")" && cp "$d"/faces.npz "$d"/key.json ".device/cache/$(basename "$d")/"
  done
  for d in data/cache/synthau-bp4d__rtatl200__*/derived; do
    n=$(basename "$(dirname "$d")"); mkdir -p ".device/cache/$n/derived" && cp "$d"/flow_s3_32.npy ".device/cache/$n/derived/"  # the 64 px cache (63 MB) does not fit
  done
  (cd .device && tar cf - cache | xz -6 -T0 > cache.tar.xz && rm -rf cache)
  cp data/synthau/bp4d/2D/F001/T1/1.jpg .device/ref/bp4d_F001_T1_1.jpg
  cp data/synthau/bp4d/2D/F003/T2/100.jpg .device/ref/bp4d_F003_T2_100.jpg
  grep -qx '/.device/' .git/info/exclude 2>/dev/null || { mkdir -p .git/info; echo '/.device/' >> .git/info/exclude; }
  du -sh .device
}

# dlib's 68-point model (xz: 60 MiB) does not travel with the repo (26 MB) in one call, so
# `pack_dlib` cuts it in two carried folders; one call keeps the first half on the machine
# (`dlib_keep`, carry .dlib_a), the next, inside the machine's 30 s warm window, brings the
# second and the dlib wheel (`dlib`, carry .dlib_b) and can then time aukit predict (`predict`).
pack_dlib() {
  local m
  local py=${PY:-.venv/bin/python}
  m=$($py -c "from aukit.data.align import model_path; print(model_path())") || exit 1
  rm -rf .dlib_a .dlib_b && mkdir -p .dlib_a .dlib_b/whl
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d .dlib_b/whl "dlib-bin==$($py -c 'import importlib.metadata as m; print(m.version("dlib-bin"))')" \
    simplejpeg==1.9.0 || exit 1   # aukit's JPEG reader: predict needs it on a machine that never ran setup
  xz -9 -T0 -c "$m" > /tmp/sp68.xz && sha256sum "$m" | cut -d' ' -f1 > .dlib_b/sha256
  split -n 2 -d /tmp/sp68.xz /tmp/sp68.xz.part && mv /tmp/sp68.xz.part00 .dlib_a/ && mv /tmp/sp68.xz.part01 .dlib_b/
  rm -f /tmp/sp68.xz
  for d in .dlib_a .dlib_b; do grep -qx "/$d/" .git/info/exclude 2>/dev/null || echo "/$d/" >> .git/info/exclude; done
  du -sh .dlib_a .dlib_b
}

dlib_keep() {
  mkdir -p /tmp/aukit_keep && cp .dlib_a/sp68.xz.part00 /tmp/aukit_keep/ && ls -la /tmp/aukit_keep
}

dlib() {
  [ -f /tmp/aukit_keep/sp68.xz.part00 ] || { echo "first half missing: the machine was not kept warm since dlib_keep"; exit 1; }
  mkdir -p /tmp/dlib_models
  cat /tmp/aukit_keep/sp68.xz.part00 .dlib_b/sp68.xz.part01 | xz -d > /tmp/dlib_models/shape_predictor_68_face_landmarks.dat
  [ "$(sha256sum /tmp/dlib_models/shape_predictor_68_face_landmarks.dat | cut -d' ' -f1)" = "$(cat .dlib_b/sha256)" ] \
    || { echo "dlib model checksum mismatch"; exit 1; }
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .dlib_b/whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 MPLBACKEND=Agg AUKIT_DLIB_MODELS=/tmp/dlib_models
  python3 -c "import dlib; from aukit.data.align import model_path; print('dlib', dlib.__version__, model_path())" || exit 1
}

predict() {  # aukit predict end to end + the deployable models' inference (no training steps)
  local t0=$SECONDS
  python3 -m aukit.cli bench --preset default --skip train,prepare --out "$OUT/bench_predict"
  stamp "predict bench done in $((SECONDS - t0)) s"
}

setup() {
  local t0=$SECONDS
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv
  if [ "$PWD" != "$SAME" ]; then
    mkdir -p "$(dirname $SAME)" && rm -rf $SAME && cp -a "$PWD" $SAME && cd $SAME || exit 1
  fi
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .device/whl/*.whl \
    || { echo "wheel install failed"; exit 1; }
  export PYTHONPATH=/tmp/site:$SAME PYTHONUNBUFFERED=1 MPLBACKEND=Agg
  python3 -c "import torch, papermill, numpy, pandas, cv2; print('torch', torch.__version__, '| cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0), '| numpy', numpy.__version__, '| pandas', pandas.__version__, '| cv2', cv2.__version__, '| papermill', papermill.__version__)"
  mkdir -p data && tar xJf .device/cache.tar.xz -C data || exit 1
  export JUPYTER_PATH=/tmp/site/share/jupyter   # nbconvert's HTML templates came with its wheel
  rm -rf /tmp/derived && mkdir -p /tmp/derived   # a store folder appears only when complete: derived/ waits
  for d in data/cache/*/derived; do [ -d "$d" ] && mv "$(dirname "$d")" /tmp/derived/; done
  stamp "generate SynthAU default (seed 0) on $(nproc) cores"
  python3 -c "
if __name__ == '__main__':
    import os
    from aukit.data.synthau import generate
    generate('data/synthau', preset='default', seed=0, progress=False, workers=os.cpu_count())
" || exit 1
  python3 - <<'EOF' || exit 1
import cv2, numpy as np, pathlib
for ref in sorted(pathlib.Path(".device/ref").glob("*.jpg")):
    _, subj, task, i = ref.stem.split("_")
    a = cv2.imread(str(ref)).astype(np.int16)
    b = cv2.imread(f"data/synthau/bp4d/2D/{subj}/{task}/{i}.jpg").astype(np.int16)
    d = np.abs(a - b)
    print(f"regenerated {subj}/{task}/{i}.jpg vs this repo's machine: mean |diff| {d.mean():.3f} grey levels, max {d.max()}")
    assert d.mean() < 3.0, "SynthAU regenerated differently here: the carried dlib faces would not fit"  # JPEG codec noise only
EOF
  prepare_stores python3 || exit 1
  for d in /tmp/derived/*; do [ -d "$d" ] && cp -r "$d/derived" "data/cache/$(basename "$d")/"; done
  ls data/cache/*/derived
  stamp "setup done in $((SECONDS - t0)) s"
}

bench() {
  local t0=$SECONDS
  # RTATL's flow at 32 px: the 64 px cache (63 MB) does not travel, and the image has no TV-L1 to compute it
  python3 -m aukit.cli bench --preset default --skip prepare,predict --out "$OUT/bench${1:+_${1//,/_}}" ${1:+--methods $1} \
    ${BENCH_ARGS:---data rtatl.flow_size=32}
  stamp "bench done in $((SECONDS - t0)) s"
}

gputest() {
  local t0=$SECONDS
  python3 -m pytest -q -p no:cacheprovider -m gpu ${GPU_TESTS:-tests/test_gpu.py tests/test_bench.py tests/test_scc_fused.py} 2>&1 | tail -25
  stamp "gpu tests done in $((SECONDS - t0)) s"
}

run_nb() {  # "run <slug> -p k v ..." -> $OUT/<tag>.tgz with the executed notebook, tables, figures
  local t0=$SECONDS tag=$1; shift
  timeout "${NB_TIMEOUT:-600}" python3 -m aukit.cli "$@" --out "/tmp/nb/$tag"
  local rc=$?
  tar czf "$OUT/$tag.tgz" --exclude='*.pt' --exclude='*.html' --exclude='*.pdf' -C /tmp/nb "$tag"
  stamp "$tag: rc $rc in $((SECONDS - t0)) s"
}

[ $# -gt 0 ] || { echo "usage: $0 prep | pack | pack_dlib | dlib_keep | dlib predict | setup [bench] [test] ['tag:run slug -p k v ...'] [env:KEY=VALUE]..."; exit 2; }
mkdir -p "$OUT"
for stage in "$@"; do
  case "$stage" in
    prep) prep ;;
    pack) pack ;;
    pack_dlib) pack_dlib ;;
    dlib_keep) dlib_keep ;;
    dlib) dlib ;;
    predict) predict ;;
    setup) setup ;;
    bench) bench ;;
    bench:*) bench "${stage#bench:}" ;;
    test) gputest ;;
    env:*=*) export "${stage#env:}"; stamp "export ${stage#env:}" ;;   # for the stages after it
    *:run\ *) run_nb "${stage%%:*}" ${stage#*:} ;;
    *) echo "unknown stage $stage"; exit 2 ;;
  esac
done
