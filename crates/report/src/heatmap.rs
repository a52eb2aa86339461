//! FID heat maps in the style of the paper's Figures 4 and 5: the lower triangle of the
//! 5x5 matrix, each cell coloured by value and labelled with two decimals, and a colour bar.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::canvas::{text_style, Canvas, DrawResult};
use crate::{PairwiseMatrix, ReportError, SET_LABELS};

/// Width and height of one heat map panel in pixels.
pub const PANEL_SIZE: (u32, u32) = (700, 600);

const CELL: i32 = 88;
const GRID_LEFT: i32 = 120;
const GRID_TOP: i32 = 70;
const BAR_LEFT: i32 = GRID_LEFT + 5 * CELL + 30;
const BAR_WIDTH: i32 = 22;

/// Draws one heat map of `matrix` titled with its scheme and side.
pub fn draw_fid_heatmap(matrix: &PairwiseMatrix, path: &Path) -> Result<(), ReportError> {
    let range = color_range(&[matrix]);
    let mut canvas = Canvas::new(PANEL_SIZE.0, PANEL_SIZE.1);
    canvas.draw(path, |root| {
        draw_panel(root, matrix, &panel_title(matrix, "ours"), range)
    })?;
    canvas.save(path)
}

/// Draws the paper's heat map and ours side by side on one colour scale.
pub fn draw_fid_heatmap_pair(
    ours: &PairwiseMatrix,
    paper: &PairwiseMatrix,
    path: &Path,
) -> Result<(), ReportError> {
    let range = color_range(&[ours, paper]);
    let mut canvas = Canvas::new(PANEL_SIZE.0 * 2, PANEL_SIZE.1);
    canvas.draw(path, |root| {
        let (left, right) = root.split_horizontally(PANEL_SIZE.0);
        draw_panel(&left, paper, &panel_title(paper, "paper"), range)?;
        draw_panel(&right, ours, &panel_title(ours, "ours"), range)
    })?;
    canvas.save(path)
}

fn panel_title(matrix: &PairwiseMatrix, source: &str) -> String {
    format!(
        "FID, side {}, trained with {} ({source})",
        matrix.side, matrix.training_masks
    )
}

/// Returns the value range the colours span: the smallest to the largest value of all matrices.
fn color_range(matrices: &[&PairwiseMatrix]) -> (f64, f64) {
    let ranges = matrices.iter().filter_map(|matrix| matrix.value_range());
    let (low, high) = ranges.fold((f64::INFINITY, f64::NEG_INFINITY), |(low, high), range| {
        (low.min(range.0), high.max(range.1))
    });
    if !low.is_finite() {
        return (0.0, 1.0);
    }
    if high - low < 1e-9 {
        return (low - 1.0, high + 1.0);
    }
    (low, high)
}

fn color_of(value: f64, (low, high): (f64, f64)) -> RGBColor {
    ViridisRGB.get_color_normalized(value as f32, low as f32, high as f32)
}

fn draw_panel(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    matrix: &PairwiseMatrix,
    title: &str,
    range: (f64, f64),
) -> DrawResult {
    area.fill(&WHITE)?;
    let centered = |style: TextStyle<'static>| style.pos(Pos::new(HPos::Center, VPos::Center));
    let title_x = GRID_LEFT + 5 * CELL / 2;
    area.draw(&Text::new(
        title.to_string(),
        (title_x, GRID_TOP / 2),
        centered(text_style(18.0)),
    ))?;

    for (row, column, value) in matrix.lower_triangle() {
        let x = GRID_LEFT + column as i32 * CELL;
        let y = GRID_TOP + row as i32 * CELL;
        let Some(value) = value else {
            area.draw(&Rectangle::new(
                [(x, y), (x + CELL, y + CELL)],
                RGBColor(220, 220, 220).filled(),
            ))?;
            continue;
        };
        let fill = color_of(value, range);
        area.draw(&Rectangle::new(
            [(x, y), (x + CELL, y + CELL)],
            fill.filled(),
        ))?;
        // Dark viridis colours need white text, as in seaborn's annotated heat maps.
        let luminance =
            0.299 * f64::from(fill.0) + 0.587 * f64::from(fill.1) + 0.114 * f64::from(fill.2);
        let ink: &'static RGBColor = if luminance < 128.0 { &WHITE } else { &BLACK };
        area.draw(&Text::new(
            format!("{value:.2}"),
            (x + CELL / 2, y + CELL / 2),
            centered(text_style(16.0).color(ink)),
        ))?;
    }

    let label_style = text_style(14.0);
    for (index, label) in SET_LABELS.iter().enumerate() {
        let middle = index as i32 * CELL + CELL / 2;
        let row_label_pos = Pos::new(HPos::Right, VPos::Center);
        area.draw(&Text::new(
            label.to_string(),
            (GRID_LEFT - 8, GRID_TOP + middle),
            label_style.clone().pos(row_label_pos),
        ))?;
        let column_label_pos = Pos::new(HPos::Center, VPos::Top);
        area.draw(&Text::new(
            label.to_string(),
            (GRID_LEFT + middle, GRID_TOP + 5 * CELL + 8),
            label_style.clone().pos(column_label_pos),
        ))?;
    }

    draw_color_bar(area, range)
}

fn draw_color_bar(area: &DrawingArea<BitMapBackend<'_>, Shift>, range: (f64, f64)) -> DrawResult {
    let height = 5 * CELL;
    for step in 0..height {
        // The top of the bar is the largest value, as in matplotlib's vertical colour bars.
        let value = range.1 - (range.1 - range.0) * f64::from(step) / f64::from(height - 1);
        let y = GRID_TOP + step;
        area.draw(&Rectangle::new(
            [(BAR_LEFT, y), (BAR_LEFT + BAR_WIDTH, y + 1)],
            color_of(value, range).filled(),
        ))?;
    }
    area.draw(&Rectangle::new(
        [
            (BAR_LEFT, GRID_TOP),
            (BAR_LEFT + BAR_WIDTH, GRID_TOP + height),
        ],
        BLACK.stroke_width(1),
    ))?;

    let tick_style = text_style(14.0).pos(Pos::new(HPos::Left, VPos::Center));
    for tick in 0..=4 {
        let fraction = f64::from(tick) / 4.0;
        let value = range.1 - (range.1 - range.0) * fraction;
        let y = GRID_TOP + (fraction * f64::from(height)) as i32;
        area.draw(&PathElement::new(
            vec![(BAR_LEFT + BAR_WIDTH, y), (BAR_LEFT + BAR_WIDTH + 5, y)],
            BLACK,
        ))?;
        area.draw(&Text::new(
            format!("{value:.1}"),
            (BAR_LEFT + BAR_WIDTH + 8, y),
            tick_style.clone(),
        ))?;
    }
    Ok(())
}
