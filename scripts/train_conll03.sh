#!/usr/bin/env bash
# Train the bundled models on CoNLL-2003: the BiGRU and its forward-only twin, several seeds
# each, two runs at a time (one thread each), with the shipped recipe (RECIPE: 50 epochs at
# most, patience 12, the weights' moving average saved, a quarter of the sentences lower-cased
# and a quarter upper-cased in each epoch, selected on the mean dev F1 of the three cases).
# Resumable: rerun after a stop and every run continues from its checkpoint.
# Logs and models go to runs/$PREFIX-{bigru,gru}-sSEED.
#   DATA=../shared/data/conll2003 SEEDS="1 2 3" KINDS="bigru gru" PREFIX=v2 \
#     bash scripts/train_conll03.sh [extra train flags]
# FINAL_EPOCHS=N trains final models instead, on train and dev together, for exactly N epochs
# (the count fixed from train-only runs), keeping the last: runs/$PREFIX-{bigru,gru}-sSEED-final.
set -euo pipefail
DATA=${DATA:-../shared/data/conll2003}
SEEDS=${SEEDS:-1 2 3}
KINDS=${KINDS:-bigru gru}
PREFIX=${PREFIX:-v2}
RECIPE=${RECIPE:---epochs 50 --patience 12 --ema 0.999 --case-lower 0.25 --case-upper 0.25 \
  --dev-cases as-is,lower,upper}
mkdir -p runs
TRAIN=$DATA/train.txt
SUFFIX=
if [ -n "${FINAL_EPOCHS:-}" ]; then
  TRAIN=runs/train+dev.txt
  { cat "$DATA/train.txt"; echo; cat "$DATA/valid.txt"; } > "$TRAIN"  # a blank line between
  RECIPE="$RECIPE --epochs $FINAL_EPOCHS --select last"
  SUFFIX=-final
fi
jobs=()
for seed in $SEEDS; do
  for kind in $KINDS; do
    flags=(--bidirectional)
    [ "$kind" = gru ] && flags=(--no-bidirectional)
    jobs+=("$PREFIX-$kind-s$seed$SUFFIX ${flags[*]} --seed $seed $RECIPE")
  done
done
printf '%s\n' "${jobs[@]}" | xargs -P 2 -L 1 bash -c '
  name=$0
  bigru-ner train --train "'"$TRAIN"'" --dev "'"$DATA"'/valid.txt" \
    --out "runs/$name" --threads 1 "$@" '"$*"' > "runs/$name.log" 2>&1
  echo "$name: $(tail -1 runs/$name.log)"'
