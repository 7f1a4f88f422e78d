#!/usr/bin/env bash
# Accuracy benchmarks of the zoo models on the full datasets, through the CLI exactly as a user
# runs it. Results (test accuracy, seconds per epoch) go to benchmarks/RESULTS.md by hand.
#
#   CONVNP_DATA=../shared/data bash benchmarks/accuracy.sh [issue3|issue6|cifar10] [RUNS_DIR] [TRAIN_ARGS...]
#
# TRAIN_ARGS go to every run, e.g. `bash benchmarks/accuracy.sh cifar10 runs/accuracy --processes 2`.
set -euo pipefail
cd "$(dirname "$0")/.."
set_name=${1:-issue3}
runs=${2:-runs/accuracy}
shift $(($# < 2 ? $# : 2))
extra=("$@")

train() {  # train NAME ARGS...: one run, its epoch lines kept in RUNS/NAME.log
  local name=$1; shift
  echo "== convnp train $* ${extra[*]} --out $runs/$name"
  convnp train "$@" "${extra[@]}" --out "$runs/$name" 2>&1 | tr '\r' '\n' | grep -E '^(Epoch [0-9]+/[0-9]+  |Training|test accuracy)' \
    | tee "$runs/$name.log"
}

mkdir -p "$runs"
case $set_name in
  issue3)
    train seed000-mnist --model seed000 --dataset mnist --epochs 5 --schedule onecycle --lr 5e-3 --batch-size 32
    train seed002-mnist --model seed002 --dataset mnist --epochs 5 --schedule onecycle --lr 5e-3 --batch-size 32
    train simple-cnn-mnist --model simple-cnn --dataset mnist --epochs 5 --schedule onecycle --lr 5e-3 --batch-size 32
    train simple-cnn-fashion --model simple-cnn --dataset fashion-mnist --epochs 5 --schedule onecycle --lr 2e-3
    ;;
  issue6)
    train deep-cnn-mnist --model deep-cnn --dataset mnist --epochs 8 --schedule onecycle --lr 3e-3 --batch-size 100
    train deep-cnn-fashion --model deep-cnn --dataset fashion-mnist --epochs 8 --schedule onecycle --lr 3e-3 \
      --batch-size 100
    train resnet8-fashion --model cifar-resnet --dataset fashion-mnist --epochs 15 --batch-size 128 \
      --optimizer sgd --lr 0.2 --weight-decay 5e-4 --schedule onecycle --augment
    train resnet14-fashion --model cifar-resnet14 --dataset fashion-mnist --epochs 10 --batch-size 128 \
      --optimizer sgd --lr 0.2 --weight-decay 5e-4 --schedule onecycle --augment
    ;;
  cifar10)  # the CIFAR-10 run (1 h 31 min on 2 cores)
    train resnet14-cifar10 --model cifar-resnet14 --dataset cifar10 --epochs 20 --batch-size 128 \
      --optimizer sgd --lr 0.2 --weight-decay 5e-4 --schedule onecycle --augment
    ;;
  *) echo "unknown set $set_name (issue3, issue6 or cifar10)"; exit 2 ;;
esac
