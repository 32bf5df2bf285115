//! The Markov panel: the k-step slider, absorption probabilities, expected steps, row entropy and the teleport
//! ranking of the selected matrix, with short explanations for students.

use egui_extras::{Column, TableBuilder};
use petgraph::graph::NodeIndex;

use crate::graph::AttentionGraph;
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
    graph: &AttentionGraph,
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
    let yes = |b: bool| if b { "yes" } else { "no" };
    ui.label(format!(
        "rows sum to 1: {}  ·  acyclic once the self-loops are left out: {}  ·  absorbing: {:?}  ·  sink mass {:.3}",
        yes(report.is_row_stochastic),
        yes(report.is_dag_without_self_loops),
        report.absorbing_states,
        report.sink_mass
    ));
    ui.small(format!(
        "The table is of A itself, one step, whatever k is: where each token's chain goes in the end does not \
         depend on how many steps the graph shows. π is the teleport ranking with α = {}.",
        report.teleport
    ));
    egui::CollapsingHeader::new("What am I looking at?").default_open(false).show(ui, |ui| {
        ui.label("Each row of an attention matrix sums to 1: row i is a probability distribution over the tokens \
                  token i looks at, so the matrix is a Markov transition matrix.");
        ui.label("The causal mask lets a token look only at itself and earlier tokens. A self-loop is a cycle of \
                  length one, so with them the graph is not a DAG; without them it is, since every other edge points \
                  to an earlier token and no path comes back.");
        ui.label("Token 0 can only look at itself, so it is an absorbing state, and A^k moves all the mass into it \
                  as k grows. Every causal attention matrix does this, even a uniform one; a head that already puts \
                  much of its weight on token 0 (a sink) only does it faster. The model never computes A^k: sinks are \
                  thought to be learned because softmax must put its weight somewhere, and token 0 is visible from \
                  every position. Attention rollout (the Matrix menu) is a more telling multi-step path: it \
                  multiplies the layers' head-averaged matrices, each mixed with the residual connection (a \
                  heuristic picture of the flow, not an exact one).");
        ui.label("The teleport ranking adds a small chance α of jumping to a random token, so the chain has a \
                  stationary distribution that ranks tokens by how much attention flows into them.");
        ui.label("Query = what a token looks for, key = what a token offers; attention is communication between \
                  tokens, the MLP is computation inside each. T tokens make T² attention entries. The vocabulary's \
                  size never enters that T × T matrix: a bigger vocabulary only cuts a text into fewer tokens, and \
                  costs a larger embedding table and a wider softmax.");
    });
    // Only the rows in view are laid out: a long text has a row per token.
    let row_height = ui.spacing().interact_size.y;
    let headers = [
        ("token", "The token (row i of the matrix)"),
        ("H bits", "Entropy of row i: how spread its attention is"),
        ("2^H", "Effective number of tokens row i attends to"),
        (
            "E[steps]",
            "Expected steps of the chain from token i until it is absorbed",
        ),
        (
            "→ token 0",
            "Probability that the chain from token i ends in token 0 (1 for every causal softmax head)",
        ),
        (
            "π",
            "Teleport ranking: the stationary distribution when each step jumps to a random token with probability α",
        ),
    ];
    let mut table = TableBuilder::new(ui)
        .id_salt("markov_rows")
        .striped(true)
        .auto_shrink([false, false])
        .column(Column::auto().at_least(120.0));
    for _ in 1..headers.len() {
        table = table.column(Column::auto().at_least(56.0));
    }
    table
        .header(row_height, |mut header| {
            for (name, help) in headers {
                header.col(|ui| {
                    ui.strong(name).on_hover_text(help);
                });
            }
        })
        .body(|body| {
            body.rows(row_height, graph.token_count(), |mut row| {
                let i = row.index();
                // `rows` hands out indices below the token count, and the report has one entry per token in each
                // list.
                let get = |v: &[f64]| v[i];
                let cells = [
                    format!(
                        "{i} {}",
                        crate::format::shorten(&graph.petgraph()[NodeIndex::new(i)].text, 10)
                    ),
                    format!("{:.3}", get(&report.row_entropy_bits)),
                    format!("{:.2}", get(&report.effective_attended)),
                    format!("{:.2}", get(&report.expected_steps)),
                    // A row per token, a column per absorbing state.
                    report
                        .absorbing_states
                        .iter()
                        .position(|&s| s == 0)
                        .map_or_else(
                            || "—".to_string(),
                            |k| format!("{:.3}", report.absorption_probabilities[i][k]),
                        ),
                    format!("{:.4}", get(&report.teleport_ranking)),
                ];
                for cell in cells {
                    row.col(|ui| {
                        ui.monospace(cell);
                    });
                }
            });
        });
    command
}
