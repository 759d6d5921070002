//! The scheduler's own socket settings, checked against what the kernel
//! reports for the connections it accepts.

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
