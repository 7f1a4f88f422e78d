#!/usr/bin/env bash
# What one change is worth: `convnp bench` at two git revisions, in alternating processes
# (A B A B ...), so that the machine's slow and fast phases hit both alike.
#
#   bash benchmarks/ab_revisions.sh OLD NEW ROUNDS [convnp bench options...]
#   bash benchmarks/ab_revisions.sh HEAD~1 HEAD 4 --models cifar-small --batch-sizes 64 256
#
# Prints every round's img/s per revision, then the median ratio NEW/OLD per model, batch
# and mode. Run it from the repository with the development venv active.
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: $0 OLD_REV NEW_REV ROUNDS [convnp bench options...]" >&2
  exit 2
fi
old=$1 new=$2 rounds=$3
shift 3
work=$(mktemp -d)
trap 'git worktree remove --force "$work/old" >/dev/null 2>&1 || true;
      git worktree remove --force "$work/new" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git worktree add -q --detach "$work/old" "$old"
git worktree add -q --detach "$work/new" "$new"
for round in $(seq "$rounds"); do
  for side in old new; do
    PYTHONPATH="$work/$side/src" python -m convnp bench "$@" |
      awk -v side="$side" -v round="$round" '$3 == "train" || $3 == "infer" {print side, round, $1, $2, $3, $4}'
  done
done | python -c '
import collections, statistics, sys
rates = collections.defaultdict(lambda: collections.defaultdict(dict))
for line in sys.stdin:
    side, round_, model, batch, mode, rate = line.split()
    print(line, end="")
    rates[(model, batch, mode)][round_][side] = float(rate)
print("median NEW/OLD img/s ratio:")
for key, rounds in rates.items():
    ratios = [r["new"] / r["old"] for r in rounds.values() if len(r) == 2]
    print(" ".join(key), f"{statistics.median(ratios):.3f}", f"({len(ratios)} rounds)")
'
