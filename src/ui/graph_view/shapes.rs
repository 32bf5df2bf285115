//! How the graph view draws: the edge shape (an arc whose width, colour and opacity follow the weight, with
//! self-loops and arrows; the curve shared with the SVG export), the token shape (a circle by surprisal with a
//! label that thins out when tokens crowd), and the fixed layout that keeps the positions attngraph computed.

use egui::epaint::CubicBezierShape;
use egui::{Color32, Pos2, Shape, Stroke, Vec2};
use egui_graphs::{DisplayEdge, DisplayNode, DrawContext, EdgeProps, Graph, Node};
use petgraph::stable_graph::IndexType;
use petgraph::EdgeType;
use serde::{Deserialize, Serialize};

use crate::export::{edge_curve, edge_style, self_loop, trim_ends};
use crate::ui::palette::ramp;

/// What an edge carries: its weight and how strongly to draw it.
#[derive(Clone, Debug)]
pub struct EdgeData {
    /// The attention weight.
    pub weight: f32,
    /// 0..1 after the linear or log colour scale.
    pub intensity: f32,
    /// Part of the hovered or pinned node's row or column.
    pub highlight: bool,
    /// The tokens lie on a line (the arc layout), where crowded labels run downwards.
    pub on_a_line: bool,
}

/// An edge drawn as an arc whose width and colour follow the weight.
#[derive(Clone, Debug)]
pub struct WeightEdge {
    data: EdgeData,
    /// Canvas units under its tokens that their labels take at the last frame's zoom: fit-to-screen keeps them
    /// in view.
    label_room: f32,
}

impl From<EdgeProps<EdgeData>> for WeightEdge {
    fn from(props: EdgeProps<EdgeData>) -> Self {
        Self {
            data: props.payload,
            label_room: 40.0,
        }
    }
}

impl WeightEdge {
    fn stroke(&self, ctx: &DrawContext) -> Stroke {
        let (width, opacity) = edge_style(f64::from(self.data.intensity));
        let mut color = ramp(self.data.intensity);
        if self.data.highlight {
            color = Color32::from_rgb(230, 85, 13);
        }
        Stroke::new(
            ctx.meta.canvas_to_screen_size(width as f32).max(0.5),
            color.gamma_multiply(opacity as f32),
        )
    }

    /// The edge's curve (as the SVG export draws it: [`edge_curve`]).
    fn bezier(a: Pos2, b: Pos2) -> [Pos2; 4] {
        let pos = |p: Pos2| (f64::from(p.x), f64::from(p.y));
        edge_curve(pos(a), pos(b), f64::INFINITY).map(|(x, y)| Pos2::new(x as f32, y as f32))
    }

    fn loop_points(center: Pos2, r: f32) -> [Pos2; 4] {
        self_loop((f64::from(center.x), f64::from(center.y)), f64::from(r))
            .map(|(x, y)| Pos2::new(x as f32, y as f32))
    }
}

fn arrow(tip: Pos2, from: Pos2, size: f32, color: Color32) -> Shape {
    let dir = (tip - from).normalized();
    let side = Vec2::new(-dir.y, dir.x) * size * 0.45;
    Shape::convex_polygon(
        vec![tip, tip - dir * size + side, tip - dir * size - side],
        color,
        Stroke::NONE,
    )
}

impl<N: Clone, Ty: EdgeType, Ix: IndexType, D: DisplayNode<N, EdgeData, Ty, Ix>>
    DisplayEdge<N, EdgeData, Ty, Ix, D> for WeightEdge
{
    fn shapes(
        &mut self,
        start: &Node<N, EdgeData, Ty, Ix, D>,
        end: &Node<N, EdgeData, Ty, Ix, D>,
        ctx: &DrawContext,
    ) -> Vec<Shape> {
        let zoom = ctx.meta.zoom.max(1e-3);
        self.label_room = label_depth(zoom, self.data.on_a_line) / zoom;
        let stroke = self.stroke(ctx);
        let tip = ctx.meta.canvas_to_screen_size(7.0);
        let r = ctx.meta.canvas_to_screen_size(9.0);
        let points = if start.id() == end.id() {
            Self::loop_points(ctx.meta.canvas_to_screen_pos(start.location()), r)
        } else {
            let a = ctx.meta.canvas_to_screen_pos(start.location());
            let b = ctx.meta.canvas_to_screen_pos(end.location());
            // Start and end on the node circles, not their centres.
            let pos = |p: Pos2| (f64::from(p.x), f64::from(p.y));
            trim_ends(edge_curve(pos(a), pos(b), f64::INFINITY), f64::from(r))
                .map(|(x, y)| Pos2::new(x as f32, y as f32))
        };
        let [_, _, p2, p3] = points;
        vec![
            Shape::CubicBezier(CubicBezierShape::from_points_stroke(
                points,
                false,
                Color32::TRANSPARENT,
                stroke,
            )),
            // At least 5 points, and wider than the stroke, so the direction reads at any zoom.
            arrow(p3, p2, tip.max(5.0).max(3.0 * stroke.width), stroke.color),
        ]
    }

    fn update(&mut self, state: &EdgeProps<EdgeData>) {
        self.data = state.payload.clone();
    }

    fn is_inside(
        &self,
        start: &Node<N, EdgeData, Ty, Ix, D>,
        end: &Node<N, EdgeData, Ty, Ix, D>,
        pos: Pos2,
    ) -> bool {
        let points = if start.id() == end.id() {
            Self::loop_points(start.location(), 9.0)
        } else {
            Self::bezier(start.location(), end.location())
        };
        let curve =
            CubicBezierShape::from_points_stroke(points, false, Color32::TRANSPARENT, Stroke::NONE);
        curve
            .flatten(Some(0.5))
            .iter()
            .any(|p| p.distance(pos) < 4.0)
    }

    fn extra_bounds(
        &self,
        start: &Node<N, EdgeData, Ty, Ix, D>,
        end: &Node<N, EdgeData, Ty, Ix, D>,
    ) -> Option<(Pos2, Pos2)> {
        let points = if start.id() == end.id() {
            Self::loop_points(start.location(), 9.0)
        } else {
            Self::bezier(start.location(), end.location())
        };
        // Room for the endpoints' labels too (below the nodes, about one spacing wide, as deep as they run at
        // the zoom of the last frame), so fit-to-screen does not cut them.
        let label = |p: Pos2| {
            egui::Rect::from_min_max(
                p + Vec2::new(-0.6 * SPACING, 0.0),
                p + Vec2::new(0.6 * SPACING, self.label_room),
            )
        };
        let rect = egui::Rect::from_points(&points)
            .union(label(start.location()))
            .union(label(end.location()));
        Some((rect.min, rect.max))
    }
}

/// A layout that leaves node positions where attngraph put them (arc and circle are computed, not simulated).
#[derive(Debug, Default)]
pub struct FixedLayout {
    state: FixedState,
}

/// State of [`FixedLayout`]: nothing to keep.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct FixedState {}

impl egui_graphs::LayoutState for FixedState {}

impl egui_graphs::Layout<FixedState> for FixedLayout {
    fn next<N, E, Ty, Ix, Dn, De>(&mut self, _g: &mut Graph<N, E, Ty, Ix, Dn, De>, _ui: &egui::Ui)
    where
        N: Clone,
        E: Clone,
        Ty: EdgeType,
        Ix: IndexType,
        Dn: DisplayNode<N, E, Ty, Ix>,
        De: DisplayEdge<N, E, Ty, Ix, Dn>,
    {
    }

    fn state(&self) -> FixedState {
        self.state.clone()
    }

    fn from_state(state: FixedState) -> impl egui_graphs::Layout<FixedState> {
        Self { state }
    }
}

/// A token: a circle filled by surprisal, its label below in the theme's text colour (readable on both themes,
/// whatever the fill), outlined when hovered or pinned.
///
/// When tokens sit closer on screen than their labels are wide, labels in the arc layout are written downwards,
/// one a token, each starting just under its token, shortened to 14 characters; in the others they alternate between
/// two rows and are shortened with "…" to the room they have. Where even that leaves no room (a line's height
/// between tokens, or two characters), only every k-th token is labelled. Hover a token or zoom in to read it
/// whole.
#[derive(Clone, Debug)]
pub struct TokenShape {
    pos: Pos2,
    radius: f32,
    label: String,
    /// The token's position in the text: even ones label on the first row, odd ones on the second.
    index: usize,
    color: Option<Color32>,
    emphasised: bool,
}

impl From<egui_graphs::NodeProps<usize>> for TokenShape {
    fn from(props: egui_graphs::NodeProps<usize>) -> Self {
        Self {
            pos: props.location(),
            radius: 9.0,
            label: props.label.clone(),
            index: props.payload,
            color: props.color(),
            emphasised: props.selected || props.hovered || props.dragged,
        }
    }
}

/// Canvas distance between neighbouring tokens in the arc layout.
pub(super) const SPACING: f32 = 70.0;

/// Where the graph view says, for the frame, whether its tokens lie on a line (the arc layout), so that crowded
/// labels can be written downwards.
pub(super) fn on_a_line_id() -> egui::Id {
    egui::Id::new("attngraph.graph.tokens_on_a_line")
}

/// Characters of a label written downwards.
const UPRIGHT_CHARS: usize = 14;

/// How tokens' labels are drawn at a zoom: the font (readable at any zoom), the screen distance between
/// neighbours in the arc layout, a character's width, and whether labels run downwards (tokens on a line closer
/// than 8 characters).
struct LabelGeometry {
    font: egui::FontId,
    spacing: f32,
    char_width: f32,
    downwards: bool,
}

fn label_geometry(zoom: f32, on_a_line: bool) -> LabelGeometry {
    let font = egui::FontId::monospace((12.0 * zoom).clamp(10.0, 24.0));
    let spacing = SPACING * zoom;
    let char_width = font.size * 0.6;
    LabelGeometry {
        downwards: on_a_line && spacing < 8.0 * char_width,
        font,
        spacing,
        char_width,
    }
}

/// Screen points under a token's centre that its circle and label take, at most.
fn label_depth(zoom: f32, on_a_line: bool) -> f32 {
    let g = label_geometry(zoom, on_a_line);
    let below = 9.0 * zoom + 4.0;
    if g.downwards {
        below + UPRIGHT_CHARS as f32 * g.char_width + 4.0
    } else {
        // Two rows where labels alternate.
        below + 2.0 * g.font.size * 1.3
    }
}

impl<E: Clone, Ty: EdgeType, Ix: IndexType> DisplayNode<usize, E, Ty, Ix> for TokenShape {
    fn closest_boundary_point(&self, dir: Vec2) -> Pos2 {
        self.pos + dir.normalized() * self.radius
    }

    fn shapes(&mut self, ctx: &DrawContext) -> Vec<Shape> {
        let center = ctx.meta.canvas_to_screen_pos(self.pos);
        let radius = ctx.meta.canvas_to_screen_size(self.radius);
        let visuals = &ctx.ctx.global_style().visuals;
        let stroke = if self.emphasised {
            Stroke::new(2.5, Color32::from_rgb(230, 85, 13))
        } else {
            Stroke::new(1.0, visuals.weak_text_color())
        };
        let fill = self.color.unwrap_or(Color32::GRAY);
        // Unset means a frame the graph view did not draw: labels as for any layout.
        let on_a_line = ctx.ctx.data(|d| d.get_temp::<bool>(on_a_line_id())) == Some(true);
        let LabelGeometry {
            font,
            spacing,
            char_width,
            downwards,
        } = label_geometry(ctx.meta.zoom, on_a_line);
        // Closer than 8 characters: two rows give each label the room of two neighbours (the same rule for
        // every token, so rows never mix). Closer than 2 characters (hundreds of tokens): one row labels every
        // `every`-th token with about 6 characters of room. The hovered or pinned token shows its whole label,
        // below the others.
        let every = if 2.0 * spacing < 4.0 * char_width {
            (6.0 * char_width / spacing.max(0.1)).ceil() as usize
        } else {
            1
        };
        let staggered = every == 1 && spacing < 8.0 * char_width;
        let room = if every > 1 {
            every as f32 * spacing
        } else {
            2.0 * spacing
        };
        let room = ((room - char_width) / char_width).floor().max(2.0) as usize;
        let mut shapes = vec![
            Shape::circle_filled(center, radius, fill),
            Shape::circle_stroke(center, radius, stroke),
        ];
        if downwards {
            // A line and a half a label, so that neighbours do not read as one block.
            let line = font.size * 1.5;
            let every = (line / spacing.max(0.1)).ceil().max(1.0) as usize;
            if !self.emphasised && !self.index.is_multiple_of(every) {
                return shapes;
            }
            let text = if self.emphasised {
                self.label.clone()
            } else {
                crate::ui::shorten(&self.label, UPRIGHT_CHARS)
            };
            let galley = ctx
                .ctx
                .fonts_mut(|f| f.layout_no_wrap(text, font, visuals.text_color()));
            // Turned a quarter to the right about its top-left corner, which sits just under the token: the
            // text runs down from the token, centred on it, its first character (a space's ␣) nearest.
            let at = center + Vec2::new(galley.size().y / 2.0, radius + 4.0);
            shapes.push(
                egui::epaint::TextShape::new(at, galley, visuals.text_color())
                    .with_angle(std::f32::consts::FRAC_PI_2)
                    .into(),
            );
            return shapes;
        }
        let (text, row) = if self.emphasised {
            (self.label.clone(), usize::from(staggered || every > 1))
        } else if every > 1 && !self.index.is_multiple_of(every) {
            return shapes;
        } else if staggered || every > 1 {
            (
                crate::ui::shorten(&self.label, room),
                usize::from(staggered && self.index % 2 == 1),
            )
        } else {
            (self.label.clone(), 0)
        };
        let galley = ctx
            .ctx
            .fonts_mut(|f| f.layout_no_wrap(text, font, visuals.text_color()));
        let text_pos = center
            + Vec2::new(
                -galley.size().x / 2.0,
                radius + 4.0 + row as f32 * galley.size().y,
            );
        shapes.push(Shape::galley(text_pos, galley, visuals.text_color()));
        shapes
    }

    fn update(&mut self, state: &egui_graphs::NodeProps<usize>) {
        self.pos = state.location();
        self.label = state.label.clone();
        self.index = state.payload;
        self.color = state.color();
        self.emphasised = state.selected || state.hovered || state.dragged;
    }

    fn is_inside(&self, pos: Pos2) -> bool {
        pos.distance(self.pos) <= self.radius
    }
}
