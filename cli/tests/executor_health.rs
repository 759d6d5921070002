//! The binary itself: `--health` (the compose health check) fails when the
//! executor's ports do not answer.

use std::net::TcpListener;
use std::process::Command;

#[test]
fn health_check_fails_when_nothing_listens() {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let out = Command::new(env!("CARGO_BIN_EXE_moodflow-executor"))
        .args([
            format!("--port={port}"),
            format!("--grpc-port={port}"),
            "--health".to_string(),
        ])
        .output()
        .expect("run the health check");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("executor unhealthy") && err.contains(&port.to_string()),
        "{err}"
    );
}

#[test]
fn health_check_passes_when_both_ports_answer() {
    let flight = TcpListener::bind("127.0.0.1:0").expect("bind");
    let grpc = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = |l: &TcpListener| l.local_addr().expect("addr").port();
    let out = Command::new(env!("CARGO_BIN_EXE_moodflow-executor"))
        .args([
            format!("--port={}", port(&flight)),
            format!("--grpc-port={}", port(&grpc)),
            "--health".to_string(),
        ])
        .output()
        .expect("run the health check");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
