#!/usr/bin/env bash
# Model-checks the payout protocol (docs/payout-protocol.md) with spin, exhaustively, and checks
# that every negative control is refuted: the protocol before the fix of finding 1, the code that
# ended a generation on a fresh (possibly unstored) refusal, a refusal giving its reservation back,
# and a resend after a 429 that forgets the rate-limited call's attempts.
# Exit 0 only if every run of the real model ends with "errors: 0" after a complete search, and
# spin finds the expected violation, with the expected story, in each control. Needs spin and gcc
# (apt-get install -y spin gcc).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
for tool in spin gcc; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "check.sh: '$tool' not found; install it with: apt-get install -y spin gcc" >&2
    exit 2
  fi
done

work="$(mktemp -d "${TMPDIR:-/tmp}/payout-model.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# verify NAME MODEL [SPIN_FLAG...]: builds pan in its own directory and searches every state.
verify() {
  local name=$1 model=$2
  shift 2
  local dir="$work/$name"
  mkdir -p "$dir"
  cp "$here"/*.pml "$dir"/
  (
    cd "$dir"
    spin -a "$@" "$model" >spin.log 2>&1
    # shellcheck disable=SC2086 # GCC_FLAGS holds several flags
    gcc ${GCC_FLAGS:--O2} -DSAFETY -DMEMLIM=4096 -o pan pan.c >gcc.log 2>&1
    # -m: the deepest path is under 300 steps; the margin keeps the search from being cut.
    # -i (control only, built with -DREACH): look for the shortest counterexample.
    # shellcheck disable=SC2086
    ./pan -m100000 ${PAN_FLAGS:-} >pan.out 2>&1 || true
  )
}

states() { grep -oE '^ *[0-9]+ states, stored' "$1" | awk '{ print $1 }' || true; }
errors() { grep -oE 'errors: [0-9]+' "$1" | awk '{ print $2 }' || true; }
seconds() { grep -oE 'elapsed time [0-9.e+]+' "$1" | tail -n 1 | awk '{ print $3 }' || true; }

status=0

# The real model must hold over every state: no violation, and nothing cut short.
report_real() {
  local name=$1 label=$2 out="$work/$1/pan.out"
  local n e t complete=yes
  n=$(states "$out")
  e=$(errors "$out")
  t=$(seconds "$out")
  if ! grep -q 'Full statespace search for' "$out" ||
    grep -qiE 'max search depth too small|search not completed|out of memory|memlim|aborted' "$out" ||
    [ -z "$n" ]; then
    complete=no
  fi
  if [ "$e" = "0" ] && [ "$complete" = yes ]; then
    echo "PASS  $label: ${n} states stored, errors: 0, complete search, ${t} s"
  else
    echo "FAIL  $label: ${n:-?} states stored, errors: ${e:-?}, complete search: $complete"
    grep -E 'violated|error|depth' "$out" | head -n 5 | sed 's/^/      /'
    status=1
  fi
}

# A control must be refuted: spin finds an assertion violation (and replays its trail, which
# must tell the story the control is about).
report_control() {
  local name=$1 label=$2 expect=$3 story=$4 model=$5
  shift 5
  local out="$work/$name/pan.out"
  local n e violated trail
  n=$(states "$out")
  e=$(errors "$out")
  # pan -i reports ever shorter counterexamples; the trail it keeps is the last one.
  violated=$(grep -oE 'assertion violated .*\(at depth' "$out" | tail -n 1 | sed 's/ (at depth$//' || true)
  local property=$violated
  case "$violated" in
  *'transfers<=1'*) property='(a) a second transfer for the session' ;;
  *'kst[k]'*) property='(b) a new key while an older request may still run or create' ;;
  *'tgen==gen'*) property='(c) a transfer left unrecorded and unrecoverable' ;;
  esac
  trail=$( (cd "$work/$name" && spin -t "$@" "$model" 2>&1) |
    grep -E '^ +(W[0-9]|Stripe|time|reconcile)' | sed -E 's/^ +/        /' || true)
  if [ -n "$violated" ] && grep -qF "$expect" <<<"$violated" && grep -qF "$story" <<<"$trail"; then
    echo "PASS  $label: spin refutes it after ${n} states stored (errors: ${e}): ${property}"
    echo "$trail"
  else
    echo "FAIL  $label: spin found no '$expect' violation whose trail has '$story' (${n:-?} states, errors: ${e:-?})"
    [ -n "$trail" ] && echo "$trail"
    status=1
  fi
}

SECONDS=0

# The real model, in two shapes, side by side (two cores): more concurrency, or more retries and
# a 429 resent (with three workers the resend takes the search past 34 million states and 4 GB).
verify real-3w payout-protocol.pml -DNWORKERS=3 -DNDELIVERIES=3 -DMAXGEN=3 -DMAX_429_RESENDS=0 &
pid_a=$!
verify real-2w payout-protocol.pml -DNWORKERS=2 -DNDELIVERIES=4 -DMAXGEN=3 &
pid_b=$!
wait "$pid_a" || true
wait "$pid_b" || true

# The negative controls, with no reuse window ever passing (else spin's shortest counterexamples
# lean on the abstract clock). Each once with (b) and (c) off, to show the double transfer itself,
# and once with every property on. Small searches: a quick unoptimised build is enough.
# Control 1, finding 1: the protocol before the fix, even if Stripe stored every refusal.
# Control 2: a fresh refusal ends the generation (the code before recordRefusal).
export GCC_FLAGS='-O0 -DREACH' PAN_FLAGS=-i
before=(-DWINDOW_PASSES=0 -DREFUSALS_STORED=1 -DCHECK_RESERVATION=0)
fresh=(-DWINDOW_PASSES=0 -DEND_ON_FRESH_REFUSAL -DCHECK_RESERVATION=0)
verify before-a payout-protocol-before.pml -DCHECK_B=0 "${before[@]}" &
verify before-b payout-protocol-before.pml "${before[@]}" &
wait
verify fresh-a payout-protocol.pml -DCHECK_B=0 "${fresh[@]}" &
verify fresh-b payout-protocol.pml "${fresh[@]}" &
wait
# Control 3: a fresh refusal gives its daily-limit reservation back (the code before this fix).
release=(-DWINDOW_PASSES=0 -DRELEASE_ON_FRESH_REFUSAL=1 -DCHECK_B=0)
verify release payout-protocol.pml "${release[@]}"

# Control 4: after Stripe's 429 the next call of the same claim forgets the attempts of the
# rate-limited one (with stripe-node's own retries, which may leave an attempt on its way).
# The first counterexample is enough here (-i, the shortest, takes minutes with NETRETRY).
forget=(-DNWORKERS=2 -DWINDOW_PASSES=0 -DNETRETRY=1 -DFORGET_ATTEMPTS_ON_429 -DCHECK_RESERVATION=0
  -DCHECK_B=0)
GCC_FLAGS='-O2 -DREACH' PAN_FLAGS='' verify forget payout-protocol.pml "${forget[@]}"

report_real real-3w "payout-protocol.pml, 3 workers, 3 deliveries, 3 key generations, no 429 resend"
report_real real-2w "payout-protocol.pml, 2 workers, 4 deliveries, 3 key generations, a 429 resent once"
report_control before-a "control 1 (payout-protocol-before.pml), double transfer" \
  'transfers<=1' 'SEARCH at once' payout-protocol-before.pml -DCHECK_B=0 "${before[@]}"
report_control before-b "control 1 (payout-protocol-before.pml), all properties" \
  'kst[k]' 'SEARCH at once' payout-protocol-before.pml "${before[@]}"
report_control fresh-a "control 2 (-DEND_ON_FRESH_REFUSAL), double transfer" \
  'transfers<=1' 'refused before execution, nothing stored' payout-protocol.pml -DCHECK_B=0 "${fresh[@]}"
report_control fresh-b "control 2 (-DEND_ON_FRESH_REFUSAL), all properties" \
  'kst[k]' 'refused before execution, nothing stored' payout-protocol.pml "${fresh[@]}"

report_control release "control 3 (-DRELEASE_ON_FRESH_REFUSAL), reservation" \
  'reserved' 'recordRefusal' payout-protocol.pml "${release[@]}"

report_control forget "control 4 (-DFORGET_ATTEMPTS_ON_429), double transfer" \
  'transfers<=1' '429 (not executed)' payout-protocol.pml "${forget[@]}"

echo "total ${SECONDS} s"
exit "$status"
