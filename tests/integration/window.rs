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
        for n in 0..20 {
            let number = 140 + (std::process::id() as usize % 50) + n;
            let socket = format!("/tmp/.X11-unix/X{number}");
            if Path::new(&socket).exists() {
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
                if Path::new(&socket).exists() {
                    return Some(server);
                }
                if let Ok(Some(_)) = server.child.try_wait() {
                    break; // the number was taken after all: try the next one
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = server.child.kill();
        }
        None
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_screenshot_command_draws_the_app_under_xvfb() {
    let has_xvfb = Command::new("sh")
        .args(["-c", "command -v Xvfb"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_xvfb {
        assert!(
            std::env::var_os("ATTNGRAPH_CI").is_none(),
            "ATTNGRAPH_CI is set but Xvfb is not installed"
        );
        eprintln!(
            "the_screenshot_command_draws_the_app_under_xvfb: Xvfb is not installed; skipped"
        );
        return;
    }
    let server = Xvfb::start().expect("Xvfb did not start");
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("window.png");
    let mut child = Command::new(env!("CARGO_BIN_EXE_attngraph"))
        .args([
            "gui",
            "--fresh",
            "--model",
            hub_model().to_str().unwrap(),
            "--text",
            "I love tennis. I love tennis.",
            "--layer",
            "1",
            "--head",
            "2",
            "--screenshot",
            png.to_str().unwrap(),
        ])
        .env("DISPLAY", &server.display)
        .env_remove("WAYLAND_DISPLAY")
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
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
    assert!(
        status.success(),
        "gui --screenshot failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let image = image::open(&png).unwrap().to_rgba8();
    let (w, h) = image.dimensions();
    assert!(w >= 1200 && h >= 700, "the window is {w} × {h}");
    // A real picture: many colours, no single colour covering nearly everything.
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
    // The graph's edges use the purple end of the weight ramp; the token nodes are red: both must be drawn.
    let purple = image
        .pixels()
        .filter(|p| p.0[2] > 120 && p.0[0] > 60 && p.0[1] < 80)
        .count();
    let red = image
        .pixels()
        .filter(|p| p.0[0] > 200 && p.0[1] < 110 && p.0[2] < 110)
        .count();
    assert!(purple > 500, "{purple} purple pixels: no edges drawn?");
    assert!(red > 500, "{red} red pixels: no nodes drawn?");
}
