//! Glue between the command line and the batch-processing parts, so that a run (`app`) only
//! asks: which input ([`open_input`]: `-r`, `-R`, `-D`), which output files ([`Outputs`]:
//! `-W`, `--compress`), how many flows per worker ([`flow_cap`]: the memory budget).
//! `docs/batch.md` describes the behaviour.

use crate::capture::series::{self, Numbered, Plan, Series, SeriesHandle, WaitOptions};
use crate::capture::Source;
use crate::cli::Cli;
use crate::config::Config;
use crate::output::rotate::{Codec, OutFile, Rotating, SplitSpec};
use std::io::Write;
use std::time::Duration;

/// The replay input of a run.
pub struct Input {
    pub source: Box<dyn Source>,
    pub series: SeriesHandle,
    /// The name output prefixes are derived from: the file (`-r`), the list (`-R`) or the
    /// first file of the series (`-D`).
    pub name: String,
}

/// Opens `-r FILE`, `-R LIST` or `-D EXPR`; `Ok(None)` when none was given.
pub fn open_input(cli: &Cli) -> Result<Option<Input>, String> {
    let (plan, name) = if let Some(list) = &cli.read_list {
        (Plan::List(series::read_list(list)?), list.clone())
    } else if let Some(expr) = &cli.dir_series {
        let n = Numbered::parse(expr)?;
        let first = n.path(n.first);
        (Plan::Numbered(n), first)
    } else if let Some(r) = &cli.read {
        (Plan::Single(r.clone()), r.clone())
    } else {
        return Ok(None);
    };
    if cli.poll.is_nan() || cli.poll < 0.0 {
        return Err(format!("--poll {}: expected seconds >= 0", cli.poll));
    }
    let wait = WaitOptions {
        poll: Duration::from_secs_f64(cli.poll.clamp(0.01, 86_400.0)),
        give_up: match cli.give_up {
            Some(g) if g.is_finite() && g >= 0.0 => Some(Duration::from_secs_f64(g)),
            Some(g) => return Err(format!("--give-up {g}: expected seconds >= 0")),
            None => None,
        },
        interrupt: Default::default(),
    };
    let (s, handle) = Series::open(plan, wait).map_err(|e| e.to_string())?;
    Ok(Some(Input {
        source: Box::new(s),
        series: handle,
        name,
    }))
}

/// How flow and packet files are written.
pub struct Outputs {
    pub codec: Codec,
    pub split: Option<SplitSpec>,
}

impl Outputs {
    pub fn from_cli(cli: &Cli) -> Result<Outputs, String> {
        Ok(Outputs {
            codec: match &cli.compress {
                Some(c) => Codec::parse(c)?,
                None => Codec::None,
            },
            split: cli
                .write_split
                .as_deref()
                .map(SplitSpec::parse)
                .transpose()?,
        })
    }

    /// The `-w`-style argument for the output prefix (`-W` carries its own).
    pub fn prefix_arg<'a>(&'a self, cli: &'a Cli) -> Option<&'a str> {
        cli.write
            .as_deref()
            .or(self.split.as_ref().map(|s| s.prefix.as_str()))
    }

    /// A flows file (`PREFIX_flows.txt`, `PREFIX_flows.json`) starting with `header`: split
    /// with `-W`, compressed with `--compress`.
    pub fn flows_file(&self, path: &str, header: &[u8]) -> Result<Box<dyn Write + Send>, String> {
        match &self.split {
            Some(s) => Ok(Box::new(Rotating::new(
                path, self.codec, s.limit, s.start, header,
            )?)),
            None => {
                let mut f = self.file(path)?;
                f.write_all(header).map_err(|e| format!("{path}: {e}"))?;
                Ok(f)
            }
        }
    }

    /// Any other output file written by the writer thread (`PREFIX_packets.txt`).
    pub fn file(&self, path: &str) -> Result<Box<dyn Write + Send>, String> {
        Ok(Box::new(OutFile::create(
            &format!("{path}{}", self.codec.ext()),
            self.codec,
        )?))
    }
}

/// The per-worker flow cap from MAX_FLOWS/-f (`explicit_per_worker`, 0 = none) and the memory
/// budget (`--memory-budget`, else MEMORY_BUDGET): the smaller one applies. Returns the cap
/// and, when the budget set it, the line for the report.
pub fn flow_cap(
    cli: &Cli,
    cfg: &Config,
    analysis_plugins: &[String],
    workers: usize,
    snap: u32,
    explicit_per_worker: usize,
) -> Result<(usize, Option<crate::budget::Plan>), String> {
    let pipeline = crate::budget::pipeline_bytes(
        workers,
        cfg.u64("RING_BATCHES").max(2),
        cfg.u64("BATCH_PACKETS").max(1),
        if snap == 0 { 65535 } else { snap },
    );
    cap_from_budget(
        cli,
        cfg,
        analysis_plugins,
        workers,
        pipeline,
        explicit_per_worker,
    )
}

/// [`flow_cap`] for a live capture, whose pipeline is the capture buffers (`capture_bytes`
/// over all workers) and the output batches.
pub fn live_flow_cap(
    cli: &Cli,
    cfg: &Config,
    analysis_plugins: &[String],
    workers: usize,
    capture_bytes: u64,
    explicit_per_worker: usize,
) -> Result<(usize, Option<crate::budget::Plan>), String> {
    let pipeline =
        crate::budget::live_pipeline_bytes(workers, cfg.u64("RING_BATCHES").max(2), capture_bytes);
    cap_from_budget(
        cli,
        cfg,
        analysis_plugins,
        workers,
        pipeline,
        explicit_per_worker,
    )
}

fn cap_from_budget(
    cli: &Cli,
    cfg: &Config,
    analysis_plugins: &[String],
    workers: usize,
    pipeline: u64,
    explicit_per_worker: usize,
) -> Result<(usize, Option<crate::budget::Plan>), String> {
    let setting = match &cli.memory_budget {
        Some(s) => s.clone(),
        None => cfg.text("MEMORY_BUDGET").unwrap_or("auto").to_string(),
    };
    let plan =
        crate::budget::plan(&setting, analysis_plugins, workers, pipeline).map_err(
            |e| match &cli.memory_budget {
                Some(_) => format!("--memory-budget: {e}"),
                None => e,
            },
        )?;
    match plan {
        Some(p) if explicit_per_worker == 0 || (p.per_worker as usize) < explicit_per_worker => {
            Ok((p.per_worker as usize, Some(p)))
        }
        _ => Ok((explicit_per_worker, None)),
    }
}

/// The end report's problem-file section (empty when every file was read whole).
pub fn problem_lines(series: &SeriesHandle) -> Vec<String> {
    let p = series.problems();
    if p.is_empty() {
        return Vec::new();
    }
    let list: Vec<(String, String)> = p.into_iter().map(|p| (p.file, p.what)).collect();
    crate::report::problem_files(&list, series.files_opened())
}
