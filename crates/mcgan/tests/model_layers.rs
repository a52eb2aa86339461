//! Single layers against PyTorch: outputs, input gradients and parameter gradients, for both
//! the CPU kernels and the candle-operation versions other devices use.

mod model_fixtures;

use std::collections::HashMap;

use candle_core::{Tensor, Var};
use mcgan::conv::{Conv2d, ConvTranspose2d};
use mcgan::instance_norm::{instance_norm, instance_norm_tensor_ops};
use mcgan::reflection_pad::{reflection_pad2d, reflection_pad2d_tensor_ops};
use model_fixtures::{fixture_dir, get, load, max_abs_diff};

const TOLERANCE: f32 = 1e-5;

/// Gradients of `sum(layer(x) * gy)`, which PyTorch's `y.backward(gy)` also computes.
struct Checked {
    y: Tensor,
    gx: Tensor,
    gweight: Option<Tensor>,
    gbias: Option<Tensor>,
}

fn run_layer(
    tensors: &HashMap<String, Tensor>,
    tag: &str,
    layer: impl Fn(&Tensor, Option<(&Tensor, &Tensor)>) -> Tensor,
) -> Checked {
    let x = Var::from_tensor(get(tensors, &format!("{tag}.x"))).unwrap();
    let params = tensors.get(&format!("{tag}.weight")).map(|weight| {
        let bias = get(tensors, &format!("{tag}.bias"));
        (
            Var::from_tensor(weight).unwrap(),
            Var::from_tensor(bias).unwrap(),
        )
    });
    let y = layer(
        x.as_tensor(),
        params.as_ref().map(|(w, b)| (w.as_tensor(), b.as_tensor())),
    );
    let gy = get(tensors, &format!("{tag}.gy"));
    let grads = (&y * gy).unwrap().sum_all().unwrap().backward().unwrap();
    Checked {
        gx: grads.get(&x).expect("no input gradient").clone(),
        gweight: params
            .as_ref()
            .map(|(w, _)| grads.get(w).expect("no weight gradient").clone()),
        gbias: params
            .as_ref()
            .map(|(_, b)| grads.get(b).expect("no bias gradient").clone()),
        y,
    }
}

fn assert_close(tensors: &HashMap<String, Tensor>, tag: &str, checked: &Checked) {
    let y = max_abs_diff(&checked.y, get(tensors, &format!("{tag}.y")));
    assert!(y <= TOLERANCE, "{tag}: output differs by {y}");
    let gx = max_abs_diff(&checked.gx, get(tensors, &format!("{tag}.gx")));
    assert!(gx <= TOLERANCE, "{tag}: input gradient differs by {gx}");
    if let Some(gweight) = &checked.gweight {
        let d = max_abs_diff(gweight, get(tensors, &format!("{tag}.gweight")));
        assert!(d <= TOLERANCE, "{tag}: weight gradient differs by {d}");
    }
    if let Some(gbias) = &checked.gbias {
        let d = max_abs_diff(gbias, get(tensors, &format!("{tag}.gbias")));
        assert!(d <= TOLERANCE, "{tag}: bias gradient differs by {d}");
    }
}

#[test]
fn reflection_pad_matches_pytorch() {
    let Some(dir) = fixture_dir() else { return };
    let tensors = load(&dir, "layers.safetensors");
    for (tag, pad) in [("reflpad1", 1), ("reflpad3", 3)] {
        let checked = run_layer(&tensors, tag, |x, _| reflection_pad2d(x, pad).unwrap());
        assert_close(&tensors, tag, &checked);
        let checked = run_layer(&tensors, tag, |x, _| {
            reflection_pad2d_tensor_ops(x, pad).unwrap()
        });
        assert_close(&tensors, tag, &checked);
    }
}

#[test]
fn instance_norm_matches_pytorch() {
    let Some(dir) = fixture_dir() else { return };
    let tensors = load(&dir, "layers.safetensors");
    let checked = run_layer(&tensors, "instnorm", |x, _| instance_norm(x).unwrap());
    assert_close(&tensors, "instnorm", &checked);
    let checked = run_layer(&tensors, "instnorm", |x, _| {
        instance_norm_tensor_ops(x).unwrap()
    });
    assert_close(&tensors, "instnorm", &checked);
}

#[test]
fn transposed_conv_matches_pytorch() {
    let Some(dir) = fixture_dir() else { return };
    let tensors = load(&dir, "layers.safetensors");
    for candle_ops in [false, true] {
        let checked = run_layer(&tensors, "convT", |x, params| {
            let (weight, bias) = params.expect("convT has parameters");
            let layer = ConvTranspose2d::from_tensors(weight.clone(), bias.clone(), 2, 1, 1);
            if candle_ops {
                layer.forward_tensor_ops(x).unwrap()
            } else {
                layer.forward(x).unwrap()
            }
        });
        assert_close(&tensors, "convT", &checked);
    }
}

#[test]
fn convolutions_match_pytorch() {
    let Some(dir) = fixture_dir() else { return };
    let tensors = load(&dir, "layers.safetensors");
    for (tag, stride, padding) in [
        ("conv3s2", 2, 1),
        ("conv4s2", 2, 1),
        ("conv4s1", 1, 1),
        ("conv7", 1, 0),
    ] {
        for candle_ops in [false, true] {
            let checked = run_layer(&tensors, tag, |x, params| {
                let (weight, bias) = params.expect("convolutions have parameters");
                let layer = Conv2d::from_tensors(weight.clone(), bias.clone(), stride, padding);
                if candle_ops {
                    layer.forward_tensor_ops(x).unwrap()
                } else {
                    layer.forward(x).unwrap()
                }
            });
            assert_close(&tensors, tag, &checked);
        }
    }
}
