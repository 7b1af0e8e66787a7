//! Cache block sizes (KC, MC, NC) derived from the detected cache sizes.
//!
//! The driver keeps one MR×KC micro-panel of A in L1 while it sweeps the
//! NR-wide micro-panels of a KC×NC block of B that sits in L2; the packed
//! K×NC_L3 slice of B is shared by every task through L3. Every size depends
//! only on the problem and the machine, never on the thread count, so the
//! K-reduction order (and therefore every bit of the result) is the same for
//! any number of threads.

use std::sync::OnceLock;

/// Data-cache sizes in bytes (L2 per core, L3 shared).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheSizes {
    pub l1d: usize,
    pub l2: usize,
    pub l3: usize,
}

impl Default for CacheSizes {
    /// Zen 4 per-core figures: 32 KiB L1d, 1 MiB L2, 32 MiB L3.
    fn default() -> Self {
        CacheSizes {
            l1d: 32 << 10,
            l2: 1 << 20,
            l3: 32 << 20,
        }
    }
}

/// Parses a sysfs cache size such as `32K`, `1024K` or `32M`.
fn parse_size(s: &str) -> Option<usize> {
    let s = s.trim();
    let (num, mult) = match s.as_bytes().last()? {
        b'K' | b'k' => (&s[..s.len() - 1], 1 << 10),
        b'M' | b'm' => (&s[..s.len() - 1], 1 << 20),
        b'G' | b'g' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    num.trim().parse::<usize>().ok().map(|n| n * mult)
}

/// Reads `/sys/devices/system/cpu/cpu0/cache/index*`; missing levels keep the defaults.
fn detect() -> CacheSizes {
    let mut out = CacheSizes::default();
    let dir = "/sys/devices/system/cpu/cpu0/cache";
    for idx in 0..8 {
        let read = |f: &str| std::fs::read_to_string(format!("{dir}/index{idx}/{f}")).ok();
        let (Some(level), Some(kind), Some(size)) = (read("level"), read("type"), read("size"))
        else {
            continue;
        };
        let Some(size) = parse_size(&size).filter(|&s| s >= 4096) else {
            continue;
        };
        match (level.trim(), kind.trim()) {
            ("1", "Data") => out.l1d = size,
            ("2", "Unified") | ("2", "Data") => out.l2 = size,
            ("3", "Unified") => out.l3 = size,
            _ => {}
        }
    }
    out
}

/// The cache sizes of this machine, read once.
pub fn cache_sizes() -> CacheSizes {
    static SIZES: OnceLock<CacheSizes> = OnceLock::new();
    *SIZES.get_or_init(detect)
}

/// Block sizes of one problem, in elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blocking {
    /// Rows of A per task (a multiple of MR).
    pub mc: usize,
    /// Depth of one packed slice of K.
    pub kc: usize,
    /// Columns of B per task (a multiple of NR): the L2-resident block.
    pub nc: usize,
    /// Columns of the packed K-deep B slice shared by all tasks (a multiple of `nc`).
    pub nc_l3: usize,
}

/// Tasks a large problem is split into (fixed: independent of the thread count).
pub(super) const MIN_TASKS: usize = 16;
/// Smallest task worth splitting further, in multiply-adds.
pub(super) const MIN_TASK_MACS: usize = 1 << 18;

fn round_down(x: usize, q: usize) -> usize {
    (x / q * q).max(q)
}

fn round_up(x: usize, q: usize) -> usize {
    x.div_ceil(q) * q
}

impl Blocking {
    /// Block sizes for an `m×n×k` problem and an `mr×nr` microkernel.
    pub fn new(caches: CacheSizes, mr: usize, nr: usize, m: usize, n: usize, k: usize) -> Self {
        let f = std::mem::size_of::<f32>();
        // KC: the MR×KC micro-panel of A fills at most half of L1; split K
        // into equal slices so that no slice is a thin remainder.
        let kc_max = round_down((caches.l1d / 2 / (mr * f)).clamp(64, 512), 8);
        let slices = k.div_ceil(kc_max).max(1);
        let kc = round_up(k.div_ceil(slices), 8).min(k.max(1));
        // NC: the KC×NC block of B fills at most half of L2.
        let mut nc = round_down(caches.l2 / 2 / (kc * f), nr).min(round_up(n.max(1), nr));
        // MC: the MC×KC block of A fills at most a quarter of L2.
        let mut mc = round_down(caches.l2 / 4 / (kc * f), mr).min(round_up(m.max(1), mr));
        // Enough tasks for the threads to share, as long as each stays big:
        // split M first (B is shared), then N.
        let macs = |mc: usize, nc: usize| mc.saturating_mul(nc).saturating_mul(k);
        while m.div_ceil(mc) * n.div_ceil(nc) < MIN_TASKS {
            if mc > 2 * mr && macs(mc / 2, nc) >= MIN_TASK_MACS {
                mc = round_up(mc / 2, mr);
            } else if nc > nr && macs(mc, nc / 2) >= MIN_TASK_MACS {
                nc = round_up(nc / 2, nr);
            } else {
                break;
            }
        }
        // Equal blocks: the same number of blocks, with the rows (columns)
        // spread evenly, so that no task is a thin remainder (1024 rows in
        // blocks of 126 left a 16-row block: 18 tasks of which two were
        // almost empty, and a thread that finished its share early).
        mc = round_up(m.div_ceil(m.div_ceil(mc).max(1)), mr).min(mc);
        nc = round_up(n.div_ceil(n.div_ceil(nc).max(1)), nr).min(nc);
        // NC_L3: the packed K×NC_L3 slice of B (all KC slices of K) fills
        // at most half of L3. Every row task packs its A block once per
        // slice, so fewer slices mean fewer passes over A: at 2048² on a
        // 32 MiB L3 one slice instead of two halved the A packing and was
        // 0.8–2.9 % faster from 1536² to 3072² at 1 and 2 threads (AVX2,
        // Zen 4), although the B panels then come from further away.
        let nc_l3 = round_down(caches.l3 / 2 / (k.max(1) * f), nc).min(round_up(n.max(1), nc));
        Blocking { mc, kc, nc, nc_l3 }
    }
}

#[cfg(test)]
mod tests;
