//! The Markov panel: the k-step slider, absorption probabilities, expected steps, row entropy and the teleport
//! ranking of the selected matrix, with short explanations for students.

use crate::graph::TokenNode;
use crate::markov::MarkovReport;

/// What the panel wants changed.
#[must_use]
pub enum MarkovCommand {
    /// Nothing.
    None,
    /// Show A^k.
    Steps(usize),
}

/// Draws the panel.
pub fn markov_panel_ui(
    ui: &mut egui::Ui,
    report: &MarkovReport,
    tokens: &[TokenNode],
    steps: usize,
) -> MarkovCommand {
    let mut command = MarkovCommand::None;
    let mut k = steps;
    if ui
        .add(egui::Slider::new(&mut k, 1..=16).text("k: the graph shows A^k"))
        .changed()
    {
        command = MarkovCommand::Steps(k);
    }
    ui.label(format!(
        "row-stochastic: {}  ·  DAG + self-loops: {}  ·  absorbing: {:?}  ·  sink mass {:.3}",
        report.is_row_stochastic,
        report.is_dag_without_self_loops,
        report.absorbing_states,
        report.sink_mass
    ));
    egui::CollapsingHeader::new("What am I looking at?").default_open(false).show(ui, |ui| {
        ui.label("Each row of an attention matrix sums to 1: row i is a probability distribution over the tokens \
                  token i looks at, so the matrix is a Markov transition matrix.");
        ui.label("The causal mask lets a token look only at itself and earlier tokens: the graph is a DAG plus \
                  self-loops. Token 0 can only look at itself, so it is an absorbing state, and A^k drains all mass \
                  into it as k grows — one reason GPT-2 parks so much attention on the first token (the sink).");
        ui.label("The teleport ranking adds a small chance α of jumping to a random token, so the chain has a \
                  stationary distribution that ranks tokens by how much attention flows into them.");
        ui.label("Query = what a token looks for, key = what a token offers; attention is communication between \
                  tokens, the MLP is computation inside each. T tokens make T² attention entries: a bigger BPE \
                  vocabulary means fewer tokens and smaller matrices.");
    });
    egui::ScrollArea::vertical()
        .id_salt("markov_rows")
        .show(ui, |ui| {
            egui::Grid::new("markov").striped(true).show(ui, |ui| {
                ui.strong("token");
                ui.strong("H bits");
                ui.strong("2^H");
                ui.strong("E[steps]");
                ui.strong("→ token 0");
                ui.strong("π (α)");
                ui.end_row();
                for (i, t) in tokens.iter().enumerate() {
                    // The report has one entry per token in each list.
                    let get = |v: &[f64]| v[i];
                    ui.monospace(format!("{i} {}", t.text));
                    ui.monospace(format!("{:.3}", get(&report.row_entropy_bits)));
                    ui.monospace(format!("{:.2}", get(&report.effective_attended)));
                    ui.monospace(format!("{:.2}", get(&report.expected_steps)));
                    // A row per token, a column per absorbing state.
                    let to_zero = report
                        .absorbing_states
                        .iter()
                        .position(|&s| s == 0)
                        .map(|k| report.absorption_probabilities[i][k]);
                    ui.monospace(to_zero.map_or_else(|| "—".to_string(), |p| format!("{p:.3}")));
                    ui.monospace(format!("{:.4}", get(&report.teleport_ranking)));
                    ui.end_row();
                }
            });
        });
    command
}
