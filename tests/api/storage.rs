//! The database file on disk.

#[cfg(unix)]
#[tokio::test]
async fn the_database_and_its_wal_and_shm_files_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;

    let app = crate::helpers::TestApp::new().await;
    // a write, so the -wal and -shm files exist
    app.register("alice", crate::helpers::PASSWORD).await;
    for name in ["warden.db", "warden.db-wal", "warden.db-shm"] {
        let path = app._dir.path().join(name);
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
