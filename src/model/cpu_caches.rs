//! The sizes of the CPU's caches, for kernels that block their work to fit them.

/// The size in bytes of this CPU's level-`level` data (or unified) cache, as CPUID reports it: leaf 4 on Intel,
/// leaf 0x8000001D on AMD, which describe caches alike. (CPUID is slow, a trap to the hypervisor in a virtual
/// machine: `packed::block_len` asks once.)
#[cfg(target_arch = "x86_64")]
pub fn cache_bytes(level: u32) -> Option<usize> {
    use std::arch::x86_64::{__cpuid, __cpuid_count};
    let max = __cpuid(0).eax;
    let max_extended = __cpuid(0x8000_0000).eax;
    [(4, max >= 4), (0x8000_001D, max_extended >= 0x8000_001D)]
        .into_iter()
        .filter(|&(_, available)| available)
        .find_map(|(leaf, _)| {
            (0..16)
                .map_while(|sub| {
                    let r = __cpuid_count(leaf, sub);
                    // Type 0: no more caches. 1: data, 2: instruction, 3: unified.
                    (r.eax & 0x1f != 0).then_some(r)
                })
                .find(|r| (r.eax >> 5) & 0x7 == level && matches!(r.eax & 0x1f, 1 | 3))
                .map(|r| {
                    let ways = (r.ebx >> 22) as usize + 1;
                    let partitions = ((r.ebx >> 12) & 0x3ff) as usize + 1;
                    let line = (r.ebx & 0xfff) as usize + 1;
                    let sets = r.ecx as usize + 1;
                    ways * partitions * line * sets
                })
        })
}

/// Elsewhere the packed kernel does not run.
#[cfg(not(target_arch = "x86_64"))]
pub fn cache_bytes(_level: u32) -> Option<usize> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn cache_sizes_from_cpuid_are_what_linux_reports() {
        // Linux reads the same CPUID leaves, but through its own code: /sys/devices/system/cpu/cpu*/cache. On a
        // CPU with cores of two kinds the sizes differ by core, and this thread may run on either.
        let Ok(cpus) = std::fs::read_dir("/sys/devices/system/cpu") else {
            crate::skip_report::required_in_ci(
                "cpu_caches::cache_sizes_from_cpuid_are_what_linux_reports",
                "the comparison with Linux's cache sizes",
                "there is no /sys/devices/system/cpu",
            );
            return;
        };
        let read = |dir: &std::path::Path, name: &str| {
            std::fs::read_to_string(dir.join(name)).map(|s| s.trim().to_string())
        };
        let mut reported = std::collections::HashMap::<u32, Vec<usize>>::new();
        for cache in cpus
            .flatten()
            .filter_map(|cpu| std::fs::read_dir(cpu.path().join("cache")).ok())
            .flat_map(|caches| caches.flatten().map(|c| c.path()))
        {
            let (Ok(level), Ok(kind), Ok(size)) = (
                read(&cache, "level"),
                read(&cache, "type"),
                read(&cache, "size"),
            ) else {
                continue;
            };
            if kind != "Instruction" {
                let kb: usize = size.trim_end_matches('K').parse().unwrap();
                reported
                    .entry(level.parse().unwrap())
                    .or_default()
                    .push(kb * 1024);
            }
        }
        if reported.is_empty() {
            crate::skip_report::required_in_ci(
                "cpu_caches::cache_sizes_from_cpuid_are_what_linux_reports",
                "the comparison with Linux's cache sizes",
                "sysfs lists no caches",
            );
            return;
        }
        for level in [1, 2] {
            let sizes = &reported[&level];
            let got = cache_bytes(level).unwrap();
            assert!(
                sizes.contains(&got),
                "level {level}: CPUID {got}, Linux {sizes:?}"
            );
        }
    }
}
