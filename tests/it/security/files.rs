//! Files are created private (0600, directories 0700) and never written through a symlink.

use super::*;

/// The binary under `umask 000`, so modes come from the code and not from a kind umask.
fn under_umask_000(w: &World, args: &[&str]) -> Command {
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg("umask 000 && exec \"$0\" \"$@\"")
        .arg(BIN)
        .args(args)
        .env_clear()
        .env("HOME", &w.home)
        .env("PATH", "/usr/bin:/bin")
        .env("INBOX_EXEC_DB", &w.db)
        .env("INBOX_EXEC_KEY", &w.key)
        .env("INBOX_EXEC_STATE_DIR", &w.state)
        .current_dir(w.dir.path());
    cmd
}

fn ok(mut cmd: Command) -> String {
    let out = cmd.output().expect("run inbox-exec");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).expect("utf8")
}

#[test]
fn every_file_is_created_private_even_under_a_permissive_umask() {
    let mut w = World::new();
    w.key = w.path("secrets/deeper/hmac.key");
    w.db = w.path("registry/sub/drafts.db");
    w.state = w.path("state/inner");
    let config = w.path("config.toml");
    write_private(
        &config,
        "[handlers.ledger_done]\ncommand = [\"/bin/true\"]\n",
    );
    let cfg = config.to_str().expect("utf8");
    ok(under_umask_000(&w, &["keygen"]));
    ok(under_umask_000(&w, &["init"]));
    let id = ok(under_umask_000(&w, &draft_new_args("ledger_done")));
    ok(under_umask_000(&w, &["approve", id.trim()]));
    let report = ok(under_umask_000(&w, &["run", "--config", cfg]));
    assert!(report.contains("executed"), "{report}");
    // Another key version, made by keygen into an existing directory.
    let k2 = w.path("secrets/deeper/hmac-2.key");
    let two = w.path("two.toml");
    write_private(
        &two,
        &format!(
            "[keys]\n1 = \"{}\"\n2 = \"{}\"\n",
            w.key.display(),
            k2.display()
        ),
    );
    ok(under_umask_000(
        &w,
        &[
            "keygen",
            "--config",
            two.to_str().expect("utf8"),
            "--key-version",
            "2",
        ],
    ));

    for dir in [
        "secrets",
        "secrets/deeper",
        "registry",
        "registry/sub",
        "state",
        "state/inner",
    ] {
        assert_eq!(mode(&w.path(dir)), 0o700, "{dir}");
    }
    for file in [
        "secrets/deeper/hmac.key",
        "secrets/deeper/hmac-2.key",
        "registry/sub/drafts.db",
        "registry/sub/drafts.db-wal",
        "registry/sub/drafts.db-shm",
        "state/inner/inbox-exec.lock",
        "state/inner/thermal.json",
        "state/inner/last-run.json",
    ] {
        assert_eq!(mode(&w.path(file)), 0o600, "{file}");
    }
    let leftovers: Vec<String> = fs::read_dir(&w.state)
        .expect("state dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn keygen_onto_a_dangling_symlink_creates_nothing() {
    let w = World::new();
    let target = w.path("elsewhere/stolen.key");
    fs::create_dir_all(target.parent().expect("parent")).expect("dir");
    symlink(&target, &w.key).expect("symlink");
    w.cmd(&["keygen"]).fails_with(&["already exists"]);
    assert!(!target.exists(), "keygen wrote through a dangling symlink");
    assert!(
        fs::symlink_metadata(&w.key)
            .expect("link")
            .file_type()
            .is_symlink()
    );
}

// The thermal sidecar's and the summary's symlinks are faults.rs's
// a_symlinked_thermal_sidecar_is_neither_followed_nor_written_through and
// a_symlinked_summary_is_replaced_by_a_file_and_its_target_left_alone.

#[test]
fn a_symlink_at_the_lock_path_fails_the_run_clearly_and_touches_nothing() {
    let s = Stage::new("");
    fs::create_dir_all(&s.w.state).expect("state");
    let lock = s.w.state.join("inbox-exec.lock");
    let victim = s.w.path("victim");
    fs::write(&victim, "precious").expect("victim");
    fs::set_permissions(&victim, fs::Permissions::from_mode(0o644)).expect("chmod");
    symlink(&victim, &lock).expect("symlink");
    let id = s.w.approved("ledger_done", "{}", "{}");
    let lock_name = lock.display().to_string();
    s.run(&[])
        .fails_with(&["taking the run lock", lock_name.as_str()]);
    assert_eq!(fs::read_to_string(&victim).expect("victim"), "precious");
    assert_eq!(mode(&victim), 0o644);
    assert_eq!(s.w.status(&id), "approved");
    assert!(s.calls().is_empty());
    // A dangling link: O_CREAT|O_NOFOLLOW creates nothing at its target either.
    let nowhere = s.w.path("nowhere");
    fs::remove_file(&lock).expect("rm link");
    symlink(&nowhere, &lock).expect("symlink");
    s.run(&[]).fails_with(&["taking the run lock"]);
    assert!(!nowhere.exists());
    assert_eq!(s.w.status(&id), "approved");
}

#[test]
fn a_symlink_at_the_registrys_wal_or_shm_is_never_written_through() {
    // A fresh registry, and an existing one whose WAL was checkpointed away.
    for existing in [false, true] {
        for names in [&["-wal"][..], &["-shm"], &["-wal", "-shm"]] {
            let case = format!("existing={existing} {names:?}");
            let w = World::new();
            w.cmd(&["keygen"]).ok();
            if existing {
                w.cmd(&["init"]).ok();
                // The last connection to close checkpoints and removes the WAL and the index.
                w.sql("PRAGMA wal_checkpoint(TRUNCATE)");
                assert!(!w.path("drafts.db-wal").exists(), "WAL still there");
            }
            let mut victims = Vec::new();
            for suffix in names {
                let victim = w.path(&format!("victim{suffix}"));
                fs::write(&victim, "precious").expect("victim");
                fs::set_permissions(&victim, fs::Permissions::from_mode(0o644)).expect("chmod");
                let link = w.path(&format!("drafts.db{suffix}"));
                symlink(&victim, &link).expect("symlink");
                victims.push((*suffix, link, victim));
            }
            let runs = [w.cmd(&["init"]), w.draft_new("k"), w.cmd(&["run"])];
            // SQLite refuses a symlinked -shm, and the -wal of an existing database; only a
            // new database unlinks a -wal link and makes its own file.
            let works = !existing && names == ["-wal"];
            let db = w.db.display().to_string();
            let refusal = format!("registry {db} is read-only or cannot be written");
            for run in runs {
                if works {
                    run.ok();
                } else {
                    run.fails_with(&[&refusal, "its -wal and -shm files"]);
                }
            }
            for (suffix, link, victim) in &victims {
                assert_eq!(
                    fs::read_to_string(victim).expect("victim"),
                    "precious",
                    "{case}: written through {}",
                    link.display()
                );
                assert_eq!(mode(victim), 0o644, "{case}: {suffix} target re-moded");
                let kind = fs::symlink_metadata(link).expect("link").file_type();
                if *suffix == "-wal" && !existing {
                    assert!(kind.is_file(), "{case}: the -wal link was not replaced");
                    assert_eq!(mode(link), 0o600, "{case}");
                } else {
                    assert!(kind.is_symlink(), "{case}: {suffix} link replaced");
                    assert_eq!(&fs::read_link(link).expect("link"), victim, "{case}");
                }
            }
            if works {
                assert_eq!(w.query("SELECT count(*) FROM drafts"), "1", "{case}");
            }
        }
    }
}
