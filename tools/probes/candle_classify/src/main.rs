//! One training epoch over 10,672 × 300 features on candle: single layer at batch 1 and
//! Linear → BatchNorm → ReLU → Linear at batch 64, plain SGD — the cases of
//! `tsumugi bench classify`, timed three times each.

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{batch_norm, linear, loss, Module, ModuleT, Optimizer, VarBuilder, VarMap, SGD};
use std::time::Instant;

fn main() -> candle_core::Result<()> {
    let dev = Device::Cpu;
    let (rows, dim) = (10672usize, 300usize);
    let x = Tensor::randn(0f32, 1f32, (rows, dim), &dev)?;
    let y = Tensor::zeros(rows, DType::U32, &dev)?;
    // SLP batch 1
    for _ in 0..3 {
        let w = Var::randn(0f32, 1f32, (4, dim), &dev)?;
        let mut opt = SGD::new(vec![w.clone()], 0.1)?;
        let t = Instant::now();
        for i in 0..rows {
            let xb = x.narrow(0, i, 1)?;
            let yb = y.narrow(0, i, 1)?;
            let logits = xb.matmul(&w.as_tensor().t()?)?;
            let l = loss::cross_entropy(&logits, &yb)?;
            opt.backward_step(&l)?;
        }
        println!("candle slp_batch1 epoch {:.4}s", t.elapsed().as_secs_f64());
    }
    // MLP + BN batch 64
    for _ in 0..3 {
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &dev);
        let l1 = linear(dim, 200, vb.pp("l1"))?;
        let bn = batch_norm(200, 1e-5, vb.pp("bn"))?;
        let l2 = linear(200, 4, vb.pp("l2"))?;
        let mut opt = SGD::new(vm.all_vars(), 0.1)?;
        let t = Instant::now();
        for i in (0..rows).step_by(64) {
            let n = 64.min(rows - i);
            if n < 2 { continue; }
            let xb = x.narrow(0, i, n)?;
            let yb = y.narrow(0, i, n)?;
            let h = bn.forward_t(&l1.forward(&xb)?, true)?.relu()?;
            let logits = l2.forward(&h)?;
            let l = loss::cross_entropy(&logits, &yb)?;
            opt.backward_step(&l)?;
        }
        println!("candle mlp_bn_batch64 epoch {:.4}s", t.elapsed().as_secs_f64());
    }
    Ok(())
}
