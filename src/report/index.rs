//! results/index.html: one row per run (every subdirectory with a test.json or a
//! results.json), newest first, with its verdict and links to its files.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use checkers::{Severity, Validity};
use serde_json::Value as Json;

use super::text;
use crate::utc;

/// One run as the index shows it; every field is read tolerantly.
struct Row {
    name: String,
    /// When the run started, if its test.json or its name says so.
    when: Option<jiff::Timestamp>,
    time: String,
    system: String,
    nemesis: String,
    seed: String,
    /// `None`: no results.json yet (the run is going on, or crashed).
    verdict: Option<Validity>,
    violations: usize,
    observations: usize,
    files: Vec<&'static str>,
}

/// Writes `index.html` into the results root `root`.
pub fn write_index(root: &Path) -> anyhow::Result<()> {
    let entries =
        std::fs::read_dir(root).with_context(|| format!("cannot list {}", root.display()))?;
    let mut rows = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list {}", root.display()))?;
        // `latest` is a symlink to a run already listed under its own name.
        let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
        if !is_dir {
            continue;
        }
        if let Some(row) = read_row(&entry.path()) {
            rows.push(row);
        }
    }
    rows.sort_by(|a, b| b.when.cmp(&a.when).then(b.name.cmp(&a.name)));
    let html = render(&rows);
    let out = root.join("index.html");
    // Runs that finish together each write their own temporary file; the renames are
    // atomic, so readers see one whole index or the other.
    crate::atomic::write_atomic(&out, html.as_bytes())
        .with_context(|| format!("cannot write {}", out.display()))
}

fn read_row(dir: &Path) -> Option<Row> {
    if !dir.join("test.json").is_file() && !dir.join("results.json").is_file() {
        return None;
    }
    let test = read_json(&dir.join("test.json"));
    let results = checkers::read_results(&dir.join("results.json")).ok();
    let name = dir.file_name()?.to_string_lossy().into_owned();
    let test = test.unwrap_or(Json::Null);
    // The run command nests the configuration under `spec`; other writers may not.
    let field = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| {
                test.get(*k)
                    .or_else(|| test.get("spec").and_then(|s| s.get(*k)))
                    .filter(|v| !v.is_null())
            })
            .map(scalar_text)
            .unwrap_or_default()
    };
    let (verdict, violations, observations) = match &results {
        Some(r) => (
            Some(r.valid),
            r.of_severity(Severity::Violation).count(),
            r.of_severity(Severity::Observation).count(),
        ),
        None => (None, 0, 0),
    };
    // Runs name themselves by their compact start time; test.json has it in RFC 3339.
    let stated = field(&["start_time", "started_at", "start", "time"]);
    let prefix = name.split('-').next().unwrap_or("");
    let when = utc::parse(&stated).or_else(|| utc::parse(prefix));
    let time = match when {
        Some(t) => utc::rfc3339_of(t),
        None if !stated.is_empty() => stated,
        None => prefix.to_string(),
    };
    let files = [
        "timeline.html",
        "results.json",
        "history.jsonl",
        "test.json",
        "nodes/",
    ]
    .into_iter()
    .filter(|f| match f.strip_suffix('/') {
        Some(sub) => dir.join(sub).is_dir(),
        None => dir.join(f).is_file(),
    })
    .collect();
    Some(Row {
        when,
        time,
        system: field(&["system"]),
        nemesis: field(&["nemesis"]),
        seed: field(&["seed"]),
        verdict,
        violations,
        observations,
        files,
        name,
    })
}

fn read_json(path: &Path) -> Option<Json> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// A field's text: strings as they are, a nemesis given as an object by its `name` or
/// `faults`, anything else as compact JSON.
fn scalar_text(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        Json::Object(o) => o
            .get("name")
            .or_else(|| o.get("faults"))
            .map(scalar_text)
            .unwrap_or_else(|| v.to_string()),
        Json::Array(a) => a.iter().map(scalar_text).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

fn render(rows: &[Row]) -> String {
    let mut body = String::new();
    for r in rows {
        let (class, word) = match r.verdict {
            Some(Validity::Valid) => ("valid", "valid"),
            Some(Validity::Invalid) => ("invalid", "invalid"),
            Some(Validity::Unknown) => ("unknown", "unknown"),
            None => ("missing", "no results"),
        };
        let links: Vec<String> = r
            .files
            .iter()
            .map(|f| {
                let href = match f.strip_suffix('/') {
                    Some(dir) => text::href(&[&r.name, dir, ""]),
                    None => text::href(&[&r.name, f]),
                };
                format!("<a href=\"{href}\">{f}</a>")
            })
            .collect();
        let _ = writeln!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td class=\"{class}\">{word}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            text::html(&r.time),
            text::html(&r.name),
            text::html(&r.system),
            text::html(&r.nemesis),
            text::html(&r.seed),
            r.violations,
            r.observations,
            links.join(" ")
        );
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>splitbrain results</title>\n\
         <style>{STYLE}</style></head><body>\n<h1>splitbrain results</h1>\n<p>{} runs</p>\n\
         <table><thead><tr><th>time</th><th>run</th><th>system</th><th>nemesis</th><th>seed</th>\
         <th>verdict</th><th>violations</th><th>observations</th><th>files</th></tr></thead>\n\
         <tbody>\n{body}</tbody></table>\n</body></html>\n",
        rows.len()
    )
}

const STYLE: &str = "body{font:14px system-ui,sans-serif;margin:24px;color:#222}\
table{border-collapse:collapse}th,td{padding:4px 10px;border-bottom:1px solid #ddd;text-align:left}\
th{background:#f3f3f3}td.n{text-align:right}.valid{background:#c8efc8}.invalid{background:#f5b8b8;font-weight:bold}\
.unknown{background:#f7e3a1}.missing{color:#888}a{margin-right:8px}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_names_cannot_become_script_links() {
        let root = tempfile::tempdir().unwrap();
        let names = [
            "javascript:alert(1)",
            "javascript:document.title='x';0",
            "data:text,x",
            "//evil.example",
            "a\"onmouseover=\"alert(1)",
        ];
        for name in names.iter().filter(|n| !n.contains('/')) {
            let d = root.path().join(name);
            std::fs::create_dir(&d).unwrap();
            std::fs::write(d.join("test.json"), r#"{"system":"raftd"}"#).unwrap();
        }
        write_index(root.path()).unwrap();
        let html = std::fs::read_to_string(root.path().join("index.html")).unwrap();
        let links = text::hrefs(&html);
        assert_eq!(links.len(), 4, "{html}");
        for link in &links {
            assert!(link.starts_with("./"), "{link}");
            assert!(!link[2..].contains([':', '"', '\'', '<']), "{link}");
        }
        assert!(links.contains(&"./javascript%3Aalert%281%29/test.json".to_string()));
    }

    #[test]
    fn the_index_is_not_written_through_a_planted_temporary_link() {
        let root = tempfile::tempdir().unwrap();
        let victim = root.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        let planted = root
            .path()
            .join(format!(".index.html.{}.tmp", std::process::id()));
        std::os::unix::fs::symlink(&victim, planted).unwrap();
        write_index(root.path()).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        let html = std::fs::read_to_string(root.path().join("index.html")).unwrap();
        assert!(html.contains("<p>0 runs</p>"), "{html}");
    }

    #[test]
    fn runs_sort_by_time_whether_test_json_or_the_name_gives_it() {
        let root = tempfile::tempdir().unwrap();
        let run = |name: &str, test: &str| {
            let d = root.path().join(name);
            std::fs::create_dir(&d).unwrap();
            std::fs::write(d.join("test.json"), test).unwrap();
        };
        run("20260101T000000Z-zk-kill-1", "{}");
        run("b", r#"{"started_at":"2026-01-02T00:00:00Z"}"#);
        run("20260103T000000Z-etcd-kill-1", "{}");
        run("undated", "{}");
        write_index(root.path()).unwrap();
        let html = std::fs::read_to_string(root.path().join("index.html")).unwrap();
        let at = |s: &str| {
            html.find(&format!("<td>{s}</td>"))
                .unwrap_or_else(|| panic!("{s}: {html}"))
        };
        assert!(at("20260103T000000Z-etcd-kill-1") < at("b"), "{html}");
        assert!(at("b") < at("20260101T000000Z-zk-kill-1"), "{html}");
        assert!(at("20260101T000000Z-zk-kill-1") < at("undated"), "{html}");
        assert!(
            html.contains("<td>2026-01-03T00:00:00Z</td><td>20260103T000000Z-etcd-kill-1</td>"),
            "{html}"
        );
    }

    #[test]
    fn lists_runs_newest_first_and_skips_other_directories() {
        let root = tempfile::tempdir().unwrap();
        let run = |name: &str, test: &str, results: Option<&str>| {
            let d = root.path().join(name);
            std::fs::create_dir(&d).unwrap();
            std::fs::write(d.join("test.json"), test).unwrap();
            if let Some(r) = results {
                std::fs::write(d.join("results.json"), r).unwrap();
                std::fs::create_dir(d.join("nodes")).unwrap();
            }
        };
        run(
            "20260101T000000Z-raftd-partition-1",
            r#"{"system":"raftd","nemesis":"partition","seed":1}"#,
            Some(
                r#"{"valid":false,"anomalies":[
                    {"kind":"lost-write","checker":"lost-writes","severity":"violation","ops":[1],"message":"m"},
                    {"kind":"leaderless-window","checker":"availability","severity":"observation","ops":[2],"message":"m"}]}"#,
            ),
        );
        run(
            "20260102T000000Z-etcd-kill-2",
            r#"{"system":"etcd","seed":2}"#,
            Some(r#"{"valid":true}"#),
        );
        run("20260103T000000Z-zk-<b>-3", "not json", None);
        std::fs::create_dir(root.path().join("other")).unwrap();
        write_index(root.path()).unwrap();
        let html = std::fs::read_to_string(root.path().join("index.html")).unwrap();
        assert!(html.contains("<p>3 runs</p>"), "{html}");
        let etcd = html.find("etcd-kill-2").unwrap();
        let raftd = html.find("raftd-partition-1").unwrap();
        assert!(etcd < raftd, "newest first");
        assert!(html.contains(
            "<td class=\"invalid\">invalid</td><td class=\"n\">1</td><td class=\"n\">1</td>"
        ));
        assert!(html.contains("zk-&lt;b&gt;-3") && html.contains("zk-%3Cb%3E-3/test.json"));
        assert!(!html.contains("other"));
        assert!(html.contains("etcd-kill-2/nodes/\">nodes/</a>"), "{html}");
        assert!(!html.contains("zk-%3Cb%3E-3/nodes/"));
    }
}
