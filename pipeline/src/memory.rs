//! The process's peak resident memory, read from Linux's `/proc/self`
//! (`None` elsewhere): what the run summary and the benchmarks report per
//! stage.

/// The peak resident set size since the start or the last
/// [`reset_peak_rss`], in MiB (`VmHWM`).
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Resets the peak to the current resident size (Linux 4.0+: writing 5 to
/// `clear_refs`), so the next reading is the peak of what runs in between.
pub fn reset_peak_rss() {
    // Best effort: where it is not allowed the peak stays process-wide,
    // which over-reports and never under-reports.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}
