//! UI time per frame of the app, measured the way the window runs it: the whole `AttnApp::show` (every panel,
//! the egui_graphs view, the layer × head grid) plus egui's tessellation of what it drew. GPU upload and
//! presentation are not included (they depend on the driver, not on attngraph).
//!
//! ```sh
//! python tools/make_bench_model.py /tmp/gpt2-shape      # GPT-2-small shape, random weights (12 × 12 heads)
//! cargo bench --bench frame_time -- --model /tmp/gpt2-shape [--tokens 8,64,255,512,1024] [--frames 120]
//! ```
//!
//! Each frame moves the pointer to another token, so the graph rebuilds its highlight every frame (the worst
//! case of an idle window); the target is 16.7 ms (60 frames per second) for every view at every length up to
//! GPT-2's 1,024 tokens.

use std::time::{Duration, Instant};

use attngraph::app::{AttnApp, Launch};
use attngraph::graph::Selection;
use attngraph::ui::settings::View;
use egui_kittest::Harness;

fn main() {
    let mut model = String::from("tests/fixtures/tiny-gpt2");
    let mut lengths = vec![8usize, 64, 255, 512, 1024];
    let mut frames = 120usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--model" => model = args.next().unwrap_or(model),
            "--tokens" => {
                lengths = args
                    .next()
                    .unwrap_or_default()
                    .split(',')
                    .filter_map(|t| t.trim().parse().ok())
                    .collect()
            }
            "--frames" => frames = args.next().and_then(|f| f.parse().ok()).unwrap_or(frames),
            _ => {} // `cargo bench` passes --bench
        }
    }
    println!("model {model}; UI CPU time per frame (show + tessellate), {frames} frames each, 1500 × 900 points");
    println!("| tokens | view | edges | median ms | p95 ms | frames/s at the median |");
    println!("|---:|---|---:|---:|---:|---:|");
    for &n in &lengths {
        // The graph twice: at the default threshold (random weights spread attention thin, so long rows keep
        // few edges), and with no threshold, where every token keeps its strongest edges (3 per row above 48
        // tokens): the most a real model's graph draws.
        let cases = [
            (View::Graph, None),
            (View::Graph, Some(0.0)),
            (View::Matrix, None),
            (View::Heads, None),
            (View::Markov, None),
            // Every head of layer 5: up to 128 tokens every line kept, past that the hovered token's alone.
            (View::Overlay, None),
            (View::Overlay, Some(0.0)),
        ];
        for (view, threshold) in cases {
            match measure(&model, n, view, threshold, frames) {
                Ok(row) => println!("{row}"),
                Err(err) => {
                    println!("| {n} | {view:?} | skipped: {err} | | | |");
                    break;
                }
            }
        }
    }
}

/// A text of exactly `n` GPT-2 tokens (with BOS) once analysed: a sentence repeated, cut to length.
fn text_of(n: usize) -> String {
    let words = "The quick brown fox jumps over the lazy dog while the cat sleeps"
        .split(' ')
        .collect::<Vec<_>>();
    (0..n.saturating_sub(1))
        .map(|i| words[i % words.len()])
        .collect::<Vec<_>>()
        .join(" ")
}

fn measure(
    model: &str,
    n: usize,
    view: View,
    threshold: Option<f64>,
    frames: usize,
) -> Result<String, String> {
    let launch = Launch {
        model: Some(model.to_string()),
        text: Some(text_of(n)),
        selection: Some(Selection::Head { layer: 5, head: 1 }),
        view: Some(view),
        fresh: true,
        ..Launch::default()
    };
    let mut app = AttnApp::new(&egui::Context::default(), None, launch);
    if let Some(threshold) = threshold {
        app.settings.pruning.threshold = threshold;
    }
    let mut h = Harness::builder()
        .with_size(egui::vec2(1500.0, 900.0))
        .build_ui_state(|ui, app: &mut AttnApp| app.show(ui), app);
    let start = Instant::now();
    while h.state().busy() || h.state().session.analysis().is_none() {
        h.step();
        let session = &h.state().session;
        if let Some(err) = session.load_error().or(session.analyze_error()) {
            return Err(err.to_string());
        }
        if start.elapsed() > Duration::from_secs(300) {
            return Err("no analysis after 5 minutes".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let tokens = h.state().session.analysis().map_or(0, |a| a.tokens.len());
    if tokens != n {
        return Err(format!("the text has {tokens} tokens, not {n}"));
    }
    // Warm-up: layouts settle, fonts are cached.
    for _ in 0..10 {
        h.step();
    }
    let mut times = Vec::with_capacity(frames);
    for f in 0..frames {
        // Sweep the pointer across the graph area so hover highlighting changes.
        let x = 320.0 + (f as f32 * 37.0) % 800.0;
        h.hover_at(egui::pos2(x, 480.0));
        let t = Instant::now();
        h.step();
        let output = h.output();
        let shapes = output.shapes.clone();
        let primitives = h.ctx.tessellate(shapes, output.pixels_per_point);
        std::hint::black_box(primitives);
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let p95 = times[(times.len() * 95 / 100).min(times.len() - 1)];
    let edges = h
        .state()
        .view
        .shown()
        .map(|s| s.snapshot.graph.edge_count())
        .ok_or("no snapshot on screen")?;
    let view = match threshold {
        Some(t) => format!("{view:?}, threshold {t}"),
        None => format!("{view:?}"),
    };
    Ok(format!(
        "| {n} | {view} | {edges} | {median:.2} | {p95:.2} | {:.0} |",
        1e3 / median
    ))
}
