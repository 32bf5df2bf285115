//! The widest vector instructions attngraph's own kernels use: what the CPU reports, lowered where
//! `ATTNGRAPH_ISA` asks, so that one machine can measure what a CPU without AVX-512 runs (every hand kernel
//! steps down together: the packed products, attention, LayerNorm, exp, GELU and the row scans).
//!
//! Every kernel asks here, never the CPU directly: a level is only ever lowered, so where [`avx512`] or
//! [`avx2`] says yes, the CPU has the instructions.

/// A level of x86-64 vector instructions, lowest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Isa {
    /// No hand kernel: candle's and the compiler's code only (what ARM and older x86-64 run).
    Baseline,
    /// AVX2 with FMA: 256-bit registers, 16 of them.
    Avx2,
    /// AVX-512F: 512-bit registers, 32 of them.
    Avx512,
}

impl Isa {
    /// The names `ATTNGRAPH_ISA` takes, and `attngraph bench --kernels` prints.
    pub fn name(self) -> &'static str {
        match self {
            Self::Baseline => "baseline",
            Self::Avx2 => "avx2",
            Self::Avx512 => "avx512",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        [Self::Baseline, Self::Avx2, Self::Avx512]
            .into_iter()
            .find(|isa| isa.name().eq_ignore_ascii_case(name.trim()))
    }

    /// What this CPU reports: AVX2 counts only with FMA, which every kernel built for it uses, and AVX-512F
    /// only with both (every CPU that has it has them, but a virtual machine may hide a feature, and each level
    /// promises the ones below it).
    pub fn detected() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            let avx2 = std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma");
            if avx2 && std::arch::is_x86_feature_detected!("avx512f") {
                return Self::Avx512;
            }
            if avx2 {
                return Self::Avx2;
            }
        }
        Self::Baseline
    }
}

/// The level `ATTNGRAPH_ISA` names (`None` when unset), or a message saying what is wrong with its value.
pub fn from_env() -> Result<Option<Isa>, String> {
    let Some(v) = std::env::var_os("ATTNGRAPH_ISA") else {
        return Ok(None);
    };
    v.to_str().and_then(Isa::from_name).map(Some).ok_or_else(|| {
        format!(
            "ATTNGRAPH_ISA={v:?} is not one of baseline, avx2, avx512: set one of them, or unset it for the CPU's \
             own ({})",
            Isa::detected().name()
        )
    })
}

/// The level the kernels use: the CPU's, lowered to `ATTNGRAPH_ISA` where that is lower (a higher level than the
/// CPU has is the CPU's). Read once. A value that [`from_env`] refuses counts as unset here: the command line and
/// [`super::Engine::load`] refuse it with its message before any kernel runs.
pub fn level() -> Isa {
    static LEVEL: std::sync::OnceLock<Isa> = std::sync::OnceLock::new();
    *LEVEL.get_or_init(|| {
        let cpu = Isa::detected();
        match from_env() {
            Ok(Some(cap)) => cap.min(cpu),
            Ok(None) | Err(_) => cpu,
        }
    })
}

/// Whether the kernels built for AVX-512F run: the CPU has it and it is not set lower.
pub fn avx512() -> bool {
    level() >= Isa::Avx512
}

/// Whether the kernels built for AVX2 and FMA run: the CPU has both and they are not set lower.
pub fn avx2() -> bool {
    level() >= Isa::Avx2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back_and_levels_order() {
        for isa in [Isa::Baseline, Isa::Avx2, Isa::Avx512] {
            assert_eq!(Isa::from_name(isa.name()), Some(isa));
            assert_eq!(
                Isa::from_name(&format!(" {} ", isa.name().to_uppercase())),
                Some(isa)
            );
        }
        assert_eq!(Isa::from_name("avx"), None);
        assert_eq!(Isa::from_name(""), None);
        assert!(Isa::Baseline < Isa::Avx2 && Isa::Avx2 < Isa::Avx512);
    }

    #[test]
    fn the_setting_these_tests_run_under_is_one_of_its_names() {
        // A mistyped ATTNGRAPH_ISA counts as unset in `level`: the run would test the CPU's own kernels, not the
        // ones it was asked to.
        assert!(from_env().is_ok(), "{:?}", from_env());
    }

    #[test]
    fn the_level_is_never_above_the_cpu() {
        assert!(level() <= Isa::detected());
        #[cfg(target_arch = "x86_64")]
        {
            if avx512() {
                assert!(std::arch::is_x86_feature_detected!("avx512f"));
                assert!(avx2());
            }
            if avx2() {
                assert!(std::arch::is_x86_feature_detected!("avx2"));
                assert!(std::arch::is_x86_feature_detected!("fma"));
            }
        }
    }
}
