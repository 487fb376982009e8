//! JUnit XML: one test case per scenario, for CI systems that read JUnit reports.
//!
//! A scenario whose run set met its expectation is a passing test case; any other verdict is a
//! `<failure>` whose message says what went wrong and whose text carries the command that
//! reproduces it, the first violation's details and, when the failure was shrunk, the steps that
//! matter of its counterexample (see [`super::story`]). Each case's `<system-out>` holds the
//! throughput line of the human summary. Serialised with `quick-junit` (the serializer behind
//! cargo-nextest), which escapes XML and drops characters XML cannot hold.
//!
//! The output validates against the Jenkins xUnit plugin's `junit-10.xsd` (tested with
//! `xmllint`). That schema has no `skipped` attribute on `<testsuites>`, which quick-junit always
//! writes; settle never skips a scenario, so the attribute (always `0`) is removed from the root.
//!
//! What it does not do: no `timestamp` or `hostname` (output is a pure function of its input, so
//! the same summaries always give the same bytes), no `<error>` cases (a run that could not start
//! is an error of the whole command, reported by its exit code, not a test case).

use std::fmt::Write;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::check::Violation;
use crate::scenario::{Summary, Verdict};
use crate::sim::fmt_ms;

/// Violation details listed in a failure's text before the rest are counted.
const DETAILS_MAX: usize = 20;

/// One test case.
#[derive(Clone, Debug, PartialEq)]
pub struct Case {
    pub name: String,
    pub classname: String,
    pub time_s: f64,
    pub failure: Option<Failure>,
    /// The case's `<system-out>`; empty for none.
    pub system_out: String,
}

/// The command that runs the same seeds again.
fn rerun_command(s: &Summary) -> String {
    use crate::scenario::SeedSelection;
    let shard = s.shard.map(|k| format!(" --shard {k}")).unwrap_or_default();
    match s.selection {
        SeedSelection::One(seed) => format!("{} run {} --seed {seed}", s.program, s.path),
        SeedSelection::Range { start, count } => {
            format!("{} run {} --seed-start {start} --seeds {count}{shard}", s.program, s.path)
        }
        SeedSelection::Endless { start } => {
            format!("{} run {} --seed-start {start} --seeds {}{shard}", s.program, s.path, s.seeds_run)
        }
    }
}

/// Why a test case failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The failure's `type` attribute: a short machine-readable class.
    pub kind: String,
    /// The failure's `message` attribute: one line saying what went wrong.
    pub message: String,
    /// The failure's text: how to reproduce it, and the details.
    pub body: String,
}

/// A `<testsuites>` document holding one `<testsuite>` named `suite` with `cases`.
pub fn render_cases(suite: &str, cases: &[Case]) -> String {
    let mut test_suite = TestSuite::new(suite);
    let mut total_s = 0.0;
    for case in cases {
        let status = match &case.failure {
            None => TestCaseStatus::success(),
            Some(f) => {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                status.set_type(f.kind.as_str()).set_message(f.message.as_str()).set_description(f.body.as_str());
                status
            }
        };
        let mut test_case = TestCase::new(case.name.as_str(), status);
        test_case.set_classname(case.classname.as_str()).set_time(seconds(case.time_s));
        if !case.system_out.is_empty() {
            test_case.set_system_out(case.system_out.as_str());
        }
        test_suite.add_test_case(test_case);
        total_s += case.time_s.max(0.0);
    }
    test_suite.set_time(seconds(total_s));
    let mut report = Report::new(suite);
    report.set_time(seconds(total_s));
    report.add_test_suite(test_suite);
    // Serialising into memory cannot fail on I/O, and every string went through `XmlString`, so
    // an error here would be a quick-junit bug; say so in the output rather than panic.
    let xml = report.to_string().unwrap_or_else(|e| format!("<!-- quick-junit could not serialise: {e} -->\n"));
    without_root_skipped(xml)
}

/// One test case per scenario summary, in the suite `settle`.
pub fn render(summaries: &[Summary]) -> String {
    render_cases("settle", &summaries.iter().map(case).collect::<Vec<_>>())
}

/// The test case of one scenario.
pub fn case(s: &Summary) -> Case {
    Case {
        name: s.name.clone(),
        classname: s.path.clone(),
        time_s: s.elapsed_s,
        failure: failure(s),
        system_out: system_out(s),
    }
}

fn failure(s: &Summary) -> Option<Failure> {
    let seeds = s.seeds_run;
    let (kind, message) = match &s.verdict {
        Verdict::Met => return None,
        Verdict::UnexpectedViolation => {
            let which: Vec<String> = if s.per_invariant.is_empty() {
                s.first_violation.iter().map(|v| v.invariant.clone()).collect()
            } else {
                s.per_invariant.iter().map(|(inv, n)| format!("{inv} ({n} of {seeds} seeds)")).collect()
            };
            ("unexpected-violation", format!("unexpected violation of {}", which.join(", ")))
        }
        Verdict::ExpectedNotFound => {
            let expected = s.expect.invariant.as_deref().unwrap_or("the expected invariant");
            let mut m = format!("expected violation of {expected} not found in {seeds} seed(s)");
            if !s.per_invariant.is_empty() {
                let others: Vec<&str> = s.per_invariant.keys().map(String::as_str).collect();
                let _ = write!(m, "; violated instead: {}", others.join(", "));
            }
            ("expected-violation-not-found", m)
        }
        Verdict::Vacuous(marks) => ("vacuous", format!("vacuous: faults never exercised: {}", marks.join(", "))),
    };
    let mut body = String::new();
    match s.replay_command() {
        Some(cmd) => {
            let _ = writeln!(body, "replay: {cmd}");
        }
        None => {
            let _ = writeln!(body, "rerun: {}", rerun_command(s));
        }
    }
    if let (Some(seed), Some(v)) = (s.first_seed, &s.first_violation) {
        let _ = writeln!(body, "first seed {seed}: {} `{}` at {}", v.kind, v.invariant, fmt_ms(v.t_ms));
        write_details(&mut body, v);
    }
    // The shrunk counterexample's steps that matter, so a CI page shows the race itself.
    if let Some(k) = s.shrunk.as_ref().filter(|k| !k.report.events.is_empty()) {
        let story = super::story::story(&k.report.events, &k.report.violations);
        let _ = write!(body, "\nshrunk in {} run(s); {}", k.runs, story.render(&k.report.events));
    }
    if let Verdict::Vacuous(marks) = &s.verdict {
        for mark in marks {
            let doc = s.coverage.required.iter().find(|m| &m.mark == mark).map(|m| m.doc.as_str());
            match doc {
                Some(doc) => {
                    let _ = writeln!(body, "never exercised: {mark}: {doc}");
                }
                None => {
                    let _ = writeln!(body, "never exercised: {mark}");
                }
            }
        }
    }
    Some(Failure { kind: kind.to_string(), message, body })
}

fn write_details(out: &mut String, v: &Violation) {
    for d in v.details.iter().take(DETAILS_MAX) {
        let _ = writeln!(out, "  {d}");
    }
    if v.details.len() > DETAILS_MAX {
        let _ = writeln!(out, "  (+{} more)", v.details.len() - DETAILS_MAX);
    }
}

/// The human summary's throughput line and per-invariant counts.
fn system_out(s: &Summary) -> String {
    super::counts(s).iter().map(|l| format!("{l}\n")).collect()
}

/// A non-negative, finite number of seconds as a `Duration` (NaN and negatives become zero).
fn seconds(s: f64) -> Duration {
    if s.is_finite() && s > 0.0 { Duration::try_from_secs_f64(s).unwrap_or(Duration::MAX) } else { Duration::ZERO }
}

/// Removes `skipped="0"` from the `<testsuites>` start tag (see the module doc). Attribute
/// values are escaped, so the tag ends at the first `>` after `<testsuites`.
fn without_root_skipped(xml: String) -> String {
    let Some(start) = xml.find("<testsuites") else { return xml };
    let Some(len) = xml[start..].find('>') else { return xml };
    let tag = &xml[start..start + len];
    match tag.find(" skipped=\"0\"") {
        Some(at) => {
            let at = start + at;
            format!("{}{}", &xml[..at], &xml[at + " skipped=\"0\"".len()..])
        }
        None => xml,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passing(name: &str) -> Case {
        Case { name: name.into(), classname: format!("{name}.toml"), time_s: 0.5, failure: None, system_out: "".into() }
    }

    #[test]
    fn a_passing_case_has_no_failure_element() {
        let xml = render_cases("settle", &[passing("a")]);
        assert!(xml.contains(r#"<testcase name="a" classname="a.toml" time="0.500"/>"#), "{xml}");
        assert!(!xml.contains("<failure"), "{xml}");
    }

    #[test]
    fn counts_and_failures_are_written() {
        let failing = Case {
            failure: Some(Failure { kind: "vacuous".into(), message: "m".into(), body: "b".into() }),
            ..passing("b")
        };
        let xml = render_cases("s", &[passing("a"), failing]);
        assert!(xml.contains(r#"<testsuites name="s" tests="2" failures="1" errors="0" time="1.000">"#), "{xml}");
        assert!(xml.contains(r#"<failure message="m" type="vacuous">b</failure>"#), "{xml}");
    }

    #[test]
    fn only_the_root_loses_its_skipped_attribute() {
        let xml = render_cases("s", &[passing("a")]);
        let root = &xml[xml.find("<testsuites").unwrap()..];
        assert!(!root[..root.find('>').unwrap()].contains("skipped"), "{xml}");
        assert!(xml.contains(r#"<testsuite name="s" tests="1" skipped="0""#), "{xml}");
    }

    #[test]
    fn bad_times_become_zero() {
        assert_eq!(seconds(f64::NAN), Duration::ZERO);
        assert_eq!(seconds(-1.0), Duration::ZERO);
        assert_eq!(seconds(f64::INFINITY), Duration::ZERO);
        assert_eq!(seconds(1.5), Duration::from_millis(1500));
    }
}
