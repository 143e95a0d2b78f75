//! Mapping throughput on one core and per-request overhead, as plain timed loops
//! whose medians `run.sh` puts in its table (the divan benches measure the same
//! functions in more detail).
//!
//! ```text
//! micro mapping [rounds] [records-per-round] [case name contains]
//! micro overhead [rounds] [requests-per-round]
//! ```
//!
//! Prints `MAPPING case=".." rps=..` and `OVERHEAD layers=".." ns=.. extra_ns=..`.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use connector_benches::measure::median;
use connector_benches::micro::{Layers, MappingCase, mapping_rounds, ping_rounds};
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
            let (rounds, per_round) = (arg(1, 7), arg(2, 5_000));
            let server = Server::start(Catalog::new(100, 1));
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            let clients: Vec<_> = Layers::ALL
                .iter()
                .map(|l| (*l, l.client(&server.base_url())))
                .collect();
            let mut times = vec![Vec::new(); clients.len()];
            runtime.block_on(async {
                // Warm up connections, then interleave the configurations.
                for (_, c) in &clients {
                    ping_rounds(c, 200).await;
                }
                for _ in 0..rounds {
                    for (i, (_, c)) in clients.iter().enumerate() {
                        times[i].push(ping_rounds(c, per_round).await.as_nanos() as f64);
                    }
                }
            });
            let bare = median(&times[0]);
            for (i, (layers, _)) in clients.iter().enumerate() {
                let ns = median(&times[i]);
                println!(
                    "OVERHEAD layers=\"{}\" ns={ns:.0} extra_ns={:.0}",
                    layers.name(),
                    ns - bare
                );
            }
        }
        _ => {
            eprintln!("usage: micro mapping|overhead [rounds] [per-round] [mapping case]");
            std::process::exit(2);
        }
    }
}
