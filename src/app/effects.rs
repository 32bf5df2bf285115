//! The heads' effects and the lesson, as the app asks for them: the attribution the grid explains, what the
//! lesson's current step reads, and the exports of attributions, sweeps and the coloured grid.

use super::AttnApp;
use crate::export;
use crate::model::ablation::Replacement;
use crate::ui::command::{EffectExport, LensColour};
use crate::ui::effects_panel;
use crate::ui::notice::Notice;
use crate::ui::view_state::GridColour;

impl AttnApp {
    /// Asks for the attribution of the prediction the grid explains (the session skips it when it is there, on
    /// its way, or failed before).
    pub(super) fn request_attribution(&mut self) {
        let (Some(position), Some(key)) = (self.view.predicted, self.session.text_key()) else {
            return;
        };
        if position >= 1 {
            self.session.attribute(key, position - 1);
        }
    }

    /// Asks for what the lesson's current step reads, for the text on screen: its numbers for the selected head,
    /// and on the last step the attribution of the last token's prediction.
    pub(super) fn lesson_needs(&mut self) {
        let Some(key) = self.session.text_key() else {
            return;
        };
        let (layer, head) = match self.settings.selection {
            crate::graph::Selection::Head { layer, head } => (layer, head),
            _ => (0, 0),
        };
        self.session.explain(key.clone(), layer, head);
        if self.settings.lesson_step == crate::lesson::steps::LENS_STEP {
            self.session.lens(key.clone(), self.view.knock_out());
        }
        // The attribution step explains the last token's prediction: chosen once per text, so the reader can
        // pick another token or colouring in its grid.
        if self.settings.lesson_step != crate::lesson::steps::ATTRIBUTION_STEP {
            return;
        }
        if self.lesson_attributed.as_ref() != Some(&key) {
            let last = self
                .session
                .analysis()
                .map_or(0, |a| a.tokens.len().saturating_sub(1));
            if last >= 1 {
                self.view.predicted = Some(last);
                self.view.grid_colour = GridColour::Contribution;
            }
            self.lesson_attributed = Some(key);
        }
        if self.view.grid_colour == GridColour::Contribution {
            self.request_attribution();
        }
    }

    /// Saves the heads' effects (`what`) to the quick-export folder.
    pub(super) fn export_effects(&mut self, what: EffectExport, ctx: &egui::Context) {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |t| t.as_secs());
        let attribution = self.session.attribution().cloned();
        // The sweep the grid shows: one made the other way (zeros or means) is not on screen.
        let sweep = self
            .session
            .sweep_result()
            .filter(|s| s.replacement == self.view.knock_out_by)
            .cloned();
        let analysis = self.session.analysis().cloned();
        let missing = |what: &str| Notice::failed(format!("nothing to export: {what}"));
        let notice = match what {
            EffectExport::AttributionCsv | EffectExport::AttributionJson => match attribution {
                None => missing(
                    "click a token in the probability panel with the grid coloured by contribution",
                ),
                Some(a) => {
                    let json = what == EffectExport::AttributionJson;
                    let name = format!(
                        "attribution_position_{}-{stamp}.{}",
                        a.position,
                        if json { "json" } else { "csv" }
                    );
                    self.exports.write_file(
                        name,
                        move || {
                            if json {
                                serde_json::to_vec_pretty(&a).map_err(|e| e.to_string())
                            } else {
                                Ok(export::attribution_csv(&a).into_bytes())
                            }
                        },
                        ctx,
                    )
                }
            },
            EffectExport::SweepCsv | EffectExport::SweepJson => match sweep {
                None => missing("run “Which heads matter” with the grid coloured by knock-out"),
                Some(s) => {
                    let json = what == EffectExport::SweepJson;
                    // The CSV has no field for it: the name says whether heads were zeroed or mean-ablated.
                    let name = format!(
                        "{}-{stamp}.{}",
                        match s.replacement {
                            Replacement::Zero => "knock_out_sweep",
                            Replacement::Mean => "mean_ablation_sweep",
                        },
                        if json { "json" } else { "csv" }
                    );
                    self.exports.write_file(
                        name,
                        move || {
                            if json {
                                serde_json::to_vec_pretty(&*s).map_err(|e| e.to_string())
                            } else {
                                Ok(export::sweep_csv(&s).into_bytes())
                            }
                        },
                        ctx,
                    )
                }
            },
            EffectExport::LensCsv | EffectExport::LensJson => {
                match self.session.lensed(&self.view.knock_out()) {
                    None => missing("open the Layers view and wait for its numbers"),
                    Some(lens) => {
                        let lens = lens.clone();
                        let json = what == EffectExport::LensJson;
                        let name = format!("lens-{stamp}.{}", if json { "json" } else { "csv" });
                        self.exports.write_file(
                            name,
                            move || {
                                if json {
                                    serde_json::to_vec_pretty(&lens).map_err(|e| e.to_string())
                                } else {
                                    Ok(export::lens_csv(&lens).into_bytes())
                                }
                            },
                            ctx,
                        )
                    }
                }
            }
            EffectExport::LensSvg | EffectExport::LensPng => {
                match self.session.lensed(&self.view.knock_out()) {
                    None => missing("open the Layers view and wait for its numbers"),
                    Some(lens) => {
                        let lens = lens.clone();
                        let png = what == EffectExport::LensPng;
                        let shade = match self.view.lens_colour {
                            LensColour::TopGuess => export::LensShade::TopGuess,
                            LensColour::NextToken => export::LensShade::NextToken,
                        };
                        let knocked: Vec<String> = self
                            .view
                            .knocked_out
                            .iter()
                            .map(|(l, h)| format!("{l}.{h}"))
                            .collect();
                        let how = match self.view.knock_out_by {
                            Replacement::Zero => "knocked out",
                            Replacement::Mean => "mean-ablated",
                        };
                        let title = if knocked.is_empty() {
                            "What each layer would predict next (the logit lens)".to_string()
                        } else {
                            format!(
                                "What each layer would predict next, heads {} {how}",
                                knocked.join(", ")
                            )
                        };
                        let caption = match &analysis {
                            Some(a) => format!(
                                "{} · {}",
                                self.settings.model,
                                crate::ui::shorten(&a.text, 90)
                            ),
                            None => self.settings.model.clone(),
                        };
                        let name = format!("lens-{stamp}.{}", if png { "png" } else { "svg" });
                        self.exports.write_file(
                            name,
                            move || {
                                let svg = export::lens_svg(&lens, shade, &title, &caption);
                                if png {
                                    export::svg_to_png(&svg, 2.0).map_err(|e| e.to_string())
                                } else {
                                    Ok(svg.into_bytes())
                                }
                            },
                            ctx,
                        )
                    }
                }
            }
            EffectExport::GridSvg | EffectExport::GridPng => {
                let overlay = analysis.as_ref().and_then(|a| {
                    effects_panel::overlay(
                        self.view.grid_colour,
                        self.view.predicted,
                        a,
                        self.session.attribution(),
                        sweep.as_deref(),
                    )
                });
                match overlay {
                    None => missing("colour the grid by contribution or knock-out first"),
                    Some(o) => {
                        let title = match o.sweep {
                            Some((_, Replacement::Zero)) => {
                                format!("Δ ln p({}) without each head", o.token)
                            }
                            Some((_, Replacement::Mean)) => {
                                format!("Δ ln p({}) mean-ablating each head", o.token)
                            }
                            None => format!(
                                "Each head's direct contribution to the logit of {}",
                                o.token
                            ),
                        };
                        let caption = match &analysis {
                            Some(a) => format!(
                                "{} · {}",
                                self.settings.model,
                                crate::ui::shorten(&a.text, 90)
                            ),
                            None => self.settings.model.clone(),
                        };
                        let crossed: Vec<(usize, usize)> = self.view.knocked_out.iter().collect();
                        let png = what == EffectExport::GridPng;
                        let name = format!(
                            "heads_{}-{stamp}.{}",
                            if o.kind == GridColour::KnockOut {
                                "knock_out"
                            } else {
                                "contribution"
                            },
                            if png { "png" } else { "svg" }
                        );
                        self.exports.write_file(
                            name,
                            move || {
                                let svg = export::grid_svg(&export::GridPicture {
                                    values: &o.values,
                                    title: &title,
                                    caption: &caption,
                                    crossed: &crossed,
                                    flip: o.flip(),
                                    ends: o.ends(),
                                });
                                if png {
                                    export::svg_to_png(&svg, 2.0).map_err(|e| e.to_string())
                                } else {
                                    Ok(svg.into_bytes())
                                }
                            },
                            ctx,
                        )
                    }
                }
            }
        };
        self.notice = Some(notice);
    }
}

impl AttnApp {
    /// Saves the Compare view's patching (`what`) to the quick-export folder.
    pub(super) fn export_patch(
        &mut self,
        what: crate::ui::command::PatchExport,
        ctx: &egui::Context,
    ) {
        use crate::ui::command::PatchExport;
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |t| t.as_secs());
        let patched = self
            .session
            .analysis()
            .zip(self.session.compared())
            .and_then(|(a, b)| {
                let key = self.view.patch_key(a, b)?;
                self.session.patched(&key).cloned()
            });
        let Some(p) = patched else {
            self.notice = Some(Notice::failed(
                "nothing to export: patch from A into B in the Compare view first",
            ));
            return;
        };
        let caption = format!(
            "{} · clean: {} · corrupt: {}",
            self.settings.model,
            crate::ui::shorten(&self.settings.text, 50),
            crate::ui::shorten(&self.settings.compare_text, 50)
        );
        let ext = match what {
            PatchExport::Csv => "csv",
            PatchExport::Json => "json",
            PatchExport::Svg => "svg",
            PatchExport::Png => "png",
        };
        let notice = self.exports.write_file(
            format!("patching-{stamp}.{ext}"),
            move || match what {
                PatchExport::Csv => Ok(export::patching_csv(&p).into_bytes()),
                PatchExport::Json => serde_json::to_vec_pretty(&*p).map_err(|e| e.to_string()),
                PatchExport::Svg | PatchExport::Png => {
                    let svg = export::patching_svg(&p, "Activation patching", &caption);
                    if what == PatchExport::Png {
                        export::svg_to_png(&svg, 2.0).map_err(|e| e.to_string())
                    } else {
                        Ok(svg.into_bytes())
                    }
                }
            },
            ctx,
        );
        self.notice = Some(notice);
    }

    /// The analysis on screen (knock-outs included) for NumPy: every head's attention and each token's
    /// statistics, as `analyze --npz` writes them.
    pub(super) fn export_npz(&mut self, ctx: &egui::Context) {
        let Some(analysis) = self.session.analysis().cloned() else {
            self.notice = Some(Notice::failed(
                "nothing to export: wait for the text to be read",
            ));
            return;
        };
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |t| t.as_secs());
        let notice = self.exports.write_with(
            format!("attentions-{stamp}.npz"),
            move |file| {
                let out = export::write_analysis(std::io::BufWriter::new(file), &analysis, None)
                    .map_err(std::io::Error::other)?;
                std::io::Write::flush(&mut { out })
            },
            ctx,
        );
        self.notice = Some(notice);
    }
}
