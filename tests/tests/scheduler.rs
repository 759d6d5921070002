//! The in-process cluster's own settings: the scheduler's sockets, checked
//! against what the kernel reports for the connections it accepts, where
//! its executor keeps shuffle files, checked against `df`, and how they are
//! written, checked against Ballista's own reading of the session.

/// Every connection the scheduler accepts has Nagle's algorithm off, so a
/// job-status message reaches the waiting client at once instead of after
/// the client's delayed ACK (20-40 ms per Ballista job when it was on).
#[tokio::test]
async fn accepted_connections_have_nodelay() {
    let listener = moodflow_scheduler::nodelay_listener("127.0.0.1:0".parse().expect("an address")).expect("listens");
    let addr = listener.local_addr().expect("bound");
    let client = tokio::net::TcpStream::connect(addr).await.expect("connects");
    let (accepted, _) = listener.accept().await.expect("accepts");
    assert!(
        accepted.nodelay().expect("readable option"),
        "an accepted connection keeps Nagle's algorithm"
    );
    // The client side is not the scheduler's to set: tokio's default is off.
    assert!(!client.nodelay().expect("readable option"));
}

/// `MOODFLOW_SCRATCH` wins; otherwise the in-process executor's shuffle
/// files go to `/dev/shm` exactly when `df` reports at least 4 GiB
/// available there, else to the system's temporary folder.
#[test]
fn the_executor_scratch_is_memory_backed_only_with_room() {
    use moodflow_standalone::{scratch_dir, RAM_SCRATCH, RAM_SCRATCH_MIN_FREE};
    use std::path::{Path, PathBuf};
    let mine = PathBuf::from("/some/disk/scratch");
    assert_eq!(scratch_dir(Some(mine.clone())), mine);
    let available = std::process::Command::new("df")
        .args(["--output=avail", "-B1", RAM_SCRATCH])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .nth(1)?
                .trim()
                .parse::<u64>()
                .ok()
        });
    let want = match available {
        Some(bytes) if bytes >= RAM_SCRATCH_MIN_FREE => Path::new(RAM_SCRATCH).to_path_buf(),
        _ => std::env::temp_dir(),
    };
    assert_eq!(scratch_dir(None), want, "df says {available:?} bytes available");
    // An empty variable is no choice.
    assert_eq!(scratch_dir(Some(PathBuf::new())), want);
}

/// The in-process cluster's shuffle files are written uncompressed and its
/// scans get one partition per task slot, unless the session says
/// otherwise; a cluster's session keeps Ballista's lz4. (Ballista's own
/// parser of the setting reads the result, as its shuffle writer does.)
#[test]
fn standalone_shuffles_uncompressed_and_keeps_what_conf_says() {
    use ballista_core::extension::SessionConfigExt;
    use datafusion::arrow::ipc::CompressionType;
    use moodflow_standalone::{standalone_config, SHUFFLE_CODEC};
    let codec = |c: &datafusion::prelude::SessionConfig| {
        c.ballista_config().shuffle_compression_codec().expect("a valid codec")
    };
    let conf = |pairs: &[(&str, &str)]| {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        moodflow_engine::session_config(&pairs).expect("config")
    };
    let plain = standalone_config(conf(&[]), 2).expect("standalone");
    assert_eq!(codec(&plain), None);
    assert_eq!(plain.target_partitions(), 2);
    // Ballista's own default, written out, is kept as given.
    let told = conf(&[(SHUFFLE_CODEC, "lz4"), ("datafusion.execution.target_partitions", "7")]);
    let told = standalone_config(told, 2).expect("standalone");
    assert_eq!(codec(&told), Some(CompressionType::LZ4_FRAME));
    assert_eq!(told.target_partitions(), 7);
    let zstd = standalone_config(conf(&[(SHUFFLE_CODEC, "zstd")]), 2).expect("standalone");
    assert_eq!(codec(&zstd), Some(CompressionType::ZSTD));
    // A cluster's session is not made standalone: Ballista's default.
    assert_eq!(codec(&conf(&[])), Some(CompressionType::LZ4_FRAME));
}
