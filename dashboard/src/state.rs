//! The dashboard's shared state: the current snapshot, swapped whole when a
//! newer pipeline run lands, so a request always sees one run's outputs.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use datafusion::execution::runtime_env::RuntimeEnv;
use moodflow_engine::{local_context, session_config, StorageRoot};

use crate::error::Problem;
use crate::files::FileInfo;
use crate::snapshot::{fingerprint, Loaded, Snapshot};

/// Settings of a dashboard.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Storage root of the pipeline's outputs.
    pub root: StorageRoot,
    /// Imaginary ratings at the global mean in the playlist score (stage
    /// 06's `playlist_damping`).
    pub damping: f64,
    /// How often to look for a newer run.
    pub refresh: Duration,
}

#[derive(Debug)]
struct Current {
    loaded: Arc<Loaded>,
    /// The files of the last load attempt, successful or not.
    seen: Vec<FileInfo>,
    /// Why the last reload failed (the previous run stays on show).
    reload_error: Option<String>,
}

/// Cheap to clone; shared by every request.
#[derive(Debug, Clone)]
pub struct AppState {
    settings: Arc<Settings>,
    current: Arc<RwLock<Current>>,
    /// The object stores the watcher lists with, made once: a new one per
    /// check would open a new HDFS or S3 client every few seconds.
    runtime: Arc<RuntimeEnv>,
}

impl AppState {
    /// Loads the root's outputs (an empty state when there are none).
    pub async fn load(settings: Settings) -> datafusion::common::Result<Self> {
        let loaded = Snapshot::load(&settings.root, settings.damping).await?;
        let runtime = local_context(session_config(&[])?)?.runtime_env();
        let seen = match &loaded {
            Loaded::Ready(s) => s.fingerprint.clone(),
            Loaded::Empty(_) => fingerprint(&settings.root, &runtime).await?,
        };
        Ok(Self {
            runtime,
            settings: Arc::new(settings),
            current: Arc::new(RwLock::new(Current {
                loaded: Arc::new(loaded),
                seen,
                reload_error: None,
            })),
        })
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// What is on show now.
    pub fn loaded(&self) -> Arc<Loaded> {
        // A poisoned lock only means a reload panicked mid-swap; the
        // value inside is still a whole Arc.
        let current = self.current.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(&current.loaded)
    }

    /// The snapshot, or the problem that there is none yet.
    pub fn snapshot(&self) -> Result<Arc<Snapshot>, Problem> {
        match &*self.loaded() {
            Loaded::Ready(s) => Ok(Arc::clone(s)),
            Loaded::Empty(why) => Err(Problem::NoData(format!(
                "{why}. Run `moodflow run --root {}` and this page fills itself.",
                self.settings.root
            ))),
        }
    }

    /// Why the last reload failed, if it did.
    pub fn reload_error(&self) -> Option<String> {
        let current = self.current.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        current.reload_error.clone()
    }

    /// Looks for a newer run once: when the files differ from those last
    /// seen and have not changed since the previous check (so a run that
    /// is still committing is not read half-way), loads them. Returns
    /// whether a new snapshot went on show.
    pub async fn refresh(&self, previous: &mut Option<Vec<FileInfo>>) -> bool {
        let files = match fingerprint(&self.settings.root, &self.runtime).await {
            Ok(f) => f,
            Err(e) => {
                self.set_error(format!("cannot list {}: {e}", self.settings.root));
                return false;
            }
        };
        let settled = previous.as_ref() == Some(&files);
        *previous = Some(files.clone());
        let (changed, failed) = {
            let current = self.current.read().unwrap_or_else(std::sync::PoisonError::into_inner);
            (current.seen != files, current.reload_error.is_some())
        };
        if !settled || !(changed || failed) {
            return false;
        }
        match Snapshot::load(&self.settings.root, self.settings.damping).await {
            Ok(loaded) => {
                let mut current = self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner);
                current.loaded = Arc::new(loaded);
                current.seen = files;
                current.reload_error = None;
                tracing::info!("loaded a new pipeline run from {}", self.settings.root);
                true
            }
            Err(e) => {
                self.set_error(format!(
                    "reading the new run failed, still showing the previous one: {e}"
                ));
                false
            }
        }
    }

    fn set_error(&self, message: String) {
        tracing::warn!("{message}");
        let mut current = self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        current.reload_error = Some(message);
    }

    /// Checks for newer runs every `settings.refresh`, forever.
    pub fn spawn_watcher(&self) -> tokio::task::JoinHandle<()> {
        let state = self.clone();
        tokio::spawn(async move {
            let mut previous = None;
            loop {
                tokio::time::sleep(state.settings.refresh).await;
                state.refresh(&mut previous).await;
            }
        })
    }
}

/// Waits for the watcher to settle: used by tests, which cannot wait for a
/// fixed time. Polls `refresh` until it loads a new run or `attempts` runs out.
pub async fn refresh_until_loaded(state: &AppState, attempts: usize, pause: Duration) -> bool {
    let mut previous = None;
    for _ in 0..attempts {
        if state.refresh(&mut previous).await {
            return true;
        }
        tokio::time::sleep(pause).await;
    }
    false
}
