//! The font every figure uses, shipped with the crate so figures render on machines
//! without system fonts.

use std::sync::OnceLock;

use plotters::style::FontStyle;

/// Family name under which the shipped font is registered with plotters.
pub(crate) const FONT_FAMILY: &str = "sans-serif";

// DejaVu Sans 2.37, under the Bitstream Vera licence in fonts/LICENSE-DejaVu.txt.
const DEJAVU_SANS: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");

// NOTE: plotters 0.3.7 places each ab_glyph glyph at its advance origin without the left
// side bearing, so narrow glyphs such as `=` and `.` sit slightly off their usual spot.
// Labels stay legible, but the spacing differs from matplotlib's.

/// Registers the shipped font once per process; later calls return the first outcome.
pub(crate) fn register_font() -> Result<(), String> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            plotters::style::register_font(FONT_FAMILY, FontStyle::Normal, DEJAVU_SANS)
                .map_err(|_| "the shipped DejaVu Sans font failed to parse".to_string())
        })
        .clone()
}
