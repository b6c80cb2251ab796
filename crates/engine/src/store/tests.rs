use super::*;

type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

fn row(id: &str, name: &str, project: &str) -> ContainerRow {
    ContainerRow {
        id: id.into(),
        project: project.into(),
        service: "web".into(),
        number: 1,
        oneoff: false,
        name: name.into(),
        config_hash: "h".into(),
        image: "busybox".into(),
        labels: [("a".to_string(), "b".to_string())].into(),
        state: RecordedState::Creating,
        info: ContainerInfo {
            command: vec!["sh".into()],
            stop_signal: 15,
            ..ContainerInfo::default()
        },
        created_at: 1,
        started_at: None,
        finished_at: None,
        exit_code: None,
    }
}

#[test]
fn containers_round_trip_and_states() -> TestResult {
    let dir = tempfile::tempdir()?;
    let s = Store::open(dir.path())?;
    s.insert_container(&row("a1", "p-web-1", "p"))?;
    s.insert_container(&row("b1", "q-web-1", "q"))?;
    let got = s.containers("p")?;
    assert_eq!(got, vec![row("a1", "p-web-1", "p")]);
    assert!(
        s.insert_container(&row("a2", "p-web-1", "p")).is_err(),
        "names are unique"
    );

    s.set_state("a1", RecordedState::Running, Some(5), None)?;
    s.set_state("a1", RecordedState::Exited, None, Some(3))?;
    let c = s.container_by_name("p-web-1")?.ok_or("missing")?;
    assert_eq!(
        (c.state, c.started_at, c.exit_code),
        (RecordedState::Exited, Some(5), Some(3))
    );
    assert!(c.finished_at.is_some());
    s.set_state("a1", RecordedState::Running, Some(9), None)?;
    let c = s.container_by_name("p-web-1")?.ok_or("missing")?;
    assert_eq!(
        (c.exit_code, c.finished_at, c.started_at),
        (None, None, Some(9))
    );

    s.remove_container("a1")?;
    assert!(s.containers("p")?.is_empty());
    assert_eq!(s.containers("q")?.len(), 1);
    Ok(())
}

#[test]
fn shares_the_db_with_the_image_store() -> TestResult {
    let dir = tempfile::tempdir()?;
    let images = compose_image::Store::open(dir.path())?;
    let s = Store::open(dir.path())?;
    s.insert_container(&row("a1", "p-web-1", "p"))?;
    assert!(images.list_images()?.is_empty());
    // Reopening applies no migration twice, in either order.
    drop(Store::open(dir.path())?);
    drop(compose_image::Store::open(dir.path())?);
    assert_eq!(Store::open(dir.path())?.containers("p")?.len(), 1);
    Ok(())
}

#[test]
fn volumes_and_projects() -> TestResult {
    let dir = tempfile::tempdir()?;
    let s = Store::open(dir.path())?;
    let v = VolumeRow {
        name: "p_data".into(),
        project: "p".into(),
        key: Some("data".into()),
        container: None,
        external: false,
        created_at: 1,
    };
    s.insert_volume(&v)?;
    s.insert_volume(&v)?;
    assert_eq!(s.volumes("p")?, vec![v]);
    s.remove_volume("p_data")?;
    assert!(s.volumes("p")?.is_empty());
    let p = ProjectRow {
        name: "p".into(),
        working_dir: "/w".into(),
        config_files: "/w/compose.yaml".into(),
        created_at: 1,
    };
    s.put_project(&p)?;
    assert_eq!(s.project("p")?, Some(p));
    s.remove_project("p")?;
    assert_eq!(s.project("p")?, None);
    Ok(())
}

#[test]
fn the_project_lock_excludes_a_second_holder() -> TestResult {
    let dir = tempfile::tempdir()?;
    let held = ProjectLock::acquire(dir.path(), "p")?;
    assert!(ProjectLock::try_acquire(dir.path(), "p")?.is_none());
    assert!(ProjectLock::try_acquire(dir.path(), "other")?.is_some());
    drop(held);
    assert!(ProjectLock::try_acquire(dir.path(), "p")?.is_some());
    Ok(())
}

#[test]
fn commits_skip_the_fsync_and_an_up_to_date_open_writes_nothing() -> TestResult {
    let dir = tempfile::tempdir()?;
    let s = Store::open(dir.path())?;
    s.insert_container(&row("a1", "p-web-1", "p"))?;
    // NORMAL (1) in WAL mode: commits are not synced one by one.
    let sync: i64 = s.conn().query_row("PRAGMA synchronous", [], |r| r.get(0))?;
    assert_eq!(sync, 1);
    // Every later open (each command) finds the schema current and commits nothing: the
    // database's change counter, seen through another connection, stays put.
    let watcher = rusqlite::Connection::open(dir.path().join(DB_FILE))?;
    let version = |c: &rusqlite::Connection| -> rusqlite::Result<i64> {
        c.query_row("PRAGMA data_version", [], |r| r.get(0))
    };
    let before = version(&watcher)?;
    drop(Store::open(dir.path())?);
    assert_eq!(version(&watcher)?, before, "opening the store wrote to it");
    // A write by another connection does move it (the watch itself works).
    s.set_state("a1", RecordedState::Running, Some(2), None)?;
    assert_ne!(version(&watcher)?, before);
    Ok(())
}
