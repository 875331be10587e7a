//! The results files, `bench/results/<scenario>.json`, as types: what a
//! scenario writes is what the report reads, so a renamed figure is a compile
//! error, and a file that no longer matches its type fails to load, loudly.
//!
//! A file is a [`Doc`]: the scenario's parameters, the machine, and one
//! [`Run`] per server and repetition, whose figures (the scenario's
//! [`Outcome`]) sit at the top level of the run beside `server` and `rep`.

use std::path::Path;

use anyhow::{Context, Result};
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize};

use crate::machine::Machine;
use crate::server::Kind;
use crate::stats::{Stat, pct, round3};

/// What a scenario measured in one run.
pub trait Outcome: Serialize + DeserializeOwned {
    /// Whether every check of the run passed.
    fn ok(&self) -> bool;
    /// Why not, where the outcome can say more than "a check failed".
    fn failure(&self) -> Option<String> {
        None
    }
    /// A top-level `summary` of the file's runs (of one server), where the
    /// scenario has headline figures to check against targets.
    fn summary_of(_runs: &[&Self]) -> Option<serde_json::Value> {
        None
    }
}

#[derive(Serialize, Deserialize)]
#[serde(bound(deserialize = "P: DeserializeOwned, R: DeserializeOwned"))]
pub struct Doc<P, R> {
    pub scenario: String,
    pub params: P,
    pub machine: Machine,
    pub generator: String,
    pub unix_time: u64,
    pub runs: Vec<Run<R>>,
    /// [`Outcome::summary_of`] the gateway's runs; absent in older files and
    /// for scenarios without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<serde_json::Value>,
}

#[derive(Serialize)]
pub struct Run<R> {
    /// `None` when the run ended in an error before producing figures.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub result: Option<R>,
    pub ok: bool,
    pub server: Kind,
    pub rep: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub server_died: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_log_tail: Option<String>,
    pub server_start_rss_kb: u64,
}

/// The fields of a run beside its figures.
#[derive(Deserialize)]
struct RunMeta {
    ok: bool,
    server: Kind,
    rep: usize,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    server_died: bool,
    #[serde(default)]
    server_log_tail: Option<String>,
    #[serde(default)]
    server_start_rss_kb: u64,
}

impl<R> Run<R> {
    /// The console line of a run: `<scenario> <server>: ok | <figures>`, or
    /// `FAILED: <error>` when it ended before producing figures.
    pub fn line(&self, scenario: &str, figures: impl FnOnce(&R) -> String) -> String {
        let s = self.server.name();
        match &self.result {
            None => format!(
                "{scenario} {s}: FAILED: {}",
                self.error.as_deref().unwrap_or("?")
            ),
            Some(r) => {
                let verdict = if self.ok { "ok" } else { "FAILED" };
                format!("{scenario} {s}: {verdict} | {}", figures(r))
            }
        }
    }
}

/// By hand rather than `flatten` into an `Option`, which would read a run whose
/// figures no longer match their type as a run without figures.
impl<'de, R: DeserializeOwned> Deserialize<'de> for Run<R> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        let m = RunMeta::deserialize(&v).map_err(D::Error::custom)?;
        let result = match m.error {
            Some(_) => None,
            None => Some(R::deserialize(&v).map_err(|e| {
                D::Error::custom(format!("{} rep {}: {e}", m.server.name(), m.rep))
            })?),
        };
        Ok(Run {
            result,
            ok: m.ok,
            server: m.server,
            rep: m.rep,
            error: m.error,
            server_died: m.server_died,
            server_log_tail: m.server_log_tail,
            server_start_rss_kb: m.server_start_rss_kb,
        })
    }
}

impl<P: DeserializeOwned, R: Outcome> Doc<P, R> {
    /// `<dir>/<name>.json`, or `None` when there is no such file.
    pub fn load(dir: &Path, name: &str) -> Result<Option<Self>> {
        let path = dir.join(format!("{name}.json"));
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let doc = serde_json::from_str(&text).with_context(|| {
            format!(
                "{} does not match the bench's result types (re-run the scenario)",
                path.display()
            )
        })?;
        Ok(Some(doc))
    }
}

impl<P, R: Outcome> Doc<P, R> {
    /// The figures of every run of `server` that produced them.
    pub fn results(&self, server: Kind) -> impl Iterator<Item = &R> {
        self.runs
            .iter()
            .filter(move |r| r.server == server)
            .filter_map(|r| r.result.as_ref())
    }

    /// min / median / max of a figure over the runs of `server` that have it.
    pub fn stat(&self, server: Kind, f: impl Fn(&R) -> Option<f64>) -> Option<Stat> {
        Stat::of(self.results(server).filter_map(f).collect())
    }

    /// Sum of a counter over every run of `server`.
    pub fn total(&self, server: Kind, f: impl Fn(&R) -> f64) -> f64 {
        self.results(server).map(f).sum()
    }

    /// One line per failed run: server, repetition, why.
    pub fn failures(&self) -> Vec<String> {
        self.runs
            .iter()
            .filter(|r| !r.ok)
            .map(|r| {
                let why = r
                    .error
                    .clone()
                    .or_else(|| r.result.as_ref().and_then(R::failure))
                    .map(|e| serde_json::Value::from(e).to_string())
                    .unwrap_or_else(|| "a check failed (see JSON)".to_owned());
                format!("{} rep {}: {why}", r.server.name(), r.rep)
            })
            .collect()
    }
}

/// Latency summary in milliseconds.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Latency {
    pub count: usize,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    /// From nanosecond samples.
    pub fn from_ns(mut v: Vec<u64>) -> Latency {
        v.sort_unstable();
        let mean = if v.is_empty() {
            0.0
        } else {
            v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64 / 1e6
        };
        Latency {
            count: v.len(),
            mean_ms: round3(mean),
            p50_ms: round3(pct(&v, 0.50)),
            p90_ms: round3(pct(&v, 0.90)),
            p99_ms: round3(pct(&v, 0.99)),
            p999_ms: round3(pct(&v, 0.999)),
            max_ms: round3(v.last().map(|&x| x as f64 / 1e6).unwrap_or(0.0)),
        }
    }
}

/// A batch of handshakes.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Connect {
    pub connected: usize,
    pub errors: usize,
    pub first_error: Option<String>,
    pub secs: f64,
    pub per_s: f64,
    pub handshake: Latency,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Figures {
        msgs: u64,
        passed: bool,
    }

    impl Outcome for Figures {
        fn ok(&self) -> bool {
            self.passed
        }
    }

    fn run(result: Option<Figures>, error: Option<&str>) -> Run<Figures> {
        Run {
            ok: result.as_ref().is_some_and(|f| f.passed),
            result,
            server: Kind::Gateway,
            rep: 1,
            error: error.map(str::to_owned),
            server_died: false,
            server_log_tail: None,
            server_start_rss_kb: 7,
        }
    }

    #[test]
    fn a_run_keeps_its_figures_at_the_top_level() {
        let r = run(
            Some(Figures {
                msgs: 5,
                passed: true,
            }),
            None,
        );
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(
            v,
            serde_json::json!({ "msgs": 5, "passed": true, "ok": true, "server": "gateway", "rep": 1, "server_start_rss_kb": 7 })
        );
        let back: Run<Figures> = serde_json::from_value(v).unwrap();
        assert_eq!(back.result.unwrap().msgs, 5);
    }

    #[test]
    fn a_run_that_failed_has_no_figures_and_names_the_error() {
        let v = serde_json::to_value(run(None, Some("boom"))).unwrap();
        assert_eq!(
            v,
            serde_json::json!({ "ok": false, "server": "gateway", "rep": 1, "error": "boom", "server_start_rss_kb": 7 })
        );
        let back: Run<Figures> = serde_json::from_value(v).unwrap();
        assert!(back.result.is_none());
    }

    #[test]
    fn a_console_line_gives_the_verdict_and_the_figures_or_the_error() {
        let line = |msgs, passed, error: Option<&str>| {
            let figures = (error.is_none()).then_some(Figures { msgs, passed });
            run(figures, error).line("smoke", |f| format!("{} msgs", f.msgs))
        };
        assert_eq!(line(5, true, None), "smoke gateway: ok | 5 msgs");
        assert_eq!(line(3, false, None), "smoke gateway: FAILED | 3 msgs");
        assert_eq!(line(0, false, Some("boom")), "smoke gateway: FAILED: boom");
    }

    #[test]
    fn figures_that_no_longer_match_their_type_are_an_error_not_a_missing_run() {
        let v = serde_json::json!({ "mesages": 5, "passed": true, "ok": true, "server": "reference", "rep": 2 });
        let e = serde_json::from_value::<Run<Figures>>(v)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("reference rep 2: missing field `msgs`"), "{e}");
    }

    #[test]
    fn stats_count_only_the_runs_of_one_server_that_have_figures() {
        let doc = Doc::<(), Figures> {
            scenario: "t".into(),
            params: (),
            machine: Machine::capture(Path::new(".")),
            generator: String::new(),
            unix_time: 0,
            runs: vec![
                run(
                    Some(Figures {
                        msgs: 1,
                        passed: true,
                    }),
                    None,
                ),
                run(
                    Some(Figures {
                        msgs: 3,
                        passed: false,
                    }),
                    None,
                ),
                run(None, Some("gone")),
                Run {
                    server: Kind::Reference,
                    ..run(
                        Some(Figures {
                            msgs: 100,
                            passed: true,
                        }),
                        None,
                    )
                },
            ],
            summary: None,
        };
        let s = doc.stat(Kind::Gateway, |f| Some(f.msgs as f64)).unwrap();
        assert_eq!((s.min, s.med, s.max, s.n), (1.0, 2.0, 3.0, 2));
        assert_eq!(doc.total(Kind::Reference, |f| f.msgs as f64), 100.0);
        assert_eq!(
            doc.failures(),
            [
                "gateway rep 1: a check failed (see JSON)",
                "gateway rep 1: \"gone\""
            ]
        );
    }

    #[test]
    fn a_summary_is_written_only_when_there_is_one_and_older_files_still_load() {
        let doc = |summary| Doc {
            scenario: "smoke".to_owned(),
            params: 1u32,
            machine: Machine::capture(Path::new(".")),
            generator: "g".to_owned(),
            unix_time: 0,
            runs: vec![run(None, Some("boom"))],
            summary,
        };
        let old = serde_json::to_value(doc(None)).unwrap();
        assert!(old.get("summary").is_none());
        let back: Doc<u32, Figures> = serde_json::from_value(old).unwrap();
        assert!(back.summary.is_none());
        let with = serde_json::to_value(doc(Some(serde_json::json!({ "x": 1 })))).unwrap();
        assert_eq!(with["summary"], serde_json::json!({ "x": 1 }));
        let back: Doc<u32, Figures> = serde_json::from_value(with).unwrap();
        assert_eq!(back.summary, Some(serde_json::json!({ "x": 1 })));
    }
}
