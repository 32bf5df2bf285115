//! What the machine running a benchmark is and can do: the CPU's name, its matrix-product rate and memory
//! bandwidth (the floor a benchmark is held to), and this process's peak memory.

use std::time::Instant;

use anyhow::bail;

/// What this machine cannot beat: its matrix-product rate and its memory bandwidth.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Peaks {
    /// GFLOP/s of a large float32 matrix product.
    pub gflops: f64,
    /// GB/s of reading memory.
    pub gbps: f64,
    /// Whether they were measured here (else given on the command line).
    pub measured: bool,
}

impl Peaks {
    /// The given peaks, or those measured on this machine for the ones not given: the best of ten 2,048² float32
    /// products (candle's gemm on every core, after three untimed ones) and the best of ten parallel reads of 512 MB.
    pub fn of(gflops: Option<f64>, gbps: Option<f64>) -> anyhow::Result<Self> {
        for (name, value) in [("--peak-gflops", gflops), ("--peak-gbps", gbps)] {
            if value.is_some_and(|v| !(v.is_finite() && v > 0.0)) {
                bail!("{name} must be a positive number");
            }
        }
        let measured = gflops.is_none() || gbps.is_none();
        let gflops = match gflops {
            Some(v) => v,
            None => {
                let n = 2048;
                let a = candle_core::Tensor::rand(0f32, 1.0, (n, n), &candle_core::Device::Cpu)?;
                let b = candle_core::Tensor::rand(0f32, 1.0, (n, n), &candle_core::Device::Cpu)?;
                // Three untimed products first (the threads start, the caches warm), then the best of ten: with
                // one and three, two runs on one machine differed by a quarter.
                for _ in 0..3 {
                    std::hint::black_box(a.matmul(&b)?);
                }
                let best = best_seconds(|| Ok(std::hint::black_box(a.matmul(&b)?)))?;
                2.0 * (n as f64).powi(3) / best / 1e9
            }
        };
        let gbps = match gbps {
            Some(v) => v,
            None => {
                use rayon::prelude::*;
                let data = vec![1.0f32; 128 << 20]; // 512 MB
                let best = best_seconds(|| {
                    // Sixteen independent sums per chunk, so the adds vectorise and memory is what limits.
                    let sum: f32 = data
                        .par_chunks(1 << 16)
                        .map(|c| {
                            c.chunks_exact(16)
                                .fold([0f32; 16], |mut acc, x| {
                                    for (a, v) in acc.iter_mut().zip(x) {
                                        *a += v;
                                    }
                                    acc
                                })
                                .iter()
                                .sum::<f32>()
                        })
                        .sum();
                    Ok(std::hint::black_box(sum))
                })?;
                (data.len() * 4) as f64 / best / 1e9
            }
        };
        Ok(Self {
            gflops,
            gbps,
            measured,
        })
    }

    /// The least time, in ms, of work of `flops` that reads `bytes`: max(FLOPs / rate, bytes / bandwidth).
    pub fn floor_ms(&self, flops: f64, bytes: f64) -> f64 {
        (flops / (self.gflops * 1e9)).max(bytes / (self.gbps * 1e9)) * 1e3
    }
}

/// The shortest of ten timed runs of `work`, in seconds.
fn best_seconds<T>(mut work: impl FnMut() -> anyhow::Result<T>) -> anyhow::Result<f64> {
    let mut best = f64::INFINITY;
    for _ in 0..10 {
        let start = Instant::now();
        work()?;
        best = best.min(start.elapsed().as_secs_f64());
    }
    Ok(best)
}

/// Peak resident memory of this process in MB since the last [`reset_peak_rss`] (Linux; `None` elsewhere).
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Resets the kernel's peak-RSS counter, so each length reports its own peak (Linux ≥ 4.0; a no-op elsewhere).
pub fn reset_peak_rss() {
    // Writing "5" to clear_refs resets VmHWM to the current RSS.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The CPU's model name as the system reports it (Linux: /proc/cpuinfo), with its family, model and widest vector
/// extension on x86 (the name alone says "AMD EPYC" for every generation), else the architecture.
pub fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| describe_cpu(&info))
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

/// "name (family F model M, AVX-512)" from the first processor's block of a /proc/cpuinfo text; the name alone
/// where the block has no family or flags (ARM), `None` where it has no model name. tools/benchlib.py's
/// `cpu_name` writes the same.
fn describe_cpu(info: &str) -> Option<String> {
    let field = |key: &str| {
        info.lines()
            .take_while(|l| !l.trim().is_empty())
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim() == key)
            .map(|(_, v)| v.trim())
    };
    let name = field("model name")?;
    let (Some(family), Some(flags)) = (field("cpu family"), field("flags")) else {
        return Some(name.to_string());
    };
    let flags: Vec<&str> = flags.split_whitespace().collect();
    let vector = if flags.contains(&"avx512f") {
        "AVX-512"
    } else if flags.contains(&"avx2") {
        "AVX2"
    } else {
        "no AVX2"
    };
    let model = field("model").unwrap_or("?");
    Some(format!("{name} (family {family} model {model}, {vector})"))
}

#[cfg(test)]
mod tests {
    use super::describe_cpu;

    #[test]
    fn the_cpu_is_named_with_family_model_and_vector_width() {
        let amd = "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 17\n\
                   model name\t: AMD EPYC\nflags\t\t: fpu avx2 avx512f avx512_bf16\n\n\
                   processor\t: 1\nmodel name\t: other\n";
        assert_eq!(
            describe_cpu(amd).as_deref(),
            Some("AMD EPYC (family 25 model 17, AVX-512)")
        );
        let intel_avx2 =
            "cpu family\t: 6\nmodel\t\t: 85\nmodel name\t: Intel Xeon\nflags\t: fma avx2\n";
        assert_eq!(
            describe_cpu(intel_avx2).as_deref(),
            Some("Intel Xeon (family 6 model 85, AVX2)")
        );
        // ARM's cpuinfo has no family or flags line of this kind: the name alone.
        assert_eq!(
            describe_cpu("model name\t: ARMv8 Processor rev 0\nFeatures\t: fp asimd\n").as_deref(),
            Some("ARMv8 Processor rev 0")
        );
        assert_eq!(describe_cpu("Features\t: fp asimd\n"), None);
    }
}
