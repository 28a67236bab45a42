//! A BERT-style training recipe with this crate alone: LAMB (or AdamW) with no weight decay on
//! biases, global gradient-norm clipping at 1.0, gradient accumulation, and a linear warmup into
//! cosine decay.
//!
//! The PyTorch loop it reproduces:
//!
//! ```text
//! for step, batch in enumerate(micro_batches):
//!     loss(batch).backward()                       # gradients add up over k micro-batches
//!     if (step + 1) % k == 0:
//!         clip_grad_norm_(params, 1.0)             # on the accumulated gradient
//!         optimizer.step(); optimizer.zero_grad()
//!         scheduler.step()                         # warmup + cosine, per update
//! ```
//!
//! Here `MultiSteps` does the accumulation (the mean of `k` micro-batch gradients) and the
//! clipping of the accumulated gradient; `ParamGroups::no_decay_by_name` takes the biases out of
//! weight decay; `Warmup::cosine` is stepped after every real update (`step_if_stepped`), in
//! each parameter group from its own learning rate. The model is a small
//! two-layer network classifying points inside or outside a circle, on seeded synthetic data.
//! The program checks its own result (exit code 1 if training did not work), so CI runs it.
//!
//! `finetune` runs a fine-tuning recipe instead, the PyTorch loop
//!
//! ```text
//! opt = AdamW([{'params': head}], lr=3e-2, betas=(0.9, 0.98), weight_decay=0.01)
//! sched = CosineAnnealingLR(opt, T_max=updates, eta_min=1e-4)
//! ...                                             # the backbone frozen: not in the optimizer
//! opt.add_param_group({'params': backbone, 'lr': 3e-3, 'betas': (0.9, 0.999)})  # unfreeze
//! ...                                             # accumulation, clipping as above
//! ```
//!
//! on a model pretrained on another circle: per-group absolute learning rates and betas, a
//! frozen-then-unfrozen backbone (`add_param_group`), accumulation with clipping of the
//! accumulated gradient, and a cosine schedule whose `eta_min` is the floor of every group.
//!
//! ```text
//! cargo run --release --example recipe [-- adamw | finetune]
//! ```

use ndarray::{Array1, Array2, Axis};
use ndarray_optim::schedule::CosineAnnealingLr;
use ndarray_optim::schedule::{Schedule, Warmup};
use ndarray_optim::{
    AdamWConfig, LambConfig, MultiStepsConfig, Optimizer, ParamGroup, ParamGroups, TensorList,
    tensor_list,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const HIDDEN: usize = 32;
const MICRO_BATCH: usize = 16;
const ACCUMULATE: usize = 4; // effective batch: 64
const UPDATES: usize = 300;
const WARMUP: u64 = 30;

/// A two-layer network: 2 inputs → tanh(HIDDEN) → 1 logit.
struct Mlp {
    w1: Array2<f32>,
    b1: Array1<f32>,
    w2: Array2<f32>,
    b2: Array1<f32>,
}

// The model is its own parameter list (`opt.step(&mut model, &grads)`), with PyTorch-style
// names: the backbone (the hidden layer) and the head (the output layer).
tensor_list!(Mlp: f32 {
    w1 as "hidden.weight",
    b1 as "hidden.bias",
    w2 as "out.weight",
    b2 as "out.bias",
});

impl Mlp {
    fn new(rng: &mut StdRng) -> Self {
        let mut init = |rows, cols, fan_in: usize| {
            let bound = 1.0 / (fan_in as f32).sqrt();
            Array2::from_shape_fn((rows, cols), |_| rng.random_range(-bound..bound))
        };
        Mlp {
            w1: init(2, HIDDEN, 2),
            b1: Array1::zeros(HIDDEN),
            w2: init(HIDDEN, 1, HIDDEN),
            b2: Array1::zeros(1),
        }
    }

    /// Mean binary cross-entropy over the batch and its gradients (same shapes as the model).
    fn loss_and_gradients(&self, x: &Array2<f32>, y: &Array1<f32>) -> (f32, Mlp) {
        let n = x.nrows() as f32;
        let h = (x.dot(&self.w1) + &self.b1).mapv(f32::tanh); // (batch, HIDDEN)
        let logit = h.dot(&self.w2).column(0).to_owned() + self.b2[0]; // (batch)
        let p = logit.mapv(|z| 1.0 / (1.0 + (-z).exp()));
        let loss = -y
            .iter()
            .zip(&p)
            .map(|(&y, &p)| y * p.max(1e-7).ln() + (1.0 - y) * (1.0 - p).max(1e-7).ln())
            .sum::<f32>()
            / n;
        // Backward: ∂loss/∂logit = (p − y)/n, then through the layers.
        let d_logit = (&p - y) / n; // (batch)
        let d_logit2 = d_logit.clone().insert_axis(Axis(1)); // (batch, 1)
        let g_w2 = h.t().dot(&d_logit2);
        let g_b2 = Array1::from_elem(1, d_logit.sum());
        let d_h = d_logit2.dot(&self.w2.t()) * h.mapv(|t| 1.0 - t * t); // tanh′
        let g_w1 = x.t().dot(&d_h);
        let g_b1 = d_h.sum_axis(Axis(0));
        let grads = Mlp {
            w1: g_w1,
            b1: g_b1,
            w2: g_w2,
            b2: g_b2,
        };
        (loss, grads)
    }

    fn accuracy(&self, x: &Array2<f32>, y: &Array1<f32>) -> f32 {
        let h = (x.dot(&self.w1) + &self.b1).mapv(f32::tanh);
        let logit = h.dot(&self.w2).column(0).to_owned() + self.b2[0];
        let right = logit
            .iter()
            .zip(y)
            .filter(|(z, y)| (**z > 0.0) == (**y > 0.5))
            .count();
        right as f32 / y.len() as f32
    }
}

/// Points in [-2, 2]², labelled 1 inside the circle of radius 1.3.
fn data(rng: &mut StdRng, n: usize) -> (Array2<f32>, Array1<f32>) {
    circle(rng, n, (0.0, 0.0), 1.3)
}

/// Points in [-2, 2]², labelled 1 inside the circle of the given centre and radius.
fn circle(
    rng: &mut StdRng,
    n: usize,
    centre: (f32, f32),
    radius: f32,
) -> (Array2<f32>, Array1<f32>) {
    let x = Array2::from_shape_fn((n, 2), |_| rng.random_range(-2.0..2.0f32));
    let y = x
        .rows()
        .into_iter()
        .map(|r| {
            let (dx, dy) = (r[0] - centre.0, r[1] - centre.1);
            f32::from(u8::from(dx * dx + dy * dy < radius * radius))
        })
        .collect();
    (x, y)
}

/// The fine-tuning recipe (see the module docs): pretrain on one circle, then fine-tune a new
/// head on another, the backbone frozen for the first third of the updates.
fn finetune() -> Result<(), Box<dyn std::error::Error>> {
    let mut rng = StdRng::seed_from_u64(11);
    let mut model = Mlp::new(&mut rng);
    // Pretraining, briefly, on the first task.
    let mut pre = AdamWConfig::default().lr(3e-2).build::<f32>()?;
    for _ in 0..400 {
        let (x, y) = data(&mut rng, 64);
        let (_, grads) = model.loss_and_gradients(&x, &y);
        pre.step(&mut model, &grads)?;
    }
    // The new task, and a new head.
    let task = |rng: &mut StdRng, n| circle(rng, n, (0.4, -0.3), 1.0);
    let (test_x, test_y) = task(&mut rng, 1000);
    let fresh = Mlp::new(&mut rng);
    model.w2 = fresh.w2;
    model.b2 = fresh.b2;
    let initial = model.accuracy(&test_x, &test_y);

    let base = AdamWConfig::default()
        .lr(3e-2)
        .betas((0.9, 0.98))
        .weight_decay(0.01);
    let mut opt = MultiStepsConfig::default()
        .every_k(ACCUMULATE)
        .max_grad_norm(Some(1.0))
        .build(base.clone().build::<f32>()?)?;
    // The head alone is trained first: its tensors are the list, the backbone is not in it.
    opt.set_param_groups(Some(ParamGroups::new(
        vec![ParamGroup::default()],
        vec![0, 0],
    )?))?;
    let mut sched = CosineAnnealingLr::new(UPDATES as u64)
        .eta_min(1e-4)
        .attach(&mut opt)?;
    let unfreeze = UPDATES / 3;
    println!("fine-tuning a new head; the backbone joins after {unfreeze} updates");
    println!("update   head lr   backbone lr   test accuracy");
    for _ in 0..UPDATES * ACCUMULATE {
        let (x, y) = task(&mut rng, MICRO_BATCH);
        let (_, g) = model.loss_and_gradients(&x, &y);
        if opt.step_count() < unfreeze as u64 {
            // PyTorch's list order: the head, then (once added) the backbone.
            let mut head = vec![
                model.w2.view_mut().into_dyn(),
                model.b2.view_mut().into_dyn(),
            ];
            let head_grads = vec![g.w2.view().into_dyn(), g.b2.view().into_dyn()];
            opt.step(&mut head, &head_grads)?;
        } else {
            if opt.group_count() == 1 && opt.micro_step() == 0 {
                let backbone = ParamGroup::default()
                    .hyperparameters(base.clone().lr(3e-3).betas((0.9, 0.999)));
                opt.add_param_group(backbone, 2)?;
                sched.add_groups(&opt)?;
            }
            let mut all = vec![
                model.w2.view_mut().into_dyn(),
                model.b2.view_mut().into_dyn(),
                model.w1.view_mut().into_dyn(),
                model.b1.view_mut().into_dyn(),
            ];
            let all_grads = vec![
                g.w2.view().into_dyn(),
                g.b2.view().into_dyn(),
                g.w1.view().into_dyn(),
                g.b1.view().into_dyn(),
            ];
            opt.step(&mut all, &all_grads)?;
        }
        let stepped = sched.step_if_stepped(&mut opt)?.is_some();
        let update = opt.step_count() as usize;
        if stepped && (update.is_multiple_of(40) || update == unfreeze + 1) {
            let lrs = sched.last_lrs();
            let backbone = lrs
                .get(1)
                .map_or("frozen".to_string(), |lr| format!("{lr:.5}"));
            println!(
                "{update:>6}  {:>8.5}  {backbone:>12}  {:>13.1}%",
                lrs[0],
                100.0 * model.accuracy(&test_x, &test_y)
            );
        }
    }
    let accuracy = model.accuracy(&test_x, &test_y);
    let lrs = sched.last_lrs();
    println!(
        "\ntest accuracy {:.1}% -> {:.1}%; final learning rates {lrs:?} (eta_min 1e-4 is every group's floor)",
        100.0 * initial,
        100.0 * accuracy
    );
    let floors = lrs.len() == 2 && lrs.iter().all(|&lr| (lr - 1e-4).abs() < 1e-9);
    if opt.step_count() != UPDATES as u64 || accuracy < 0.9 || !floors {
        eprintln!("the fine-tuning recipe did not train as it should");
        std::process::exit(1);
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().nth(1).as_deref() == Some("finetune") {
        return finetune();
    }
    let use_adamw = std::env::args().nth(1).as_deref() == Some("adamw");
    let mut rng = StdRng::seed_from_u64(7);
    let mut model = Mlp::new(&mut rng);
    let (test_x, test_y) = data(&mut rng, 1000);

    // The optimizer: LAMB as for BERT (or AdamW), no weight decay on the biases.
    let inner: Box<dyn Optimizer<f32>> = if use_adamw {
        Box::new(
            AdamWConfig::default()
                .lr(3e-2)
                .weight_decay(0.01)
                .build::<f32>()?,
        )
    } else {
        Box::new(
            LambConfig::default()
                .lr(5e-2)
                .weight_decay(0.01)
                .build::<f32>()?,
        )
    };
    let groups = ParamGroups::no_decay_where(&model, |name| name.ends_with(".bias"));
    println!(
        "no weight decay on: {:?}",
        (0..model.len())
            .filter(|&i| groups.assignment()[i] == 1)
            .filter_map(|i| model.name(i))
            .collect::<Vec<_>>()
    );
    // Accumulate 4 micro-batches, clip the accumulated gradient's global L2 norm at 1.0, step.
    let mut opt = MultiStepsConfig::default()
        .every_k(ACCUMULATE)
        .max_grad_norm(Some(1.0)) // the L2 norm: norm_type 2, the default
        .build(inner)?;
    opt.set_param_groups(Some(groups))?;
    // Linear warmup over 30 updates, then cosine decay to 0 at the last update.
    let mut sched = Warmup::cosine(WARMUP, UPDATES as u64).attach(&mut opt)?;

    let initial = model.loss_and_gradients(&test_x, &test_y).0;
    println!(
        "{} on a two-layer network, micro-batches of {MICRO_BATCH}, {ACCUMULATE} per update",
        opt.name()
    );
    println!("update      lr   grad norm   test loss");
    for micro in 0..UPDATES * ACCUMULATE {
        let (x, y) = data(&mut rng, MICRO_BATCH);
        let (_, grads) = model.loss_and_gradients(&x, &y);
        opt.step(&mut model, &grads)?;
        if opt.last_call_stepped() {
            let update = micro / ACCUMULATE + 1;
            if update.is_multiple_of(30) || update == 1 {
                let test_loss = model.loss_and_gradients(&test_x, &test_y).0;
                println!(
                    "{update:>6}  {:.4}  {:>10.4}  {test_loss:>10.4}",
                    sched.last_lr(), // group 0's; the optimizer's own lr is not scheduled
                    opt.last_grad_norm().unwrap_or(f64::NAN),
                );
            }
        }
        sched.step_if_stepped(&mut opt)?; // once per real update, as in the PyTorch loop
    }
    let (final_loss, _) = model.loss_and_gradients(&test_x, &test_y);
    let accuracy = model.accuracy(&test_x, &test_y);
    println!(
        "\ntest loss {initial:.4} -> {final_loss:.4}, test accuracy {:.1}%",
        100.0 * accuracy
    );
    println!(
        "updates: {}, bias weight decay: none (param group 1)",
        opt.step_count()
    );
    if opt.step_count() != UPDATES as u64 || accuracy < 0.9 || final_loss > 0.5 * initial {
        eprintln!("the recipe did not train as it should");
        std::process::exit(1);
    }
    Ok(())
}
