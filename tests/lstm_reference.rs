//! The LSTM layer against torch.nn.LSTM: a 2-layer stack with PyTorch's weights and initial
//! state, run on the CPU backend, gives PyTorch's outputs, final states and gradients (fixture
//! from tools/gen_lstm_reference.py).

use rand::SeedableRng;
use serde_json::Value;
use tsumugi::compute::cpu::Cpu;
use tsumugi::models::device_params::DeviceParams;
use tsumugi::models::lstm_layer::LstmLayer;
use tsumugi::nn::params::Params;

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn assert_close(name: &str, got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "{name}: length");
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol, "{name}[{k}]: tsumugi {g}, torch {w}");
    }
}

#[test]
fn two_layer_stack_matches_torch_forward_and_backward() {
    let fixture: Value = serde_json::from_str(include_str!("fixtures/lstm_reference.json")).unwrap();
    let shape = &fixture["shape"];
    let get = |k: &str| shape[k].as_u64().unwrap() as usize;
    let (t, b, input, h, layers) = (get("steps"), get("batch"), get("input"), get("hidden"), get("layers"));
    let mut host = Params::default();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    for l in 0..layers {
        LstmLayer::init(&mut host, "lstm", l, if l == 0 { input } else { h }, h, &mut rng);
    }
    for p in host.iter_mut() {
        let key = p.name.trim_start_matches("lstm.");
        p.value = floats(&fixture["weights"][key]);
        assert_eq!(p.value.len(), p.grad.len(), "{key}");
    }
    let mut params = DeviceParams::default();
    let stack: Vec<LstmLayer> = (0..layers)
        .map(|l| LstmLayer::upload(&Cpu, &mut params, &host, "lstm", l, if l == 0 { input } else { h }, h).unwrap())
        .collect();
    let (h0, c0) = (floats(&fixture["h0"]), floats(&fixture["c0"]));
    let mut x = floats(&fixture["x"]);
    let mut tapes = Vec::new();
    let (mut h_n, mut c_n) = (Vec::new(), Vec::new());
    let last = (t - 1) * b * h..t * b * h;
    for (l, layer) in stack.iter().enumerate() {
        let state = (
            h0[l * b * h..(l + 1) * b * h].to_vec(),
            c0[l * b * h..(l + 1) * b * h].to_vec(),
        );
        let tape = layer.forward(&Cpu, params.split_values(), x, (t, b), state).unwrap();
        h_n.extend_from_slice(&tape.out[last.clone()]);
        c_n.extend_from_slice(&tape.cells[last.clone()]);
        x = tape.out.clone();
        tapes.push(tape);
    }
    assert_close("output", &x, &floats(&fixture["output"]), 1e-5);
    assert_close("h_n", &h_n, &floats(&fixture["h_n"]), 1e-5);
    assert_close("c_n", &c_n, &floats(&fixture["c_n"]), 1e-5);

    let mut d = floats(&fixture["r"]);
    for l in (0..layers).rev() {
        let (values, grads) = params.split_mut();
        d = stack[l].backward(&Cpu, values, grads, &tapes[l], &d).unwrap();
    }
    assert_close("grad_x", &d, &floats(&fixture["grad_x"]), 1e-5);
    for (name, grad) in params.gradients(&Cpu).unwrap() {
        let key = name.trim_start_matches("lstm.");
        assert_close(key, &grad, &floats(&fixture["grads"][key]), 1e-5);
    }
}
