//! Listing the files of a table folder, on any storage root: what tells
//! the dashboard that a newer pipeline run has landed, and when each table
//! was last written.

use std::time::UNIX_EPOCH;

use datafusion::common::{DataFusionError, Result};
use datafusion::execution::runtime_env::RuntimeEnv;
use futures::TryStreamExt;
use moodflow_engine::StorageRoot;
use object_store::path::Path as ObjectPath;

/// One file below a root.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct FileInfo {
    /// Path relative to the root, `/`-separated.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Last modification, seconds since the epoch.
    pub modified: u64,
}

/// Every file below `rel` (recursively), sorted by path; empty when `rel`
/// does not exist.
pub async fn list_files(root: &StorageRoot, runtime: &RuntimeEnv, rel: &str) -> Result<Vec<FileInfo>> {
    let mut out = match root {
        StorageRoot::Local(base) => {
            let mut out = Vec::new();
            walk(&base.join(rel), rel.trim_end_matches('/'), &mut out)?;
            out
        }
        StorageRoot::Remote(url) => {
            let store = runtime.object_store_registry.get_store(url)?;
            let base = url.path().trim_matches('/');
            let prefix = ObjectPath::from(format!("{base}/{}", rel.trim_matches('/')));
            let metas: Vec<_> = store
                .list(Some(&prefix))
                .try_collect()
                .await
                .map_err(|e| DataFusionError::Execution(format!("cannot list {}: {e}", root.join(rel))))?;
            metas
                .into_iter()
                .map(|m| FileInfo {
                    path: m
                        .location
                        .as_ref()
                        .strip_prefix(base)
                        .unwrap_or(m.location.as_ref())
                        .trim_start_matches('/')
                        .to_string(),
                    size: m.size,
                    modified: u64::try_from(m.last_modified.timestamp()).unwrap_or(0),
                })
                .collect()
        }
    };
    out.sort();
    Ok(out)
}

fn walk(dir: &std::path::Path, rel: &str, out: &mut Vec<FileInfo>) -> Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(DataFusionError::Execution(format!(
                "cannot list {}: {e}",
                dir.display()
            )))
        }
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().to_string();
        let meta = entry.metadata()?;
        let path = format!("{rel}/{name}");
        if meta.is_dir() {
            walk(&entry.path(), &path, out)?;
        } else {
            let modified = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs());
            out.push(FileInfo {
                path,
                size: meta.len(),
                modified,
            });
        }
    }
    Ok(())
}

/// Whether a table folder holds at least one Parquet file.
pub fn has_parquet(files: &[FileInfo]) -> bool {
    files.iter().any(|f| f.path.ends_with(".parquet"))
}
