use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use mcgan::*;
use std::time::Instant;

fn main() -> candle_core::Result<()> {
    let dev = Device::Cpu;
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .map(|s| s.parse().unwrap())
        .collect();
    for size in sizes {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &dev);
        let g = Generator::new(vb.pp("g"), &GeneratorConfig::default())?;
        let d = Discriminator::new(vb.pp("d"), &DiscriminatorConfig::default())?;
        init_weights(&varmap, 1)?;
        let x = Tensor::randn(0f32, 1., (1, 3, size, size), &dev)?;
        let m = Tensor::ones((1, 3, size, size), DType::F32, &dev)?;
        for it in 0..4 {
            let t = Instant::now();
            let y = g.forward(&x, Some(&m))?;
            let _ = y.sum_all()?.to_scalar::<f32>()?;
            let tf = t.elapsed();
            let t = Instant::now();
            let grads = y.sqr()?.sum_all()?.backward()?;
            let tb = t.elapsed();
            let t = Instant::now();
            let s = d.forward(&x)?;
            let gd = s.sum_all()?.backward()?;
            let td = t.elapsed();
            drop((grads, gd));
            if it > 0 {
                println!(
                    "size {size}: G fwd {:?} G bwd {:?} D fwd+bwd {:?}",
                    tf, tb, td
                );
            }
        }
    }
    Ok(())
}
