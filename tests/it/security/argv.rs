//! Argv injection through a draft's target: refused before the claim, `gh` never starts.

use super::*;

/// The one test of argv injection: every target shape that could put an option, a second
/// argument or another host on `gh`'s command line, and an empty body.
#[test]
fn option_like_or_multi_part_targets_are_refused_before_gh_runs() {
    let bad = [
        r#"{"repo":"--help","issue":1}"#,
        r#"{"repo":"evil.example.com/owner/name","issue":1}"#,
        r#"{"repo":"octo-org/demo","issue":-1}"#,
        r#"{"repo":"octo-org/demo","issue":"1; rm -rf /"}"#,
        r#""octo-org/demo#1""#,
        r#"{"repo":"--repo=evil/x","issue":1}"#,
        r#"{"repo":"-R","issue":1}"#,
        r#"{"repo":"-R/evil","issue":1}"#,
        r#"{"repo":"octo-org/demo --body x","issue":1}"#,
        r#"{"repo":"octo-org/demo\n--body-file=/etc/passwd","issue":1}"#,
        r#"{"repo":"octo-org/demo\n","issue":1}"#,
        r#"{"repo":" octo-org/demo","issue":1}"#,
        r#"{"repo":"octo-org/demo/","issue":1}"#,
        r#"{"repo":"github.com/octo-org/demo","issue":1}"#,
        r#"{"repo":"evil.example:443/octo-org/demo","issue":1}"#,
        r#"{"repo":"https://evil.example/octo-org/demo","issue":1}"#,
        r#"{"repo":"octo-org/-demo","issue":1}"#,
        r#"{"repo":"octo-org/..","issue":1}"#,
        r#"{"repo":"octo-org/demo\u0000","issue":1}"#,
        r#"{"repo":"ｏcto-org/demo","issue":1}"#,
        r#"{"repo":["octo-org/demo"],"issue":1}"#,
        r#"{"repo":null,"issue":1}"#,
        r#"{"issue":1}"#,
        r#"{"repo":"octo-org/demo","issue":"1 --help"}"#,
        r#"{"repo":"octo-org/demo","issue":"1"}"#,
        r#"{"repo":"octo-org/demo","issue":"--help"}"#,
        r#"{"repo":"octo-org/demo","issue":0}"#,
        r#"{"repo":"octo-org/demo","issue":-0}"#,
        r#"{"repo":"octo-org/demo","issue":1.0}"#,
        r#"{"repo":"octo-org/demo","issue":1e3}"#,
        r#"{"repo":"octo-org/demo","issue":18446744073709551616}"#,
        r#"{"repo":"octo-org/demo","issue":true}"#,
        r#"{"repo":"octo-org/demo","issue":[1]}"#,
        r#"{"repo":"octo-org/demo"}"#,
        r#"["octo-org/demo",1]"#,
    ];
    let s = Stage::new("");
    let mut ids: Vec<String> = bad
        .iter()
        .map(|t| s.w.approved("github_comment", t, r#"{"body":"x"}"#))
        .collect();
    // A well-formed target with an empty body: nothing to post.
    ids.push(s.w.approved("github_comment", TARGET, r#"{"body":""}"#));
    // A well-formed draft in the same batch: proves the stand-in works.
    let control =
        s.w.approved("github_comment", TARGET, r#"{"body":"control"}"#);
    let doc = s.run(&["--batch", "100"]).ok().json();
    for (id, target) in ids.iter().zip(bad.iter().chain([&"empty body"])) {
        let r = outcome_of(&doc, id);
        assert_eq!(r["outcome"], "execute_failed", "{target}: {r}");
        assert!(
            r["reason"]
                .as_str()
                .expect("reason")
                .starts_with("github_comment"),
            "{target}: {r}"
        );
        assert_eq!(s.w.status(id), "completed_with_error", "{target}");
    }
    assert_eq!(outcome_of(&doc, &control)["outcome"], "executed");
    let calls = s.calls_of("gh");
    assert_eq!(calls.len(), 1, "gh ran only for the well-formed draft");
    assert_eq!(calls[0].argv, GH_ARGV);
    assert_eq!(calls[0].stdin, b"control");
}
