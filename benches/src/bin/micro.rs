//! Mapping throughput on one core and per-request overhead, as plain timed loops
//! whose medians `run.sh` puts in its table (the divan benches measure the same
//! functions in more detail).
//!
//! ```text
//! micro mapping [rounds] [records-per-round] [case name contains]
//! micro overhead [rounds] [requests-per-round] [whole-GETs-per-round]
//! ```
//!
//! Prints `MAPPING case=".." rps=..` and, per layer of the send path,
//! `OVERHEAD layer=".." ns=.. minus_copy_ns=.. min_ns=.. max_ns=.. rounds=..
//! per_round=..` (nanoseconds per request, median of the rounds, and the fastest
//! and slowest round; for the auth cases the attempt's request copy, measured in
//! the same rounds, is subtracted round by round),
//! then one line for a whole `GET /ping` on loopback (`whole=1`), for scale.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use connector_benches::measure::median;
use connector_benches::micro::{
    LayerCase, LayerProbes, MappingCase, bare_client, mapping_rounds, ping_rounds,
};
use connector_benches::server::{Catalog, Server};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg =
        |i: usize, default: usize| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(default);
    match args.first().map(String::as_str) {
        Some("mapping") => {
            let (rounds, per_round) = (arg(1, 7), arg(2, 200_000));
            let only = args.get(3).map(String::as_str).unwrap_or("");
            for case in MappingCase::ALL
                .into_iter()
                .filter(|c| c.name().contains(only))
            {
                let rps = median(&mapping_rounds(case, rounds, per_round));
                println!("MAPPING case=\"{}\" rps={rps:.0}", case.name());
            }
        }
        Some("overhead") => {
            let (rounds, per_round, gets) = (arg(1, 7), arg(2, 200_000), arg(3, 2_000));
            let server = Server::start(Catalog::new(100, 1));
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            let probes = runtime.block_on(LayerProbes::new(&server.base_url()));
            let times = {
                let _context = runtime.enter();
                probes.rounds(rounds, per_round)
            };
            let copy = LayerCase::ALL
                .iter()
                .position(|c| *c == LayerCase::AttemptCopy)
                .expect("the baseline case");
            for (i, case) in LayerCase::ALL.into_iter().enumerate() {
                // Paired by round: the layer's rounds minus the baseline's.
                let (net, minus) = if case.includes_copy() {
                    let diffs: Vec<f64> = times[i]
                        .iter()
                        .zip(&times[copy])
                        .map(|(t, c)| t - c)
                        .collect();
                    (diffs, median(&times[copy]))
                } else {
                    (times[i].clone(), 0.0)
                };
                let ns = median(&net);
                let (lo, hi) = min_max(&net);
                println!(
                    "OVERHEAD layer=\"{}\" ns={ns:.1} minus_copy_ns={minus:.1} min_ns={lo:.1} max_ns={hi:.1} rounds={rounds} per_round={per_round}",
                    case.name()
                );
            }
            // For scale: whole GETs on loopback through a client with no layers.
            let client = bare_client(&server.base_url());
            let mut get_ns = Vec::new();
            runtime.block_on(async {
                ping_rounds(&client, 200).await;
                for _ in 0..rounds {
                    get_ns.push(ping_rounds(&client, gets).await.as_nanos() as f64);
                }
            });
            let (lo, hi) = min_max(&get_ns);
            println!(
                "OVERHEAD layer=\"whole GET on loopback (scale)\" ns={:.0} minus_copy_ns=0 min_ns={lo:.0} max_ns={hi:.0} rounds={rounds} per_round={gets} whole=1",
                median(&get_ns)
            );
        }
        _ => {
            eprintln!(
                "usage: micro mapping [rounds] [per-round] [case] | micro overhead [rounds] [per-round] [gets-per-round]"
            );
            std::process::exit(2);
        }
    }
}

/// The smallest and largest of `values`.
fn min_max(values: &[f64]) -> (f64, f64) {
    values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(*v), hi.max(*v))
        })
}
