//! Storage roots (`./data`, `file:///…`, `hdfs://nn:8020/…`, `s3://bucket/…`)
//! and the object-store registry every moodflow process installs.
//!
//! Stores are created lazily from the URL the first time a plan touches
//! them, so the scheduler and executors need no per-job registration: the
//! same registry on every side resolves the same URL to the same store.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use datafusion::common::{DataFusionError, Result};
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use datafusion::execution::runtime_env::RuntimeEnv;
use futures::TryStreamExt;
use hdfs_native_object_store::HdfsObjectStoreBuilder;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use url::Url;

/// Errors in a storage root given by a user.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The root's scheme is not one moodflow can read.
    #[error("storage root '{root}': unsupported scheme '{scheme}' (use a local path, file://, hdfs:// or s3://)")]
    UnknownScheme {
        /// The root as given.
        root: String,
        /// Its scheme.
        scheme: String,
    },
    /// The root could not be parsed or resolved.
    #[error("storage root '{root}': {reason}")]
    Invalid {
        /// The root as given.
        root: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Where the pipeline reads `raw/` and writes `curated/` and `models/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageRoot {
    /// A directory on the local file system (absolute).
    Local(PathBuf),
    /// A remote store: `hdfs://…`, `viewfs://…` or `s3://…`.
    Remote(Url),
}

impl StorageRoot {
    /// Parses a root given on the command line. A path without a scheme is a
    /// local directory, made absolute so that every process sees the same
    /// location.
    pub fn parse(root: &str) -> Result<Self, StorageError> {
        let trimmed = root.trim_end_matches('/');
        let invalid = |reason: String| StorageError::Invalid {
            root: root.to_string(),
            reason,
        };
        match trimmed.split_once("://") {
            None => {
                let path = PathBuf::from(if trimmed.is_empty() { "/" } else { trimmed });
                let abs = if path.is_absolute() {
                    path
                } else {
                    std::env::current_dir().map_err(|e| invalid(e.to_string()))?.join(path)
                };
                Ok(Self::Local(clean_path(abs)))
            }
            Some((scheme, _)) => match scheme {
                "file" => {
                    let url = Url::parse(trimmed).map_err(|e| invalid(e.to_string()))?;
                    let path = url
                        .to_file_path()
                        .map_err(|()| invalid("not a local file URL".into()))?;
                    Ok(Self::Local(path))
                }
                "hdfs" | "viewfs" | "s3" => {
                    let url = Url::parse(trimmed).map_err(|e| invalid(e.to_string()))?;
                    if url.host_str().is_none_or(str::is_empty) {
                        return Err(invalid(format!("a {scheme}:// root needs a host or bucket")));
                    }
                    Ok(Self::Remote(url))
                }
                other => Err(StorageError::UnknownScheme {
                    root: root.to_string(),
                    scheme: other.to_string(),
                }),
            },
        }
    }

    /// The root as SQL `LOCATION`s and object-store paths spell it: an
    /// absolute path for a local root, the URL otherwise; no trailing slash.
    pub fn as_location(&self) -> String {
        match self {
            Self::Local(p) => p.to_string_lossy().trim_end_matches('/').to_string(),
            Self::Remote(u) => u.as_str().trim_end_matches('/').to_string(),
        }
    }

    /// A location below the root, `rel` given with `/` separators.
    pub fn join(&self, rel: &str) -> String {
        format!("{}/{}", self.as_location(), rel.trim_start_matches('/'))
    }

    /// The local directory, when the root is local.
    pub fn local_path(&self) -> Option<&std::path::Path> {
        match self {
            Self::Local(p) => Some(p),
            Self::Remote(_) => None,
        }
    }
}

impl StorageRoot {
    /// The object store behind a remote root and the root's path in it.
    fn store(&self, runtime: &RuntimeEnv) -> Result<(Arc<dyn ObjectStore>, ObjectPath)> {
        match self {
            Self::Local(_) => Err(DataFusionError::Internal("a local root has no object store".into())),
            Self::Remote(url) => Ok((
                runtime.object_store_registry.get_store(url)?,
                ObjectPath::from(url.path()),
            )),
        }
    }

    /// Writes `bytes` to `rel` below the root, creating folders as needed.
    pub async fn write_file(&self, runtime: &RuntimeEnv, rel: &str, bytes: Vec<u8>) -> Result<()> {
        match self {
            Self::Local(base) => {
                let path = base.join(rel);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::write(&path, bytes)
                    .map_err(|e| DataFusionError::Execution(format!("cannot write {}: {e}", path.display())))
            }
            Self::Remote(_) => {
                let (store, base) = self.store(runtime)?;
                let path = ObjectPath::from(format!("{base}/{rel}"));
                store
                    .put(&path, bytes.into())
                    .await
                    .map_err(|e| DataFusionError::Execution(format!("cannot write {}: {e}", self.join(rel))))?;
                Ok(())
            }
        }
    }

    /// Reads the file at `rel` below the root; `None` when it does not exist.
    pub async fn read_file(&self, runtime: &RuntimeEnv, rel: &str) -> Result<Option<Vec<u8>>> {
        match self {
            Self::Local(base) => match std::fs::read(base.join(rel)) {
                Ok(bytes) => Ok(Some(bytes)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(DataFusionError::Execution(format!(
                    "cannot read {}: {e}",
                    self.join(rel)
                ))),
            },
            Self::Remote(_) => {
                let (store, base) = self.store(runtime)?;
                match store.get(&ObjectPath::from(format!("{base}/{rel}"))).await {
                    Ok(got) => Ok(Some(
                        got.bytes()
                            .await
                            .map_err(|e| DataFusionError::External(Box::new(e)))?
                            .to_vec(),
                    )),
                    Err(object_store::Error::NotFound { .. }) => Ok(None),
                    Err(e) => Err(DataFusionError::Execution(format!(
                        "cannot read {}: {e}",
                        self.join(rel)
                    ))),
                }
            }
        }
    }

    /// Checks that the root's store answers (a remote root's listing), so
    /// an unreachable namenode or bucket is one clear error before any
    /// stage starts instead of a failure deep inside one.
    pub async fn check_reachable(&self, runtime: &RuntimeEnv, timeout: std::time::Duration) -> Result<()> {
        let Self::Remote(_) = self else {
            return Ok(());
        };
        let (store, base) = self.store(runtime)?;
        let listing = store.list_with_delimiter(Some(&base));
        match tokio::time::timeout(timeout, listing).await {
            Ok(Ok(_)) | Ok(Err(object_store::Error::NotFound { .. })) => Ok(()),
            Ok(Err(e)) => Err(DataFusionError::Execution(format!(
                "storage root {self} cannot be read: {e}"
            ))),
            Err(_) => Err(DataFusionError::Execution(format!(
                "storage root {self} does not answer within {timeout:?}"
            ))),
        }
    }

    /// The names of the files directly in folder `rel`, sorted (none when
    /// the folder does not exist).
    pub async fn list_names(&self, runtime: &RuntimeEnv, rel: &str) -> Result<Vec<String>> {
        self.list_entries(runtime, rel, false).await
    }

    /// The names of the folders directly in folder `rel`, sorted.
    pub async fn list_dirs(&self, runtime: &RuntimeEnv, rel: &str) -> Result<Vec<String>> {
        self.list_entries(runtime, rel, true).await
    }

    /// The files (or, with `dirs`, the folders) directly in folder `rel`.
    async fn list_entries(&self, runtime: &RuntimeEnv, rel: &str, dirs: bool) -> Result<Vec<String>> {
        let failed =
            |e: &dyn std::fmt::Display| DataFusionError::Execution(format!("cannot list {}: {e}", self.join(rel)));
        let mut names: Vec<String> = match self {
            Self::Local(base) => match std::fs::read_dir(base.join(rel)) {
                Ok(entries) => entries
                    .filter_map(|e| e.ok())
                    .filter(|e| e.file_type().is_ok_and(|t| if dirs { t.is_dir() } else { t.is_file() }))
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                Err(e) => return Err(failed(&e)),
            },
            Self::Remote(_) => {
                let (store, base) = self.store(runtime)?;
                let prefix = ObjectPath::from(format!("{base}/{rel}"));
                match store.list_with_delimiter(Some(&prefix)).await {
                    Ok(listing) if dirs => listing
                        .common_prefixes
                        .into_iter()
                        .filter_map(|p| p.filename().map(str::to_string))
                        .collect(),
                    Ok(listing) => listing
                        .objects
                        .into_iter()
                        .filter_map(|o| o.location.filename().map(str::to_string))
                        .collect(),
                    Err(object_store::Error::NotFound { .. }) => Vec::new(),
                    Err(e) => return Err(failed(&e)),
                }
            }
        };
        names.sort();
        Ok(names)
    }

    /// The object store of a remote root and the root's path in it (a
    /// local root has none: use [`Self::local_path`]).
    pub fn object_store(&self, runtime: &RuntimeEnv) -> Result<(Arc<dyn ObjectStore>, ObjectPath)> {
        self.store(runtime)
    }

    /// Deletes everything below `rel` (nothing to delete is fine).
    pub async fn remove_all(&self, runtime: &RuntimeEnv, rel: &str) -> Result<()> {
        match self {
            Self::Local(base) => match std::fs::remove_dir_all(base.join(rel)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
                _ => Ok(()),
            },
            Self::Remote(_) => {
                let (store, base) = self.store(runtime)?;
                let prefix = ObjectPath::from(format!("{base}/{rel}"));
                let found: Vec<_> = store
                    .list(Some(&prefix))
                    .try_collect()
                    .await
                    .map_err(|e| DataFusionError::External(Box::new(e)))?;
                for meta in found {
                    store
                        .delete(&meta.location)
                        .await
                        .map_err(|e| DataFusionError::External(Box::new(e)))?;
                }
                Ok(())
            }
        }
    }
}

impl std::fmt::Display for StorageRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.as_location())
    }
}

/// Removes `.` and `..` components without touching the file system (the
/// root may not exist yet).
fn clean_path(path: PathBuf) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The object-store registry of every moodflow session: local files through
/// DataFusion's default registry, HDFS and S3 created on first use.
///
/// HDFS settings come from the Hadoop configuration files that
/// `hdfs-native` reads (`HADOOP_CONF_DIR`), for name services and HA, plus
/// any `MOODFLOW_HDFS_<key>` environment variables (`MOODFLOW_HDFS_dfs.nameservices`…).
/// S3 settings come from the standard `AWS_*` environment variables
/// (`AWS_ENDPOINT`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
/// `AWS_REGION`, `AWS_ALLOW_HTTP`).
#[derive(Debug, Default)]
pub struct MoodflowObjectStores {
    inner: DefaultObjectStoreRegistry,
    created: RwLock<HashMap<String, Arc<dyn ObjectStore>>>,
}

impl MoodflowObjectStores {
    /// A registry with the local file system registered.
    pub fn new() -> Self {
        Self::default()
    }

    fn create(url: &Url) -> Result<Arc<dyn ObjectStore>> {
        let authority = &url[url::Position::BeforeScheme..url::Position::AfterPort];
        match url.scheme() {
            "hdfs" | "viewfs" => {
                let config: HashMap<String, String> = std::env::vars()
                    .filter_map(|(k, v)| k.strip_prefix("MOODFLOW_HDFS_").map(|k| (k.to_string(), v)))
                    .collect();
                let store = HdfsObjectStoreBuilder::new()
                    .with_url(authority)
                    .with_config(config)
                    .build()
                    .map_err(|e| DataFusionError::External(Box::new(e)))?;
                Ok(Arc::new(store))
            }
            "s3" => {
                let bucket = url
                    .host_str()
                    .ok_or_else(|| DataFusionError::Configuration(format!("no bucket in {url}")))?;
                let store = AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .build()
                    .map_err(|e| DataFusionError::External(Box::new(e)))?;
                Ok(Arc::new(store))
            }
            other => Err(DataFusionError::Configuration(format!(
                "no object store for scheme '{other}' in {url}"
            ))),
        }
    }
}

impl ObjectStoreRegistry for MoodflowObjectStores {
    fn register_store(&self, url: &Url, store: Arc<dyn ObjectStore>) -> Option<Arc<dyn ObjectStore>> {
        self.inner.register_store(url, store)
    }

    fn get_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        if let Ok(store) = self.inner.get_store(url) {
            return Ok(store);
        }
        let key = url[url::Position::BeforeScheme..url::Position::AfterPort].to_string();
        if let Some(store) = self.created.read().map_err(poisoned)?.get(&key) {
            return Ok(Arc::clone(store));
        }
        let store = Self::create(url)?;
        self.created.write().map_err(poisoned)?.insert(key, Arc::clone(&store));
        Ok(store)
    }
}

fn poisoned<T>(_: T) -> DataFusionError {
    DataFusionError::Internal("object store registry lock poisoned".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_roots() {
        assert_eq!(StorageRoot::parse("/tmp/x/").expect("ok").as_location(), "/tmp/x");
        assert_eq!(StorageRoot::parse("file:///tmp/x").expect("ok").as_location(), "/tmp/x");
        let cwd = std::env::current_dir().expect("cwd");
        assert_eq!(
            StorageRoot::parse("./data").expect("ok"),
            StorageRoot::Local(cwd.join("data"))
        );
        assert_eq!(
            StorageRoot::parse("hdfs://nn:8020/projects/netflix_mood")
                .expect("ok")
                .join("raw/x"),
            "hdfs://nn:8020/projects/netflix_mood/raw/x"
        );
        assert!(matches!(
            StorageRoot::parse("gopher://x/y"),
            Err(StorageError::UnknownScheme { .. })
        ));
        assert!(StorageRoot::parse("s3:///nobucket").is_err());
    }

    #[test]
    fn local_files_resolve_without_registration() {
        let reg = MoodflowObjectStores::new();
        assert!(reg.get_store(&Url::parse("file:///").expect("url")).is_ok());
        let err = reg
            .get_store(&Url::parse("gopher://x/").expect("url"))
            .expect_err("unknown");
        assert!(err.to_string().contains("gopher"), "{err}");
    }
}
