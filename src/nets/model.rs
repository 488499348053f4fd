//! The architectures behind one interface (models.md §2.2): a configuration that says which
//! network to build, and the built network.
//!
//! `Net` is a plain enum, deliberately not a burn `Module`: a derived enum module would put the
//! variant name into every parameter path (`NafNet.intro.weight`), breaking the canonical names
//! of §1.3. Weights and checkpoints are therefore always read and written through the concrete
//! network inside.

use std::path::Path;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Deserializer, Serialize};

use super::dhnet::{DhNet, DhNetConfig, Macs, RouterMaps};
use super::nafnet::{NafNet, NafNetConfig, PdeRun};
use super::pde::PdeStats;
use super::weights::load_safetensors;
use super::NetError;

/// Keys that only a DHNet configuration has: a `[config]`/`[net]` table with any of them is
/// read as a DHNet (strictly, so a typo is named), any other table as a NAFNet.
const DHNET_KEYS: [&str; 3] = ["volterra_rank", "routers", "expert_kernels"];

/// Which network to build, with its hyper-parameters.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum NetConfig {
    NafNet(NafNetConfig),
    DhNet(DhNetConfig),
}

impl<'de> Deserialize<'de> for NetConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let table = toml::Table::deserialize(deserializer)?;
        let is_dhnet = DHNET_KEYS.iter().any(|k| table.contains_key(*k));
        let value = toml::Value::Table(table);
        if is_dhnet {
            value
                .try_into()
                .map(Self::DhNet)
                .map_err(|e| D::Error::custom(format!("DHNet config: {}", e.message())))
        } else {
            value
                .try_into()
                .map(Self::NafNet)
                .map_err(|e| D::Error::custom(e.message()))
        }
    }
}

impl From<NafNetConfig> for NetConfig {
    fn from(c: NafNetConfig) -> Self {
        Self::NafNet(c)
    }
}

impl From<DhNetConfig> for NetConfig {
    fn from(c: DhNetConfig) -> Self {
        Self::DhNet(c)
    }
}

impl NetConfig {
    /// The architecture name a model card (`model.architecture`) and a training recipe
    /// (`architecture`) carry for this configuration.
    pub fn architecture(&self) -> &'static str {
        match self {
            Self::NafNet(c) if c.pde.is_some() => "nafnet+pde",
            Self::NafNet(c) if c.fke.is_some() => "deeprft",
            Self::NafNet(_) => "nafnet",
            Self::DhNet(_) => "dhnet",
        }
    }

    /// Base width (channels after the intro conv).
    pub fn width(&self) -> usize {
        match self {
            Self::NafNet(c) => c.width,
            Self::DhNet(c) => c.width,
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        match self {
            Self::NafNet(c) => c.validate(),
            Self::DhNet(c) => c.validate(),
        }
    }

    pub fn pad_multiple(&self) -> usize {
        match self {
            Self::NafNet(c) => c.pad_multiple(),
            Self::DhNet(c) => c.pad_multiple(),
        }
    }

    /// Key prefix of the parameters this network adds to the one it warm-starts from
    /// (`init_from` in a recipe): the PDE layers or the FKE.
    pub fn added_prefix(&self) -> &'static str {
        match self {
            Self::NafNet(c) if c.fke.is_some() => "fke.",
            _ => "pde_layers.",
        }
    }

    /// The PDE layers' configuration (NAFNet `*-pde` models only).
    pub fn pde(&self) -> Option<&super::pde::PdeConfig> {
        match self {
            Self::NafNet(c) => c.pde.as_ref(),
            Self::DhNet(_) => None,
        }
    }

    /// Conv multiply-accumulates at `h × w` (models.md §1.4), with the DDRE share.
    pub fn macs(&self, h: usize, w: usize) -> Macs {
        match self {
            Self::NafNet(c) => Macs {
                total: c.macs(h, w),
                ddre: 0,
            },
            Self::DhNet(c) => c.macs(h, w),
        }
    }

    pub fn init(&self, device: &Device) -> Net {
        match self {
            Self::NafNet(c) => Net::NafNet(c.init(device)),
            Self::DhNet(c) => Net::DhNet(c.init(device)),
        }
    }
}

/// What to compute besides the image.
#[derive(Clone, Copy, Debug, Default)]
pub struct ForwardOptions {
    /// PDE schedule (ignored by networks without PDE layers).
    pub pde: PdeRun,
    /// Keep the router outputs (DHNet); free to ask for, but they hold memory.
    pub routes: bool,
}

/// A forward pass's outputs (models.md §2.2).
pub struct NetOutput {
    pub image: Tensor<4>,
    /// DHNet router weights, when asked for.
    pub router: Option<RouterMaps>,
    /// CFL statistics of the PDE layers (`*-pde` models).
    pub pde_stats: Option<PdeStats>,
}

/// A built network. Only a few exist at a time (one per loaded model), so the size gap
/// between the variants (the FKE's inline fields) costs nothing worth a box.
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Net {
    NafNet(NafNet),
    DhNet(DhNet),
}

impl From<NafNet> for Net {
    fn from(n: NafNet) -> Self {
        Self::NafNet(n)
    }
}

impl From<DhNet> for Net {
    fn from(n: DhNet) -> Self {
        Self::DhNet(n)
    }
}

impl Net {
    pub fn num_params(&self) -> usize {
        match self {
            Self::NafNet(n) => n.num_params(),
            Self::DhNet(n) => n.num_params(),
        }
    }

    /// The network pads its input to a multiple of this.
    pub fn pad_multiple(&self) -> usize {
        match self {
            Self::NafNet(n) => 1 << n.levels(),
            Self::DhNet(n) => 1 << n.levels(),
        }
    }

    /// Where the network's own kernels run (the FKE's FFTs, the PDE layers' iterations).
    pub fn with_kernel_path(self, path: super::kernel_path::KernelPath) -> Self {
        match self {
            Self::NafNet(n) => Self::NafNet(n.with_kernel_path(path)),
            other => other,
        }
    }

    /// Whether the network has a Fourier Kernel Estimator (and so feature-level kernels).
    pub fn has_fke(&self) -> bool {
        matches!(self, Self::NafNet(n) if n.fke.is_some())
    }

    /// Kernel sizes of the router's experts (none without routers).
    pub fn expert_kernels(&self) -> Vec<usize> {
        match self {
            Self::DhNet(n) => n.expert_kernels(),
            Self::NafNet(_) => Vec::new(),
        }
    }

    /// Whether the network has routers (and so gives a blur-degree map).
    pub fn has_routers(&self) -> bool {
        matches!(self, Self::DhNet(_))
    }

    /// Restores `[N,3,H,W]` (PDE layers with the inference schedule); no analysis outputs.
    pub fn forward_image(&self, x: Tensor<4>) -> Tensor<4> {
        self.forward(x, ForwardOptions::default()).image
    }

    pub fn forward(&self, x: Tensor<4>, opts: ForwardOptions) -> NetOutput {
        match self {
            Self::NafNet(n) => {
                let (image, pde_stats) = n.forward_pde(x, opts.pde);
                NetOutput {
                    image,
                    router: None,
                    pde_stats,
                }
            }
            Self::DhNet(n) if opts.routes => {
                let (image, maps) = n.forward_with_routes(x);
                NetOutput {
                    image,
                    router: Some(maps),
                    pde_stats: None,
                }
            }
            Self::DhNet(n) => NetOutput {
                image: n.forward(x),
                router: None,
                pde_stats: None,
            },
        }
    }

    /// Loads our safetensors weights into the network (every key must match).
    pub fn load_safetensors(self, path: &Path) -> Result<Self, NetError> {
        Ok(match self {
            Self::NafNet(n) => Self::NafNet(load_safetensors(n, path)?),
            Self::DhNet(n) => Self::DhNet(load_safetensors(n, path)?),
        })
    }

    /// Saves the weights with their canonical names (`half`: f16 storage).
    pub fn save_safetensors(&self, path: &Path, half: bool) -> Result<(), NetError> {
        match self {
            Self::NafNet(n) => super::weights::save_safetensors(n, path, half),
            Self::DhNet(n) => super::weights::save_safetensors(n, path, half),
        }
    }
}

/// One training forward pass.
pub struct TrainOutputs {
    /// Every image output the loss averages over: the restored image, and for `deeprft-*`
    /// also the backbone's auxiliary estimate (models.md §6.6).
    pub images: Vec<Tensor<4>>,
    /// A DHNet's displayed degree map, `[N,1,H,W]` (§5.5).
    pub degree: Option<Tensor<4>>,
    /// The CFL guard's counts of `*-pde` models.
    pub pde: Option<PdeStats>,
}

/// A network that restores a batch: all the training loop and validation scoring need.
pub trait Restore {
    /// `[N,3,H,W]` → restored, with the PDE statistics of `*-pde` models.
    fn restore(&self, x: Tensor<4>, pde: PdeRun) -> (Tensor<4>, Option<PdeStats>);

    /// What the training loss needs from one forward pass; the degree map only when `degree`
    /// is asked for and the network has routers.
    fn restore_for_training(&self, x: Tensor<4>, pde: PdeRun, _degree: bool) -> TrainOutputs {
        let (y, stats) = self.restore(x, pde);
        TrainOutputs {
            images: vec![y],
            degree: None,
            pde: stats,
        }
    }

    /// Completes a warm start from a smaller network's weights (the FKE's pass-through, §6.3).
    fn after_warm_start(self) -> Self
    where
        Self: Sized,
    {
        self
    }
}

impl Restore for NafNet {
    fn restore(&self, x: Tensor<4>, pde: PdeRun) -> (Tensor<4>, Option<PdeStats>) {
        self.forward_pde(x, pde)
    }

    fn restore_for_training(&self, x: Tensor<4>, pde: PdeRun, _degree: bool) -> TrainOutputs {
        let (out, stats) = self.forward_all(x, pde, true);
        let mut images = vec![out.image];
        images.extend(out.aux);
        TrainOutputs {
            images,
            degree: None,
            pde: stats,
        }
    }

    fn after_warm_start(self) -> Self {
        self.warm_start_fke()
    }
}

/// The backbone's own estimate inside a `deeprft-*` model (`ending(F) + B`, the auxiliary
/// training output), for measuring what the FKE adds on the very same weights. A model
/// without an FKE restores as usual.
pub struct BackboneEstimate<'a>(pub &'a NafNet);

impl Restore for BackboneEstimate<'_> {
    fn restore(&self, x: Tensor<4>, pde: PdeRun) -> (Tensor<4>, Option<PdeStats>) {
        let (out, stats) = self.0.forward_all(x, pde, true);
        (out.aux.unwrap_or(out.image), stats)
    }
}

impl Restore for DhNet {
    fn restore(&self, x: Tensor<4>, _pde: PdeRun) -> (Tensor<4>, Option<PdeStats>) {
        (self.forward(x), None)
    }

    fn restore_for_training(&self, x: Tensor<4>, _pde: PdeRun, degree: bool) -> TrainOutputs {
        if !degree {
            return TrainOutputs {
                images: vec![self.forward(x)],
                degree: None,
                pde: None,
            };
        }
        let [_, _, h, w] = x.dims();
        let (image, routes) = self.forward_with_routes(x);
        TrainOutputs {
            images: vec![image],
            degree: routes.degree_map(h, w),
            pde: None,
        }
    }
}

impl Restore for Net {
    fn restore(&self, x: Tensor<4>, pde: PdeRun) -> (Tensor<4>, Option<PdeStats>) {
        let out = self.forward(x, ForwardOptions { pde, routes: false });
        (out.image, out.pde_stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_told_apart_by_their_keys() {
        let naf: NetConfig = toml::from_str(
            "width = 16\nenc_blocks = [1, 1, 1, 2]\nmiddle_blocks = 1\ndec_blocks = [1, 1, 1, 1]",
        )
        .expect("NAFNet table");
        assert_eq!(naf, NetConfig::NafNet(NafNetConfig::small()));
        assert_eq!(naf.architecture(), "nafnet");
        let text = toml::to_string(&NetConfig::DhNet(DhNetConfig::small())).expect("serialise");
        let dh: NetConfig = toml::from_str(&text).expect("DHNet table");
        assert_eq!(dh, NetConfig::DhNet(DhNetConfig::small()));
        assert_eq!(dh.architecture(), "dhnet");
        // A DHNet table with a typo names it instead of silently becoming a NAFNet.
        let bad = text.replace("routers", "routerz");
        let err = toml::from_str::<NetConfig>(&bad).expect_err("typo");
        assert!(err.to_string().contains("routerz"), "{err}");
    }

    #[test]
    fn backbone_estimate_is_the_network_without_its_fke() {
        let device = Device::flex();
        let cfg = NafNetConfig {
            fke: Some(super::super::fke::FkeConfig {
                kernel_blocks: 1,
                fft_size: 16,
            }),
            ..NafNetConfig::tiny(4)
        };
        // Freshly initialised (not warm-started), the FKE changes the image.
        let rft = cfg.init(&device);
        let plain = NafNet {
            fke: None,
            ..rft.clone()
        };
        let x = Tensor::<4>::random(
            [1, 3, 16, 16],
            burn::tensor::Distribution::Uniform(0.0, 1.0),
            &device,
        );
        let run = PdeRun::default();
        let backbone = BackboneEstimate(&rft).restore(x.clone(), run).0;
        let without = plain.restore(x.clone(), run).0;
        let with = rft.restore(x, run).0;
        let same = (backbone.clone() - without)
            .abs()
            .max()
            .into_scalar::<f32>();
        assert!(same < 1e-6, "backbone estimate differs by {same}");
        let fke = (backbone - with).abs().max().into_scalar::<f32>();
        assert!(fke > 1e-4, "the FKE output equals the backbone's ({fke})");
    }

    #[test]
    fn routes_only_when_asked() {
        let device = Device::flex();
        let cfg = DhNetConfig {
            width: 4,
            enc_blocks: vec![1],
            middle_blocks: 1,
            dec_blocks: vec![1],
            ..DhNetConfig::small()
        };
        let net = NetConfig::DhNet(cfg).init(&device);
        assert!(net.has_routers());
        let x = Tensor::<4>::zeros([1, 3, 8, 8], &device);
        assert!(net
            .forward(x.clone(), ForwardOptions::default())
            .router
            .is_none());
        let with = ForwardOptions {
            routes: true,
            ..Default::default()
        };
        assert_eq!(net.forward(x, with).router.map(|r| r.sites.len()), Some(2));
    }
}
