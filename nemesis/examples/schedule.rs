//! Prints the schedule a seed draws: `cargo run -p nemesis --example schedule -- SEED NEMESES`.

use nemesis::{parse_nemeses, Schedule, ScheduleSpec};

fn main() {
    let mut args = std::env::args().skip(1);
    let seed: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(42);
    let names = args.next().unwrap_or_else(|| "all".to_string());
    let kinds = match parse_nemeses(&names) {
        Ok(kinds) => kinds,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let nodes: Vec<String> = (1..=5).map(|i| format!("n{i}")).collect();
    let spec = ScheduleSpec::new(seed, nodes, 120_000, 10_000, 8_000, kinds);
    match Schedule::generate(&spec) {
        Ok(schedule) => println!("{}", schedule.summary()),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    }
}
