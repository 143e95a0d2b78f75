//! Whole-sync benchmarks, one contender per process so each reports its own peak
//! memory. Every run starts its own server (a child process holding the
//! pre-rendered pages, so its memory is not counted) on 127.0.0.1.
//!
//! ```text
//! sync run <contender> <next|offset> <records> [concurrency] [distinct-pages]
//! sync serve <records> <distinct-pages>      (the server child)
//! sync report <results-file>                 (the table run.sh prints)
//! ```
//!
//! Contenders: `floor` (reqwest + serde_json into typed structs), `floor-value`
//! (the same into `serde_json::Value`), `sdk-items` (paginate yielding typed
//! items, no records: the floor's work through the SDK), `sdk-value` (paginate
//! yielding `Value`),
//! `sdk-dynamic` (paginate + the dynamic `Mapper`'s `RecordSeed`, decoding each
//! item straight into a record), `sdk-dynamic-value` (paginate into `Value`s +
//! `Mapper::map_owned`), `sdk-derived-value` (paginate +
//! derived conversion from `Value`), `sdk-typed` (typed decoding + derived
//! `into_record`), `import-sqlite` (the import pipeline into the SQLite store),
//! `import-count` (the import pipeline into a counting sink). `<contender>+task`
//! runs a contender as a task spawned on the runtime instead of on the thread
//! that calls `block_on`; its ratio is taken against `floor+task`.
//!
//! Prints one line: `RESULT contender=.. style=.. concurrency=.. records=..
//! secs=.. rps=.. peak_mb=.. cpu_secs=..` (the client's CPU time during the run,
//! every thread, the server's not included).

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::sync::Arc;
use std::time::Instant;

use connector_benches::harness::{self, BenchConnector, CountingSink, Mode, Style};
use connector_benches::measure::{cpu_secs, median, peak_rss_mb};
use connector_benches::model::Issue;
use connector_benches::server::{Server, serve_main};
use serde_json::Value;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("serve") => serve_main(&args[1..]),
        Some("run") => run(&args[1..]),
        Some("report") => report(args.get(1).expect("report <results-file>")),
        _ => {
            eprintln!(
                "usage: sync run <contender> <next|offset> <records> [concurrency] [distinct-pages]"
            );
            std::process::exit(2);
        }
    }
}

fn run(args: &[String]) {
    let contender = args.first().expect("a contender").clone();
    let style = args
        .get(1)
        .and_then(|s| Style::parse(s))
        .expect("a style: next or offset");
    let records: u64 = args
        .get(2)
        .and_then(|s| s.parse().ok())
        .expect("a number of records");
    let concurrency: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1);
    let distinct: u64 = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(u64::MAX);

    let server = Server::spawn(records, distinct);
    let base = server.base_url();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let dir = tempfile::tempdir().expect("a temporary directory");

    let started = Instant::now();
    let cpu_at_start = cpu_secs();
    let dir_path = dir.path().to_path_buf();
    // `<contender>+task` runs the contender as a task spawned on the runtime (as a
    // service runs its syncs) instead of on the thread that calls `block_on` (as
    // `#[tokio::main]` runs `main`).
    let (base_contender, as_task) = match contender.strip_suffix("+task") {
        Some(base) => (base.to_owned(), true),
        None => (contender.clone(), false),
    };
    let work = async move {
        let dir = &dir_path;
        let contender = base_contender;
        match contender.as_str() {
            "floor" => harness::floor::<Issue>(&base, style, concurrency).await,
            "floor-value" => harness::floor::<Value>(&base, style, concurrency).await,
            "sdk-value" => harness::count_values(&base, style, concurrency).await,
            "sdk-items" => harness::count_items::<Issue>(&base, style, concurrency).await,
            "sdk-dynamic" => {
                let c = BenchConnector::new(&base, style, Mode::Dynamic, concurrency)?;
                harness::count_fetch(&c).await
            }
            "sdk-dynamic-value" => {
                let c = BenchConnector::new(&base, style, Mode::DynamicValue, concurrency)?;
                harness::count_fetch(&c).await
            }
            "sdk-derived-value" => {
                let c = BenchConnector::new(&base, style, Mode::DerivedFromValue, concurrency)?;
                harness::count_fetch(&c).await
            }
            "sdk-typed" => {
                let c = BenchConnector::new(&base, style, Mode::Typed, concurrency)?;
                harness::count_fetch(&c).await
            }
            "import-sqlite" => {
                let c = BenchConnector::new(&base, style, Mode::Typed, concurrency)?;
                let store = harness::sqlite_in(dir)?;
                harness::import(c, store, false).await
            }
            "import-count" => {
                let c = BenchConnector::new(&base, style, Mode::Typed, concurrency)?;
                let sink = Arc::new(CountingSink::default());
                let written = harness::import(c, sink.clone(), true).await?;
                debug_assert_eq!(written, sink.records());
                Ok(written)
            }
            other => panic!("unknown contender `{other}`"),
        }
    };
    let result = if as_task {
        runtime.block_on(async { runtime.spawn(work).await.expect("the run does not panic") })
    } else {
        runtime.block_on(work)
    };
    let secs = started.elapsed().as_secs_f64();
    let cpu = cpu_secs() - cpu_at_start;
    let n = match result {
        Ok(n) => n,
        Err(e) => {
            eprintln!("{contender} failed: {e}");
            std::process::exit(1);
        }
    };
    if n != records {
        eprintln!("{contender} read {n} records, expected {records}");
        std::process::exit(1);
    }
    drop(server);
    println!(
        "RESULT contender={contender} style={} concurrency={concurrency} records={n} secs={secs:.3} rps={:.0} peak_mb={:.1} cpu_secs={cpu:.2}",
        style.name(),
        n as f64 / secs,
        peak_rss_mb()
    );
}

/// One parsed `RESULT`, `MAPPING` or `OVERHEAD` line.
struct Line {
    kind: String,
    fields: Vec<(String, String)>,
}

impl Line {
    fn parse(text: &str) -> Option<Self> {
        let (kind, rest) = text.split_once(' ')?;
        let mut fields = Vec::new();
        let mut rest = rest.trim();
        while let Some((key, after)) = rest.split_once('=') {
            let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
                let end = quoted.find('"')?;
                (&quoted[..end], &quoted[end + 1..])
            } else {
                after.split_once(' ').unwrap_or((after, ""))
            };
            fields.push((key.trim().to_owned(), value.to_owned()));
            rest = next.trim();
        }
        Some(Self {
            kind: kind.to_owned(),
            fields,
        })
    }

    fn get(&self, key: &str) -> &str {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map_or("", |(_, v)| v.as_str())
    }

    fn num(&self, key: &str) -> f64 {
        self.get(key).parse().unwrap_or(f64::NAN)
    }

    /// Whether this is a run of `contender` in `series`.
    fn is_run(&self, contender: &str, series: Series<'_>) -> bool {
        self.kind == "RESULT"
            && self.get("contender") == contender
            && self.get("style") == series.style
            && self.get("concurrency") == series.conc.to_string()
            && self.get("records") == series.records.to_string()
    }
}

/// A pagination style, a concurrency and a number of records: what the runs of
/// different contenders compared with each other share.
#[derive(Clone, Copy)]
struct Series<'a> {
    style: &'a str,
    conc: usize,
    records: u64,
}

impl<'a> Series<'a> {
    fn new(style: &'a str, conc: usize, records: u64) -> Self {
        Self {
            style,
            conc,
            records,
        }
    }
}

/// Each run of one (contender, style, concurrency, records) against the floor run
/// of the same style and concurrency just before it (the machine's speed drifts
/// between rounds; a pair ran seconds apart): the median of the records/s ratios,
/// the lowest and highest, and the number of pairs.
///
/// A contender run as a task (`+task`) is paired with the floor run as a task,
/// and that floor with the plain floor.
fn paired(lines: &[Line], contender: &str, series: Series<'_>) -> Option<(f64, f64, f64, usize)> {
    let floor_name = if contender.ends_with("+task") && contender != "floor+task" {
        "floor+task"
    } else {
        "floor"
    };
    let mut floor = None;
    let mut ratios = Vec::new();
    for l in lines {
        if l.is_run(floor_name, series) {
            floor = Some(l.num("rps"));
        }
        if l.is_run(contender, series)
            && let Some(f) = floor
        {
            ratios.push(l.num("rps") / f);
        }
    }
    if ratios.is_empty() {
        return None;
    }
    let lo = ratios.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Some((median(&ratios), lo, hi, ratios.len()))
}

/// Medians of the runs of one (contender, style, concurrency, records).
fn medians(lines: &[Line], contender: &str, series: Series<'_>) -> Option<(f64, f64, f64, usize)> {
    let runs: Vec<&Line> = lines
        .iter()
        .filter(|l| l.is_run(contender, series))
        .collect();
    if runs.is_empty() {
        return None;
    }
    let col = |k: &str| median(&runs.iter().map(|l| l.num(k)).collect::<Vec<_>>());
    Some((col("rps"), col("secs"), col("peak_mb"), runs.len()))
}

fn report(path: &str) {
    let text = std::fs::read_to_string(path).expect("the results file");
    let lines: Vec<Line> = text.lines().filter_map(Line::parse).collect();
    let records: u64 = lines
        .iter()
        .find(|l| l.kind == "RESULT")
        .map_or(200_000, |l| l.num("records") as u64);
    let big = lines
        .iter()
        .filter(|l| l.get("contender") == "import-count")
        .map(|l| l.num("records") as u64)
        .max()
        .unwrap_or(records);
    let row = |item: &str, what: &str, rps: f64, ratio: Option<f64>, peak: f64, extra: &str| {
        let ratio = ratio.map_or_else(|| "-".to_owned(), |r| format!("{r:.2}x"));
        let peak = if peak.is_nan() {
            "-".to_owned()
        } else {
            format!("{peak:.1}")
        };
        println!("| {item:<4} | {what:<44} | {rps:>12.0} | {ratio:>7} | {peak:>7} | {extra}");
    };
    println!(
        "| item | benchmark                                    |    records/s | vs floor | peak MB | notes"
    );
    println!(
        "|------|----------------------------------------------|-------------:|--------:|--------:|------"
    );
    let contenders = [
        ("floor", "hand-written reqwest + serde_json (typed)"),
        ("floor-value", "hand-written reqwest + serde_json (Value)"),
        ("sdk-items", "SDK paginate -> typed items (no records)"),
        ("sdk-value", "SDK paginate -> Value"),
        ("sdk-dynamic", "SDK paginate + dynamic Mapper (seed)"),
        ("sdk-dynamic-value", "SDK paginate + dynamic Mapper (Value)"),
        ("sdk-derived-value", "SDK paginate + derived from Value"),
        ("sdk-typed", "SDK typed decoding + derived into_record"),
        ("floor+task", "hand-written loop, run as a task (vs floor)"),
        (
            "sdk-dynamic+task",
            "as a task: dynamic Mapper (seed) (vs floor+task)",
        ),
        (
            "sdk-typed+task",
            "as a task: typed + into_record (vs floor+task)",
        ),
    ];
    // `sdk-value` also against the hand-written loop decoding `Value`s: the same
    // work, like for like.
    // The ratio column is the median of each run against the floor run just before
    // it; the note gives the pairs' range.
    let note = |c: &str, rps: f64, value_floor: Option<f64>, n: usize, pairs| {
        let range = match pairs {
            Some((_, lo, hi, _)) if c != "floor" => format!("pairs {lo:.2}-{hi:.2}x; "),
            _ => String::new(),
        };
        match value_floor {
            Some(f) if c == "sdk-value" => {
                format!(
                    "{range}{:.2}x the hand-written Value loop; median of {n}",
                    rps / f
                )
            }
            _ => format!("{range}median of {n}"),
        }
    };
    // One row per contender of a series, against that series' floor runs.
    let series_rows = |item: &str, label: &str, series: Series<'_>, of: &[(&str, &str)]| {
        let value_floor = medians(&lines, "floor-value", series).map(|m| m.0);
        for (c, what) in of {
            if let Some((rps, _, peak, n)) = medians(&lines, c, series) {
                let pairs = paired(&lines, c, series);
                let extra = note(c, rps, value_floor, n, pairs);
                let what = format!("{label}: {what}");
                row(item, &what, rps, pairs.map(|p| p.0), peak, &extra);
            }
        }
    };
    for style in ["next", "offset"] {
        series_rows("1", style, Series::new(style, 1, records), &contenders);
    }
    for conc in [4, 8] {
        series_rows(
            "2",
            &format!("offset x{conc}"),
            Series::new("offset", conc, records),
            &[
                ("floor", "hand-written concurrent reqwest"),
                ("floor-value", "hand-written concurrent reqwest (Value)"),
                ("sdk-items", "SDK paginate -> typed items"),
                ("sdk-value", "SDK paginate -> Value"),
                ("sdk-dynamic", "SDK paginate + dynamic Mapper (seed)"),
                ("sdk-dynamic-value", "SDK paginate + dynamic Mapper (Value)"),
                ("sdk-typed", "SDK typed decoding + derived"),
                ("floor+task", "hand-written loop, run as a task (vs floor)"),
                (
                    "sdk-dynamic+task",
                    "as a task: dynamic Mapper (seed) (vs floor+task)",
                ),
                (
                    "sdk-typed+task",
                    "as a task: typed + derived (vs floor+task)",
                ),
            ],
        );
    }
    let next = Series::new("next", 1, records);
    for (contender, what, floor) in [
        (
            "import-sqlite",
            "import pipeline -> SQLite (next URL)",
            "floor",
        ),
        (
            "import-sqlite+task",
            "as a task: import -> SQLite (vs floor+task)",
            "floor+task",
        ),
    ] {
        let Some((rps, secs, peak, n)) = medians(&lines, contender, next) else {
            continue;
        };
        // Wall time against the floor run just before each import (same records:
        // the inverse of the records/s ratio).
        let pairs = paired(&lines, contender, next);
        let wall = pairs.map_or(String::new(), |(r, lo, hi, _)| {
            format!(
                "wall {secs:.2}s = {:.2}x the {floor} run just before it (pairs {:.2}-{:.2}x); ",
                1.0 / r,
                1.0 / hi,
                1.0 / lo
            )
        });
        row(
            "3",
            what,
            rps,
            pairs.map(|p| p.0),
            peak,
            &format!("{wall}median of {n}"),
        );
    }
    let mut peaks = Vec::new();
    for n in [records, big] {
        if let Some((rps, _, peak, runs)) =
            medians(&lines, "import-count", Series::new("next", 1, n))
        {
            peaks.push(peak);
            row(
                "4",
                &format!("import pipeline -> counting sink, {n} recs"),
                rps,
                None,
                peak,
                &format!("median of {runs}"),
            );
        }
    }
    if let [small, large] = peaks[..] {
        println!(
            "|      | peak memory at {big} vs {records} records: {:+.1}%",
            (large / small - 1.0) * 100.0
        );
    }
    for l in lines.iter().filter(|l| l.kind == "MAPPING") {
        row(
            "5",
            &format!("mapping, one core: {}", l.get("case")),
            l.num("rps"),
            None,
            f64::NAN,
            "median of 7 rounds",
        );
    }
    for l in lines.iter().filter(|l| l.kind == "OVERHEAD") {
        let ns = l.num("ns");
        let value = if ns >= 1000.0 {
            format!("{ns:.0} ns")
        } else {
            format!("{ns:.1} ns")
        };
        let spread = format!("rounds {}-{} ns", l.get("min_ns"), l.get("max_ns"));
        let notes = if l.get("whole") == "1" {
            format!(
                "for scale, not an overhead: median of {} rounds of {} GETs; {spread}",
                l.get("rounds"),
                l.get("per_round")
            )
        } else {
            let copy = l.num("minus_copy_ns");
            let minus = if copy > 0.0 {
                format!("the attempt's request copy ({copy:.1} ns) subtracted; ")
            } else {
                String::new()
            };
            format!(
                "{minus}median of {} rounds of {}, no network, no waits; {spread}",
                l.get("rounds"),
                l.get("per_round")
            )
        };
        println!(
            "| 6    | {:<44} | {value:>12} |       - |       - | {notes}",
            format!("per request: {}", l.get("layer"))
        );
    }
}
