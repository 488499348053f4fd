//! `deblur bench --kernels`: the project's own kernels against the alternatives on the same
//! device, as ratios measured side by side in one process (issue 4): the PDE layer (K = 5)
//! through its WGSL passes vs burn's tensor ops vs the CPU reference, and the fused
//! `irfft2(rfft2(x) ⊙ K)` through the WGSL FFT vs burn-signal vs rustfft, and a depthwise
//! conv's, a 1×1 conv's and a dense 3×3 conv's forward + backward through burn's convolution
//! vs [`DepthwiseConv`], [`pointwise_forward`] and [`SameConv`]; on the CPU also the
//! per-region PSF estimate with and without its blind refinement.
//!
//! [`DepthwiseConv`]: crate::nets::depthwise::DepthwiseConv
//! [`SameConv`]: crate::nets::same_conv::SameConv

use burn::module::Param;
use burn::nn::conv::Conv2d;
use burn::tensor::{Device, Distribution, Tensor};

use crate::engine::ComputeDevice;
use crate::nets::depthwise::{depthwise_conv, depthwise_forward};
use crate::nets::kernel_path::KernelPath;
use crate::nets::pde::{PdeConfig, PdeLayer};
use crate::nets::pointwise::pointwise_forward;
use crate::nets::same_conv::same_conv_forward;
pub(super) use crate::util::median_ms;

/// Reads one value back, which waits for the (asynchronous) GPU work behind `t`.
pub(super) fn wait(t: Tensor<4>) {
    let _ = t.slice([0..1, 0..1, 0..1, 0..1]).into_data();
}

/// Reduces all of `t` on its device and reads the sum back: every value must exist, so all
/// the work that produced it has run (a one-value read proved too weak a barrier for
/// kernels launched outside burn's op graph).
fn wait_all(t: Tensor<4>) {
    let _ = t.sum().into_scalar::<f32>();
}

/// Prints one table row per path with its ratio to the first.
fn report(what: &str, rows: &[(&str, f64)]) {
    let base = rows.first().map_or(1.0, |r| r.1);
    for (name, ms) in rows {
        println!(
            "{what:<34} {name:<28} {ms:>10.2} ms  {:>7.2}x the first",
            ms / base
        );
    }
}

/// The PDE layer at `c × h × w`, K = 5, with non-trivial coefficients.
fn pde_rows(device: &ComputeDevice, c: usize, h: usize, w: usize, repeats: usize) {
    let cfg = PdeConfig {
        coef_scale_init: 1.0,
        ..PdeConfig::default()
    };
    let mut layer = PdeLayer::new(c, &cfg, &device.device);
    layer.gamma = Param::from_tensor(Tensor::ones([1, c, 1, 1], &device.device));
    let f = Tensor::<4>::random(
        [1, c, h, w],
        Distribution::Uniform(-1.0, 1.0),
        &device.device,
    );
    let mut rows = Vec::new();
    let mut paths = vec![("burn tensor ops", KernelPath::Tensor)];
    if device.is_gpu {
        paths.push(("WGSL passes (burn buffers)", KernelPath::Wgsl));
    }
    paths.push(("CPU reference (host)", KernelPath::Cpu));
    for (name, path) in paths {
        layer.path = path;
        let ms = median_ms(repeats, || {
            wait_all(layer.forward(f.clone(), 5, 0.2, 0.9).0)
        });
        rows.push((name, ms));
    }
    report(&format!("PDE layer K=5 {c}x{h}x{w}"), &rows);

    // The integration alone (weights pass and K steps from given coefficients), without the
    // coefficient convolutions that every path shares.
    let d = &device.device;
    let coef =
        |lo: f64, hi: f64| Tensor::<4>::random([1, c, h, w], Distribution::Uniform(lo, hi), d);
    let (ax, ay, bx, by) = (
        coef(-0.5, 0.5),
        coef(-0.5, 0.5),
        coef(0.0, 0.2),
        coef(0.0, 0.2),
    );
    let mut rows = vec![(
        "burn tensor ops",
        median_ms(repeats, || {
            let (p, _) = crate::nets::pde::planes(
                ax.clone(),
                ay.clone(),
                bx.clone(),
                by.clone(),
                Some(f.clone()),
                0.2,
                0.9,
            );
            wait_all(crate::nets::pde::integrate(f.clone(), &p, 5));
        }),
    )];
    if device.is_gpu {
        let stacked = Tensor::cat(vec![ax.clone(), ay.clone(), bx.clone(), by.clone()], 0);
        let ms = median_ms(repeats, || match crate::gpu::pde_burn::integrate_on_device(
            stacked.clone(),
            f.clone(),
            0.2,
            0.9,
            5,
        ) {
            Ok((hk, _)) => wait_all(hk),
            Err(e) => eprintln!("bench: PDE shader unavailable: {e}"),
        });
        rows.push(("WGSL passes (burn buffers)", ms));
    }
    report(&format!("PDE integration K=5 {c}x{h}x{w}"), &rows);
}

/// `irfft2(rfft2(x) ⊙ K)` on `planes × n × n`.
fn fft_rows(device: &ComputeDevice, planes: usize, n: usize, repeats: usize) {
    let d: &Device = &device.device;
    let x = Tensor::<4>::random([1, planes, n, n], Distribution::Uniform(-1.0, 1.0), d);
    let kr = Tensor::<4>::random(
        [1, planes, n, n / 2 + 1],
        Distribution::Uniform(-1.0, 1.0),
        d,
    );
    let ki = kr.clone() * 0.5;
    let mut rows = Vec::new();
    let mut paths = vec![("burn-signal", KernelPath::Tensor)];
    if device.is_gpu {
        paths.push(("WGSL FFT", KernelPath::Wgsl));
    }
    paths.push(("rustfft (host, rayon)", KernelPath::Cpu));
    for (name, path) in paths {
        let ms = median_ms(repeats, || {
            wait_all(path.spectral_multiply(x.clone(), kr.clone(), ki.clone()))
        });
        rows.push((name, ms));
    }
    report(&format!("irfft2(rfft2(x)*K) {planes}x{n}x{n}"), &rows);
}

/// Median forward + backward (both gradients) of `conv` on `x` (an autodiff device), through
/// burn's own conv and through `ours`, as two report rows under `what`.
fn conv_path_rows(
    what: &str,
    conv: &Conv2d,
    x: Tensor<4>,
    ours: (&str, fn(&Conv2d, Tensor<4>) -> Tensor<4>),
    repeats: usize,
) {
    let x = x.require_grad();
    let step = |y: Tensor<4>| {
        let grads = y.sum().backward();
        for g in [conv.weight.grad(&grads), x.grad(&grads)]
            .into_iter()
            .flatten()
        {
            wait(g);
        }
    };
    let rows = [
        (
            "burn conv2d",
            median_ms(repeats, || step(conv.forward(x.clone()))),
        ),
        (ours.0, median_ms(repeats, || step(ours.1(conv, x.clone())))),
    ];
    report(what, &rows);
}

/// A normal input of `dims` on the autodiff version of `device`.
fn input(device: &ComputeDevice, dims: [usize; 4]) -> Tensor<4> {
    let d = device.device.clone().autodiff();
    Tensor::random(dims, Distribution::Normal(0.0, 1.0), &d)
}

/// A depthwise `k × k` conv on `n × c × s²`, as in training: [`depthwise_forward`].
fn depthwise_rows(device: &ComputeDevice, [n, c, s]: [usize; 3], k: usize, repeats: usize) {
    let conv = depthwise_conv(c, k, &device.device.clone().autodiff());
    let what = format!("depthwise {k}x{k} fwd+bwd {n}x{c}x{s}x{s}");
    let ours = (
        "DepthwiseConv",
        depthwise_forward as fn(&Conv2d, Tensor<4>) -> Tensor<4>,
    );
    conv_path_rows(&what, &conv, input(device, [n, c, s, s]), ours, repeats);
}

/// A 1×1 conv `ci → co` on `n × ci × s²`: [`pointwise_forward`] (a matrix product).
fn pointwise_rows(device: &ComputeDevice, [n, ci, co, s]: [usize; 4], repeats: usize) {
    let conv = crate::nets::blocks::conv1x1(ci, co, true, &device.device.clone().autodiff());
    let what = format!("1x1 conv {ci}->{co} fwd+bwd {n}x{s}x{s}");
    let ours = (
        "pointwise_forward (matmul)",
        pointwise_forward as fn(&Conv2d, Tensor<4>) -> Tensor<4>,
    );
    conv_path_rows(&what, &conv, input(device, [n, ci, s, s]), ours, repeats);
}

/// A dense 3×3 "same" conv `ci → co` on `n × ci × s²`: [`same_conv_forward`].
fn same_conv_rows(device: &ComputeDevice, [n, ci, co, s]: [usize; 4], repeats: usize) {
    let conv = crate::nets::blocks::conv3x3(ci, co, 1, &device.device.clone().autodiff());
    let what = format!("3x3 conv {ci}->{co} fwd+bwd {n}x{s}x{s}");
    let ours = (
        "SameConv",
        same_conv_forward as fn(&Conv2d, Tensor<4>) -> Tensor<4>,
    );
    conv_path_rows(&what, &conv, input(device, [n, ci, s, s]), ours, repeats);
}

/// The per-region PSF estimate (CPU, rayon) on a 1024×768 pair (12 regions of 256²): the
/// §8 quotient alone vs the quotient plus blind refinement (`PsfOptions::refine`). The
/// "restoration" is the sharp image, which costs the same as a real one.
fn psf_rows(repeats: usize) {
    use crate::analysis::psf::{estimate_kernels, PsfOptions};
    use crate::train::synth::{blur_image_linear, sample_rng, trajectory_kernel_with_length};

    let (w, h) = (1024, 768);
    // Deterministic texture: squares of random grey on a gradient, in linear light.
    let mut rng = sample_rng(5, 0);
    let kernel = trajectory_kernel_with_length(&mut rng, 20.0).kernel;
    let sharp: Vec<f32> = (0..3 * w * h)
        .map(|i| {
            let (x, y) = ((i % w) as u64, ((i / w) % h) as u64);
            let cell = (x / 24).wrapping_mul(7919) ^ (y / 24).wrapping_mul(104_729);
            0.1 + 0.6 * ((cell % 97) as f32 / 97.0) + 0.1 * (x as f32 / w as f32)
        })
        .collect();
    let Ok(blurry) = blur_image_linear(&sharp, w, h, &kernel) else {
        return;
    };
    let encode = |v: &[f32]| -> Vec<f32> {
        v.iter()
            .map(|&l| crate::imaging::color::linear_to_srgb(l.clamp(0.0, 1.0)))
            .collect()
    };
    let (blurry, sharp) = (encode(&blurry), encode(&sharp));
    let time = |refine: bool| {
        let opts = PsfOptions {
            refine,
            ..PsfOptions::default()
        };
        median_ms(repeats, || {
            let _ = estimate_kernels(&blurry, &sharp, w, h, &opts);
        })
    };
    report(
        "PSF estimate 1024×768, 12 regions",
        &[
            ("quotient (§8)", time(false)),
            ("quotient + refinement", time(true)),
        ],
    );
}

/// The kernel benchmarks on one device. `large` adds the big cases of the issue
/// (256×256×32 PDE, 48×256² and 16×1024² FFT), which take minutes on a software adapter.
pub fn run(device: &ComputeDevice, repeats: usize, large: bool) {
    println!(
        "{} — own kernels vs alternatives, same device",
        device.label
    );
    pde_rows(device, 256, 16, 16, repeats);
    if large {
        pde_rows(device, 32, 256, 256, repeats);
        fft_rows(device, 48, 256, repeats);
        fft_rows(device, 16, 1024, repeats);
        depthwise_rows(device, [8, 32, 256], 3, repeats);
        depthwise_rows(device, [8, 32, 256], 9, repeats);
        pointwise_rows(device, [8, 32, 64, 256], repeats);
        pointwise_rows(device, [8, 64, 32, 256], repeats);
        same_conv_rows(device, [8, 32, 32, 256], repeats);
    } else {
        pde_rows(device, 32, 64, 64, repeats);
        fft_rows(device, 8, 256, repeats);
        // One shard of a training batch (4 crops of 128²) at the first level of a width-16 net.
        depthwise_rows(device, [4, 16, 128], 3, repeats);
        depthwise_rows(device, [4, 16, 128], 9, repeats);
        pointwise_rows(device, [4, 16, 32, 128], repeats);
        pointwise_rows(device, [4, 32, 16, 128], repeats);
        same_conv_rows(device, [4, 16, 16, 128], repeats);
        same_conv_rows(device, [4, 3, 16, 128], repeats);
    }
    if !device.is_gpu {
        psf_rows(repeats);
    }
}
