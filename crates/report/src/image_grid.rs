//! Image figures: the masks figure (titled rows of labelled tiles) and output grids
//! (masks across the first row, sources down the first column, translations in the cells).

use std::path::{Path, PathBuf};

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use plotters::coord::Shift;

use crate::canvas::{load_tile, text_style, Canvas, DrawResult};
use crate::ReportError;

/// Side of one image tile in pixels.
pub const TILE: u32 = 128;
const GAP: u32 = 6;
const MARGIN: u32 = 16;
const TITLE_HEIGHT: u32 = 40;
const CAPTION_HEIGHT: u32 = 24;

/// An image file with the caption drawn under it.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledImage {
    pub label: String,
    pub path: PathBuf,
}

/// The images of the masks figure, one row each; an empty row is left out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MasksFigure {
    /// Centered squares, for instance at scales 0.5, 0.8 and 1.0.
    pub centered_squares: Vec<LabelledImage>,
    /// Multi-rectangle samples.
    pub multi_rectangles: Vec<LabelledImage>,
    /// A binary-attention example: typically the attention map and the thresholded mask.
    pub binary_attention: Vec<LabelledImage>,
}

/// An output grid: `cells[i][j]` is source `i` translated with mask `j`.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputGrid {
    pub title: String,
    pub masks: Vec<PathBuf>,
    pub sources: Vec<PathBuf>,
    pub cells: Vec<Vec<PathBuf>>,
}

/// Draws the masks figure: one titled row per non-empty kind of mask.
pub fn draw_masks_figure(figure: &MasksFigure, path: &Path) -> Result<(), ReportError> {
    let rows: Vec<(&str, &[LabelledImage])> = [
        ("Centered squares", figure.centered_squares.as_slice()),
        (
            "Multi-rectangle samples",
            figure.multi_rectangles.as_slice(),
        ),
        ("Binary attention", figure.binary_attention.as_slice()),
    ]
    .into_iter()
    .filter(|(_, images)| !images.is_empty())
    .collect();
    if rows.is_empty() {
        return Err(ReportError::InvalidInput(
            "the masks figure needs at least one image".into(),
        ));
    }

    let columns = rows
        .iter()
        .map(|(_, images)| images.len())
        .max()
        .unwrap_or(1) as u32;
    let row_height = TITLE_HEIGHT + TILE + CAPTION_HEIGHT;
    let width = 2 * MARGIN + columns * TILE + (columns - 1) * GAP;
    let height = 2 * MARGIN + rows.len() as u32 * row_height;
    let mut canvas = Canvas::new(width.max(360), height);

    let mut texts: Vec<(String, (i32, i32), Pos, f64)> = Vec::new();
    let mut frames = Vec::new();
    for (row_index, (title, images)) in rows.iter().enumerate() {
        let top = MARGIN + row_index as u32 * row_height;
        let left_pos = Pos::new(HPos::Left, VPos::Center);
        texts.push((
            title.to_string(),
            (MARGIN as i32, (top + TITLE_HEIGHT / 2) as i32),
            left_pos,
            18.0,
        ));
        for (column, image) in images.iter().enumerate() {
            let x = MARGIN + column as u32 * (TILE + GAP);
            let y = top + TITLE_HEIGHT;
            canvas.blit(&load_tile(&image.path, TILE)?, x, y);
            frames.push((x, y));
            let caption_pos = Pos::new(HPos::Center, VPos::Top);
            let caption_at = ((x + TILE / 2) as i32, (y + TILE + 4) as i32);
            texts.push((image.label.clone(), caption_at, caption_pos, 14.0));
        }
    }

    canvas.draw(path, |root| {
        for (text, at, pos, size) in texts {
            root.draw(&Text::new(text, at, text_style(size).pos(pos)))?;
        }
        for (x, y) in frames {
            draw_frame(root, x, y)?;
        }
        Ok(())
    })?;
    canvas.save(path)
}

/// Frames the tile at `x`, `y`: masks are white where masked, so a full mask would
/// otherwise vanish into the page.
fn draw_frame(root: &DrawingArea<BitMapBackend<'_>, Shift>, x: u32, y: u32) -> DrawResult {
    let (x, y) = (x as i32, y as i32);
    let corners = [(x - 1, y - 1), (x + TILE as i32, y + TILE as i32)];
    root.draw(&Rectangle::new(
        corners,
        RGBColor(150, 150, 150).stroke_width(1),
    ))?;
    Ok(())
}

/// Font size of an output grid's title, in pixels.
const OUTPUT_GRID_TITLE_SIZE: f64 = 18.0;

/// Returns an upper estimate of the width of `text` in pixels: DejaVu Sans advances average
/// about 0.55 of the font size, and 0.62 leaves room for wide letters.
fn title_width_estimate(text: &str, size: f64) -> u32 {
    (text.chars().count() as f64 * size * 0.62).ceil() as u32
}

/// Draws an output grid: the top-left corner is empty, masks fill the first row and
/// sources the first column.
pub fn draw_output_grid(grid: &OutputGrid, path: &Path) -> Result<(), ReportError> {
    if grid.cells.len() != grid.sources.len() {
        return Err(ReportError::InvalidInput(format!(
            "output grid `{}` has {} sources but {} rows of translations",
            grid.title,
            grid.sources.len(),
            grid.cells.len()
        )));
    }
    if let Some(row) = grid.cells.iter().find(|row| row.len() != grid.masks.len()) {
        return Err(ReportError::InvalidInput(format!(
            "output grid `{}` has {} masks but a row of {} translations",
            grid.title,
            grid.masks.len(),
            row.len()
        )));
    }

    let columns = grid.masks.len() as u32 + 1;
    let rows = grid.sources.len() as u32 + 1;
    let width = 2 * MARGIN + columns * TILE + (columns - 1) * GAP;
    let height = 2 * MARGIN + TITLE_HEIGHT + rows * TILE + (rows - 1) * GAP;
    let title_width = 2 * MARGIN + title_width_estimate(&grid.title, OUTPUT_GRID_TITLE_SIZE);
    let mut canvas = Canvas::new(width.max(title_width).max(360), height);
    let position = |index: u32| index * (TILE + GAP);
    let top = MARGIN + TITLE_HEIGHT;

    for (column, mask) in grid.masks.iter().enumerate() {
        let x = MARGIN + position(column as u32 + 1);
        canvas.blit(&load_tile(mask, TILE)?, x, top);
    }
    for (row, source) in grid.sources.iter().enumerate() {
        let y = top + position(row as u32 + 1);
        canvas.blit(&load_tile(source, TILE)?, MARGIN, y);
        for (column, cell) in grid.cells[row].iter().enumerate() {
            let x = MARGIN + position(column as u32 + 1);
            canvas.blit(&load_tile(cell, TILE)?, x, y);
        }
    }

    let title = grid.title.clone();
    canvas.draw(path, |root| {
        let pos = Pos::new(HPos::Left, VPos::Center);
        let at = (MARGIN as i32, (MARGIN + TITLE_HEIGHT / 2) as i32);
        let style = text_style(OUTPUT_GRID_TITLE_SIZE).pos(pos);
        root.draw(&Text::new(title, at, style))?;
        for column in 1..columns {
            draw_frame(root, MARGIN + position(column), top)?;
        }
        Ok(())
    })?;
    canvas.save(path)
}
