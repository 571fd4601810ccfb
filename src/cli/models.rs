//! `showo-studio models list|pull|verify|rm|path|estimate`: the model manager on the command line.
//! Same library calls as the GUI models panel (`showo::hub::manager`).

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use showo::hub::manager::{self, Check, FileState, ModelStatus, PullEvent};
use showo::hub::memory::{self, Device, DeviceBudget, Fit, LlmQuant, LoadOptions, Workload};
use showo::hub::{Catalog, Dtype, Fetched, Hub, HubConfig, format_bytes};

#[derive(Args)]
pub struct ModelsArgs {
    /// Use this catalog instead of the built-in models.toml.
    #[arg(long, global = true)]
    catalog: Option<PathBuf>,
    #[command(subcommand)]
    command: ModelsCommand,
}

#[derive(Subcommand)]
enum ModelsCommand {
    /// The catalog: install state, download size, capabilities, memory.
    List,
    /// Download a model and its components into the Hugging Face cache (resumable, checksummed).
    Pull {
        id: String,
        /// Do not ask before downloading.
        #[arg(long, short)]
        yes: bool,
    },
    /// Re-hash a model's cached files against the known checksums.
    Verify { id: String },
    /// Remove a model from the cache.
    Rm {
        id: String,
        /// Also remove its components (tokenizer, VAE) when no other installed model uses them.
        #[arg(long)]
        with_components: bool,
        #[arg(long, short)]
        yes: bool,
    },
    /// Print where a model (or one of its files) is on disk.
    Path {
        id: String,
        /// A file of the model's own repo, e.g. config.json.
        file: Option<String>,
    },
    /// Estimate the memory a model needs before loading it.
    Estimate {
        id: String,
        #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
        device: DeviceArg,
        /// Working dtype (default: the catalog's recommendation).
        #[arg(long, value_enum)]
        dtype: Option<DtypeArg>,
        #[arg(long, value_enum)]
        quant: Option<QuantArg>,
        /// Keep the VAE on the CPU (GPU devices).
        #[arg(long)]
        vae_on_cpu: bool,
        #[arg(long, value_enum)]
        task: Option<TaskArg>,
        #[arg(long)]
        resolution: Option<u32>,
        #[arg(long, default_value_t = 32)]
        frames: u32,
        /// Memory available on the device in GB (default for the CPU: what the OS reports free).
        #[arg(long)]
        memory_gb: Option<f64>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum DeviceArg {
    Cpu,
    Cuda,
    Metal,
}

#[derive(Clone, Copy, ValueEnum)]
enum DtypeArg {
    F32,
    F16,
    Bf16,
}

#[derive(Clone, Copy, ValueEnum)]
enum QuantArg {
    #[value(name = "q8_0")]
    Q8_0,
    #[value(name = "q4k")]
    Q4K,
}

#[derive(Clone, Copy, ValueEnum)]
enum TaskArg {
    T2i,
    Chat,
    Video,
}

pub fn run(args: ModelsArgs) -> anyhow::Result<()> {
    let catalog = match &args.catalog {
        Some(path) => Catalog::load(path)?,
        None => Catalog::builtin(),
    };
    let hub = Hub::new(HubConfig::from_env());
    match args.command {
        ModelsCommand::List => list(&hub, &catalog),
        ModelsCommand::Pull { id, yes } => pull(&hub, &catalog, &id, yes),
        ModelsCommand::Verify { id } => verify(&hub, &catalog, &id),
        ModelsCommand::Rm {
            id,
            with_components,
            yes,
        } => rm(&hub, &catalog, &id, with_components, yes),
        ModelsCommand::Path { id, file } => path(&hub, &catalog, &id, file.as_deref()),
        ModelsCommand::Estimate {
            id,
            device,
            dtype,
            quant,
            vae_on_cpu,
            task,
            resolution,
            frames,
            memory_gb,
        } => {
            let model = catalog.model(&id)?;
            let dtype = match dtype {
                Some(DtypeArg::F32) => Dtype::F32,
                Some(DtypeArg::F16) => Dtype::F16,
                Some(DtypeArg::Bf16) => Dtype::Bf16,
                None => model.recommended_dtype,
            };
            let llm_quant = quant.map(|q| match q {
                QuantArg::Q8_0 => LlmQuant::Q8_0,
                QuantArg::Q4K => LlmQuant::Q4K,
            });
            let default = Workload::default_for(model);
            let r = resolution
                .or(model.native_resolutions.first().copied())
                .unwrap_or(432);
            let workload = match task {
                None => default,
                Some(TaskArg::T2i) => Workload::TextToImage { resolution: r },
                Some(TaskArg::Chat) => Workload::ImageChat { resolution: r },
                Some(TaskArg::Video) => Workload::VideoChat {
                    resolution: r,
                    frames,
                },
            };
            if !model.supports(workload.capability()) {
                bail!(
                    "{} does not do {}; `showo-studio models list` shows what each model does",
                    model.id,
                    workload.capability()
                );
            }
            let device = match device {
                DeviceArg::Cpu => Device::Cpu,
                DeviceArg::Cuda => Device::Cuda,
                DeviceArg::Metal => Device::Metal,
            };
            let host = memory::system_available_ram();
            let available = match (memory_gb, device) {
                (Some(gb), _) => (gb * 1e9) as u64,
                (None, Device::Cpu) => {
                    host.context("cannot read the free RAM here; pass --memory-gb")?
                }
                (None, _) => bail!("pass --memory-gb with the free memory of the {device} device"),
            };
            let budget = DeviceBudget {
                device,
                available,
                host_available: host,
            };
            let assessment = memory::assess(
                &catalog,
                model,
                LoadOptions {
                    dtype,
                    llm_quant,
                    vae_on_cpu,
                },
                workload,
                budget,
            );
            let e = assessment.estimate;
            println!(
                "weights: LLM {}, vision and flow head {}, VAE {}{}",
                format_bytes(e.llm_weights),
                format_bytes(e.other_weights),
                format_bytes(e.vae_weights),
                if e.vae_on_cpu { " (on the CPU)" } else { "" }
            );
            println!(
                "working memory: transformer {}, VAE {}, runtime {}",
                format_bytes(e.activations),
                format_bytes(e.vae_activations),
                format_bytes(e.overhead)
            );
            println!("{}", assessment.message());
            if assessment.fit == Fit::DoesNotFit {
                bail!(
                    "{id} does not fit in {} on {device}",
                    format_bytes(available)
                );
            }
            Ok(())
        }
    }
}

fn list(hub: &Hub, catalog: &Catalog) -> anyhow::Result<()> {
    println!(
        "cache: {}{}",
        hub.config.cache.root.display(),
        if hub.config.offline { " (offline)" } else { "" }
    );
    for model in &catalog.models {
        let status = match manager::status(hub, catalog, model) {
            ModelStatus::BuiltIn => "built in".to_string(),
            ModelStatus::Installed => "installed".to_string(),
            ModelStatus::Partial { missing } => {
                format!("partial ({} files missing)", missing.len())
            }
            ModelStatus::NotInstalled => "not installed".to_string(),
        };
        let (known, complete) = model.known_download_bytes();
        let unknown = model
            .files
            .iter()
            .filter(|f| !f.optional && f.size.is_none())
            .count();
        let size = if model.is_builtin() {
            "no download".to_string()
        } else if complete {
            format_bytes(known)
        } else if known > 0 {
            format!(
                "{} + {unknown} file(s) of unknown size",
                format_bytes(known)
            )
        } else {
            model
                .estimated_weight_bytes()
                .map(|b| format!("≈{} (estimated)", format_bytes(b)))
                .unwrap_or("unknown".into())
        };
        let workload = Workload::default_for(model);
        let need = memory::estimate(
            catalog,
            model,
            LoadOptions::plain(model.recommended_dtype),
            workload,
            Device::Cuda,
        );
        println!("\n{}  [{status}]  {}", model.id, model.display_name);
        println!("  {}", model.description);
        match &model.repo {
            Some(repo) => println!("  repo: {repo}   download: {size}"),
            None => println!("  shipped in {}", model.local_path.as_deref().unwrap_or("")),
        }
        for line in model.capability_lines() {
            println!("  {line}");
        }
        if need.weights_known {
            println!(
                "  memory: about {} for {workload} in {} on a GPU",
                format_bytes(need.device_peak()),
                model.recommended_dtype
            );
        }
        for note in &model.notes {
            println!("  note: {note}");
        }
    }
    Ok(())
}

fn pull(hub: &Hub, catalog: &Catalog, id: &str, yes: bool) -> anyhow::Result<()> {
    let model = catalog.model(id)?;
    if model.is_builtin() {
        println!("{} is built in; nothing to download.", model.id);
        return Ok(());
    }
    let plan = manager::plan(hub, catalog, model)?;
    if plan.is_complete() {
        println!("{} is already in {}", model.id, plan.cache_root.display());
        return Ok(());
    }
    let (bytes, all_known) = plan.bytes_to_download();
    println!(
        "{}: files to download into {}",
        model.id,
        plan.cache_root.display()
    );
    for f in plan.missing() {
        let size = match &f.state {
            FileState::Missing {
                size: Some(s),
                partial,
            } if *partial > 0 => {
                format!(
                    "{} ({} already here, resuming)",
                    format_bytes(*s),
                    format_bytes(*partial)
                )
            }
            FileState::Missing { size: Some(s), .. } => format_bytes(*s),
            FileState::Linkable => "already in the cache".into(),
            _ => "size unknown".into(),
        };
        println!("  {}/{}  {size}", f.repo, f.entry.path);
    }
    let total = format!(
        "{}{}",
        format_bytes(bytes),
        if all_known {
            ""
        } else {
            " plus files of unknown size"
        }
    );
    println!("total: {total}");
    if !yes && bytes > 0 {
        if !std::io::stdin().is_terminal() {
            bail!("refusing to start a {total} download without confirmation; pass --yes");
        }
        print!("Download {total}? [y/N] ");
        std::io::stdout().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            bail!("cancelled; nothing downloaded");
        }
    }

    let style = ProgressStyle::with_template(
        "{msg:30!} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    )
    .expect("valid template")
    .progress_chars("=> ");
    let mut bar: Option<ProgressBar> = None;
    let cancel = AtomicBool::new(false);
    let report = manager::pull(
        hub,
        &plan,
        &mut |event| match event {
            PullEvent::FileStarted { file, size, .. } => {
                let b = ProgressBar::new(size.unwrap_or(0))
                    .with_style(style.clone())
                    .with_message(file);
                bar = Some(b);
            }
            PullEvent::Progress { done, total, .. } => {
                if let Some(b) = &bar {
                    if total > 0 {
                        b.set_length(total);
                    }
                    b.set_position(done);
                }
            }
            PullEvent::FileDone { file, outcome, .. } => match (bar.take(), outcome) {
                (Some(b), Fetched::Linked(_)) => {
                    b.finish_with_message(format!("{file} (reused from the cache)"))
                }
                (Some(b), _) => b.finish(),
                (None, _) => {}
            },
            PullEvent::FileSkipped { repo, file, reason } => {
                println!("  skipped {repo}/{file}: {reason}")
            }
        },
        &cancel,
    )?;
    let installed = installed(hub, catalog, model)?;
    println!(
        "downloaded {}; {} is in {}",
        format_bytes(report.downloaded_bytes),
        model.id,
        installed.dir.display()
    );
    Ok(())
}

fn verify(hub: &Hub, catalog: &Catalog, id: &str) -> anyhow::Result<()> {
    let model = catalog.model(id)?;
    if model.is_builtin() {
        println!("{} is built in (checked by the build).", model.id);
        return Ok(());
    }
    let cancel = AtomicBool::new(false);
    let mut bar: Option<ProgressBar> = None;
    let checks = manager::verify(
        hub,
        catalog,
        model,
        &mut |event| match event {
            PullEvent::FileStarted { file, size, .. } => {
                bar = Some(
                    ProgressBar::new(size.unwrap_or(0)).with_message(format!("hashing {file}")),
                );
            }
            PullEvent::Progress { done, .. } => {
                if let Some(b) = &bar {
                    b.set_position(done)
                }
            }
            _ => {}
        },
        &cancel,
    )?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let mut bad = 0;
    for c in &checks {
        let verdict = match &c.check {
            Check::Sha256Ok => "ok (sha256)".to_string(),
            Check::PrefixOk => "ok (known sha256 prefix)".to_string(),
            Check::NoHashKnown => "present (no checksum known)".to_string(),
            Check::Missing => "MISSING".to_string(),
            Check::Corrupt { expected, got } => {
                format!("CORRUPT: expected sha256 {expected}, got {got}")
            }
            Check::WrongSize { expected, got } => {
                format!("WRONG SIZE: expected {expected} bytes, got {got}")
            }
        };
        if !c.check.is_ok() {
            bad += 1;
        }
        println!("{}/{}: {verdict}", c.repo, c.file);
    }
    if bad > 0 {
        bail!(
            "{bad} file(s) of {id} failed verification; `showo-studio models rm {id}` then pull again"
        );
    }
    Ok(())
}

fn rm(
    hub: &Hub,
    catalog: &Catalog,
    id: &str,
    with_components: bool,
    yes: bool,
) -> anyhow::Result<()> {
    let model = catalog.model(id)?;
    let Some(repo) = &model.repo else {
        bail!(
            "{} is built into the application and cannot be removed",
            model.id
        );
    };
    let cache = hub.repo_cache(repo);
    if !cache.exists() {
        println!(
            "{} is not in the cache ({})",
            model.id,
            hub.config.cache.root.display()
        );
        return Ok(());
    }
    if !yes {
        if !std::io::stdin().is_terminal() {
            bail!(
                "refusing to delete {} without confirmation; pass --yes",
                cache.dir.display()
            );
        }
        print!(
            "Delete {} ({})? [y/N] ",
            cache.dir.display(),
            format_bytes(cache.size_on_disk())
        );
        std::io::stdout().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            bail!("cancelled; nothing removed");
        }
    }
    let freed = manager::remove(hub, catalog, model, with_components)?;
    println!("removed {}; freed {}", model.id, format_bytes(freed));
    Ok(())
}

fn path(hub: &Hub, catalog: &Catalog, id: &str, file: Option<&str>) -> anyhow::Result<()> {
    let model = catalog.model(id)?;
    let installed = installed(hub, catalog, model)?;
    match (file, &model.repo) {
        (None, _) => println!("{}", installed.dir.display()),
        (Some(f), Some(repo)) => match installed.file(repo, f) {
            Some(p) => println!("{}", p.display()),
            None => bail!(
                "{f} is not a file of {id}; its files: {}",
                file_names(model)
            ),
        },
        (Some(f), None) => println!("{}", installed.dir.join(f).display()),
    }
    Ok(())
}

fn file_names(model: &showo::hub::ModelEntry) -> String {
    model
        .files
        .iter()
        .map(|f| f.path.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where a catalog model's files are (the built-in model: wherever `showo::assets` finds it).
fn installed(
    hub: &Hub,
    catalog: &Catalog,
    model: &showo::hub::ModelEntry,
) -> anyhow::Result<manager::InstalledModel> {
    Ok(manager::installed(hub, catalog, model)?)
}
