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

/// Absorbing tokens given a column of their own; the line above the table names them all.
const MAX_ABSORBING_COLUMNS: usize = 4;

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
    // Absorption is a chain's: where rows do not sum to 1 (a layer's maximum) there is none to speak of.
    let chain = report.is_row_stochastic;
    let absorbing = match report.absorbing_states.as_slice() {
        _ if !chain => "not a Markov chain, so nothing is absorbed".to_string(),
        [] => "no absorbing token".to_string(),
        [only] => format!("absorbing: token {only} alone, so every chain ends there"),
        many => format!(
            "absorbing: tokens {} (the → columns{}: where each chain ends)",
            many.iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            if many.len() > MAX_ABSORBING_COLUMNS {
                format!(", for the first {MAX_ABSORBING_COLUMNS}")
            } else {
                String::new()
            }
        ),
    };
    ui.label(format!(
        "rows sum to 1: {}  ·  acyclic once the self-loops are left out: {}  ·  {absorbing}  ·  sink mass {:.3}",
        yes(report.is_row_stochastic),
        yes(report.is_dag_without_self_loops),
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
    // A column per absorbing token, where there is a choice: with one, every chain ends in it (probability 1
    // in every row), which the line above says once.
    let shown_absorbing: &[usize] = match report.absorbing_states.as_slice() {
        [_, _, ..] if chain => {
            &report.absorbing_states[..report.absorbing_states.len().min(MAX_ABSORBING_COLUMNS)]
        }
        _ => &[],
    };
    let absorbing_headers: Vec<(String, String)> = shown_absorbing
        .iter()
        .map(|s| {
            (
                format!("→ {s}"),
                format!("Probability that the chain from token i ends in token {s}"),
            )
        })
        .collect();
    let mut headers: Vec<(String, String)> = [
        ("token", "The token (row i of the matrix)"),
        ("H bits", "Entropy of row i: how spread its attention is"),
        ("2^H", "Effective number of tokens row i attends to"),
        (
            "E[steps]",
            "Expected steps of the chain from token i until it is absorbed (a chain's rows sum to 1: — where they do not)",
        ),
    ]
    .iter()
    .map(|&(a, b)| (a.to_string(), b.to_string()))
    .collect();
    headers.extend(absorbing_headers);
    headers.push((
        "π".to_string(),
        "Teleport ranking: the stationary distribution when each step jumps to a random token with probability α"
            .to_string(),
    ));
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
            for (name, help) in &headers {
                header.col(|ui| {
                    ui.strong(name.as_str()).on_hover_text(help.as_str());
                });
            }
        })
        .body(|body| {
            body.rows(row_height, graph.token_count(), |mut row| {
                let i = row.index();
                // `rows` hands out indices below the token count, and the report has one entry per token in each
                // list.
                let get = |v: &[f64]| v[i];
                let mut cells = vec![
                    format!(
                        "{i} {}",
                        crate::format::shorten(&graph.petgraph()[NodeIndex::new(i)].text, 10)
                    ),
                    format!("{:.3}", get(&report.row_entropy_bits)),
                    format!("{:.2}", get(&report.effective_attended)),
                    if chain {
                        format!("{:.2}", get(&report.expected_steps))
                    } else {
                        "—".to_string()
                    },
                ];
                // A row per token, a column per absorbing state: the shown ones are the first of them.
                cells.extend(
                    (0..shown_absorbing.len())
                        .map(|k| format!("{:.3}", report.absorption_probabilities[i][k])),
                );
                cells.push(format!("{:.4}", get(&report.teleport_ranking)));
                for cell in cells {
                    row.col(|ui| {
                        ui.monospace(cell);
                    });
                }
            });
        });
    command
}

#[cfg(test)]
mod tests {
    use egui_kittest::kittest::{NodeT, Queryable};

    use super::*;
    use crate::graph::{Matrix, TokenNode};

    /// The panel's table for `rows`, drawn once; the labels on screen.
    fn labels_of(rows: &[Vec<f64>]) -> Vec<String> {
        let a = Matrix::from_rows(rows).unwrap();
        let report = crate::markov::report(&a, 0.15, 1);
        let tokens = (0..rows.len())
            .map(|position| TokenNode {
                position,
                id: 7,
                text: format!("t{position}"),
                surprisal_bits: None,
            })
            .collect();
        let graph = AttentionGraph::new(tokens, &[]).unwrap();
        let mut harness = egui_kittest::Harness::new_ui(|ui| {
            let _ = markov_panel_ui(ui, &report, &graph, 1);
        });
        harness.run();
        harness
            // Each label once: not the text runs under it.
            .query_all_by(|node| node.role() == egui::accesskit::Role::Label)
            .filter_map(|node| {
                // A label's text is its accessible label, or its value where the label is empty.
                let node = node.accesskit_node();
                node.label()
                    .filter(|l| !l.is_empty())
                    .or_else(|| node.value())
            })
            .collect()
    }

    #[test]
    fn where_chains_end_gets_a_column_only_when_there_is_a_choice() {
        // Causal softmax rows: token 0 alone absorbs, and every chain ends there.
        let one = labels_of(&[
            vec![1.0, 0.0, 0.0],
            vec![0.5, 0.5, 0.0],
            vec![0.2, 0.3, 0.5],
        ]);
        assert!(one.iter().any(|l| l.contains("token 0 alone")), "{one:?}");
        assert!(!one.iter().any(|l| l.starts_with('→')), "{one:?}");
        // Token 1 looks only at itself: two absorbing tokens, and token 2's chain splits between them (½, ½).
        let two = labels_of(&[
            vec![1.0, 0.0, 0.0],
            vec![0.0, 1.0, 0.0],
            vec![0.25, 0.25, 0.5],
        ]);
        assert!(two.iter().any(|l| l.contains("tokens 0, 1")), "{two:?}");
        assert!(
            two.iter().any(|l| l == "→ 0") && two.iter().any(|l| l == "→ 1"),
            "{two:?}"
        );
        assert_eq!(two.iter().filter(|l| *l == "0.500").count(), 2, "{two:?}");
        // Rows that do not sum to 1 (a layer's maximum): no chain, so no absorption and no expected steps.
        let max = labels_of(&[
            vec![1.0, 0.0, 0.0],
            vec![0.9, 0.6, 0.0],
            vec![0.5, 0.3, 0.7],
        ]);
        assert!(
            max.iter().any(|l| l.contains("not a Markov chain")),
            "{max:?}"
        );
        assert!(
            !max.iter().any(|l| l.contains("every chain ends there")),
            "{max:?}"
        );
        assert_eq!(max.iter().filter(|l| *l == "—").count(), 3, "{max:?}");
    }
}
