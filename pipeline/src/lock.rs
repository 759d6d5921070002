//! One run per root: the lock that `moodflow run`, `submit`,
//! `train-kmeans` and `generate` take before they write under a root.
//!
//! The lock is the file `ROOT/.moodflow-run.lock`, created only if absent
//! (local disk: `O_EXCL`; HDFS: a create without overwrite; S3: a put with
//! `If-None-Match`, which object_store calls `PutMode::Create`), holding
//! the holder's host, pid, command, start time and a refresh time that the
//! holder rewrites every [`REFRESH_EVERY`]. A second run refuses with a
//! message naming the holder.
//!
//! A lock is stale, and is taken over with a warning, when its holder is a
//! process of this host that no longer exists, or when it has not been
//! refreshed for [`STALE_AFTER`] (a holder on another host that died). On
//! a local root a stale lock is renamed aside before the new one is
//! created, so two runs that find the same stale lock cannot both win; on
//! HDFS and S3 it is deleted first, and two runs taking over the same
//! stale lock within the same moment could both believe they won (the
//! loser finds the winner's lock at its next refresh and stops refreshing;
//! documented, rare, and only after a crash).
//!
//! Whoever holds the lock owns `curated/_staging/`: leftover staging
//! folders of dead runs are removed when the lock is taken.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use datafusion::execution::runtime_env::RuntimeEnv;
use moodflow_engine::StorageRoot;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions};
use serde::{Deserialize, Serialize};

/// The lock file, relative to the root.
pub const LOCK_FILE: &str = ".moodflow-run.lock";

/// How often the holder rewrites its refresh time.
pub const REFRESH_EVERY: Duration = Duration::from_secs(30);

/// A lock not refreshed for this long belongs to a dead run.
pub const STALE_AFTER: Duration = Duration::from_secs(600);

/// Who holds a root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// Host name.
    pub host: String,
    /// Process id on that host.
    pub pid: u32,
    /// The command (`run`, `submit jobs/x.sql`…).
    pub command: String,
    /// Unix seconds when the lock was taken.
    pub started: u64,
    /// Unix seconds of the last refresh.
    pub refreshed: u64,
    /// Unique per lock, so a holder never deletes another's lock.
    pub token: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let at = |secs: u64| {
            chrono::DateTime::from_timestamp(secs as i64, 0)
                .map_or_else(|| secs.to_string(), |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        };
        write!(
            f,
            "`moodflow {}` (pid {} on {}, started {}, last seen {})",
            self.command,
            self.pid,
            self.host,
            at(self.started),
            at(self.refreshed)
        )
    }
}

/// Why a lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another run holds the root.
    #[error("{root} is in use by {holder}; wait for it to finish (a dead run's lock is taken over once its process is gone or after {} minutes without a refresh; delete {root}/{LOCK_FILE} to force it)", STALE_AFTER.as_secs() / 60)]
    Held {
        /// The root.
        root: String,
        /// Who holds it.
        holder: Holder,
    },
    /// The lock file could not be read or written.
    #[error("cannot {op} the run lock {path}: {reason}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The lock file.
        path: String,
        /// The error.
        reason: String,
    },
}

/// A held lock; [`RunLock::release`] gives it back (a lock dropped without
/// release stays until it goes stale).
#[derive(Debug)]
pub struct RunLock {
    place: Place,
    holder: Holder,
    refresher: tokio::task::JoinHandle<()>,
}

#[derive(Debug, Clone)]
enum Place {
    Local(std::path::PathBuf),
    Remote(Arc<dyn ObjectStore>, ObjectPath, String),
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// This host's name.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".into())
}

/// True when `pid` is a live process of this host running moodflow (a pid
/// reused by another program does not keep a dead run's lock).
fn is_moodflow_process(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    match std::fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(cmdline) => cmdline.is_empty() || String::from_utf8_lossy(&cmdline).contains("moodflow"),
        // No /proc (not Linux): only the age of the lock can tell.
        Err(_) => !std::path::Path::new("/proc/self").exists(),
    }
}

/// Whether a lock belongs to a dead run, and why.
pub fn stale(holder: &Holder, this_host: &str, now: u64) -> Option<String> {
    if holder.host == this_host && !is_moodflow_process(holder.pid) {
        return Some(format!("process {} on {} is gone", holder.pid, holder.host));
    }
    let idle = now.saturating_sub(holder.refreshed);
    (idle > STALE_AFTER.as_secs()).then(|| format!("not refreshed for {idle} s"))
}

impl Place {
    fn name(&self) -> String {
        match self {
            Self::Local(p) => p.display().to_string(),
            Self::Remote(_, _, url) => url.clone(),
        }
    }

    fn io(&self, op: &'static str) -> impl Fn(String) -> LockError + '_ {
        move |reason| LockError::Io {
            op,
            path: self.name(),
            reason,
        }
    }

    /// Creates the lock if there is none: `Ok(false)` when one exists.
    async fn create(&self, holder: &Holder) -> Result<bool, LockError> {
        let bytes = serde_json::to_vec_pretty(holder).map_err(|e| self.io("write")(e.to_string()))?;
        match self {
            Self::Local(path) => {
                use std::io::Write;
                let file = std::fs::OpenOptions::new().write(true).create_new(true).open(path);
                match file {
                    Ok(mut f) => f
                        .write_all(&bytes)
                        .map(|()| true)
                        .map_err(|e| self.io("write")(e.to_string())),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
                    Err(e) => Err(self.io("create")(e.to_string())),
                }
            }
            Self::Remote(store, path, _) => {
                let opts = PutOptions {
                    mode: PutMode::Create,
                    ..Default::default()
                };
                match store.put_opts(path, bytes.into(), opts).await {
                    Ok(_) => Ok(true),
                    Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
                    Err(e) => Err(self.io("create")(e.to_string())),
                }
            }
        }
    }

    /// The current holder; `None` when the lock is gone or unreadable
    /// (a lock being written: treated as gone only by the retry loop).
    async fn read(&self) -> Result<Option<Holder>, LockError> {
        let bytes = match self {
            Self::Local(path) => match std::fs::read(path) {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(self.io("read")(e.to_string())),
            },
            Self::Remote(store, path, _) => match store.get(path).await {
                Ok(got) => got.bytes().await.map_err(|e| self.io("read")(e.to_string()))?.to_vec(),
                Err(object_store::Error::NotFound { .. }) => return Ok(None),
                Err(e) => return Err(self.io("read")(e.to_string())),
            },
        };
        Ok(serde_json::from_slice(&bytes).ok())
    }

    /// Removes a stale lock: renamed aside first on local disk, so only one
    /// of two racing runs removes it.
    async fn remove_stale(&self, holder: &Holder) -> Result<(), LockError> {
        match self {
            Self::Local(path) => {
                let aside = path.with_extension(format!("stale-{}-{}", std::process::id(), holder.token));
                match std::fs::rename(path, &aside) {
                    Ok(()) => {
                        let _ = std::fs::remove_file(&aside);
                        Ok(())
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    Err(e) => Err(self.io("take over")(e.to_string())),
                }
            }
            Self::Remote(store, path, _) => match store.delete(path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(self.io("take over")(e.to_string())),
            },
        }
    }

    /// Rewrites the lock (refresh), only while it is still `holder`'s.
    async fn refresh(&self, holder: &Holder) -> Result<bool, LockError> {
        match self.read().await? {
            Some(h) if h.token == holder.token => {}
            _ => return Ok(false),
        }
        let bytes = serde_json::to_vec_pretty(holder).map_err(|e| self.io("refresh")(e.to_string()))?;
        match self {
            Self::Local(path) => {
                let tmp = path.with_extension(format!("refresh-{}", holder.token));
                std::fs::write(&tmp, &bytes)
                    .and_then(|()| std::fs::rename(&tmp, path))
                    .map_err(|e| self.io("refresh")(e.to_string()))?;
            }
            Self::Remote(store, path, _) => {
                store
                    .put(path, bytes.into())
                    .await
                    .map_err(|e| self.io("refresh")(e.to_string()))?;
            }
        }
        Ok(true)
    }

    async fn delete_if_ours(&self, holder: &Holder) {
        if let Ok(Some(h)) = self.read().await {
            if h.token == holder.token {
                let _ = match self {
                    Self::Local(path) => std::fs::remove_file(path).map_err(|e| e.to_string()),
                    Self::Remote(store, path, _) => store.delete(path).await.map_err(|e| e.to_string()),
                };
            }
        }
    }
}

impl RunLock {
    /// Takes the root's lock for `command`; on success, removes what dead
    /// runs left in `curated/_staging/`. `warn` hears about a stale lock
    /// taken over and about leftovers removed.
    pub async fn acquire(
        runtime: &RuntimeEnv,
        root: &StorageRoot,
        command: &str,
        warn: &(dyn Fn(&str) + Sync),
    ) -> Result<Self, LockError> {
        let place = match root.local_path() {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| LockError::Io {
                    op: "create the root of",
                    path: dir.display().to_string(),
                    reason: e.to_string(),
                })?;
                Place::Local(dir.join(LOCK_FILE))
            }
            None => {
                let (store, base) = root.object_store(runtime).map_err(|e| LockError::Io {
                    op: "open the store of",
                    path: root.join(LOCK_FILE),
                    reason: e.to_string(),
                })?;
                Place::Remote(
                    store,
                    ObjectPath::from(format!("{base}/{LOCK_FILE}")),
                    root.join(LOCK_FILE),
                )
            }
        };
        let started = now();
        let holder = Holder {
            host: host_name(),
            pid: std::process::id(),
            command: command.to_string(),
            started,
            refreshed: started,
            token: format!(
                "{}-{}",
                SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos()),
                std::process::id()
            ),
        };
        // A few rounds: a lock being written or just released is looked at again.
        for _ in 0..5 {
            if place.create(&holder).await? {
                let lock = Self::start(place, holder);
                lock.clean_leftovers(runtime, root, warn).await;
                return Ok(lock);
            }
            match place.read().await? {
                None => tokio::time::sleep(Duration::from_millis(50)).await,
                Some(other) => match stale(&other, &holder.host, now()) {
                    Some(why) => {
                        warn(&format!("taking over the stale run lock of {other} ({why})"));
                        place.remove_stale(&other).await?;
                    }
                    None => {
                        return Err(LockError::Held {
                            root: root.as_location(),
                            holder: other,
                        })
                    }
                },
            }
        }
        let error = place.io("take")("it changed hands too often; try again".into());
        Err(error)
    }

    fn start(place: Place, holder: Holder) -> Self {
        let (p, mut h) = (place.clone(), holder.clone());
        let refresher = tokio::spawn(async move {
            loop {
                tokio::time::sleep(REFRESH_EVERY).await;
                h.refreshed = now();
                match p.refresh(&h).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!("the run lock {} is no longer ours; stopped refreshing it", p.name());
                        return;
                    }
                    Err(e) => tracing::warn!("{e}"),
                }
            }
        });
        Self {
            place,
            holder,
            refresher,
        }
    }

    async fn clean_leftovers(&self, runtime: &RuntimeEnv, root: &StorageRoot, warn: &(dyn Fn(&str) + Sync)) {
        let staging = "curated/_staging";
        let leftovers = match root.local_path() {
            Some(dir) => std::fs::read_dir(dir.join(staging)).map_or(0, |d| d.count()),
            None => root.list_dirs(runtime, staging).await.map_or(0, |d| d.len()),
        };
        if leftovers > 0 {
            warn(&format!(
                "removing {leftovers} staging folder(s) left in {} by runs that did not finish",
                root.join(staging)
            ));
            if let Err(e) = root.remove_all(runtime, staging).await {
                warn(&format!("could not remove {}: {e}", root.join(staging)));
            }
        }
        // A local commit interrupted between its renames leaves the old
        // version of a table beside it as `<table>.old-<pid>`.
        if let Some(dir) = root.local_path() {
            for sub in ["curated", "curated/_rejects", "models"] {
                let Ok(entries) = std::fs::read_dir(dir.join(sub)) else {
                    continue;
                };
                for e in entries.flatten() {
                    let name = e.file_name().to_string_lossy().to_string();
                    if name.contains(".old-") && e.path().is_dir() {
                        warn(&format!(
                            "removing {} left by an interrupted commit",
                            e.path().display()
                        ));
                        let _ = std::fs::remove_dir_all(e.path());
                    }
                }
            }
        }
    }

    /// Who holds the lock (this process).
    pub fn holder(&self) -> &Holder {
        &self.holder
    }

    /// Gives the lock back.
    pub async fn release(self) {
        self.refresher.abort();
        self.place.delete_if_ours(&self.holder).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(host: &str, pid: u32, refreshed: u64) -> Holder {
        Holder {
            host: host.into(),
            pid,
            command: "run".into(),
            started: refreshed,
            refreshed,
            token: "t".into(),
        }
    }

    #[test]
    fn staleness() {
        let me = host_name();
        let t = 1_000_000;
        assert!(
            stale(&holder(&me, std::process::id(), t), &me, t + 5).is_none(),
            "alive and fresh"
        );
        // pid 0 is never a process of ours in /proc.
        assert!(
            stale(&holder(&me, u32::MAX, t), &me, t + 5).is_some(),
            "dead pid on this host"
        );
        assert!(
            stale(&holder("elsewhere", 1, t), &me, t + 5).is_none(),
            "another host, fresh"
        );
        assert!(stale(&holder("elsewhere", 1, t), &me, t + STALE_AFTER.as_secs() + 1).is_some());
    }
}
