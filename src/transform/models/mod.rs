//! Learned models, run through ONNX Runtime: the foreground/saliency mask ([`foreground`],
//! U²-NetP by default) behind `bg-remove` and `crop=auto`, and super-resolution ([`upscale`],
//! Real-ESRGAN's compact 4× network) behind `upscale`.
//!
//! Owns: finding the runtime and the model files (`--models DIR`), checking them at start,
//! loading each once per process on first use, running them on pixels in memory. Not here: when
//! a model runs and where its output is kept (`render::learned`: inline or deferred, memory and
//! variant store), or what the pipeline does with the output ([`super::pipeline`]).
//!
//! ONNX Runtime is loaded at run time (`ort`'s `load-dynamic`) from `DIR/libonnxruntime.so`,
//! which `make deps` takes from PyPI's `onnxruntime` wheel; nothing is downloaded at run time.
//! It is loaded on the first inference, not at start: the files are checked at start by
//! reading their ONNX signatures ([`signature`]), so a process that never runs a model does
//! not carry the runtime's memory (about 35 MB).

pub mod foreground;
pub mod signature;
pub mod upscale;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;

use crate::error::Error;

/// The directory `make deps` fills (`.deps/models`), used unless `--models` names another.
pub const BUILTIN_DIR: &str = env!("REFRACT_BUILTIN_MODELS");

/// The runtime library's file name in a models directory.
pub const RUNTIME_FILE: &str = "libonnxruntime.so";

/// What each model does, and the file names it is looked up under (the first one present wins:
/// an operator's own model under the generic name, else the one `make deps` ships).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Foreground probability per pixel (`bg-remove`, `crop=auto`).
    Foreground,
    /// Super-resolution (`upscale`).
    Upscale,
}

impl Role {
    /// Both roles.
    pub const ALL: [Role; 2] = [Role::Foreground, Role::Upscale];

    /// Its name in metrics, logs and `/healthz`.
    pub fn name(self) -> &'static str {
        match self {
            Role::Foreground => "foreground",
            Role::Upscale => "upscale",
        }
    }

    fn files(self) -> &'static [&'static str] {
        match self {
            Role::Foreground => &["foreground.onnx", "u2netp.onnx"],
            Role::Upscale => &["upscale.onnx", "realesr-animevideov3-x4.onnx"],
        }
    }
}

/// What a model is, as checked at start.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    /// Its role.
    pub role: Role,
    /// The file it was loaded from.
    pub file: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Foreground: the square side its input takes (U²-NetP: 320). Upscale: its factor.
    pub scale: u32,
}

/// The process's ONNX Runtime environment: one per process (ONNX Runtime's rule), made from the
/// first runtime library asked for.
fn environment(runtime: &Path) -> Result<&'static ort::environment::Environment, String> {
    static ENV: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();
    ENV.get_or_init(|| {
        let builder = ort::init_from(runtime).map_err(|e| format!("{}: {e}", runtime.display()))?;
        builder
            .with_name("refract")
            .with_telemetry(false)
            .build()
            .map_err(|e| format!("{}: {e}", runtime.display()))
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// One model: its file, checked at start, and its session, made on first use and kept.
struct Slot {
    info: ModelInfo,
    session: Mutex<Option<Session>>,
}

/// The learned models of one process: checked at start ([`Models::open`]), each loaded on its
/// first use and kept, run one inference at a time per model (the callers bound how many wait).
pub struct Models {
    runtime: PathBuf,
    threads: usize,
    foreground: Option<Slot>,
    upscale: Option<Slot>,
    runs: [AtomicU64; 2],
}

impl std::fmt::Debug for Models {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Models")
            .field("runtime", &self.runtime)
            .field("loaded", &self.loaded())
            .finish()
    }
}

impl Models {
    /// The models in `dir`, each checked now without loading ONNX Runtime: the runtime library
    /// is there, each model file present is an ONNX model whose inputs and outputs have the
    /// shapes its role needs (sessions are made on first use). A corrupt or unsuitable file is
    /// an error naming it. `threads`: ONNX Runtime's threads per inference.
    pub fn open(dir: &Path, threads: usize) -> Result<Models, String> {
        let runtime = dir.join(RUNTIME_FILE);
        let mut magic = [0u8; 4];
        let elf = std::fs::File::open(&runtime)
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
            .is_ok_and(|()| &magic == b"\x7fELF");
        if !elf {
            return Err(format!(
                "{}: no ONNX Runtime library (run `make deps`, or point --models at a directory \
                 holding {RUNTIME_FILE})",
                runtime.display()
            ));
        }
        let mut models = Models {
            runtime,
            threads: threads.max(1),
            foreground: None,
            upscale: None,
            runs: [AtomicU64::new(0), AtomicU64::new(0)],
        };
        for role in Role::ALL {
            let Some(file) = role
                .files()
                .iter()
                .map(|f| dir.join(f))
                .find(|f| f.is_file())
            else {
                continue;
            };
            let signature = std::fs::read(&file)
                .map_err(|e| e.to_string())
                .and_then(|bytes| signature::read(&bytes))
                .map_err(|e| format!("{}: {e}", file.display()))?;
            let scale = match role {
                Role::Foreground => foreground::check(&signature),
                Role::Upscale => upscale::check(&signature),
            }
            .map_err(|e| format!("{}: {e}", file.display()))?;
            let bytes = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
            let slot = Slot {
                info: ModelInfo {
                    role,
                    file,
                    bytes,
                    scale,
                },
                session: Mutex::new(None),
            };
            match role {
                Role::Foreground => models.foreground = Some(slot),
                Role::Upscale => models.upscale = Some(slot),
            }
        }
        Ok(models)
    }

    /// The models `dir` holds, or `None` with the reason when it holds no runtime — for the
    /// built-in directory, which a build without `make deps` does not have.
    pub fn open_builtin(threads: usize) -> Result<Models, String> {
        Models::open(Path::new(BUILTIN_DIR), threads)
    }

    fn session(&self, file: &Path) -> Result<Session, String> {
        let env = environment(&self.runtime)?;
        let built = Session::builder(env)
            .map_err(|e| e.to_string())?
            .with_optimization_level(GraphOptimizationLevel::Level3)
            .map_err(|e| e.to_string())?
            .with_intra_threads(self.threads)
            .map_err(|e| e.to_string())?
            .with_inter_threads(1)
            .map_err(|e| e.to_string())?
            // Activations are freed after each run instead of kept for the next one: inputs
            // change size from run to run, and the memory is the budget's. No arena either: it
            // keeps a run's peak for the process's life (U²-NetP: +200 MB after one mask, even
            // with ONNX Runtime's arena shrinkage; without it +40 MB, for ~20% more CPU spent
            // faulting pages in — `cargo bench --bench learned`).
            .with_memory_pattern(false)
            .map_err(|e| e.to_string())?
            .with_execution_providers([ort::ep::CPU::default().with_arena_allocator(false).build()])
            .map_err(|e| e.to_string())?
            .commit_from_file(file);
        built.map_err(|e| e.to_string())
    }

    /// What is available, as checked at start.
    pub fn loaded(&self) -> Vec<&ModelInfo> {
        [&self.foreground, &self.upscale]
            .into_iter()
            .flatten()
            .map(|s| &s.info)
            .collect()
    }

    /// The model of `role`, if the directory had one.
    pub fn info(&self, role: Role) -> Option<&ModelInfo> {
        self.slot(role).map(|s| &s.info)
    }

    /// Inferences run for `role` since start.
    pub fn runs(&self, role: Role) -> u64 {
        self.runs[role as usize].load(Ordering::Relaxed)
    }

    fn slot(&self, role: Role) -> Option<&Slot> {
        match role {
            Role::Foreground => self.foreground.as_ref(),
            Role::Upscale => self.upscale.as_ref(),
        }
    }

    /// Run `f` on the session of `role`, made on first use (one inference at a time per model).
    fn with_session<R>(
        &self,
        role: Role,
        f: impl FnOnce(&mut Session, &ModelInfo) -> Result<R, String>,
    ) -> Result<R, Error> {
        let slot = self
            .slot(role)
            .ok_or_else(|| Error::ModelFailed(format!("no {} model is loaded", role.name())))?;
        let mut guard = slot.session.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            let failed =
                |e: String| Error::ModelFailed(format!("{}: {e}", slot.info.file.display()));
            let mut session = self.session(&slot.info.file).map_err(failed)?;
            // The factor an upscaler is taken for is checked once, by a probe.
            if role == Role::Upscale {
                upscale::probe(&mut session, slot.info.scale).map_err(failed)?;
            }
            *guard = Some(session);
        }
        let session = guard.as_mut().expect("made above");
        self.runs[role as usize].fetch_add(1, Ordering::Relaxed);
        f(session, &slot.info).map_err(|e| Error::ModelFailed(format!("{}: {e}", role.name())))
    }
}

/// Run `session` on `input`: its first output as `f32`s with its shape.
fn run(
    session: &mut Session,
    input: ort::value::Tensor<f32>,
) -> Result<(Vec<i64>, Vec<f32>), String> {
    let outputs = session
        .run(ort::inputs![input])
        .map_err(|e| e.to_string())?;
    let (shape, data) = outputs[0]
        .try_extract_tensor::<f32>()
        .map_err(|e| e.to_string())?;
    Ok((shape.iter().copied().collect(), data.to_vec()))
}

#[cfg(test)]
pub(crate) mod test_models {
    //! The models `make deps` installs, opened once for the unit tests.
    use super::*;

    /// The built-in models (the test fails, loudly, when `make deps` has not installed them).
    pub fn models() -> &'static Models {
        static MODELS: OnceLock<Models> = OnceLock::new();
        MODELS.get_or_init(|| {
            Models::open_builtin(2).unwrap_or_else(|e| panic!("learned models: {e} (make deps)"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checking_at_open_leaves_the_runtime_unloaded_until_the_first_inference() {
        let models = Models::open_builtin(1).unwrap();
        assert!(models.loaded().iter().all(|i| i.file.is_file()));
        assert_eq!(models.runs(Role::Foreground), 0);
    }

    #[test]
    fn the_built_in_runtime_and_models_are_checked_at_open() {
        let models = test_models::models();
        let fg = models.info(Role::Foreground).expect("u2netp");
        assert_eq!(fg.scale, 320);
        assert!(fg.file.ends_with("u2netp.onnx"));
        let up = models.info(Role::Upscale).expect("upscaler");
        assert_eq!(up.scale, 4);
    }

    #[test]
    fn a_corrupt_model_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(
            Path::new(BUILTIN_DIR).join(RUNTIME_FILE),
            dir.path().join(RUNTIME_FILE),
        )
        .unwrap();
        std::fs::write(dir.path().join("foreground.onnx"), b"not a model").unwrap();
        let e = Models::open(dir.path(), 1).unwrap_err();
        assert!(e.contains("foreground.onnx"), "{e}");
        // No runtime: the error says what is missing.
        let empty = tempfile::tempdir().unwrap();
        let e = Models::open(empty.path(), 1).unwrap_err();
        assert!(e.contains(RUNTIME_FILE), "{e}");
    }
}
