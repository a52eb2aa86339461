//! The `mask-bank` kind: a bank of binary masks (`mask_NNNN.png` and `masks.parquet`).
//!
//! Its params are [`masks::BankParams`], the struct `pipeline masks` maps its flags to, so
//! a stage and the command line with the same values write the same bytes. The one
//! difference is the attention maps of `binary-attention`: a stage takes them as its input
//! `maps`, so that their content enters the stage key, and rejects a `maps` path in params.

use std::path::{Path, PathBuf};

use anyhow::Context;
use dag::{InputSpec, StageContext, StageKind};

pub use masks::{Bank, BankParams as MaskBankParams, Mask, MaskError, Preset, Scheme, TABLE_FILE};

/// The `mask-bank` stage kind.
pub struct MaskBank;

impl StageKind for MaskBank {
    fn name(&self) -> &'static str {
        "mask-bank"
    }

    fn fingerprint(&self) -> &'static str {
        crate::fingerprints::MASK_BANK
    }

    fn check_params(&self, params: &serde_json::Value) -> Result<serde_json::Value, String> {
        let canonical = dag::check_params::<MaskBankParams>(params)?;
        let mut typed: MaskBankParams =
            serde_json::from_value(canonical.clone()).map_err(|error| error.to_string())?;
        if typed.maps.is_some() {
            return Err(
                "give attention maps as the input `maps` (a stage reference), not as a param"
                    .to_string(),
            );
        }
        if typed.scheme == Scheme::BinaryAttention {
            // The maps arrive as an input at run time; a stand-in lets the other values be
            // checked before anything runs.
            typed.maps = Some(PathBuf::from("input maps"));
        }
        typed.validate().map_err(|error| error.to_string())?;
        Ok(canonical)
    }

    fn inputs(&self) -> &'static [InputSpec] {
        const INPUTS: &[InputSpec] = &[InputSpec::optional("maps")];
        INPUTS
    }

    fn run(&self, ctx: &mut StageContext) -> anyhow::Result<()> {
        let mut params: MaskBankParams = ctx.params()?;
        if ctx.input("maps").is_some() {
            if params.scheme != Scheme::BinaryAttention {
                anyhow::bail!(
                    "stage {} has the input `maps`, which only scheme binary-attention uses",
                    ctx.stage()
                );
            }
            params.maps = Some(ctx.input_path("maps")?.to_path_buf());
        } else if params.scheme == Scheme::BinaryAttention {
            anyhow::bail!(
                "stage {} uses scheme binary-attention but has no input `maps`; \
                 add `inputs: {{maps: <stage with the attention maps>}}`",
                ctx.stage()
            );
        }
        ctx.progress().set_message(params.scheme.name());
        write_bank(&params, ctx.out_dir())?;
        Ok(())
    }
}

/// Generates the bank of `params` and writes it into `out_dir`; the command line and the
/// stage both come through here.
pub fn write_bank(params: &MaskBankParams, out_dir: &Path) -> anyhow::Result<Bank> {
    let bank = Bank::generate(params).context("failed to generate the mask bank")?;
    bank.write(out_dir)
        .with_context(|| format!("failed to write the mask bank to {}", out_dir.display()))?;
    Ok(bank)
}
