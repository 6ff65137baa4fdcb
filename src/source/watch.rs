//! Change notification for the manifests directory.

use std::path::Path;

use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use super::manifests::ManifestError;

/// Keeps the directory watched; dropping it stops the notifications (the
/// receiver then reports the channel closed).
pub struct DirWatcher {
    _watcher: RecommendedWatcher,
}

impl std::fmt::Debug for DirWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirWatcher").finish_non_exhaustive()
    }
}

/// Watches `dir` (not recursively). Every create, modify, remove or rename of
/// an entry sends `()`; the channel holds one message, so a burst of events
/// wakes the reader once. Events carry no detail on purpose: the reader just
/// calls `ManifestDir::load`, which finds what changed.
///
/// The directory is watched rather than its files, so editors that save by
/// writing a new file and renaming it over the old one are seen, and so are
/// files created later. Events for hidden names are not filtered out:
/// ConfigMap volumes publish updates by renaming the hidden `..data` link.
pub fn watch_dir(dir: &Path) -> Result<(DirWatcher, mpsc::Receiver<()>), ManifestError> {
    let (tx, rx) = mpsc::channel(1);
    let watch_error = |e: notify::Error| ManifestError {
        path: dir.to_path_buf(),
        line: None,
        reason: format!("cannot watch manifest directory: {e}"),
    };
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<Event>| {
        let wake = match &event {
            Ok(event) => is_change(&event.kind),
            Err(err) => {
                // Lost events (queue overflow, …): a reload finds whatever
                // they were about.
                tracing::warn!(error = %err, "manifest directory watch error");
                true
            }
        };
        if wake {
            // Full: a wake-up is already pending. Closed: nobody listens.
            let _ = tx.try_send(());
        }
    })
    .map_err(watch_error)?;
    watcher
        .watch(dir, RecursiveMode::NonRecursive)
        .map_err(watch_error)?;
    Ok((DirWatcher { _watcher: watcher }, rx))
}

/// Whether an event can mean different directory content. Opening or reading
/// a file cannot; our own reads would otherwise wake us forever.
fn is_change(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        EventKind::Any | EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_) => true,
        EventKind::Other => true,
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::time::Duration;

    use super::*;

    /// Failure bound only: inotify events arrive in milliseconds.
    const WAIT: Duration = Duration::from_secs(5);

    async fn expect_wake(rx: &mut mpsc::Receiver<()>, what: &str) {
        match tokio::time::timeout(WAIT, rx.recv()).await {
            Ok(Some(())) => {}
            Ok(None) => panic!("{what}: channel closed"),
            Err(_) => panic!("{what}: no notification within {WAIT:?}"),
        }
    }

    #[tokio::test]
    async fn create_wakes() {
        let dir = tempfile::tempdir().unwrap();
        let (_watcher, mut rx) = watch_dir(dir.path()).unwrap();
        fs::write(dir.path().join("svc.yaml"), "a: 1\n").unwrap();
        expect_wake(&mut rx, "create").await;
    }

    #[tokio::test]
    async fn modify_wakes() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("svc.yaml");
        fs::write(&file, "a: 1\n").unwrap();
        let (_watcher, mut rx) = watch_dir(dir.path()).unwrap();
        fs::write(&file, "a: 2\n").unwrap();
        expect_wake(&mut rx, "modify").await;
    }

    #[tokio::test]
    async fn delete_wakes() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("svc.yaml");
        fs::write(&file, "a: 1\n").unwrap();
        let (_watcher, mut rx) = watch_dir(dir.path()).unwrap();
        fs::remove_file(&file).unwrap();
        expect_wake(&mut rx, "delete").await;
    }

    #[tokio::test]
    async fn rename_wakes() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("svc.yaml");
        fs::write(&file, "a: 1\n").unwrap();
        let (_watcher, mut rx) = watch_dir(dir.path()).unwrap();
        fs::rename(&file, dir.path().join("web.yaml")).unwrap();
        expect_wake(&mut rx, "rename").await;
    }

    #[tokio::test]
    async fn save_by_rename_over_the_file_wakes() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("svc.yaml");
        let temp = dir.path().join(".svc.yaml.tmp");
        fs::write(&file, "a: 1\n").unwrap();
        fs::write(&temp, "a: 2\n").unwrap();
        let (_watcher, mut rx) = watch_dir(dir.path()).unwrap();
        fs::rename(&temp, &file).unwrap();
        expect_wake(&mut rx, "rename over").await;
    }

    #[tokio::test]
    async fn reading_files_does_not_wake() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("svc.yaml");
        fs::write(&file, "a: 1\n").unwrap();
        let (_watcher, mut rx) = watch_dir(dir.path()).unwrap();
        assert_eq!(fs::read_to_string(&file).unwrap(), "a: 1\n");
        fs::read_dir(dir.path()).unwrap().for_each(drop);
        // A short quiet period: a wrongly handled open/read event would
        // arrive well within it.
        let woke = tokio::time::timeout(Duration::from_millis(300), rx.recv()).await;
        assert!(woke.is_err(), "reading woke the watcher: {woke:?}");
    }

    #[tokio::test]
    async fn dropping_the_watcher_closes_the_channel() {
        let dir = tempfile::tempdir().unwrap();
        let (watcher, mut rx) = watch_dir(dir.path()).unwrap();
        drop(watcher);
        let next = tokio::time::timeout(WAIT, rx.recv()).await;
        assert_eq!(next, Ok(None));
    }

    #[test]
    fn missing_directory_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let err = watch_dir(&missing).unwrap_err();
        assert_eq!(err.path, missing);
        assert_eq!(err.line, None);
    }
}
