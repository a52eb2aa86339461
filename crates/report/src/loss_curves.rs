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

/// Points drawn per curve at most: longer histories are averaged over windows, because
/// thousands of raw per-iteration values hide the trend under their noise.
const MAX_POINTS: usize = 300;

/// Returns the trailing means of `values` over `window` entries (fewer at the start),
/// skipping values that are not finite.
fn trailing_means(values: &[f64], window: usize) -> Vec<f64> {
    let window = window.max(1);
    let mut sum = 0.0;
    let mut count = 0usize;
    let mut means = Vec::with_capacity(values.len());
    for (index, &value) in values.iter().enumerate() {
        if value.is_finite() {
            sum += value;
            count += 1;
        }
        if index >= window {
            let leaving = values[index - window];
            if leaving.is_finite() {
                sum -= leaving;
                count -= 1;
            }
        }
        means.push(if count == 0 {
            f64::NAN
        } else {
            sum / count as f64
        });
    }
    means
}

/// Draws every term of `curves` against the iteration, with a legend. Long histories are
/// drawn as trailing means over a window that keeps about [`MAX_POINTS`] windows per curve,
/// and the title says so.
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
    let window = curves.iterations.len().div_ceil(MAX_POINTS).max(1);
    let smoothed: Vec<Vec<f64>> = curves
        .terms
        .iter()
        .map(|term| trailing_means(&term.values, window))
        .collect();
    let caption = if window > 1 {
        format!("Losses of {} (means of {window} iterations)", curves.run)
    } else {
        format!("Losses of {}", curves.run)
    };
    let finite = smoothed
        .iter()
        .flat_map(|values| values.iter().copied())
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
            .caption(caption, text_style(20.0))
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
        for (index, (term, values)) in curves.terms.iter().zip(&smoothed).enumerate() {
            let color = Palette99::pick(index).to_rgba();
            let points: Vec<(u64, f64)> = curves
                .iterations
                .iter()
                .copied()
                .zip(values.iter().copied())
                .skip(window - 1)
                .step_by(window.div_ceil(2))
                .filter(|(_, value)| value.is_finite())
                .collect();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_means_average_last_window() {
        let means = trailing_means(&[0.0, 2.0, 4.0, 6.0], 2);
        assert_eq!(means, vec![0.0, 1.0, 3.0, 5.0]);
    }

    #[test]
    fn trailing_means_skip_non_finite() {
        let means = trailing_means(&[1.0, f64::NAN, 3.0], 3);
        assert_eq!(means, vec![1.0, 1.0, 2.0]);
    }

    #[test]
    fn trailing_means_of_window_one_are_values() {
        let values = [3.0, -1.0, 7.5];
        assert_eq!(trailing_means(&values, 1), values.to_vec());
    }
}
