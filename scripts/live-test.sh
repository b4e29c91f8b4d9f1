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
#   scripts/live-test.sh monitor BACKEND           during a capture: USR1 gives a monitoring row
#                                                  with pktsRec + pktsDrp + ifDrp = sent,
#                                                  `tamandua ctl` lists the instance and its
#                                                  `report` gives a second row, the metrics
#                                                  endpoint agrees; then one SIGINT stops flow
#                                                  creation and the run ends once the flows have
#                                                  timed out (FLOW_TIMEOUT=3), flows written.
#   scripts/live-test.sh split                     AF_PACKET with a fanout that ignores
#                                                  direction (lb: round robin): flows split
#                                                  across workers are counted (report, row).
#   scripts/live-test.sh budget                    a flood of distinct flows against a memory
#                                                  budget worth ~1500 flows per worker: the
#                                                  oldest flows are evicted (RMFLOW_HFULL,
#                                                  counted), every flow is written once.
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
  ip -n "$NS_RX" link set lo up # the metrics endpoint listens on 127.0.0.1
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

# SIGINT twice (the first stops flow creation, the second writes every flow and ends the
# run), then wait (bounded) for a clean exit; sets RC. ONE_INT=1: one SIGINT only (the run
# ends when the flows have timed out).
stop_capture() {
  kill -INT "$TPID" 2>/dev/null
  if [ "${ONE_INT:-0}" != 1 ]; then
    sleep 0.3
    kill -INT "$TPID" 2>/dev/null
  fi
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
# flows split across workers, from the end report
split_count() { sed -n 's/^tamandua: \([0-9]*\) flows split across workers.*/\1/p' "$1" | head -1; }
# the value of column NAME in machine row N (1 = first row) of a monitoring file
mon_value() {
  local file=$1 row=$2 name=$3 col
  col=$(head -1 "$file" | tr '\t' '\n' | grep -nx -- "$name" | cut -d: -f1)
  [ -n "$col" ] || return 1
  grep '^USR1MR_' "$file" | sed -n "${row}p" | cut -f"$col"
}
# waits (up to 5 s) until a monitoring file has N machine rows
wait_rows() {
  for _ in $(seq 100); do
    [ "$(grep -c '^USR1MR_' "$1" 2>/dev/null)" -ge "$2" ] && return 0
    sleep 0.05
  done
  return 1
}
# sends a capture file; prints the packets tcpreplay sent
send_pcap() {
  ip netns exec "$NS_TX" tcpreplay -i "$IF_TX" --pps="${2:-$PPS}" "$1" 2>&1 | sed -n 's/.*Successful packets:[[:space:]]*\([0-9]*\).*/\1/p'
}

# The flow comparison uses the plugins whose columns do not depend on packet timing: tcpStates'
# per-state timeouts and tcpFlags' RTT/window averages legitimately change with the replay's
# timing (tcpreplay compresses and shifts time), which would hide real differences.
CHECK_PLUGINS=basicFlow,basicStats,txtSink
# Columns that depend on arrival times (the replay compresses and shifts time)
TIME_COLS=timeFirst,timeLast,duration,minIAT,maxIAT,avgIAT,stdIAT,pktps,bytps,tcpInitWinSz

# Prints "FAIL LABEL:MSG", the run's log lines that match PATTERN, the start of any further
# files given and of the run's stderr, and marks the run failed.
fail_run() {
  local label=$1 msg=$2 out=$3 pattern=$4; shift 4
  echo "FAIL $label:$msg"; FAILED=1
  sed 's/^/    log: /' "${out}_log.txt" | grep -E "$pattern" | head -12
  local f; for f in "$@"; do sed 's/^/    more: /' "$f" | head -4; done
  sed 's/^/    stderr: /' "$out.stderr" | head -5
}

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
  sent=$(send_pcap "$rw")
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
  # the fanout modes used here keep both directions on one worker
  local split; split=$(split_count "${out}_log.txt")
  if [ -z "$split" ]; then
    ok=0; msg+=" no split-flow line in the report;"
  elif [ "$backend" != af_xdp ] && [ "$split" != 0 ]; then
    ok=0; msg+=" $split flows split across workers with a symmetric fanout;"
  fi
  if [ $ok = 1 ]; then
    echo "PASS $label: sent $sent = received $rec + dropped $drp + ifDrp $ifd; split flows ${split}; ${diff:-}$msg"
  else
    fail_run "$label" "$msg" "$out" 'ERR|WRN|pktsRec|backend'
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
  monitor)
    spec=${1:-af_packet}
    backend=${spec%%-*}; xdpmode=""
    [ "$backend" = "$spec" ] || xdpmode=${spec#*-}
    [ "$backend" = af_xdp ] && [ -z "$xdpmode" ] && xdpmode=native
    label="monitor $spec"
    setup_net 3000
    rw=$WORK/telegram.rw.pcap
    rewrite "$PCAPDIR/telegram.pcap" "$rw" || exit 1
    out=$WORK/mon
    port=$((20000 + ID % 20000))
    if ! start_capture "$backend" "$xdpmode" "$out" -m -o MACHINE_REPORT=1 -o MONWORKERS=1 -o FLOW_TIMEOUT=3 --metrics "$port"; then
      why=$(head -3 "$out.stderr"); stop_capture
      if [ "$backend" = af_xdp ]; then echo "SKIP $label: $why"; exit 0; fi
      echo "FAIL $label: capture did not start: $why"; exit 1
    fi
    pid=$TPID
    mon=${out}_monitoring.txt
    sent=$(send_pcap "$rw")
    sleep 0.3
    ok=1; msg=""
    kill -USR1 "$pid"
    if wait_rows "$mon" 1; then
      rec=$(mon_value "$mon" 1 pktsRec); drp=$(mon_value "$mon" 1 pktsDrp); ifd=$(mon_value "$mon" 1 ifDrp)
      flows1=$(mon_value "$mon" 1 numFlows); split1=$(mon_value "$mon" 1 numFlowsSplitAcrossWorkers)
      [ "${rec:-0}" -gt 0 ] || { ok=0; msg+=" USR1 row has pktsRec '${rec:-}';"; }
      [ $((rec + drp + ifd)) = "$sent" ] || { ok=0; msg+=" USR1 row: pktsRec $rec + pktsDrp $drp + ifDrp $ifd != sent $sent;"; }
      [ "${flows1:-0}" -gt 0 ] || { ok=0; msg+=" USR1 row has numFlows '${flows1:-}';"; }
      [ "$split1" = 0 ] || { ok=0; msg+=" split flows '$split1' with a symmetric fanout;"; }
    else
      ok=0; msg+=" no monitoring row after SIGUSR1;"
    fi
    "$TAMANDUA" ctl | grep -q "^$pid " || { ok=0; msg+=" tamandua ctl does not list PID $pid;"; }
    "$TAMANDUA" ctl report "$pid" >/dev/null || { ok=0; msg+=" tamandua ctl report failed;"; }
    if wait_rows "$mon" 2; then
      rec2=$(mon_value "$mon" 2 pktsRec)
      [ "$rec2" = "$rec" ] || { ok=0; msg+=" ctl report row: pktsRec $rec2 != $rec (nothing was sent in between);"; }
    else
      ok=0; msg+=" no monitoring row after tamandua ctl report;"
    fi
    metrics=$(ip netns exec "$NS_RX" curl -s --max-time 3 "http://127.0.0.1:$port/metrics")
    mrec=$(sed -n 's/^tamandua_capture_received_total \([0-9]*\)$/\1/p' <<<"$metrics")
    mpk=$(sed -n 's/^tamandua_packets_total \([0-9]*\)$/\1/p' <<<"$metrics")
    [ "${mrec:-x}" = "$rec" ] || { ok=0; msg+=" metrics capture_received_total '${mrec:-}' != $rec;"; }
    [ "${mpk:-x}" = "$rec" ] || { ok=0; msg+=" metrics packets_total '${mpk:-}' != $rec;"; }
    grep -q '^tamandua_flows_split_across_workers_total 0$' <<<"$metrics" || { ok=0; msg+=" no split-flow metric;"; }
    # one SIGINT: no new flows; the run ends when the flows have timed out (FLOW_TIMEOUT=3)
    t0=$(date +%s.%N)
    ONE_INT=1 stop_capture
    took=$(python3 -c "print(f'{$(date +%s.%N) - $t0:.1f}')")
    [ "$RC" = 0 ] || { ok=0; msg+=" exit status $RC after one SIGINT;"; }
    grep -q 'SIGINT: Stop flow creation' "${out}_log.txt" || { ok=0; msg+=" no flow-creation stop in the log;"; }
    grep -q 'All flows drained after flow creation was stopped' "${out}_log.txt" || { ok=0; msg+=" the run did not end by draining;"; }
    nflows=$(($(wc -l <"${out}_flows.txt") - 1))
    [ "$nflows" -ge "${flows1:-1}" ] || { ok=0; msg+=" $nflows flows written, the USR1 row counted ${flows1:-?};"; }
    read -r erec edrp eifd <<<"$(live_counts "${out}_log.txt")"
    [ $((erec + edrp + eifd)) = "$sent" ] || { ok=0; msg+=" end report: $erec + $edrp + $eifd != sent $sent;"; }
    if [ $ok = 1 ]; then
      echo "PASS $label: USR1 row pktsRec $rec + pktsDrp $drp + ifDrp $ifd = sent $sent, numFlows $flows1; ctl listed and reported; metrics agree; one SIGINT: drained and ended after ${took}s, $nflows flows written"
    else
      fail_run "$label" "$msg" "$out" 'ERR|WRN|INF|pktsRec' "$mon"
    fi
    teardown_net
    exit $FAILED
    ;;
  split)
    label="split af_packet --fanout lb"
    setup_net 3000
    rw=$WORK/telegram.rw.pcap
    rewrite "$PCAPDIR/telegram.pcap" "$rw" || exit 1
    out=$WORK/split
    start_capture af_packet "" "$out" --fanout lb -m -o MACHINE_REPORT=1 || { echo "FAIL $label: capture did not start: $(head -3 "$out.stderr")"; exit 1; }
    pid=$TPID
    sent=$(send_pcap "$rw")
    sleep 0.3
    kill -USR1 "$pid"
    wait_rows "${out}_monitoring.txt" 1
    row=$(mon_value "${out}_monitoring.txt" 1 numFlowsSplitAcrossWorkers)
    stop_capture
    n=$(split_count "${out}_log.txt")
    read -r rec drp ifd <<<"$(live_counts "${out}_log.txt")"
    if [ "$RC" = 0 ] && [ "${n:-0}" -gt 0 ] && [ "${row:-0}" -gt 0 ] && [ "${row}" -le "$n" ] && [ $((rec + drp + ifd)) = "$sent" ]; then
      echo "PASS $label: round-robin delivery: $n flows split across workers in the end report, $row in the USR1 row; sent $sent = $rec + $drp + $ifd"
    else
      echo "FAIL $label: exit $RC, split flows: report '${n:-}', row '${row:-}'; sent $sent, received $rec + $drp + $ifd"
      sed 's/^/    log: /' "${out}_log.txt" | grep -E 'ERR|WRN|split|pktsRec' | head -8
      FAILED=1
    fi
    teardown_net
    exit $FAILED
    ;;
  budget)
    label="budget af_packet"
    setup_net 3000
    flood=$WORK/flood.pcap
    FLOWS=4000
    # FLOWS one-packet UDP flows from distinct addresses (198.18.0.0/15, benchmarking)
    python3 - "$flood" "$FLOWS" <<'PY'
import struct, sys
path, n = sys.argv[1], int(sys.argv[2])
def csum(b):
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
with open(path, 'wb') as f:
    f.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
    for i in range(n):
        udp = struct.pack('!HHHH', 40000, 53, 16, 0) + b'tamandua'
        ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), i & 0xffff, 0, 64, 17, 0,
                         bytes([198, 18, i >> 8, i & 255]), bytes([198, 19, 0, 1]))
        ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
        fr = bytes.fromhex('020000000002' '020000000001' '0800') + ip + udp
        f.write(struct.pack('<IIII', 1700000000, i, len(fr), len(fr)) + fr)
PY
    # the fixed part of the budget on this machine: a first run with a known budget prints
    # its per-worker cap P; fixed = budget - 2 workers x P x bytes-per-flow (within 2 flows)
    probe=$WORK/probe
    start_capture af_packet "" "$probe" --memory-budget 1G || { echo "FAIL $label: capture did not start: $(head -3 "$probe.stderr")"; exit 1; }
    stop_capture
    read -r per bpf <<<"$(sed -n 's/.*(\([0-9]*\) per worker, ~\([0-9]*\) B per flow.*/\1 \2/p' "${probe}_log.txt")"
    [ -n "${per:-}" ] || { echo "FAIL $label: no memory-budget line: $(grep -E 'ERR|Memory' "${probe}_log.txt" | head -2)"; exit 1; }
    fixed=$((1073741824 - 2 * per * bpf))
    budget=$((fixed + 2 * 1500 * bpf + 2 * bpf))
    out=$WORK/budget
    start_capture af_packet "" "$out" --memory-budget "$budget" || { echo "FAIL $label: capture did not start: $(head -3 "$out.stderr")"; exit 1; }
    sent=$(send_pcap "$flood" 20000)
    sleep 0.5
    stop_capture
    cap=$(sed -n 's/.*(\([0-9]*\) per worker, ~[0-9]* B per flow.*/\1/p' "${out}_log.txt")
    read -r rec drp ifd <<<"$(live_counts "${out}_log.txt")"
    evicted=$(sed -n 's/^tamandua: worker [0-9]*: .*; \([0-9]*\) flows evicted$/\1/p' "${out}_log.txt" | paste -sd+ | bc)
    peak=$(sed -n 's/^Max number of flows in memory: \([0-9]*\).*/\1/p' "${out}_log.txt")
    written=$(($(wc -l <"${out}_flows.txt") - 1))
    # flowStat is the third column; RMFLOW_HFULL is bit 42
    marked=$(python3 -c 'import sys; print(sum(1 for l in list(open(sys.argv[1]))[1:] if int(l.split("\t")[2], 16) >> 42 & 1))' "${out}_flows.txt")
    ok=1; msg=""
    [ "$RC" = 0 ] || { ok=0; msg+=" exit $RC;"; }
    [ $((rec + drp + ifd)) = "$sent" ] || { ok=0; msg+=" sent $sent != $rec + $drp + $ifd;"; }
    [ -n "$cap" ] && [ "$cap" -ge 1490 ] && [ "$cap" -le 1510 ] || { ok=0; msg+=" per-worker cap '$cap', expected ~1500;"; }
    [ "${evicted:-0}" -gt 0 ] || { ok=0; msg+=" nothing evicted;"; }
    [ "${peak:-0}" -le $((2 * ${cap:-0})) ] || { ok=0; msg+=" $peak flows in memory at once > 2 x $cap;"; }
    if [ "$drp$ifd" = 00 ]; then
      [ "$written" = "$FLOWS" ] || { ok=0; msg+=" $written flows written, $FLOWS sent;"; }
      [ "$marked" = "$evicted" ] || { ok=0; msg+=" $marked flows marked RMFLOW_HFULL, $evicted evicted;"; }
    fi
    if [ $ok = 1 ]; then
      echo "PASS $label: budget $budget B -> $cap flows per worker; $FLOWS flows sent: $evicted evicted and marked RMFLOW_HFULL, peak $peak in memory, $written written; sent $sent = $rec + $drp + $ifd"
    else
      echo "FAIL $label:$msg"; FAILED=1
      sed 's/^/    log: /' "${out}_log.txt" | grep -E 'ERR|WRN|INF|evicted|pktsRec|Max number' | head -12
    fi
    teardown_net
    exit $FAILED
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
