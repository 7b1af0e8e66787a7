use super::*;

#[test]
fn parses_sysfs_sizes() {
    assert_eq!(parse_size("32K\n"), Some(32 << 10));
    assert_eq!(parse_size("32M"), Some(32 << 20));
    assert_eq!(parse_size("512"), Some(512));
    assert_eq!(parse_size("x"), None);
}

#[test]
fn zen4_blocks_fit_the_caches() {
    let c = CacheSizes::default();
    let b = Blocking::new(c, 6, 64, 2048, 2048, 2048);
    assert_eq!(b.kc, 512);
    assert_eq!(b.nc % 64, 0);
    assert_eq!(b.mc % 6, 0);
    assert_eq!(b.nc_l3 % b.nc, 0);
    assert_eq!(b.mc_l3 % b.mc, 0);
    assert!(6 * b.kc * 4 <= c.l1d / 2);
    assert!(b.kc * b.nc * 4 <= c.l2 / 2);
}

#[test]
fn k_slices_are_even() {
    let b = Blocking::new(CacheSizes::default(), 6, 64, 100, 100, 600);
    assert_eq!(b.kc, 304);
    let b = Blocking::new(CacheSizes::default(), 6, 64, 3, 5, 7);
    assert_eq!(b.kc, 7);
}
