//! The networks of one CycleGAN training run: two generators and two or four discriminators in
//! one variable map, named as in the authors' checkpoints (`netG_A2B.model.1.weight`, ...).

use candle_core::{DType, Device, Result, Var};
use candle_nn::{VarBuilder, VarMap};

use crate::{Discriminator, DiscriminatorConfig, Generator, GeneratorConfig};

/// Name prefix of the A to B generator.
pub const G_A2B: &str = "netG_A2B";
/// Name prefix of the B to A generator.
pub const G_B2A: &str = "netG_B2A";
/// Name prefix of the whole-image discriminator of domain A.
pub const D_A: &str = "netD_A";
/// Name prefix of the whole-image discriminator of domain B.
pub const D_B: &str = "netD_B";
/// Name prefix of the masked-image discriminator of domain A.
pub const D_AM: &str = "netD_Am";
/// Name prefix of the masked-image discriminator of domain B.
pub const D_BM: &str = "netD_Bm";

/// Generators and discriminators of a run, sharing one [`VarMap`].
///
/// With masks (`generator.masked`) each domain has a whole-image discriminator `D_F` and a
/// masked-image discriminator `D_M`; without, only `D_F` (plain CycleGAN).
pub struct CycleGanNetworks {
    /// Every parameter, keyed by its prefixed name.
    pub varmap: VarMap,
    /// A to B generator.
    pub g_a2b: Generator,
    /// B to A generator.
    pub g_b2a: Generator,
    /// Whole-image discriminator of domain A.
    pub d_a: Discriminator,
    /// Whole-image discriminator of domain B.
    pub d_b: Discriminator,
    /// Masked-image discriminator of domain A (masked runs only).
    pub d_am: Option<Discriminator>,
    /// Masked-image discriminator of domain B (masked runs only).
    pub d_bm: Option<Discriminator>,
}

impl CycleGanNetworks {
    /// Builds the networks on `device` with freshly allocated `dtype` parameters (not yet
    /// initialised; see [`crate::init_weights`]).
    pub fn new(
        generator: &GeneratorConfig,
        discriminator: &DiscriminatorConfig,
        dtype: DType,
        device: &Device,
    ) -> Result<Self> {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, dtype, device);
        let g_a2b = Generator::new(vb.pp(G_A2B), generator)?;
        let g_b2a = Generator::new(vb.pp(G_B2A), generator)?;
        let d_a = Discriminator::new(vb.pp(D_A), discriminator)?;
        let d_b = Discriminator::new(vb.pp(D_B), discriminator)?;
        let (d_am, d_bm) = if generator.masked {
            (
                Some(Discriminator::new(vb.pp(D_AM), discriminator)?),
                Some(Discriminator::new(vb.pp(D_BM), discriminator)?),
            )
        } else {
            (None, None)
        };
        Ok(Self {
            varmap,
            g_a2b,
            g_b2a,
            d_a,
            d_b,
            d_am,
            d_bm,
        })
    }

    /// Variables whose names start with one of `prefixes` followed by a dot, sorted by name.
    pub fn named_vars(&self, prefixes: &[&str]) -> Result<Vec<(String, Var)>> {
        let variables =
            self.varmap.data().lock().map_err(|_| {
                candle_core::Error::Msg("the variable map's lock is poisoned".into())
            })?;
        let mut selected: Vec<(String, Var)> = variables
            .iter()
            .filter(|(name, _)| {
                prefixes.iter().any(|prefix| {
                    name.strip_prefix(prefix)
                        .is_some_and(|rest| rest.starts_with('.'))
                })
            })
            .map(|(name, var)| (name.clone(), var.clone()))
            .collect();
        selected.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(selected)
    }

    /// Every variable, sorted by name.
    pub fn all_named_vars(&self) -> Result<Vec<(String, Var)>> {
        self.named_vars(&[G_A2B, G_B2A, D_A, D_B, D_AM, D_BM])
    }
}
