//! The HMAC key and the SMTP password never appear in output, logs, alerts or files.

use super::*;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn base64(bytes: &[u8], alphabet: &[u8; 64]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let sextets = [n >> 18, n >> 12, n >> 6, n];
        for (i, s) in sextets.iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(
                    alphabet[usize::try_from(s & 63).expect("6 bits")],
                ));
            }
        }
    }
    out
}

/// The forms a key could leak in: raw bytes, hex either case, base64 in both alphabets
/// (unpadded, so a padded form matches too), and every printable run of 8 bytes or more.
fn key_forms(key: &[u8]) -> Vec<(String, Vec<u8>)> {
    const STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut forms = vec![
        ("raw bytes".to_owned(), key.to_vec()),
        ("hex".to_owned(), hex(key).into_bytes()),
        ("HEX".to_owned(), hex(key).to_uppercase().into_bytes()),
        ("base64".to_owned(), base64(key, STD).into_bytes()),
        ("base64url".to_owned(), base64(key, URL).into_bytes()),
    ];
    for run in key.split(|b| !(0x20..0x7f).contains(b)) {
        if run.len() >= 8 {
            forms.push((
                format!("printable run {:?}", String::from_utf8_lossy(run)),
                run.to_vec(),
            ));
        }
    }
    forms
}

fn assert_no_key(what: &str, bytes: &[u8], key: &[u8]) {
    for (form, needle) in key_forms(key) {
        assert!(
            !contains(bytes, &needle),
            "the key ({form}) appears in {what}:\n{}",
            String::from_utf8_lossy(bytes)
        );
    }
}

#[test]
fn the_key_never_appears_in_output_logs_alerts_state_files_or_the_registry() {
    let s = Stage::with_gh_tail("echo 'gh: HTTP 502' >&2; exit 1", "");
    let other_key = s.w.path("other.key");
    let other = other_key.to_str().expect("utf8");
    let third_key = s.w.path("third.key");
    // Every output is checked at the end, against every key, the ones these commands make
    // included.
    let mut seen = Vec::new();
    let mut check = |what: &str, run: Run| {
        let (code, bytes) = raw_output(run);
        seen.push((what.to_owned(), code, bytes));
    };
    check(
        "keygen --json",
        s.w.cmd(&["keygen", "--json", "--key", other, "-vv"]),
    );
    check(
        "keygen",
        s.w.cmd(&["keygen", "-vv", "--key", third_key.to_str().expect("utf8")]),
    );
    check("keygen (exists)", s.w.cmd(&["keygen", "-vv"]));
    check("init", s.w.cmd(&["init", "-vv"]));
    let new = |args: &[&str]| {
        let mut all = vec!["draft", "new", "-vv"];
        all.extend_from_slice(args);
        s.w.cmd(&all)
    };
    check(
        "draft new",
        new(&[
            "--kind",
            "github_comment",
            "--target",
            TARGET,
            "--payload",
            r#"{"body":"hi"}"#,
        ]),
    );
    check(
        "draft new --json",
        new(&[
            "--json",
            "--kind",
            "social_post",
            "--target",
            "{}",
            "--payload",
            "{}",
        ]),
    );
    let ids: Vec<String> = s
        .w
        .query("SELECT group_concat(draft_id, ' ') FROM (SELECT draft_id FROM drafts ORDER BY created_at, draft_id)")
        .split(' ')
        .map(str::to_owned)
        .collect();
    assert_eq!(ids.len(), 2);
    // A third, tampered: its failures print reasons, hashes and signatures.
    let tampered = s.w.draft("ledger_done", "{}", r#"{"n":1}"#);
    s.w.sql(&format!(
        "UPDATE drafts SET signature = '{}' WHERE draft_id = '{tampered}'",
        "0".repeat(64)
    ));
    for id in &ids {
        check("approve", s.w.cmd(&["approve", id, "-vv"]));
    }
    check(
        "approve (tampered)",
        s.w.cmd(&["approve", &tampered, "-vv"]),
    );
    check("verify", s.w.cmd(&["verify", "--all", "-vv"]));
    check(
        "verify --json",
        s.w.cmd(&["verify", "--all", "--json", "-vv"]),
    );
    for id in ids.iter().chain([&tampered]) {
        check("show", s.w.cmd(&["show", id, "-vv"]));
        check("show --json", s.w.cmd(&["show", id, "--json", "-vv"]));
    }
    // Failing handler and no handler, no [notify]: alerts go to stderr.
    s.w.sql(&format!(
        "UPDATE drafts SET status = 'approved' WHERE draft_id = '{tampered}'"
    ));
    let run =
        s.w.cmd(&["run", "-vv"])
            .env("INBOX_EXEC_CONFIG", &s.config)
            .env("PATH", s.path_var());
    check("run -vv", run);
    check("status --json", s.w.cmd(&["status", "--json", "-vv"]));
    check("status", s.w.cmd(&["status", "-vv"]));
    check("reconcile", s.w.cmd(&["reconcile", "-vv"]));
    check("expire", s.w.cmd(&["expire", "-vv"]));
    // Refusals of the key itself name the file, never its bytes.
    fs::set_permissions(&s.w.key, fs::Permissions::from_mode(0o644)).expect("chmod");
    check("verify (loose key)", s.w.cmd(&["verify", "--all", "-vv"]));
    fs::set_permissions(&s.w.key, fs::Permissions::from_mode(0o600)).expect("chmod");
    check(
        "run --key (wrong key)",
        s.w.cmd(&["run", "-vv", "--key", other])
            .env("INBOX_EXEC_CONFIG", &s.config),
    );

    let keys: Vec<(String, Vec<u8>)> = [&s.w.key, &other_key, &third_key]
        .iter()
        .map(|k| {
            let bytes = fs::read(k).expect("a key keygen made");
            assert_eq!(bytes.len(), 32, "{}", k.display());
            (k.display().to_string(), bytes)
        })
        .collect();
    for (what, _, bytes) in &seen {
        for (name, key) in &keys {
            assert_no_key(&format!("{what} (key {name})"), bytes, key);
        }
    }

    let run_out = &seen
        .iter()
        .find(|(what, _, _)| what == "run -vv")
        .expect("run output")
        .2;
    let run_text = String::from_utf8_lossy(run_out);
    assert!(
        run_text.contains("[ALERT] inbox-exec") && run_text.contains("HTTP 502"),
        "the run must have raised alerts on stderr for this test to mean anything:\n{run_text}"
    );
    assert!(
        seen.iter()
            .any(|(what, code, _)| what == "verify (loose key)" && *code == 1),
        "the loose key was refused"
    );

    // Every file the world holds, except the key files themselves.
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).expect("read dir") {
            let path = entry.expect("entry").path();
            let meta = fs::symlink_metadata(&path).expect("metadata");
            if meta.is_dir() {
                walk(&path, out);
            } else if meta.is_file() {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(s.w.dir.path(), &mut files);
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().expect("name").to_string_lossy().into_owned())
        .collect();
    for expected in ["drafts.db", "thermal.json", "last-run.json"] {
        assert!(names.iter().any(|n| n == expected), "{expected}: {names:?}");
    }
    let contents: Vec<(String, Vec<u8>)> = files
        .iter()
        .filter(|f| keys.iter().all(|(k, _)| f.display().to_string() != *k))
        .map(|f| (f.display().to_string(), fs::read(f).expect("read file")))
        .collect();
    // Read after the files: opening the registry may add or remove its -wal and -shm.
    let dump = s.w.dump();
    for (name, key) in &keys {
        for (file, bytes) in &contents {
            assert_no_key(&format!("{file} (key {name})"), bytes, key);
        }
        assert_no_key(
            &format!("the registry dump (key {name})"),
            dump.as_bytes(),
            key,
        );
    }
}

#[test]
fn the_smtp_password_never_appears_in_output_or_logs() {
    let s = Stage::new("");
    let secret_file = "PwFromFile-5d1c9e";
    let secret_env = "PwFromEnv-83b2aa";
    let pass = s.w.path("smtp.pass");
    write_private(&pass, &format!("{secret_file}\n"));
    let server = AuthSmtpServer::start(None);
    let notify = |password_file: bool| {
        format!(
            "[notify]\nsmtp_url = \"{}\"\nfrom = \"a@example.org\"\nto = [\"b@example.org\"]\nusername = \"alice\"\ntimeout = \"5s\"\n{}",
            server.url(),
            if password_file {
                format!("password_file = \"{}\"\n", pass.display())
            } else {
                String::new()
            }
        )
    };
    // The password file wins over the environment; without a file the environment's is
    // used; a refused login is logged without either.
    for (with_file, accept, password) in [
        (true, Some(secret_file), secret_file),
        (false, Some(secret_env), secret_env),
        (false, None, secret_env),
    ] {
        s.write_config(&notify(with_file));
        server.accept(accept);
        let logins = server.logins().len();
        let mails = server.received().len();
        s.w.approved("social_post", "{}", "{}");
        let (code, bytes) = raw_output(s.run(&[]).env("INBOX_EXEC_SMTP_PASSWORD", secret_env));
        let text = String::from_utf8_lossy(&bytes);
        assert_eq!(code, 0, "{text}");
        assert_eq!(
            server.logins()[logins..],
            [("alice".to_owned(), password.to_owned())],
            "file={with_file}: one AUTH, with the password that applies"
        );
        let delivered = server.received().len() - mails;
        if accept.is_some() {
            assert_eq!(delivered, 1, "file={with_file}: the alert arrived\n{text}");
        } else {
            assert_eq!(delivered, 0);
            assert!(
                text.contains("cannot send alert"),
                "the refused login must be logged for this case to mean anything:\n{text}"
            );
        }
        for secret in [secret_file, secret_env] {
            assert!(!text.contains(secret), "{secret} leaked:\n{text}");
        }
    }
}

#[test]
fn a_password_inline_in_the_smtp_url_is_never_logged() {
    let s = Stage::new("");
    let port = closed_port();
    s.write_config(&format!(
        "[notify]\nsmtp_url = \"smtp://alice:InlinePw-77e1@127.0.0.1:{port}\"\nfrom = \"a@example.org\"\nto = [\"b@example.org\"]\ntimeout = \"2s\"\n"
    ));
    s.w.approved("social_post", "{}", "{}");
    let (_, bytes) = raw_output(s.run(&[]));
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        !text.contains("InlinePw-77e1"),
        "the SMTP password in smtp_url is printed:\n{text}"
    );
}

#[test]
fn credentials_inline_in_the_smtp_url_of_a_config_others_can_read_are_refused() {
    let s = Stage::new("");
    s.write_config(
        "[notify]\nsmtp_url = \"smtp://alice:InlinePw-77e1@127.0.0.1:25\"\nfrom = \"a@example.org\"\nto = [\"b@example.org\"]\n",
    );
    fs::set_permissions(&s.config, fs::Permissions::from_mode(0o644)).expect("chmod 644");
    let id = s.w.approved("social_post", "{}", "{}");
    let out = s.run(&[]).output();
    assert_eq!(
        out.code, 1,
        "DESIGN §6: credentials never inline in a world-readable file; this config was accepted:\n{}\n{}",
        out.stdout, out.stderr
    );
    assert!(out.stderr.contains("smtp_url"), "{}", out.stderr);
    assert!(!out.stderr.contains("InlinePw-77e1"), "{}", out.stderr);
    assert_eq!(s.w.status(&id), "approved");
}
