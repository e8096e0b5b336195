//! Shell completion, tested by completing: bash is asked for candidates the way readline
//! asks, and the candidates are checked.

use std::path::Path;
use std::process::Command;

use crate::harness::BIN;

/// The candidates bash offers for `line` (the last word is the one being completed).
fn complete(script: &Path, line: &[&str], posix: bool) -> Vec<String> {
    let words: Vec<String> = line.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        r#"source "$1" || exit 9
f=$(complete -p inbox-exec | sed -n 's/.* -F \([^ ]*\) .*/\1/p')
[ -n "$f" ] || exit 8
COMP_WORDS=({words})
COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
COMP_LINE="${{COMP_WORDS[*]}}"
COMP_POINT=${{#COMP_LINE}}
prev=""; [ "$COMP_CWORD" -gt 0 ] && prev="${{COMP_WORDS[COMP_CWORD-1]}}"
"$f" inbox-exec "${{COMP_WORDS[COMP_CWORD]}}" "$prev"
printf '%s\n' "${{COMPREPLY[@]}}"
"#,
        words = words.join(" ")
    );
    let mut cmd = Command::new("bash");
    cmd.arg("--norc").arg("--noprofile");
    if posix {
        cmd.arg("--posix");
    }
    let out = cmd
        .arg("-c")
        .arg(program)
        .arg("complete")
        .arg(script)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "bash failed ({}) completing {line:?}:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

fn bash_script(dir: &Path) -> std::path::PathBuf {
    let out = Command::new(BIN)
        .args(["completions", "bash"])
        .env_clear()
        .output()
        .expect("completions");
    assert!(out.status.success());
    let path = dir.join("inbox-exec.bash");
    std::fs::write(&path, out.stdout).expect("script");
    path
}

#[test]
fn bash_completes_past_the_first_word() {
    if Command::new("bash").arg("--version").output().is_err() {
        eprintln!("SKIPPED bash_completes_past_the_first_word: needs bash (not installed)");
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let script = bash_script(dir.path());
    let has = |got: &[String], want: &str| got.iter().any(|g| g == want);
    for posix in [false, true] {
        let subcommands = complete(&script, &["inbox-exec", ""], posix);
        for sub in ["run", "status", "reconcile", "draft"] {
            assert!(
                has(&subcommands, sub),
                "posix={posix}: no {sub} in {subcommands:?}"
            );
        }
        assert!(
            !has(&subcommands, "man"),
            "the internal man subcommand is offered: {subcommands:?}"
        );
        let run = complete(&script, &["inbox-exec", "run", "--"], posix);
        for flag in ["--batch", "--dry-run", "--db", "--json"] {
            assert!(
                has(&run, flag),
                "posix={posix}: run --<TAB> lacks {flag}: {run:?}"
            );
        }
        let new = complete(&script, &["inbox-exec", "draft", "new", "--"], posix);
        assert!(has(&new, "--kind"), "draft new --<TAB>: {new:?}");
        let resolve = complete(
            &script,
            &["inbox-exec", "reconcile", "resolve", "01X", "--as", ""],
            posix,
        );
        for value in ["completed", "failed", "terminal"] {
            assert!(has(&resolve, value), "--as <TAB>: {resolve:?}");
        }
    }
}

#[test]
fn the_man_subcommand_is_hidden_from_help() {
    let out = Command::new(BIN)
        .arg("--help")
        .env_clear()
        .output()
        .expect("help");
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        !help.lines().any(|l| l.trim_start().starts_with("man ")),
        "{help}"
    );
}
