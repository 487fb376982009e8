//! JUnit output, on real runs and on hand-made summaries.
//!
//! The JUnit schema is `tests/fixtures/junit-10.xsd`: the Jenkins xUnit plugin's JUnit schema
//! (jenkinsci/xunit-plugin, src/main/resources/org/jenkinsci/plugins/xunit/types/model/xsd/
//! junit-10.xsd; MIT licence, © 2014 Gregory Boissinot, notice kept in the file), as pytest ships
//! it in its source distribution (pytest 9.2.0, testing/example_scripts/junit-10.xsd) to validate
//! its own JUnit output. It is checked with `xmllint` (Debian: libxml2-utils; `.ci/run` installs
//! it); without `xmllint` the schema tests say they were skipped and why.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use settle::check::{Coverage, InvariantKind, Sometimes, Violation};
use settle::report::junit;
use settle::scenario::{Summary, Verdict, replay_command};

use super::{run, run_edited};

// ---- JUnit ----

fn summary(name: &str, verdict: Verdict) -> Summary {
    Summary {
        name: name.into(),
        path: format!("scenarios/{name}.toml"),
        seeds_run: 200,
        violating_seeds: 0,
        per_invariant: BTreeMap::new(),
        first_seed: None,
        first_violation: None,
        coverage: Coverage::new(vec![Sometimes {
            mark: "fault:partition".into(),
            doc: "a partition refused a message".into(),
        }]),
        events: 40_000,
        elapsed_s: 0.25,
        verdict,
    }
}

/// Details that need XML escaping, an ANSI colour and a control character.
const NASTY: &str = "ZVR-1: <order> & \"quoted\" 'single' ]]> \u{1b}[31mred\u{1b}[0m bell\u{7} ok";

/// One summary of each verdict, the failing ones with details that need escaping.
fn hand_made() -> Vec<Summary> {
    let violation = Violation {
        invariant: "order-payment-agree".into(),
        kind: InvariantKind::Always,
        t_ms: 53_564,
        details: vec![NASTY.into(), "ZVR-2: order PAID, payment PENDING".into()],
    };
    let mut unexpected = summary("fixed-but-broken", Verdict::UnexpectedViolation);
    unexpected.violating_seeds = 3;
    unexpected.per_invariant.insert("order-payment-agree".into(), 3);
    unexpected.first_seed = Some(17);
    unexpected.first_violation = Some(violation);
    let not_found = summary("flaw-not-caught", Verdict::ExpectedNotFound);
    let vacuous = summary("never-partitioned", Verdict::Vacuous(vec!["fault:partition".into()]));
    vec![summary("fine", Verdict::Met), unexpected, not_found, vacuous]
}

/// Validates `xml` against the JUnit schema: `Some(Ok)` valid, `Some(Err(why))` invalid,
/// `None` when `xmllint` is not installed.
fn xmllint(xml: &str, name: &str) -> Option<Result<(), String>> {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let file = dir.join(format!("{name}-{}.xml", std::process::id()));
    std::fs::write(&file, xml).expect("write the report");
    let schema = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/junit-10.xsd");
    let out = match Command::new("xmllint").arg("--noout").arg("--schema").arg(&schema).arg(&file).output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => panic!("xmllint: {e}"),
    };
    let _ = std::fs::remove_file(&file);
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    Some(if out.status.success() { Ok(()) } else { Err(said) })
}

fn skipped_without_xmllint() {
    eprintln!(
        "skipped: xmllint not found (Debian package libxml2-utils; .ci/run installs it), so the JUnit output was not validated against tests/fixtures/junit-10.xsd"
    );
}

#[test]
fn junit_of_every_verdict_validates_against_the_jenkins_schema() {
    let all_passing = vec![summary("fine", Verdict::Met), summary("also-fine", Verdict::Met)];
    for (name, set) in [("junit-passing", all_passing), ("junit-hand-made", hand_made())] {
        let xml = junit::render(&set);
        match xmllint(&xml, name) {
            None => return skipped_without_xmllint(),
            Some(result) => result.unwrap_or_else(|why| panic!("invalid JUnit:\n{why}\n{xml}")),
        }
    }
}

#[test]
fn junit_of_real_runs_validates_against_the_jenkins_schema() {
    let met = run("seed001_race.toml", Some(30));
    assert!(met.verdict.ok(), "{:?}", met.verdict);
    let expect_pass = |t: String| {
        t.replace("outcome = \"violation\"", "outcome = \"pass\"")
            .replace("invariant = \"provider-paid-implies-paid\"", "")
    };
    let broken = run_edited("seed001_race.toml", expect_pass, Some(30));
    assert_eq!(broken.verdict, Verdict::UnexpectedViolation);
    let xml = junit::render(&[met, broken]);
    assert!(xml.contains(r#"tests="2" failures="1""#), "{xml}");
    assert!(xml.contains(&replay_command("seed001_race.toml", 26)), "{xml}");
    match xmllint(&xml, "junit-real") {
        None => skipped_without_xmllint(),
        Some(result) => result.unwrap_or_else(|why| panic!("invalid JUnit:\n{why}\n{xml}")),
    }
}

/// The schema check can fail: a test case without its required name is rejected.
#[test]
fn the_schema_check_rejects_an_invalid_report() {
    let xml = junit::render(&hand_made()).replace("<testcase name=\"fine\"", "<testcase");
    match xmllint(&xml, "junit-invalid") {
        None => skipped_without_xmllint(),
        Some(result) => assert!(result.is_err(), "xmllint accepted a test case without a name"),
    }
}

#[test]
fn junit_failures_say_what_went_wrong_and_how_to_reproduce_it() {
    let xml = junit::render(&hand_made());
    let report = quick_junit::Report::deserialize_from_str(&xml).expect("quick-junit reads its output back");
    let cases = &report.test_suites[0].test_cases;
    assert_eq!(cases.len(), 4);
    let failure = |i: usize| match &cases[i].status {
        quick_junit::TestCaseStatus::NonSuccess { message, ty, description, .. } => (
            message.as_ref().unwrap().as_str().to_string(),
            ty.as_ref().unwrap().as_str().to_string(),
            description.as_ref().unwrap().as_str().to_string(),
        ),
        other => panic!("case {i} did not fail: {other:?}"),
    };
    assert!(matches!(cases[0].status, quick_junit::TestCaseStatus::Success { .. }));
    assert_eq!(cases[0].classname.as_ref().unwrap().as_str(), "scenarios/fine.toml");
    let (message, ty, body) = failure(1);
    assert_eq!(ty, "unexpected-violation");
    assert_eq!(message, "unexpected violation of order-payment-agree (3 of 200 seeds)");
    assert!(body.contains("replay: settle replay scenarios/fixed-but-broken.toml --seed 17"), "{body}");
    assert!(body.contains("first seed 17: always `order-payment-agree` at 00:00:53.564"), "{body}");
    // Escaped on the way out and read back intact; the ANSI colour and the bell are dropped.
    assert!(body.contains("ZVR-1: <order> & \"quoted\" 'single' ]]> red bell ok"), "{body}");
    let (message, ty, body) = failure(2);
    assert_eq!(ty, "expected-violation-not-found");
    assert_eq!(message, "expected violation not found in 200 seed(s)");
    assert!(body.contains("rerun: settle run scenarios/flaw-not-caught.toml --seeds 200"), "{body}");
    let (message, ty, body) = failure(3);
    assert_eq!(ty, "vacuous");
    assert_eq!(message, "vacuous: faults never exercised: fault:partition");
    assert!(body.contains("never exercised: fault:partition: a partition refused a message"), "{body}");
    let out = cases[0].system_out.as_ref().unwrap().as_str();
    assert!(out.starts_with("seeds 200  violating 0  800 seeds/s  160000 events/s"), "{out}");
}

#[test]
fn junit_snapshot() {
    insta::assert_snapshot!(junit::render(&hand_made()));
}
