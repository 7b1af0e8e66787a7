use super::*;
use crate::error::{catch, ErrorKind};

#[test]
fn zeroed_is_zero_and_sized() {
    for n in [0usize, 1, 17, 1 << 20] {
        let v: Vec<f32> = try_zeroed("t", n).unwrap();
        assert_eq!(v.len(), n);
        assert!(v.iter().all(|&x| x == 0.0));
    }
}

#[test]
fn impossible_sizes_are_memory_errors() {
    let e = try_zeroed::<f32>("op", usize::MAX / 2).unwrap_err();
    assert_eq!((e.kind, e.op), (ErrorKind::Memory, "op"));
    assert!(e.to_string().contains("could not allocate"), "{e}");
    let e = len("op", &[1 << 40, 1 << 40]).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Memory);
    assert_eq!(len("op", &[3, 5, 7]).unwrap(), 105);
}

#[test]
fn unwinding_form_is_caught_as_the_error() {
    let r: Result<()> = catch(|| {
        let _v: Vec<f32> = zeroed("inner", usize::MAX / 8);
        Ok(())
    });
    let e = r.unwrap_err();
    assert_eq!((e.kind, e.op), (ErrorKind::Memory, "inner"));
    let mut v = vec![1.0f32];
    let r: Result<()> = catch(|| {
        grow("g", &mut v, usize::MAX / 8, 0.0);
        Ok(())
    });
    assert_eq!(r.unwrap_err().kind, ErrorKind::Memory);
}

#[test]
fn other_panics_become_runtime_errors() {
    let r: Result<()> = catch(|| panic!("boom"));
    let e = r.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Runtime);
    assert!(e.message.contains("boom"));
}
