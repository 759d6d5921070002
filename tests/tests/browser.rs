//! A real browser over a real server: headless Chromium loads every view
//! of a dashboard serving a generated pipeline run, the rendered DOM is
//! checked for the view's content, and a screenshot of each is saved
//! (to `$MOODFLOW_SCREENSHOTS` when set: `docs/screenshots` holds the
//! committed ones).
//!
//! Skips with a message when no Chromium is installed, unless
//! `MOODFLOW_REQUIRE_BROWSER=1` (set by `.ci/run`, which installs it).

use std::path::{Path, PathBuf};
use std::time::Duration;

use moodflow_dashboard::{bind, serve, AppState, Settings};
use moodflow_engine::StorageRoot;

use crate::dashboard::pipeline_root;

fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("MOODFLOW_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser", "google-chrome"].map(|n| dir.join(n)))
        .find(|p| p.is_file())
}

async fn browse(chrome: &Path, profile: &Path, args: &[String]) -> std::process::Output {
    let mut cmd = tokio::process::Command::new(chrome);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        "--no-first-run",
        "--force-color-profile=srgb",
        "--window-size=1280,1100",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(args)
    .kill_on_drop(true);
    tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .expect("chromium finished within 2 minutes")
        .expect("chromium runs")
}

#[test]
fn chromium_renders_every_view() {
    let Some(chrome) = chromium() else {
        assert!(
            std::env::var_os("MOODFLOW_REQUIRE_BROWSER").is_none(),
            "MOODFLOW_REQUIRE_BROWSER is set but no chromium was found"
        );
        eprintln!("skipped: no chromium on PATH (apt-get install chromium, or set MOODFLOW_CHROMIUM)");
        return;
    };
    let root = pipeline_root();
    moodflow_tests::block_on(async move {
        let settings = Settings {
            root: StorageRoot::parse(&root.to_string_lossy()).expect("root"),
            damping: 10.0,
            refresh: Duration::from_secs(3600),
        };
        let state = AppState::load(settings).await.expect("load");
        let s = state.snapshot().expect("snapshot");
        let mood = s.moods.iter().max_by_key(|m| m.mood.size).expect("a mood");
        // The surest of its top films: its page shows where its tone came from.
        let movie = mood
            .ranked
            .iter()
            .take(20)
            .map(|&i| &s.movies[i])
            .max_by(|a, b| a.position.confidence.total_cmp(&b.position.confidence))
            .expect("a movie")
            .clone();
        let (slug, label) = (mood.slug.clone(), mood.mood.label.clone());
        // A newcomer who loves the first four films offered and dislikes the next two.
        let offered = moodflow_dashboard::foryou::onboarding(&s);
        let new_user: Vec<String> = offered
            .iter()
            .take(6)
            .enumerate()
            .map(|(i, f)| format!("r{}={}", f.id, if i < 4 { 5 } else { 1 }))
            .collect();
        let (listener, addr) = bind("127.0.0.1:0").await.expect("bind");
        let server = tokio::spawn(serve(state, listener));

        let shots = std::env::var_os("MOODFLOW_SCREENSHOTS")
            .map_or_else(|| tempfile::tempdir().expect("tmp").keep(), PathBuf::from);
        std::fs::create_dir_all(&shots).expect("screenshot dir");
        let profile = tempfile::tempdir().expect("profile");
        let views = [
            (
                "moods",
                "/".to_string(),
                vec![label.clone(), "How do you feel?".to_string()],
            ),
            (
                "playlist",
                format!("/moods/{slug}?min_ratings=5&limit=15"),
                vec!["Download CSV".to_string(), "Genre".to_string()],
            ),
            (
                "movie",
                format!("/movies/{}", movie.id),
                vec![
                    movie.title.clone(),
                    "Nearest movies".to_string(),
                    "Feels".to_string(),
                    "How sure".to_string(),
                    "Tone from".to_string(),
                ],
            ),
            (
                "charts",
                "/charts".to_string(),
                vec!["principal component 1".to_string(), "release decade".to_string()],
            ),
            (
                "feel",
                "/feel?text=A+rainy+Sunday%2C+I+want+something+cosy+and+funny".to_string(),
                vec![
                    "Every mood, nearest first".to_string(),
                    "like your request.".to_string(),
                    "You asked for: cosy".to_string(),
                ],
            ),
            ("search", "/search?q=the".to_string(), vec!["movies match".to_string()]),
            (
                "for-you",
                "/for-you?user=1".to_string(),
                vec!["Recommended for ml:1".to_string(), "because you liked".to_string()],
            ),
            (
                "new-user",
                format!("/new?{}", new_user.join("&")),
                vec![
                    "Rate the ones you have seen".to_string(),
                    "Recommended for you".to_string(),
                    "From your 6 ratings.".to_string(),
                ],
            ),
            (
                "status",
                "/status".to_string(),
                vec!["Pipeline status".to_string(), "(chosen)".to_string()],
            ),
            (
                "not-found",
                "/movies/999999999".to_string(),
                vec!["Not found".to_string()],
            ),
        ];
        for (name, path, expects) in views {
            let url = format!("http://{addr}{path}");
            let dom = browse(&chrome, profile.path(), &["--dump-dom".to_string(), url.clone()]).await;
            let html = String::from_utf8_lossy(&dom.stdout);
            for e in &expects {
                let escaped = moodflow_dashboard::html::esc(e);
                assert!(
                    html.contains(e.as_str()) || html.contains(&escaped),
                    "{url}: the rendered page lacks '{e}'\n{}",
                    String::from_utf8_lossy(&dom.stderr)
                );
            }
            let file = shots.join(format!("{name}.png"));
            let _ = std::fs::remove_file(&file);
            let shot = browse(
                &chrome,
                profile.path(),
                &[format!("--screenshot={}", file.display()), url.clone()],
            )
            .await;
            let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
            assert!(
                size > 5_000,
                "{url}: screenshot {} is {size} bytes\n{}",
                file.display(),
                String::from_utf8_lossy(&shot.stderr)
            );
        }
        eprintln!("screenshots in {}", shots.display());
        server.abort();
    });
}
