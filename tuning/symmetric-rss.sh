#!/usr/bin/env bash
# Prepares a NIC for tamandua's AF_XDP capture (one worker per RX queue):
#   tuning/symmetric-rss.sh IFACE CPU-LIST      e.g. tuning/symmetric-rss.sh eth1 2,3
# - sets the number of RX queues (combined channels) to the number of CPUs given,
# - makes RSS symmetric: the symmetric-xor input transform where the kernel and driver have it
#   (Linux >= 6.8), else the Toeplitz key 0x6D5A repeated,
# - hashes TCP/UDP over IPv4/IPv6 on the address pair only ("sd"), so every fragment of a
#   datagram lands on the queue of its first fragment,
# - pins queue i's interrupt to the i-th CPU of the list (stop irqbalance first),
# - turns off GRO, LRO and VLAN stripping (tamandua must see the packets as on the wire).
# Prints what it did and what the driver refused; changes nothing else. Needs root, ethtool.
# Run tamandua with the same CPU list: tamandua -i IFACE --capture af_xdp -c CPU-LIST
set -uo pipefail
IFACE=${1:?usage: $0 IFACE CPU-LIST}
CPUS=${2:?usage: $0 IFACE CPU-LIST}
command -v ethtool >/dev/null || { echo "ethtool is not installed" >&2; exit 1; }
[ -d "/sys/class/net/$IFACE" ] || { echo "no such interface: $IFACE" >&2; exit 1; }
cpus=()
for part in ${CPUS//,/ }; do
  if [[ $part == *-* ]]; then for c in $(seq "${part%-*}" "${part#*-}"); do cpus+=("$c"); done
  else cpus+=("$part"); fi
done
n=${#cpus[@]}
try() { if "$@" 2>/tmp/tuning.err; then echo "ok:      $*"; else echo "refused: $* ($(tr '\n' ' ' </tmp/tuning.err))"; fi; }

try ethtool -L "$IFACE" combined "$n"
if ethtool -X "$IFACE" xfrm symmetric-xor 2>/dev/null; then
  echo "ok:      ethtool -X $IFACE xfrm symmetric-xor"
else
  keylen=$(ethtool -x "$IFACE" 2>/dev/null | awk '/RSS hash key/{getline; print (length($0)+1)/3}')
  keylen=${keylen:-40}
  key=$(for _ in $(seq $((keylen / 2))); do printf '6d:5a:'; done | sed 's/:$//')
  try ethtool -X "$IFACE" hkey "$key" equal "$n"
fi
for f in tcp4 udp4 tcp6 udp6; do try ethtool -N "$IFACE" rx-flow-hash "$f" sd; done
try ethtool -K "$IFACE" gro off lro off rxvlan off

i=0
for irq in $(awk -v ifc="$IFACE" '$0 ~ ifc {sub(":","",$1); print $1}' /proc/interrupts); do
  cpu=${cpus[$((i % n))]}
  if echo "$cpu" >"/proc/irq/$irq/smp_affinity_list" 2>/dev/null; then
    echo "ok:      IRQ $irq -> CPU $cpu"
  else
    echo "refused: IRQ $irq -> CPU $cpu"
  fi
  i=$((i + 1))
done
[ $i -gt 0 ] || echo "note:    no IRQ named after $IFACE in /proc/interrupts (virtual device?)"
pgrep -x irqbalance >/dev/null && echo "warning: irqbalance is running and may move the IRQs again"
ethtool -x "$IFACE" 2>/dev/null | sed -n '1,3p;/RSS hash key/,+1p;/RSS hash function/,+4p'
