//! Deterministic schemes checked against values worked out by hand.

use masks::{centered_square, round};

fn assert_square(size: usize, scale: f64, first: usize, last: usize) {
    let mask = centered_square(size, scale);
    for row in 0..size {
        for column in 0..size {
            let inside = (first..=last).contains(&row) && (first..=last).contains(&column);
            assert_eq!(
                mask.get(row, column),
                u8::from(inside),
                "size {size} scale {scale} at row {row} column {column}"
            );
        }
    }
}

#[test]
fn centered_square_128_half_scale() {
    // mid 64: floor(64 - 32) = 32 and floor(64 + 32) = 96, exclusive.
    assert_square(128, 0.5, 32, 95);
}

#[test]
fn centered_square_64_scale_point_eight() {
    // mid 32: floor(32 - 25.6) = 6 and floor(32 + 25.6) = 57, exclusive.
    assert_square(64, 0.8, 6, 56);
}

#[test]
fn centered_square_full_scale_covers_all() {
    assert_eq!(centered_square(128, 1.0).coverage(), 1.0);
}

#[test]
fn centered_square_odd_size_drops_last() {
    // mid = 33 / 2 = 16, so scale 1.0 gives rows 0..32 and leaves row 32 out.
    assert_square(33, 1.0, 0, 31);
}

#[test]
fn round_mask_matches_disc_area() {
    for radius in [0.3, 0.6, 0.9] {
        let mask = round(256, radius);
        let expected = std::f64::consts::PI * radius * radius / 4.0;
        assert!(
            (mask.coverage() - expected).abs() < 0.005,
            "radius {radius}: coverage {} against disc area {expected}",
            mask.coverage()
        );
    }
}

#[test]
fn round_mask_full_radius_touches_edges() {
    let mask = round(64, 1.0);
    assert_eq!(mask.get(0, 31), 1, "middle of the top edge");
    assert_eq!(mask.get(31, 63), 1, "middle of the right edge");
    assert_eq!(mask.get(0, 0), 0, "corner");
    assert_eq!(mask.get(63, 63), 0, "corner");
}

#[test]
fn round_mask_is_symmetric() {
    let size = 37;
    let mask = round(size, 0.7);
    for row in 0..size {
        for column in 0..size {
            let value = mask.get(row, column);
            assert_eq!(value, mask.get(size - 1 - row, column));
            assert_eq!(value, mask.get(row, size - 1 - column));
            assert_eq!(value, mask.get(column, row));
        }
    }
}
