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

#[test]
fn blocks_are_even() {
    // Intel Xeon caches (48 KiB L1d, 2 MiB L2): 1024 rows in blocks of 126
    // used to leave a 16-row block.
    let c = CacheSizes {
        l1d: 48 << 10,
        l2: 2 << 20,
        l3: 32 << 20,
    };
    let b = Blocking::new(c, 6, 16, 1024, 1024, 1024);
    assert_eq!((b.mc, b.nc), (114, 512), "{b:?}");
    for (mr, nr) in [(6, 16), (6, 64), (8, 32)] {
        for s in [1, 5, 100, 128, 256, 500, 512, 777, 1024, 2048, 3000] {
            let b = Blocking::new(c, mr, nr, s, s, s);
            assert_eq!(b.mc % mr, 0);
            assert_eq!(b.nc % nr, 0);
            // The smallest block (a multiple of MR or NR) that covers s in
            // this many blocks: the last block is at most one panel per
            // block short of a full one.
            assert_eq!(
                b.mc,
                round_up(s.div_ceil(s.div_ceil(b.mc)), mr),
                "{s}: {b:?}"
            );
            assert_eq!(
                b.nc,
                round_up(s.div_ceil(s.div_ceil(b.nc)), nr),
                "{s}: {b:?}"
            );
        }
    }
}
