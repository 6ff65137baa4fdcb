use super::*;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

#[test]
fn the_marker_sits_next_to_the_admin_socket() {
    assert_eq!(
        path_for(Path::new("/run/kroute/kroute.sock")),
        Path::new("/run/kroute/bgp-graceful-stop")
    );
}

#[test]
fn a_fresh_marker_means_a_graceful_restart_and_is_taken_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub").join(FILE_NAME);
    write(&path, at(1000), Duration::from_secs(90)).unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "stopped=1000 restart_time=90\n"
    );
    assert!(take(&path, at(1089)));
    assert!(!path.exists(), "removed once read");
    assert!(!take(&path, at(1089)), "no marker: a fresh start");
}

#[test]
fn a_marker_past_its_restart_time_or_malformed_is_a_fresh_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(FILE_NAME);
    write(&path, at(1000), Duration::from_secs(90)).unwrap();
    assert!(!take(&path, at(1090)), "peers have dropped our routes");
    assert!(!path.exists());
    for bad in [
        "",
        "stopped=x restart_time=90",
        "stopped=1 other=2",
        "garbage",
    ] {
        std::fs::write(&path, bad).unwrap();
        assert!(!take(&path, at(0)), "{bad:?}");
        assert!(!path.exists(), "{bad:?} is removed too");
    }
}
