//! The compiled-in plugins, selected at run time with `--plugins`.

pub mod basic_flow;
pub mod basic_stats;
pub mod tcp_flags;
pub mod tcp_states;
pub mod tcp_win;

use crate::config::Config;
use crate::plugin::{Plugin, PluginInfo};

/// Sinks are plugins in T2's list but have no per-flow callbacks: they choose output formats.
pub const SINKS: &[&str] = &["txtSink", "jsonSink"];

/// Every analysis plugin, in T2's default order.
pub fn registry() -> Vec<PluginInfo> {
    vec![
        PluginInfo {
            name: "basicFlow",
            make: |_c: &Config| Box::new(basic_flow::BasicFlow::new()) as Box<dyn Plugin>,
            settings: &[],
        },
        PluginInfo {
            name: "basicStats",
            make: |_c: &Config| Box::new(basic_stats::BasicStats::new()) as Box<dyn Plugin>,
            settings: &[],
        },
        PluginInfo {
            name: "tcpFlags",
            make: |c: &Config| Box::new(tcp_flags::TcpFlags::new(c)) as Box<dyn Plugin>,
            settings: tcp_flags::SETTINGS,
        },
        PluginInfo {
            name: "tcpStates",
            make: |_c: &Config| Box::new(tcp_states::TcpStates::new()) as Box<dyn Plugin>,
            settings: &[],
        },
        tcp_win::info(),
    ]
}

/// The default plugin list (T2's default set).
pub const DEFAULT: &str = "basicFlow,basicStats,tcpFlags,tcpStates,txtSink";
