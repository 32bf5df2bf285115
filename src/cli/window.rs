//! The window: eframe opening the app, and what goes wrong before it can (no display, a windowing library that
//! cannot start, a screenshot that failed) said in one line.

use crate::app::{AttnApp, Launch};

/// Opens the window and runs until it is closed.
pub fn run(launch: Launch) -> anyhow::Result<()> {
    // On Linux, without a display server to talk to, say so in one line before winit tries (its own error
    // names a path inside its source).
    #[cfg(target_os = "linux")]
    if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
        anyhow::bail!(
            "no display to open the window on (neither DISPLAY nor WAYLAND_DISPLAY is set): run it in a desktop \
             session or under Xvfb (xvfb-run attngraph), or use a command such as `attngraph analyze --model demo --text \"I love tennis.\"`"
        );
    }
    let screenshot_failure = launch.screenshot_failure.clone();
    let mut viewport = egui::ViewportBuilder::default()
        .with_inner_size([1500.0, 900.0])
        .with_title("attngraph")
        .with_app_id("attngraph");
    if let Some(icon) = crate::app::window_icon() {
        viewport = viewport.with_icon(icon);
    }
    let options = eframe::NativeOptions {
        viewport,
        persist_window: launch.screenshot.is_none() && !launch.fresh,
        ..Default::default()
    };
    eframe::run_native(
        "attngraph",
        options,
        Box::new(move |cc| Ok(Box::new(AttnApp::new(&cc.egui_ctx, cc.storage, launch)))),
    )
    .map_err(|e| {
        // winit's messages can run over several lines and name its source files: keep the first line.
        let message = e.to_string();
        let first = message
            .lines()
            .map(str::trim)
            .find(|line| !line.is_empty())
            .unwrap_or("the windowing library gave no reason");
        anyhow::anyhow!("cannot open the window: {first}. Without a display, run under Xvfb (xvfb-run attngraph) or use a command (attngraph --help)")
    })?;
    match screenshot_failure.get() {
        Some(message) => anyhow::bail!("{message}"),
        None => Ok(()),
    }
}
