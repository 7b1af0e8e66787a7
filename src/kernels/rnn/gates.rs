//! Element-wise gate primitives over slices: the activations of the gate math
//! and their use in place. The transcendental parts go through
//! `crate::simd` vector primitives where they exist; the plain arithmetic is
//! left to the compiler (it vectorizes these loops).

/// `x ← sigmoid(x)`
#[inline]
pub fn sigmoid_inplace(x: &mut [f32]) {
    for v in x.iter_mut() {
        *v = 1.0 / (1.0 + (-*v).exp());
    }
}

/// `x ← tanh(x)`
#[inline]
pub fn tanh_inplace(x: &mut [f32]) {
    for v in x.iter_mut() {
        *v = v.tanh();
    }
}

/// `x ← max(x, 0)`
#[inline]
pub fn relu_inplace(x: &mut [f32]) {
    for v in x.iter_mut() {
        *v = v.max(0.0);
    }
}

/// `y ← tanh(x)`
#[inline]
pub fn tanh_into(x: &[f32], y: &mut [f32]) {
    y.copy_from_slice(x);
    tanh_inplace(y);
}

/// `x ← x + b`
#[inline]
pub fn add_assign(x: &mut [f32], b: &[f32]) {
    for (v, &w) in x.iter_mut().zip(b) {
        *v += w;
    }
}
