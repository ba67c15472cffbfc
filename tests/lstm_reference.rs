//! The LSTM layer against torch.nn.LSTM: a 2-layer stack with PyTorch's weights and initial
//! state gives PyTorch's outputs, final states and gradients (fixture from
//! tools/gen_lstm_reference.py).

use rand::SeedableRng;
use serde_json::Value;
use tsumugi::nn::lstm::{LstmLayer, LstmState};
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
    let mut params = Params::default();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let stack: Vec<LstmLayer> = (0..layers)
        .map(|l| LstmLayer::new(&mut params, "lstm", l, if l == 0 { input } else { h }, h, &mut rng))
        .collect();
    for p in params.iter_mut() {
        let key = p.name.trim_start_matches("lstm.");
        p.value = floats(&fixture["weights"][key]);
        assert_eq!(p.value.len(), p.grad.len(), "{key}");
    }
    let (h0, c0) = (floats(&fixture["h0"]), floats(&fixture["c0"]));
    let mut inputs = vec![floats(&fixture["x"])];
    let mut tapes = Vec::new();
    let (mut h_n, mut c_n) = (Vec::new(), Vec::new());
    for (l, layer) in stack.iter().enumerate() {
        let state = LstmState {
            h: h0[l * b * h..(l + 1) * b * h].to_vec(),
            c: c0[l * b * h..(l + 1) * b * h].to_vec(),
        };
        let (out, last, tape) = layer.forward(&params, inputs.last().unwrap(), t, b, &state);
        h_n.extend(last.h);
        c_n.extend(last.c);
        inputs.push(out);
        tapes.push(tape);
    }
    assert_close("output", inputs.last().unwrap(), &floats(&fixture["output"]), 1e-5);
    assert_close("h_n", &h_n, &floats(&fixture["h_n"]), 1e-5);
    assert_close("c_n", &c_n, &floats(&fixture["c_n"]), 1e-5);

    let mut d = floats(&fixture["r"]);
    for l in (0..layers).rev() {
        d = stack[l].backward(&mut params, &inputs[l], &inputs[l + 1], &tapes[l], &d);
    }
    assert_close("grad_x", &d, &floats(&fixture["grad_x"]), 1e-5);
    for p in params.iter() {
        let key = p.name.trim_start_matches("lstm.");
        assert_close(key, &p.grad, &floats(&fixture["grads"][key]), 1e-5);
    }
}
