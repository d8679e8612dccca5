//! The database file on disk.

#[cfg(unix)]
#[tokio::test]
async fn the_database_and_its_wal_and_shm_files_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;

    // SQLite's files, whichever backend the rest of the suite runs on
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}", dir.path().join("warden.db").display());
    let db = warden::store::Db::connect(&url).await.expect("connect");
    // a write, so the -wal and -shm files exist
    warden::store::execute_for_tests(&db, "UPDATE policy_state SET seeded = seeded")
        .await
        .expect("write");
    for name in ["warden.db", "warden.db-wal", "warden.db-shm"] {
        let path = dir.path().join(name);
        let mode = std::fs::metadata(&path)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name} is {:o}", mode & 0o777);
    }
}

#[cfg(unix)]
#[tokio::test]
async fn an_existing_database_readable_by_others_is_narrowed_to_its_owner() {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("w.db");
    std::fs::write(&path, b"").expect("create");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    warden::store::Db::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("connect");
    let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}
