//! Runs `tests/slt/*.slt`: SQL logic tests of the pipeline's job files on
//! the tiny raw data in `tests/slt/data/`, in DataFusion's sqllogictest
//! style. `cargo test --test slt -- --complete` rewrites the expected
//! results from the current output (review the diff before committing).

use std::path::{Path, PathBuf};

use moodflow_tests::MoodflowDb;

fn copy_dir(src: &Path, dst: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dst)?;
    for entry in std::fs::read_dir(src)? {
        let entry = entry?;
        let target = dst.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

async fn run_file(path: &Path, complete: bool) -> Result<(), String> {
    let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
    let slt_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("slt");
    copy_dir(&slt_dir.join("data"), scratch.path()).map_err(|e| e.to_string())?;
    let root = scratch.path().to_path_buf();
    let mut runner = sqllogictest::Runner::new(move || {
        let root = root.clone();
        async move { MoodflowDb::new(&root).await }
    });
    if complete {
        runner
            .update_test_file(
                path,
                " ",
                sqllogictest::default_validator,
                sqllogictest::default_normalizer,
                sqllogictest::strict_column_validator,
            )
            .await
            .map_err(|e| e.to_string())
    } else {
        runner
            .run_file_async(path)
            .await
            .map_err(|e| e.display(true).to_string())
    }
}

fn main() -> std::process::ExitCode {
    let complete = std::env::args().any(|a| a == "--complete");
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("slt");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "slt"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    let runtime = match moodflow_engine::tokio_runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start tokio: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let mut failed = 0;
    for file in &files {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        if filter.as_ref().is_some_and(|f| !name.contains(f.as_str())) {
            continue;
        }
        let path = file.clone();
        let result =
            runtime.block_on(async move { tokio::spawn(async move { run_file(&path, complete).await }).await });
        match result.map_err(|e| e.to_string()).and_then(|r| r) {
            Ok(()) => println!("slt {name} ... ok"),
            Err(e) => {
                failed += 1;
                println!("slt {name} ... FAILED\n{e}");
            }
        }
    }
    if failed > 0 {
        println!("{failed} slt file(s) failed");
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    }
}
