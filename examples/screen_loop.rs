//! A loop of screenings for instruction-level profiling (see BENCHMARKS.md):
//! `valgrind --tool=callgrind target/release/examples/screen_loop 500`.

fn main() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("messages");
    let content = waypoint::content::Content::load(&dir).unwrap();
    let text = "ok so this week was rough. work was long and my sponsor was out of town, but i made it to group on tuesday and thursday. the drive is about 40 minutes. is there an evening option closer to me?";
    let mut n = 0;
    let iters: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20000);
    for _ in 0..iters {
        n += content
            .screener
            .screen(std::hint::black_box(text))
            .rules
            .len();
    }
    println!("{n}");
}
