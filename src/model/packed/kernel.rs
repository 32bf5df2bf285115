//! Which register tile runs the packed products, made only where the CPU has its instructions, and which height
//! of it takes the rows a task has left.

use super::tasks::{MR, MR_AVX2};
#[cfg(target_arch = "x86_64")]
use super::{avx2, avx512, tile::Tile};

/// Which register tile runs the packed products: AVX-512's (12 rows × two 16-lane registers) or AVX2's (6 rows
/// × two 8-lane registers, twice). One exists only where the CPU has its instructions ([`Kernel::detected`],
/// [`Kernel::available`]), so a product cannot run on a CPU without them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kernel(Width);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Width {
    Avx512,
    Avx2,
}

impl Kernel {
    /// The widest this CPU runs, at the level [`crate::model::isa::level`] allows; `None` below AVX2.
    pub fn detected() -> Option<Self> {
        use crate::model::isa;
        if isa::avx512() {
            Some(Self(Width::Avx512))
        } else if isa::avx2() {
            Some(Self(Width::Avx2))
        } else {
            None
        }
    }

    /// [`Kernel::detected`], or the error a product returns where there is none.
    pub(super) fn required() -> candle_core::Result<Self> {
        Self::detected().ok_or_else(|| {
            candle_core::Error::msg("the packed kernel needs a CPU with AVX-512F, or AVX2 and FMA")
        })
    }

    /// Every tile this CPU runs at the level [`crate::model::isa::level`] allows, widest first: for the tests
    /// and the kernel bench, which compare them.
    pub fn available() -> Vec<Self> {
        use crate::model::isa::{level, Isa};
        [(Isa::Avx512, Width::Avx512), (Isa::Avx2, Width::Avx2)]
            .into_iter()
            .filter(|&(isa, _)| level() >= isa)
            .map(|(_, width)| Self(width))
            .collect()
    }

    /// `"avx512"` or `"avx2"`.
    pub fn name(self) -> &'static str {
        match self.0 {
            Width::Avx512 => "avx512",
            Width::Avx2 => "avx2",
        }
    }

    /// How `attngraph bench` names the kernels a model runs with it: `"avx512-packed"` or `"avx2-packed"`.
    pub fn path(self) -> &'static str {
        match self.0 {
            Width::Avx512 => "avx512-packed",
            Width::Avx2 => "avx2-packed",
        }
    }

    /// Rows of its tallest tile.
    pub(super) fn rows(self) -> usize {
        match self.0 {
            Width::Avx512 => MR,
            Width::Avx2 => MR_AVX2,
        }
    }

    /// Runs the tallest of this kernel's tiles that fits the `left` rows of its task (at least one): returns the
    /// rows it took.
    ///
    /// # Safety
    /// `t` satisfies the tiles' requirements (`avx512::tile`, `avx2::tile`) for that many rows; the instructions
    /// are there, since a `Kernel` exists.
    #[cfg(target_arch = "x86_64")]
    pub(super) unsafe fn tile(self, t: &Tile, left: usize) -> usize {
        match (self.0, left) {
            (Width::Avx512, left) if left >= MR => avx512::tile::<MR>(t),
            (Width::Avx512, 8..=11) => avx512::tile::<8>(t),
            (Width::Avx512, 4..=7) => avx512::tile::<4>(t),
            (Width::Avx512, 3) => avx512::tile::<3>(t),
            (Width::Avx512, 2) => avx512::tile::<2>(t),
            (Width::Avx512, _) => avx512::tile::<1>(t),
            (Width::Avx2, left) if left >= MR_AVX2 => avx2::tile::<MR_AVX2>(t),
            (Width::Avx2, 5) => avx2::tile::<5>(t),
            (Width::Avx2, 4) => avx2::tile::<4>(t),
            (Width::Avx2, 3) => avx2::tile::<3>(t),
            (Width::Avx2, 2) => avx2::tile::<2>(t),
            (Width::Avx2, _) => avx2::tile::<1>(t),
        }
    }
}
