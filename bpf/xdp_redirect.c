// SPDX-License-Identifier: GPL-2.0-or-later
// tamandua's XDP program: every packet goes to the AF_XDP socket bound to the RX queue it
// arrived on. tamandua binds one socket per RX queue and fills the map itself (it creates the
// map, patches this program's reference to it, loads and attaches the program through a
// bpf_link, which the kernel detaches when tamandua's descriptor closes, on any exit).
// A queue without a socket passes its packets to the stack (XDP_PASS fallback).
//
// Built by build.rs: clang -O2 -target bpf -c xdp_redirect.c
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u32);
} xsks_map SEC(".maps");

SEC("xdp")
int tamandua_xdp(struct xdp_md *ctx)
{
	return bpf_redirect_map(&xsks_map, ctx->rx_queue_index, XDP_PASS);
}

char _license[] SEC("license") = "GPL";
