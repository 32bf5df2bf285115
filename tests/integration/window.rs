//! The real window: `attngraph gui --screenshot` under Xvfb (an X server drawing into memory, with Mesa's
//! software OpenGL), then the PNG is read back and checked to be a real picture of the app. CI installs Xvfb
//! and sets ATTNGRAPH_CI=1, which turns a missing Xvfb into a failure instead of a skip.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::hub_model;

/// An Xvfb server on its own display number, stopped when dropped.
struct Xvfb {
    child: Child,
    display: String,
}

impl Xvfb {
    fn start() -> Option<Self> {
        // The tests of one process run side by side: each start takes numbers no other start of this process
        // tries, so two never wait on the same display.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        for _ in 0..20 {
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let number = 140 + (std::process::id() as usize % 50) + n;
            let socket = format!("/tmp/.X11-unix/X{number}");
            if Path::new(&socket).exists() && !stale(number) {
                continue;
            }
            let child = Command::new("Xvfb")
                .args([
                    format!(":{number}").as_str(),
                    "-screen",
                    "0",
                    "1600x1000x24",
                    "-nolisten",
                    "tcp",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .ok()?;
            let mut server = Self {
                child,
                display: format!(":{number}"),
            };
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(10) {
                // Ours only while our server still runs: one that exited found the number taken, and the
                // socket is another server's.
                if let Ok(Some(_)) = server.child.try_wait() {
                    break; // the number was taken after all: try the next one
                }
                if Path::new(&socket).exists() {
                    return Some(server);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = server.child.kill();
        }
        None
    }
}

/// Whether display `number`'s socket was left by a server that is gone (its lock names no live process);
/// then the socket and the lock are removed so the number can be used again.
fn stale(number: usize) -> bool {
    let lock = format!("/tmp/.X{number}-lock");
    let alive = std::fs::read_to_string(&lock)
        .ok()
        .and_then(|pid| pid.trim().parse::<i32>().ok())
        .is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
    if alive {
        return false;
    }
    let _ = std::fs::remove_file(&lock);
    std::fs::remove_file(format!("/tmp/.X11-unix/X{number}")).is_ok()
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        // SIGTERM lets Xvfb remove its socket and lock; SIGKILL would leave them behind.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(3) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether Xvfb is here; without it the window tests are skipped, except under CI (ATTNGRAPH_CI), where that
/// is a failure.
fn has_xvfb(test: &str) -> bool {
    let has = Command::new("sh")
        .args(["-c", "command -v Xvfb"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has {
        crate::skip_report::required_in_ci(
            &format!("window::{test}"),
            "the real window under Xvfb",
            "Xvfb is not installed (xvfb)",
        );
    }
    has
}

/// Runs `attngraph gui <args> --screenshot` in its own Xvfb with `env` set, in a fresh working folder, and
/// returns the picture it saved.
fn screenshot(args: &[&str], env: &[(&str, &Path)]) -> image::RgbaImage {
    let server = Xvfb::start().expect("Xvfb did not start");
    screenshot_on(&server, args, env)
}

/// [`screenshot`] on a running server.
fn screenshot_on(server: &Xvfb, args: &[&str], env: &[(&str, &Path)]) -> image::RgbaImage {
    let (status, stderr, png, _dir) = run_gui(server, args, env);
    assert!(status.success(), "gui --screenshot failed: {stderr}");
    image::open(&png).unwrap().to_rgba8()
}

/// Runs `attngraph gui <args> --screenshot` on `server` in a fresh working folder: its exit status, its stderr,
/// where the picture goes, and the folder that holds it.
fn run_gui(
    server: &Xvfb,
    args: &[&str],
    env: &[(&str, &Path)],
) -> (
    std::process::ExitStatus,
    String,
    std::path::PathBuf,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("window.png");
    let mut command = Command::new(env!("CARGO_BIN_EXE_attngraph"));
    command
        .arg("gui")
        .args(args)
        .args(["--screenshot", png.to_str().unwrap()])
        .env("DISPLAY", &server.display)
        .env_remove("WAYLAND_DISPLAY")
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(180) {
            let _ = child.kill();
            panic!("the window did not save its screenshot and close within 3 minutes");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    (status, stderr, png, dir)
}

/// A real picture of the app with a graph: many colours, no single colour covering nearly everything, and the
/// graph's edges (the purple end of the weight ramp) and token nodes drawn.
fn assert_graph_drawn(image: &image::RgbaImage) {
    let (w, h) = image.dimensions();
    assert!(w >= 1200 && h >= 700, "the window is {w} × {h}");
    let mut counts = std::collections::HashMap::new();
    for p in image.pixels() {
        *counts.entry(p.0).or_insert(0usize) += 1;
    }
    let most = counts.values().copied().max().unwrap_or(0);
    assert!(counts.len() > 200, "only {} colours: blank?", counts.len());
    assert!(
        (most as f64) < 0.9 * f64::from(w * h),
        "one colour covers {most} of {} pixels",
        w * h
    );
    let purple = image
        .pixels()
        .filter(|p| p.0[2] > 120 && p.0[0] > 60 && p.0[1] < 80)
        .count();
    assert!(purple > 500, "{purple} purple pixels: no edges drawn?");
    // Token nodes are coloured by surprisal along (60 + 190t, 190 − 120t, 90), green to red.
    let nodes = image
        .pixels()
        .filter(|p| {
            let [r, g, b, _] = p.0.map(f64::from);
            let t = (r - 60.0) / 190.0;
            (0.0..=1.0).contains(&t)
                && (g - (190.0 - 120.0 * t)).abs() < 8.0
                && (b - 90.0).abs() < 8.0
        })
        .count();
    assert!(nodes > 500, "{nodes} node-coloured pixels: no nodes drawn?");
}

#[test]
fn the_screenshot_command_draws_the_app_under_xvfb() {
    if !has_xvfb("the_screenshot_command_draws_the_app_under_xvfb") {
        return;
    }
    let image = screenshot(
        &[
            "--fresh",
            "--model",
            hub_model().to_str().unwrap(),
            "--text",
            "I love tennis. I love tennis.",
            "--layer",
            "1",
            "--head",
            "2",
        ],
        &[],
    );
    assert_graph_drawn(&image);
    // The fixture is a random model: every token surprises it, so its nodes are red.
    let red = image
        .pixels()
        .filter(|p| p.0[0] > 200 && p.0[1] < 110 && p.0[2] < 110)
        .count();
    assert!(red > 500, "{red} red pixels: no nodes drawn?");
}

#[test]
fn a_screenshot_of_an_error_is_saved_and_the_command_fails() {
    if !has_xvfb("a_screenshot_of_an_error_is_saved_and_the_command_fails") {
        return;
    }
    let server = Xvfb::start().expect("Xvfb did not start");
    let missing = tempfile::tempdir().unwrap();
    let model = missing.path().join("no-such-model");
    let (status, stderr, png, _dir) = run_gui(
        &server,
        &[
            "--fresh",
            "--model",
            model.to_str().unwrap(),
            "--text",
            "hi",
        ],
        &[],
    );
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("the window shows an error:"), "{stderr}");
    assert!(stderr.contains("does not exist"), "{stderr}");
    // The picture, which shows the message, is there all the same.
    let image = image::open(&png).unwrap().to_rgba8();
    assert!(image.width() >= 1200, "{}", image.width());
    // A head or a pin the model or the text does not have: shown as the nearest there is, said, and the command
    // fails with what it refused (the demo model has layers 0–8; "I love tennis." is five tokens with BOS).
    for (asked, says) in [
        (
            &["--layer", "20", "--head", "0"][..],
            "layer 20 head 0 is not in this model",
        ),
        (&["--pin", "30"], "--pin 30: the text has tokens 0–4"),
    ] {
        let mut args = vec!["--fresh", "--model", "demo", "--text", "I love tennis."];
        args.extend_from_slice(asked);
        let (status, stderr, png, _dir) = run_gui(&server, &args, &[]);
        assert_eq!(status.code(), Some(1), "{asked:?}: {stderr}");
        assert!(stderr.contains(says), "{asked:?}: {stderr}");
        assert!(png.exists(), "{asked:?}");
    }
}

#[test]
fn a_first_run_offline_with_an_empty_cache_opens_on_the_demo_models_graph() {
    if !has_xvfb("a_first_run_offline_with_an_empty_cache_opens_on_the_demo_models_graph") {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let cache = home.path().join("empty-hub-cache");
    let offline = Path::new("1");
    let image = screenshot(
        &["--fresh"],
        &[
            ("HOME", home.path()),
            ("XDG_CONFIG_HOME", home.path()),
            ("XDG_DATA_HOME", home.path()),
            ("HF_HUB_CACHE", &cache),
            ("HF_HUB_OFFLINE", offline),
        ],
    );
    assert_graph_drawn(&image);
}

#[test]
fn every_lesson_step_renders_in_both_languages() {
    if !has_xvfb("every_lesson_step_renders_in_both_languages") {
        return;
    }
    let model = hub_model();
    // One server for all twenty pictures.
    let server = Xvfb::start().expect("Xvfb did not start");
    for lang in ["en", "zh-Hant"] {
        for step in 1..=attngraph::lesson::steps::STEPS {
            let step = step.to_string();
            let image = screenshot_on(
                &server,
                &[
                    "--fresh",
                    "--model",
                    model.to_str().unwrap(),
                    "--text",
                    "I love tennis. I love tennis.",
                    "--view",
                    "lesson",
                    "--lesson-step",
                    &step,
                    "--lang",
                    lang,
                ],
                &[],
            );
            let mut counts = std::collections::HashMap::new();
            for p in image.pixels() {
                *counts.entry(p.0).or_insert(0usize) += 1;
            }
            let (w, h) = image.dimensions();
            let most = counts.values().copied().max().unwrap_or(0);
            assert!(
                counts.len() > 100,
                "{lang} step {step}: only {} colours",
                counts.len()
            );
            assert!(
                (most as f64) < 0.97 * f64::from(w * h),
                "{lang} step {step}: one colour covers {most} of {} pixels",
                w * h
            );
            // Text: light pixels on the dark theme's background.
            let light = image
                .pixels()
                .filter(|p| p.0[..3].iter().map(|&c| u32::from(c)).sum::<u32>() > 3 * 150)
                .count();
            assert!(
                light > 3000,
                "{lang} step {step}: {light} light pixels: no text?"
            );
        }
    }
}

/// Every file named `app.ron` under `dir`, with its bytes.
fn saved_settings(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| n == "app.ron") {
                found.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
    }
    found
}

#[test]
fn a_fresh_run_leaves_the_saved_settings_as_they_were() {
    if !has_xvfb("a_fresh_run_leaves_the_saved_settings_as_they_were") {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let cache = home.path().join("empty-hub-cache");
    let offline = Path::new("1");
    let env = [
        ("HOME", home.path()),
        ("XDG_CONFIG_HOME", home.path()),
        ("XDG_DATA_HOME", home.path()),
        ("HF_HUB_CACHE", cache.as_path()),
        ("HF_HUB_OFFLINE", offline),
    ];
    let server = Xvfb::start().expect("Xvfb did not start");
    let args = [
        "--model",
        "demo",
        "--text",
        "The saved text.",
        "--layer",
        "1",
        "--head",
        "2",
    ];
    screenshot_on(&server, &args, &env);
    let saved = saved_settings(home.path());
    assert_eq!(saved.len(), 1, "the first run saved no settings: {saved:?}");
    let (path, before) = &saved[0];
    assert!(String::from_utf8_lossy(before).contains("The saved text."));
    let fresh = [
        "--fresh",
        "--model",
        "demo",
        "--text",
        "throwaway",
        "--view",
        "matrix",
    ];
    screenshot_on(&server, &fresh, &env);
    let after = std::fs::read(path).unwrap();
    assert!(after == *before, "a --fresh run changed {}", path.display());
}
