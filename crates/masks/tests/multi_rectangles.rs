//! Properties of multi-rectangle masks, from the definitions of Algorithm 1 and of the
//! authors' code variant.

use masks::{mask_rng, Mask, MultiRectangles, MultiRectanglesParams, Preset, RectanglesSample};
use proptest::prelude::*;

fn settings(preset: Preset) -> MultiRectangles {
    MultiRectanglesParams {
        preset,
        ..Default::default()
    }
    .resolve()
    .unwrap()
}

fn union_of_rects(size: usize, sample: &RectanglesSample) -> Mask {
    let mut mask = Mask::empty(size);
    for rect in &sample.rects {
        mask.fill_rect(
            rect.top as usize..rect.bottom as usize,
            rect.left as usize..rect.right as usize,
        );
    }
    mask
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn masks_are_binary(size in 4usize..160, seed in any::<u64>(), paper in any::<bool>()) {
        let preset = if paper { Preset::Paper } else { Preset::AuthorsCode };
        let sample = settings(preset).sample(size, &mut mask_rng(seed, 0));
        prop_assert!(sample.mask.values().iter().all(|&value| value <= 1));
        prop_assert_eq!(sample.mask.values().len(), size * size);
    }

    #[test]
    fn algorithm_one_stops_when_satisfied(size in 10usize..160, seed in any::<u64>()) {
        let sample = settings(Preset::Paper).sample(size, &mut mask_rng(seed, 3));
        let n2 = (size * size) as f64;
        let areas: Vec<f64> = sample.rects.iter().map(|r| r.area() as f64 / n2).collect();
        let total: f64 = areas.iter().sum();
        let count = sample.rects.len() as u32;

        prop_assert!((1..5).contains(&sample.target_rects));
        prop_assert!(count >= sample.target_rects);
        prop_assert!(total >= 0.15);
        prop_assert!((total - sample.summed_area).abs() < 1e-9);
        // The loop stops at the first rectangle that satisfies both conditions.
        let before_last = total - areas[areas.len() - 1];
        prop_assert!(count - 1 < sample.target_rects || before_last < 0.15);
        prop_assert_eq!(&sample.mask, &union_of_rects(size, &sample));
    }

    #[test]
    fn algorithm_one_rectangle_bounds(size in 10usize..160, seed in any::<u64>()) {
        let sample = settings(Preset::Paper).sample(size, &mut mask_rng(seed, 1));
        let min_side = size.div_ceil(10) as u32;
        for rect in &sample.rects {
            prop_assert!(rect.bottom - rect.top >= min_side, "{:?} at size {}", rect, size);
            prop_assert!(rect.right - rect.left >= min_side, "{:?} at size {}", rect, size);
            // `uniform(a, b)` never returns b = N, so the end row and column stay below N.
            prop_assert!(rect.bottom < size as u32);
            prop_assert!(rect.right < size as u32);
        }
        for index in 0..size {
            prop_assert_eq!(sample.mask.get(size - 1, index), 0);
            prop_assert_eq!(sample.mask.get(index, size - 1), 0);
        }
    }

    #[test]
    fn one_to_two_pixel_sides_give_pixels(size in 3usize..100, seed in any::<u64>()) {
        let settings = MultiRectanglesParams {
            preset: Preset::Paper,
            min_side: Some(1.0 / size as f64),
            max_side: Some(2.0 / size as f64),
            min_area: Some(0.01),
            ..Default::default()
        }
        .resolve()
        .unwrap();
        let sample = settings.sample(size, &mut mask_rng(seed, 0));
        prop_assert!(!sample.rects.is_empty());
        for rect in &sample.rects {
            prop_assert_eq!(rect.bottom - rect.top, 1);
            prop_assert_eq!(rect.right - rect.left, 1);
        }
    }

    #[test]
    fn authors_code_stops_when_satisfied(size in 8usize..160, seed in any::<u64>()) {
        let sample = settings(Preset::AuthorsCode).sample(size, &mut mask_rng(seed, 2));
        if sample.full {
            prop_assert_eq!(sample.mask.coverage(), 1.0);
            return Ok(());
        }
        prop_assert!((1..=4).contains(&sample.target_rects));
        prop_assert!(sample.rects.len() as u32 >= sample.target_rects);
        prop_assert!(sample.summed_area >= 0.2);
        // A side fraction of at least 0.15 is rounded up to pixels from the start row.
        let min_side = (0.15 * size as f64 - 1e-9).ceil() as u32;
        let last_start = (0.85 * size as f64 + 1e-9).floor() as u32 - 1;
        for rect in &sample.rects {
            prop_assert!(rect.bottom - rect.top >= min_side, "{:?} at size {}", rect, size);
            prop_assert!(rect.right - rect.left >= min_side, "{:?} at size {}", rect, size);
            prop_assert!(rect.top <= last_start && rect.left <= last_start);
            prop_assert!(rect.bottom <= size as u32 && rect.right <= size as u32);
        }
        prop_assert_eq!(&sample.mask, &union_of_rects(size, &sample));
    }
}

#[test]
fn authors_code_full_mask_fifth() {
    let settings = settings(Preset::AuthorsCode);
    let draws = 4000;
    let full = (0..draws)
        .filter(|&index| settings.sample(64, &mut mask_rng(7, index)).full)
        .count();
    // Binomial(4000, 0.2): mean 800, standard deviation about 25; allow four of them.
    assert!((700..=900).contains(&full), "{full} full masks in {draws}");
}

#[test]
fn paper_preset_never_full() {
    let settings = settings(Preset::Paper);
    for index in 0..500 {
        let sample = settings.sample(32, &mut mask_rng(11, index));
        assert!(!sample.full);
        assert!(sample.mask.coverage() < 1.0);
    }
}

#[test]
fn min_rects_not_below_max() {
    let params = MultiRectanglesParams {
        min_rects: Some(5),
        max_rects: Some(5),
        ..Default::default()
    };
    assert!(params.resolve().is_err());
}
