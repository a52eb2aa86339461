//! Loss curves: iteration against each loss term of one training run.

use std::path::Path;

use plotters::prelude::*;

use crate::canvas::{text_style, Canvas};
use crate::font::FONT_FAMILY;
use crate::ReportError;

/// Width and height of a loss-curve figure in pixels.
pub const LOSS_FIGURE_SIZE: (u32, u32) = (900, 560);

/// The logged losses of one training run.
#[derive(Debug, Clone, PartialEq)]
pub struct LossCurves {
    /// Run name, used in the title and the file name.
    pub run: String,
    pub iterations: Vec<u64>,
    pub terms: Vec<LossTerm>,
}

/// One loss term, a value per logged iteration.
#[derive(Debug, Clone, PartialEq)]
pub struct LossTerm {
    pub name: String,
    pub values: Vec<f64>,
}

/// Draws every term of `curves` against the iteration, with a legend.
pub fn draw_loss_curves(curves: &LossCurves, path: &Path) -> Result<(), ReportError> {
    if let Some(term) = curves
        .terms
        .iter()
        .find(|term| term.values.len() != curves.iterations.len())
    {
        return Err(ReportError::InvalidInput(format!(
            "loss term `{}` of run `{}` has {} values for {} iterations",
            term.name,
            curves.run,
            term.values.len(),
            curves.iterations.len()
        )));
    }
    let last_iteration = curves.iterations.iter().copied().max().unwrap_or(1).max(1);
    let finite = curves
        .terms
        .iter()
        .flat_map(|term| term.values.iter().copied())
        .filter(|value| value.is_finite());
    let (low, high) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(low, high), value| {
        (low.min(value), high.max(value))
    });
    let (low, high) = if low.is_finite() {
        (low.min(0.0), high.max(low + 1e-6))
    } else {
        (0.0, 1.0)
    };

    let mut canvas = Canvas::new(LOSS_FIGURE_SIZE.0, LOSS_FIGURE_SIZE.1);
    canvas.draw(path, |root| {
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(root)
            .caption(format!("Losses of {}", curves.run), text_style(20.0))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(0u64..last_iteration, low..high * 1.05)?;
        chart
            .configure_mesh()
            .x_desc("iteration")
            .y_desc("loss")
            .label_style((FONT_FAMILY, 14))
            .axis_desc_style((FONT_FAMILY, 16))
            .draw()?;
        for (index, term) in curves.terms.iter().enumerate() {
            let color = Palette99::pick(index).to_rgba();
            let points = curves
                .iterations
                .iter()
                .copied()
                .zip(term.values.iter().copied());
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))?
                .label(term.name.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font((FONT_FAMILY, 14))
            .draw()?;
        Ok(())
    })?;
    canvas.save(path)
}
