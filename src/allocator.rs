//! Tuning of the global allocator (mimalloc, installed in `main.rs`).
//!
//! Every page the process touches for the first time is zeroed by the kernel, which on a
//! virtual machine costs about as much as the flow stage itself for a table of millions of
//! flows. By default mimalloc hands freed memory back to the kernel after a second, so a
//! buffer freed when a vector grows, or the batches of one phase of a run, are faulted in and
//! zeroed again when the memory is reused. We never return it: the process keeps its peak
//! (which `--memory-budget` bounds), as a sensor that preallocates would, and
//! mimalloc reuses it. On real.pcap this cuts page faults by two thirds (BENCHMARKS.md).
//!
//! Transparent huge pages are turned off for the process: the kernel zeroes a whole 2 MiB page
//! at the first touch of any byte in it, and the chunks of flow and plugin state, the batches
//! and the output buffers fill their pages only gradually (or never, at the end of a run).
//! With 4 KiB pages, real.pcap with the default plugins needs a third less memory and less
//! system time; on a table of 2 M flows (small64.pcap) the extra TLB misses cost less than the
//! zeroing saved (BENCHMARKS.md).

/// mimalloc's `mi_option_purge_delay` (milliseconds before freed memory is returned to the
/// kernel). The `extended` bindings of libmimalloc-sys predate the option's current name: it
/// is entry 15 of `mi_option_e` in the bundled `mimalloc.h` (same place as the old
/// `mi_option_reset_delay`), pinned by Cargo.lock.
const PURGE_DELAY_OPTION: libmimalloc_sys::mi_option_t = 15;

/// Purge delay set at start: never.
pub const PURGE_DELAY_MS: i64 = -1;

/// Applies the settings above; call first thing in `main`, before any thread starts.
pub fn tune() {
    // SAFETY: mi_option_set only stores an integer in mimalloc's option table; any value is
    // valid for this option (-1 = never purge, 0 = immediately, N = after N ms).
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY_OPTION, PURGE_DELAY_MS as _) };
    // also applies to the memory mapped already; a kernel without the flag keeps THP
    let _ = nix::sys::prctl::set_thp_disable(true);
}

/// The purge delay in effect (for tests and diagnostics).
pub fn purge_delay_ms() -> i64 {
    // SAFETY: mi_option_get only reads mimalloc's option table.
    unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY_OPTION) as i64 }
}

#[cfg(test)]
mod tests {
    #[test]
    fn purge_delay_option_is_the_one_we_mean() {
        // entry 15 holds the default purge delay of the bundled mimalloc (1000 ms, options.c)
        // until we set it: a renumbered option table would show another default here
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(super::purge_delay_ms(), 1000);
        }
        super::tune();
        assert_eq!(super::purge_delay_ms(), super::PURGE_DELAY_MS);
        assert_eq!(nix::sys::prctl::get_thp_disable(), Ok(true));
    }
}
