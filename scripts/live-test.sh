#!/usr/bin/env bash
# Live-capture test harness: two network namespaces joined by a veth pair with 2 queues; real
# captures (rewritten to documentation addresses) are replayed into one end with tcpreplay and
# tamandua captures on the other end. Everything is torn down on exit.
#
#   scripts/live-test.sh check BACKEND [PCAP...]   BACKEND: af_packet, pcap, af_xdp-native,
#                                                  af_xdp-generic. Checks, for each capture:
#                                                  received + dropped = sent (exactly), the
#                                                  flows equal a -r run of the same rewritten
#                                                  file (when nothing was dropped), SIGINT stops
#                                                  cleanly, no XDP program is left attached.
#   scripts/live-test.sh kill                      AF_XDP: the program is detached after SIGKILL.
#   scripts/live-test.sh bench BACKEND PPS [SECONDS] [SENDERS]
#                                                  replays at PPS packets/s ('max': --topspeed) in total (SENDERS
#                                                  tcpreplay processes), prints sent, received,
#                                                  dropped and tamandua's CPU time per packet.
#
# Prints PASS/FAIL/SKIP lines; exit status 0 (all passed or skipped), 1 (a check failed),
# 77 (the whole run was skipped: not root, tools or kernel features missing).
# Environment: TAMANDUA (binary, default target/release/tamandua), PPS (check rate, 5000),
# KEEP=1 (keep the output folder).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TAMANDUA=${TAMANDUA:-$ROOT/target/release/tamandua}
SHARED=${SHARED:-$ROOT/../shared}
PCAPDIR=${PCAPDIR:-$SHARED/pcaps/ndpi}
PPS=${PPS:-5000}
ID=$$
NS_TX=tmd-tx-$ID
NS_RX=tmd-rx-$ID
IF_TX=tmdtx$ID
IF_RX=tmdrx$ID
WORK=$(mktemp -d /tmp/tamandua-live.XXXXXX)
TPID=
FAILED=0

skip_all() { echo "SKIP: $*"; exit 77; }

cleanup() {
  if [ -n "$TPID" ] && kill -0 "$TPID" 2>/dev/null; then
    kill -INT "$TPID" 2>/dev/null; sleep 1; kill -KILL "$TPID" 2>/dev/null
  fi
  ip netns del "$NS_TX" 2>/dev/null
  ip netns del "$NS_RX" 2>/dev/null
  [ "${KEEP:-0}" = 1 ] && echo "kept: $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || skip_all "needs root (network namespaces, raw sockets)"
for t in ip tcpreplay tcprewrite python3; do
  command -v "$t" >/dev/null || skip_all "$t is not installed (scripts/install-deps.sh installs it)"
done
[ -x "$TAMANDUA" ] || skip_all "no tamandua binary at $TAMANDUA (cargo build --release)"
[ -d "$PCAPDIR" ] || skip_all "no captures at $PCAPDIR"

# ---- network: tx namespace --veth(2 queues)--> rx namespace, no IPv6 (no RS/DAD/MLD noise)
setup_net() {
  local mtu=$1
  ip netns add "$NS_TX" || skip_all "cannot create network namespaces"
  ip netns add "$NS_RX" || skip_all "cannot create network namespaces"
  for ns in "$NS_TX" "$NS_RX"; do
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 >/dev/null 2>&1
  done
  ip link add "$IF_TX" netns "$NS_TX" numtxqueues 2 numrxqueues 2 type veth \
    peer name "$IF_RX" netns "$NS_RX" numtxqueues 2 numrxqueues 2 \
    || skip_all "cannot create a veth pair with 2 queues"
  ip -n "$NS_TX" link set "$IF_TX" mtu "$mtu" up
  ip -n "$NS_RX" link set "$IF_RX" mtu "$mtu" up
  ip netns exec "$NS_RX" sh -c "command -v ethtool >/dev/null && ethtool -K $IF_RX gro off lro off" >/dev/null 2>&1
  sleep 0.2
}
teardown_net() {
  ip netns del "$NS_TX" 2>/dev/null
  ip netns del "$NS_RX" 2>/dev/null
}

# ---- captures rewritten to documentation addresses (pseudo-NAT keeps the host bits)
rewrite() {
  local in=$1 out=$2
  tcprewrite --infile="$in" --outfile="$out" --fixcsum \
    --pnat='0.0.0.0/2:192.0.2.0/24,64.0.0.0/2:198.51.100.0/24,128.0.0.0/1:203.0.113.0/24,[::/0]:[2001:db8::/32]' \
    >/dev/null 2>"$out.err" || { echo "tcprewrite failed on $in: $(cat "$out.err")"; return 1; }
}

# start tamandua on the rx side; waits until its sockets are open
start_capture() {
  local backend=$1 xdpmode=$2 prefix=$3; shift 3
  local args=(-i "$IF_RX" -w "$prefix" -l -c 0,1 --plugins "${CHECK_PLUGINS:-basicFlow,basicStats,txtSink}")
  case $backend in
    af_xdp) args+=(--capture af_xdp --xdp-mode "$xdpmode") ;;
    *) args+=(--capture "$backend") ;;
  esac
  args+=("$@") # last: trailing words are a capture filter
  ip netns exec "$NS_RX" "$TAMANDUA" "${args[@]}" >"$prefix.stdout" 2>"$prefix.stderr" &
  TPID=$!
  for _ in $(seq 100); do
    grep -q '^Workers:' "${prefix}_log.txt" 2>/dev/null && return 0
    kill -0 "$TPID" 2>/dev/null || break
    sleep 0.05
  done
  return 1
}

# SIGINT, then wait (bounded) for a clean exit; sets RC
stop_capture() {
  kill -INT "$TPID" 2>/dev/null
  RC=timeout
  for _ in $(seq 150); do
    if ! kill -0 "$TPID" 2>/dev/null; then wait "$TPID"; RC=$?; break; fi
    sleep 0.1
  done
  [ "$RC" = timeout ] && { kill -KILL "$TPID" 2>/dev/null; wait "$TPID" 2>/dev/null; }
  TPID=
}

xdp_attached() { ip -n "$NS_RX" link show "$IF_RX" 2>/dev/null | grep -q 'xdp'; }

# "pktsRec R, pktsDrp D, ifDrp I" from the end report
live_counts() { sed -n 's/.*: pktsRec \([0-9]*\), pktsDrp \([0-9]*\), ifDrp \([0-9]*\);.*/\1 \2 \3/p' "$1" | head -1; }

# The flow comparison uses the plugins whose columns do not depend on packet timing: tcpStates'
# per-state timeouts and tcpFlags' RTT/window averages legitimately change with the replay's
# timing (tcpreplay compresses and shifts time), which would hide real differences.
CHECK_PLUGINS=basicFlow,basicStats,txtSink
# Columns that depend on arrival times (the replay compresses and shifts time)
TIME_COLS=timeFirst,timeLast,duration,minIAT,maxIAT,avgIAT,stdIAT,pktps,bytps,tcpInitWinSz

check_one() {
  local backend=$1 xdpmode=$2 pcap=$3
  local label="$backend${xdpmode:+-$xdpmode} $(basename "$pcap")"
  local rw=$WORK/$(basename "$pcap" .pcap).rw.pcap
  [ -f "$rw" ] || rewrite "$pcap" "$rw" || { echo "FAIL $label: rewrite"; FAILED=1; return; }
  local ref=$WORK/ref-$(basename "$pcap" .pcap)
  [ -f "${ref}_flows.txt" ] || "$TAMANDUA" -r "$rw" -w "$ref" -l -c 0,1 --plugins "$CHECK_PLUGINS" >/dev/null 2>&1 \
    || { echo "FAIL $label: -r run"; FAILED=1; return; }
  local out=$WORK/live-$backend$xdpmode-$(basename "$pcap" .pcap)
  if ! start_capture "$backend" "$xdpmode" "$out"; then
    local why; why=$(grep -h 'tamandua:' "$out.stderr" | head -3)
    stop_capture
    if [ "$backend" = af_xdp ]; then
      echo "SKIP $label: AF_XDP $xdpmode mode not available here: $why"
    else
      echo "FAIL $label: capture did not start: $why"; FAILED=1
    fi
    return
  fi
  local sent
  sent=$(ip netns exec "$NS_TX" tcpreplay -i "$IF_TX" --pps="$PPS" "$rw" 2>&1 | sed -n 's/.*Successful packets:[[:space:]]*\([0-9]*\).*/\1/p')
  sleep 0.5
  stop_capture
  local ok=1 msg=""
  [ "$RC" = 0 ] || { ok=0; msg+=" exit status $RC after SIGINT;"; }
  xdp_attached && { ok=0; msg+=" XDP program still attached;"; }
  local c; c=$(live_counts "${out}_log.txt")
  read -r rec drp ifd <<<"${c:-x x x}"
  if [ "$rec" = x ]; then
    ok=0; msg+=" no pktsRec line in the report;"
  elif [ $((rec + drp + ifd)) != "$sent" ]; then
    ok=0; msg+=" received $rec + dropped $drp + ifDrp $ifd != sent $sent;"
  fi
  local diff=""
  if [ "$rec" != x ] && [ "$((drp + ifd))" = 0 ]; then
    diff=$(python3 "$SHARED/tools/t2diff.py" "${ref}_flows.txt" "${out}_flows.txt" --no-time-key --ignore "$TIME_COLS" | tail -1)
    # flows: R reference, M matched, X missing, Y extra; exact: E (P%)
    read -r r m x y e <<<"$(sed -n 's/flows: \([0-9]*\) reference, \([0-9]*\) matched, \([0-9]*\) missing, \([0-9]*\) extra; exact: \([0-9]*\).*/\1 \2 \3 \4 \5/p' <<<"$diff")"
    if [ -z "${r:-}" ] || [ "$x" != 0 ] || [ "$y" != 0 ] || [ "$e" != "$r" ]; then
      ok=0; msg+=" flows differ from -r ($diff);"
      python3 "$SHARED/tools/t2diff.py" "${ref}_flows.txt" "${out}_flows.txt" --no-time-key --ignore "$TIME_COLS" --show 2 | head -40 | sed 's/^/    /'
    fi
  elif [ "$rec" != x ]; then
    msg+=" (flows not compared: $((drp + ifd)) packets dropped)"
  fi
  if [ $ok = 1 ]; then
    echo "PASS $label: sent $sent = received $rec + dropped $drp + ifDrp $ifd; ${diff:-}$msg"
  else
    echo "FAIL $label:$msg"; FAILED=1
    sed 's/^/    log: /' "${out}_log.txt" | grep -E 'ERR|WRN|pktsRec|backend' | head -10
    sed 's/^/    stderr: /' "$out.stderr" | head -5
  fi
}

cmd=${1:-}; shift || true
case $cmd in
  check)
    spec=${1:?backend}; shift
    backend=${spec%%-*}; xdpmode=""
    [ "$backend" = "$spec" ] || xdpmode=${spec#*-}
    [ "$backend" = af_xdp ] && [ -z "$xdpmode" ] && xdpmode=native
    pcaps=("$@")
    [ ${#pcaps[@]} -gt 0 ] || pcaps=("$PCAPDIR/ethereum.pcap" "$PCAPDIR/ip_fragmented_garbage.pcap" "$PCAPDIR/telegram.pcap")
    # native XDP on veth needs an MTU the driver accepts with a program attached (~3.5 KB)
    setup_net 3000
    for p in "${pcaps[@]}"; do check_one "$backend" "$xdpmode" "$p"; done
    teardown_net
    exit $FAILED
    ;;
  kill)
    # SIGKILL cannot be handled: the bpf_link must still go away with the process
    setup_net 3000
    out=$WORK/kill
    if ! start_capture af_xdp native "$out"; then
      echo "SKIP af_xdp kill: capture did not start: $(head -2 "$out.stderr")"; teardown_net; exit 0
    fi
    xdp_attached || { echo "FAIL af_xdp kill: no XDP program attached while capturing"; exit 1; }
    kill -KILL "$TPID"; wait "$TPID" 2>/dev/null; TPID=
    sleep 0.3
    if xdp_attached; then echo "FAIL af_xdp kill: XDP program left attached after SIGKILL"; exit 1; fi
    echo "PASS af_xdp kill: XDP program attached while capturing, gone after SIGKILL"
    teardown_net
    ;;
  bench)
    spec=${1:?backend}; rate=${2:?pps}; secs=${3:-5}; senders=${4:-2}
    backend=${spec%%-*}; xdpmode=""
    [ "$backend" = "$spec" ] || xdpmode=${spec#*-}
    [ "$backend" = af_xdp ] && [ -z "$xdpmode" ] && xdpmode=native
    pcap=${BENCH_PCAP:-$PCAPDIR/telegram.pcap}
    setup_net 3000
    rw=$WORK/bench.rw.pcap
    rewrite "$pcap" "$rw" || exit 1
    out=$WORK/bench
    # BENCH_ARGS: extra tamandua options (e.g. a tiny ring to provoke and count drops)
    start_capture "$backend" "$xdpmode" "$out" ${BENCH_ARGS:-} || { cat "$out.stderr"; exit 1; }
    if [ "$rate" = max ]; then speed=(--topspeed); else speed=(--pps="$((rate / senders))"); fi
    pids=()
    for i in $(seq "$senders"); do
      ip netns exec "$NS_TX" taskset -c $(( (i - 1) % $(nproc) )) tcpreplay -i "$IF_TX" "${speed[@]}" --loop=0 --duration="$secs" "$rw" >"$WORK/send$i.txt" 2>&1 &
      pids+=($!)
    done
    wait "${pids[@]}"
    sent=0
    for i in $(seq "$senders"); do
      s=$(sed -n 's/.*Successful packets:[[:space:]]*\([0-9]*\).*/\1/p' "$WORK/send$i.txt"); sent=$((sent + ${s:-0}))
    done
    sleep 0.5
    stop_capture
    read -r rec drp ifd <<<"$(live_counts "${out}_log.txt")"
    cpu=$(sed -n 's/.*CPU time \([0-9.]*\) s (\([0-9]*\) ns per received packet).*/\1 \2/p' "${out}_log.txt")
    echo "BENCH $spec rate=$rate achieved_pps=$((sent / secs)) senders=$senders seconds=$secs sent=$sent received=$rec dropped=$drp ifdrop=$ifd cpu_s_ns_per_pkt=$cpu exit=$RC"
    ;;
  *)
    sed -n '2,22p' "$0"; exit 2 ;;
esac
