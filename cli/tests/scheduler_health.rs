//! The binary itself: `--health` is what the compose file's health check
//! runs, so it must fail without a scheduler and pass against one.

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_moodflow-scheduler");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn health(port: u16) -> std::process::Output {
    Command::new(BIN)
        .args([format!("--bind-port={port}"), "--health".to_string()])
        .output()
        .expect("run the health check")
}

#[test]
fn health_check_fails_without_a_scheduler() {
    let out = health(free_port());
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("scheduler unhealthy"), "{err}");
}

#[test]
fn health_check_passes_against_a_running_scheduler() {
    let port = free_port();
    let mut server = Command::new(BIN)
        .args(["--bind-host=127.0.0.1".to_string(), format!("--bind-port={port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the scheduler");
    let started = Instant::now();
    let mut last = None;
    while started.elapsed() < Duration::from_secs(60) {
        let out = health(port);
        if out.status.success() {
            assert!(String::from_utf8_lossy(&out.stdout).contains("scheduler healthy"));
            last = None;
            break;
        }
        last = Some(out);
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = server.kill();
    let _ = server.wait();
    if let Some(out) = last {
        panic!("never healthy: {}", String::from_utf8_lossy(&out.stderr));
    }
}
