use super::*;
use crate::kernels::test_util::{assert_close, gelu64, values};

const C: usize = 12;
const H: usize = 3;
const F: usize = 20;
const V: usize = 7;
const L: usize = 9; // positions

fn norm(seed: u64, affine: bool) -> Norm {
    Norm {
        weight: affine.then(|| values(C, seed, 0.5).iter().map(|v| 1.0 + v).collect()),
        bias: affine.then(|| values(C, seed + 1, 0.2)),
        eps: 1e-5,
    }
}

fn proj(seed: u64, inp: usize, out: usize, bias: bool) -> Proj {
    Proj {
        wt: values(inp * out, seed, 0.4),
        bias: bias.then(|| values(out, seed + 1, 0.1)),
        inp,
        out,
    }
}

fn model(layers: usize, bias: bool) -> Model {
    let blocks = (0..layers as u64)
        .map(|i| Block {
            ln1: norm(100 * i + 1, true),
            qkv: proj(100 * i + 3, C, 3 * C, bias),
            out: proj(100 * i + 5, C, C, bias),
            ln2: norm(100 * i + 7, bias),
            fc1: proj(100 * i + 9, C, F, bias),
            fc2: proj(100 * i + 11, F, C, bias),
        })
        .collect();
    Model {
        wte: values(V * C, 900, 1.0),
        wpe: values(L * C, 901, 0.5),
        width: C,
        heads: H,
        causal: true,
        blocks,
        ln_f: norm(902, true),
        head: proj(903, C, V, false),
    }
}

// --- f64 reference: the whole causal forward over one sequence -------------

fn layer_norm64(x: &[f64], n: &Norm) -> Vec<f64> {
    let mean = x.iter().sum::<f64>() / x.len() as f64;
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / x.len() as f64;
    let r = 1.0 / (var + n.eps as f64).sqrt();
    x.iter()
        .enumerate()
        .map(|(i, v)| {
            let w = n.weight.as_ref().map_or(1.0, |w| w[i] as f64);
            let b = n.bias.as_ref().map_or(0.0, |b| b[i] as f64);
            (v - mean) * r * w + b
        })
        .collect()
}

fn linear64(x: &[f64], p: &Proj) -> Vec<f64> {
    (0..p.out)
        .map(|o| {
            let s: f64 = (0..p.inp).map(|i| x[i] * p.wt[i * p.out + o] as f64).sum();
            s + p.bias.as_ref().map_or(0.0, |b| b[o] as f64)
        })
        .collect()
}

/// Logits (V) at every position of `ids` (one sequence), causal.
fn reference(m: &Model, ids: &[i64]) -> Vec<Vec<f64>> {
    let t = ids.len();
    let hd = C / H;
    let mut x: Vec<Vec<f64>> = (0..t)
        .map(|p| {
            (0..C)
                .map(|c| m.wte[ids[p] as usize * C + c] as f64 + m.wpe[p * C + c] as f64)
                .collect()
        })
        .collect();
    for b in &m.blocks {
        let qkv: Vec<Vec<f64>> = x
            .iter()
            .map(|r| linear64(&layer_norm64(r, &b.ln1), &b.qkv))
            .collect();
        for i in 0..t {
            let mut o = vec![0.0; C];
            for h in 0..H {
                let q = &qkv[i][h * hd..(h + 1) * hd];
                let s: Vec<f64> = (0..=i)
                    .map(|j| {
                        let k = &qkv[j][C + h * hd..C + (h + 1) * hd];
                        q.iter().zip(k).map(|(a, b)| a * b).sum::<f64>() / (hd as f64).sqrt()
                    })
                    .collect();
                let mx = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let e: Vec<f64> = s.iter().map(|v| (v - mx).exp()).collect();
                let z: f64 = e.iter().sum();
                for (j, w) in e.iter().enumerate() {
                    for d in 0..hd {
                        o[h * hd + d] += w / z * qkv[j][2 * C + h * hd + d];
                    }
                }
            }
            let a = linear64(&o, &b.out);
            x[i].iter_mut().zip(&a).for_each(|(v, a)| *v += a);
        }
        for r in x.iter_mut() {
            let u: Vec<f64> = linear64(&layer_norm64(r, &b.ln2), &b.fc1)
                .into_iter()
                .map(gelu64)
                .collect();
            let a = linear64(&u, &b.fc2);
            r.iter_mut().zip(&a).for_each(|(v, a)| *v += a);
        }
    }
    x.iter()
        .map(|r| linear64(&layer_norm64(r, &m.ln_f), &m.head))
        .collect()
}

fn ids(batch: usize, t: usize, seed: u64) -> Vec<i64> {
    values(batch * t, seed, 1.0)
        .iter()
        .map(|v| ((v + 1.0) * 0.5 * V as f32) as i64 % V as i64)
        .collect()
}

#[test]
fn prompt_then_tokens_match_the_full_forward() {
    for (layers, bias, batch, prompt) in [
        (2, true, 1, 1),
        (2, false, 3, 4),
        (1, true, 2, L),
        (0, true, 1, 2),
    ] {
        let m = model(layers, bias);
        let all = ids(batch, L, 7 + layers as u64);
        let mut dec = Decoder::new(m.clone(), batch).unwrap();
        let mut logits = vec![0.0f32; batch * V];
        let take = |from: usize, to: usize| -> Vec<i64> {
            (0..batch)
                .flat_map(|b| all[b * L + from..b * L + to].to_vec())
                .collect()
        };
        dec.step(&take(0, prompt), prompt, &mut logits).unwrap();
        let mut pos = prompt;
        loop {
            assert_eq!(dec.len(), pos);
            for b in 0..batch {
                let want = reference(&m, &all[b * L..b * L + pos]);
                let what = format!(
                    "layers {layers} bias {bias} batch {b}/{batch} position {}",
                    pos - 1
                );
                assert_close(
                    &logits[b * V..(b + 1) * V],
                    &want[pos - 1],
                    2e-5,
                    2e-4,
                    &what,
                );
            }
            if pos == L {
                break;
            }
            dec.step(&take(pos, pos + 1), 1, &mut logits).unwrap();
            pos += 1;
        }
    }
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let run = |threads: usize| {
        crate::kernels::test_util::with_threads(threads, || {
            let mut dec = Decoder::new(model(2, true), 2).unwrap();
            let all = ids(2, L, 3);
            let mut out = vec![0.0f32; 2 * V];
            let mut got = Vec::new();
            dec.step_here(&[all[0], all[1], all[L], all[L + 1]], 2, &mut out)
                .unwrap();
            got.extend_from_slice(&out);
            for p in 2..L {
                dec.step_here(&[all[p], all[L + p]], 1, &mut out).unwrap();
                got.extend_from_slice(&out);
            }
            got
        })
    };
    let one = run(1);
    assert_eq!(one, run(3));
    // And `step` (the attnrs pool, or the calling thread) gives the same.
    let mut dec = Decoder::new(model(2, true), 2).unwrap();
    let all = ids(2, L, 3);
    let mut out = vec![0.0f32; 2 * V];
    dec.step(&[all[0], all[1], all[L], all[L + 1]], 2, &mut out)
        .unwrap();
    assert_eq!(out, one[..2 * V]);
}

#[test]
fn reset_starts_a_new_sequence() {
    let mut dec = Decoder::new(model(1, true), 1).unwrap();
    let mut a = vec![0.0f32; V];
    let mut b = vec![0.0f32; V];
    dec.step(&[1, 2, 3], 3, &mut a).unwrap();
    dec.step(&[4], 1, &mut b).unwrap();
    dec.reset();
    assert!(dec.is_empty());
    let mut c = vec![0.0f32; V];
    dec.step(&[1, 2, 3], 3, &mut c).unwrap();
    assert_eq!(a, c);
}

#[test]
fn bad_steps_and_models_are_refused() {
    let mut dec = Decoder::new(model(1, true), 2).unwrap();
    let mut out = vec![0.0f32; 2 * V];
    let err = |r: Result<()>| r.unwrap_err().message;
    assert!(err(dec.step(&[1, 2, 3], 1, &mut out)).contains("ids: expected (B, t)"));
    assert!(err(dec.step(&[1, V as i64], 1, &mut out)).contains("token ids in 0..7"));
    assert!(err(dec.step(&[1, -1], 1, &mut out)).contains("got -1"));
    assert!(err(dec.step(&[1, 2], 1, &mut out[..V])).contains("logits"));
    assert!(err(dec.step(&[0; 2 * (L + 1)], L + 1, &mut out)).contains("exceed"));
    dec.step(&[1, 2], 1, &mut out).unwrap();
    assert!(err(dec.step(&[1, 2, 3, 4], 2, &mut out)).contains("empty caches"));
    assert_eq!(dec.len(), 1);

    let mut m = model(1, true);
    m.blocks[0].fc2 = proj(5, F + 1, C, true);
    assert!(Decoder::new(m, 1)
        .unwrap_err()
        .message
        .contains("block 0 fc2"));
    let mut m = model(1, true);
    m.heads = 5;
    assert!(Decoder::new(m, 1)
        .unwrap_err()
        .message
        .contains("multiple of heads"));
    let mut m = model(1, true);
    m.blocks[0].ln2.eps = f32::NAN;
    assert!(Decoder::new(m, 1).unwrap_err().message.contains("eps"));
    assert!(Decoder::new(model(1, true), 0)
        .unwrap_err()
        .message
        .contains("batch"));
}
