//! Staging folders and the commit that replaces `curated/<table>/`.
//!
//! A local root commits with directory renames: the old table is renamed
//! aside, the staged one renamed into place, the old one deleted; a reader
//! sees either the old or the new table, never a mix. HDFS and S3 roots
//! commit object by object through the object store (HDFS renames are
//! atomic per file; S3 has no rename, so a reader racing a commit there can
//! see a partial table; moodflow's own stages never read while committing).

use std::time::{SystemTime, UNIX_EPOCH};

use datafusion::prelude::SessionContext;
use futures::TryStreamExt;
use moodflow_engine::StorageRoot;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use url::Url;

/// A commit that could not complete.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// A local file system operation failed.
    #[error("cannot {op} {path}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// On which path.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// An object store operation failed.
    #[error("cannot {op} {path}")]
    Store {
        /// What was being done.
        op: &'static str,
        /// On which path.
        path: String,
        /// The error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// A fresh staging folder, relative to the root.
pub fn new_staging_dir() -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("curated/_staging/{nanos}-{}", std::process::id())
}

fn io_err(op: &'static str, path: &std::path::Path) -> impl FnOnce(std::io::Error) -> CommitError {
    let path = path.display().to_string();
    move |source| CommitError::Io { op, path, source }
}

/// Moves every staged table into `curated/`, replacing the old version. A
/// table that the job wrote no file for (a `COPY` of zero rows) is created
/// empty, so readers always find the folder.
pub async fn commit_tables<'a>(
    ctx: &SessionContext,
    root: &StorageRoot,
    staging: &str,
    tables: impl Iterator<Item = &'a String>,
) -> Result<(), CommitError> {
    for table in tables {
        // The job runner only hands over names it checked; checked again
        // here because a rename to a bad name would move folders anywhere.
        let plain = table.strip_prefix("_rejects/").unwrap_or(table);
        let valid = !plain.is_empty()
            && !plain.starts_with('_')
            && plain.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(CommitError::Io {
                op: "commit a table with the name",
                path: table.clone(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a plain table name"),
            });
        }
        commit_dir(ctx, root, &format!("{staging}/{table}"), &format!("curated/{table}")).await?;
    }
    Ok(())
}

/// Replaces the folder `dst` with the staged folder `src` (both relative to
/// the root).
pub async fn commit_dir(ctx: &SessionContext, root: &StorageRoot, src: &str, dst: &str) -> Result<(), CommitError> {
    match root.local_path() {
        Some(base) => commit_local(&base.join(src), &base.join(dst)),
        None => commit_remote(ctx, root, src, dst).await,
    }
}

fn commit_local(src: &std::path::Path, dst: &std::path::Path) -> Result<(), CommitError> {
    if !src.exists() {
        std::fs::create_dir_all(src).map_err(io_err("create", src))?;
    }
    if let Some(parent) = dst.parent() {
        std::fs::create_dir_all(parent).map_err(io_err("create", parent))?;
    }
    let old = dst.with_extension(format!("old-{}", std::process::id()));
    let had_old = dst.exists();
    if had_old {
        std::fs::rename(dst, &old).map_err(io_err("move aside", dst))?;
    }
    if let Err(e) = std::fs::rename(src, dst) {
        // Put the previous version back so the table is never missing.
        if had_old {
            let _ = std::fs::rename(&old, dst);
        }
        return Err(io_err("move into place", src)(e));
    }
    if had_old {
        std::fs::remove_dir_all(&old).map_err(io_err("remove old version", &old))?;
    }
    Ok(())
}

fn store_for(
    ctx: &SessionContext,
    root: &StorageRoot,
) -> Result<(std::sync::Arc<dyn ObjectStore>, ObjectPath), CommitError> {
    let location = root.as_location();
    let store_err = |op, source: Box<dyn std::error::Error + Send + Sync>| CommitError::Store {
        op,
        path: location.clone(),
        source,
    };
    let url = Url::parse(&location).map_err(|e| store_err("parse", Box::new(e)))?;
    let store = ctx
        .runtime_env()
        .object_store_registry
        .get_store(&url)
        .map_err(|e| store_err("open store", Box::new(e)))?;
    Ok((store, ObjectPath::from(url.path())))
}

async fn commit_remote(ctx: &SessionContext, root: &StorageRoot, src: &str, dst: &str) -> Result<(), CommitError> {
    let (store, base) = store_for(ctx, root)?;
    let src_prefix = ObjectPath::from(format!("{base}/{src}"));
    let dst_prefix = ObjectPath::from(format!("{base}/{dst}"));
    let err = |op, path: &ObjectPath| {
        let path = path.to_string();
        move |e: object_store::Error| CommitError::Store {
            op,
            path,
            source: Box::new(e),
        }
    };
    let old: Vec<_> = store
        .list(Some(&dst_prefix))
        .try_collect()
        .await
        .map_err(err("list", &dst_prefix))?;
    for meta in old {
        store
            .delete(&meta.location)
            .await
            .map_err(err("delete", &meta.location))?;
    }
    let staged: Vec<_> = store
        .list(Some(&src_prefix))
        .try_collect()
        .await
        .map_err(err("list", &src_prefix))?;
    for meta in staged {
        let rel = meta
            .location
            .as_ref()
            .strip_prefix(src_prefix.as_ref())
            .unwrap_or("")
            .trim_start_matches('/');
        let target = ObjectPath::from(format!("{dst_prefix}/{rel}"));
        store
            .rename(&meta.location, &target)
            .await
            .map_err(err("rename", &meta.location))?;
    }
    Ok(())
}

/// Deletes a staging folder; failures are only logged (it holds nothing
/// that a reader looks at).
pub async fn remove_staging(ctx: &SessionContext, root: &StorageRoot, staging: &str) {
    match root.local_path() {
        Some(base) => {
            let path = base.join(staging);
            if path.exists() {
                if let Err(e) = std::fs::remove_dir_all(&path) {
                    tracing::warn!("could not remove staging folder {}: {e}", path.display());
                }
            }
            // The shared parent goes too once no run is staging in it
            // (remove_dir refuses a non-empty folder, so concurrent runs are safe).
            if let Some(parent) = path.parent() {
                let _ = std::fs::remove_dir(parent);
            }
        }
        None => {
            if let Err(e) = root.remove_all(&ctx.runtime_env(), staging).await {
                tracing::warn!("could not remove staging folder {}: {e}", root.join(staging));
            }
        }
    }
}
