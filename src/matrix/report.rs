//! Matrix reports: failing-cell tables, JSON, JUnit XML, and full grids (terminal table,
//! markdown, CSV, self-contained HTML).

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde::Serialize;

use super::{Cell, Matrix, failures};

/// Rules no cell exercised, and rules that matched in some cell but whose removal changes
/// none (shadowed by others, within this matrix).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Coverage {
    /// Rules that matched in no cell.
    pub unexercised: Vec<String>,
    /// Rules that matched in some cell but whose removal would change no decision of the
    /// matrix (a rule no cell exercised is listed in `unexercised` only).
    pub no_effect: Vec<String>,
}

/// The result of checking one matrix.
#[derive(Debug, Clone, Serialize)]
pub struct MatrixResult {
    /// Matrix name.
    pub name: String,
    /// File it came from.
    pub file: String,
    /// Number of cells.
    pub cells: usize,
    /// Number of checked cells (with an expectation).
    pub checked: usize,
    /// Failing cells.
    pub failures: Vec<Cell>,
    /// Coverage of the policy's rules.
    pub coverage: Coverage,
    /// Every cell (for rendering; not in JSON).
    #[serde(skip)]
    pub all: Vec<Cell>,
}

impl MatrixResult {
    /// Builds a result from evaluated cells.
    pub fn new(m: &Matrix, file: &str, cells: Vec<Cell>, coverage: Coverage) -> Self {
        Self {
            name: m.name.clone(),
            file: file.to_owned(),
            cells: cells.len(),
            checked: cells.iter().filter(|c| c.expected.is_some()).count(),
            failures: failures(&cells).cloned().collect(),
            coverage,
            all: cells,
        }
    }
}

/// Rules that matched in no cell, out of `rules` (ids or lines).
pub fn unexercised(rules: &[String], cells: &[Cell]) -> Vec<String> {
    let hit: BTreeSet<&str> = cells
        .iter()
        .flat_map(|c| c.matched.iter().map(String::as_str))
        .collect();
    rules
        .iter()
        .filter(|r| !hit.contains(r.as_str()))
        .cloned()
        .collect()
}

fn word(b: bool) -> &'static str {
    if b { "allow" } else { "deny" }
}

/// Failing cells as a table whose columns are as wide as their longest value, so long
/// subjects and objects never shift the columns after them. "decided by" comes last.
fn failure_table(cells: &[Cell]) -> String {
    let rows: Vec<[String; 7]> = cells
        .iter()
        .map(|c| {
            [
                c.subject.clone(),
                c.domain.clone().unwrap_or_else(|| "-".to_owned()),
                c.object.clone(),
                c.action.clone(),
                c.expected.map_or("-", word).to_owned(),
                word(c.actual).to_owned(),
                c.reason.clone(),
            ]
        })
        .collect();
    let header = [
        "subject",
        "domain",
        "object",
        "action",
        "expected",
        "actual",
        "decided by",
    ]
    .map(str::to_owned);
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in &rows {
        for (w, v) in widths.iter_mut().zip(row) {
            *w = (*w).max(v.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        out.push(' ');
        for (i, (v, w)) in row.iter().zip(widths).enumerate() {
            if i + 1 == row.len() {
                let _ = write!(out, " {v}");
            } else {
                let pad = w - v.chars().count();
                let _ = write!(out, " {v}{}", " ".repeat(pad));
            }
        }
        out.push('\n');
    }
    out
}

/// The human report: a table of failing cells per matrix, coverage, and a summary line.
pub fn text(results: &[MatrixResult]) -> String {
    let mut out = String::new();
    for r in results {
        let status = if r.failures.is_empty() {
            "ok"
        } else {
            "FAILED"
        };
        let _ = writeln!(
            out,
            "{status:6} {} ({}): {} cells, {} checked, {} failed",
            r.name,
            r.file,
            r.cells,
            r.checked,
            r.failures.len()
        );
        if !r.failures.is_empty() {
            out.push_str(&failure_table(&r.failures));
        }
        if !r.coverage.unexercised.is_empty() {
            let _ = writeln!(
                out,
                "  rules no cell exercised: {}",
                r.coverage.unexercised.join("; ")
            );
        }
        if !r.coverage.no_effect.is_empty() {
            let _ = writeln!(
                out,
                "  rules that matched but change no decision (shadowed): {}",
                r.coverage.no_effect.join("; ")
            );
        }
    }
    let cells: usize = results.iter().map(|r| r.cells).sum();
    let failed: usize = results.iter().map(|r| r.failures.len()).sum();
    let _ = writeln!(
        out,
        "{} matrices, {cells} cells, {failed} failed",
        results.len()
    );
    out
}

/// Machine-readable report.
pub fn json(results: &[MatrixResult]) -> String {
    let failed: usize = results.iter().map(|r| r.failures.len()).sum();
    serde_json::json!({ "passed": failed == 0, "failed_cells": failed, "matrices": results })
        .to_string()
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

fn cell_name(c: &Cell) -> String {
    match &c.domain {
        Some(d) => format!("{} {} {} {}", c.subject, d, c.object, c.action),
        None => format!("{} {} {}", c.subject, c.object, c.action),
    }
}

/// JUnit XML: one test suite per matrix, one test case per checked cell.
pub fn junit(results: &[MatrixResult]) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
    for r in results {
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\">",
            xml_escape(&r.name),
            r.checked,
            r.failures.len()
        );
        for c in r.all.iter().filter(|c| c.expected.is_some()) {
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\"",
                xml_escape(&r.name),
                xml_escape(&cell_name(c))
            );
            if c.passed() {
                out.push_str("/>\n");
            } else {
                let msg = format!(
                    "expected {}, got {}; decided by {}",
                    c.expected.map_or("-", word),
                    word(c.actual),
                    c.reason
                );
                let _ = writeln!(
                    out,
                    ">\n      <failure message=\"{}\"/>\n    </testcase>",
                    xml_escape(&msg)
                );
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// Rows of the full grid: (row label, object, allowed actions, denied actions, failed?).
fn grid_rows(r: &MatrixResult) -> Vec<(String, String, Vec<&Cell>)> {
    let mut rows: Vec<(String, String, Vec<&Cell>)> = Vec::new();
    for c in &r.all {
        let label = match &c.domain {
            Some(d) => format!("{} @ {d}", c.subject),
            None => c.subject.clone(),
        };
        match rows.last_mut() {
            Some((l, o, cells)) if *l == label && *o == c.object => cells.push(c),
            _ => rows.push((label, c.object.clone(), vec![c])),
        }
    }
    rows
}

fn mark(c: &Cell) -> String {
    let base = if c.actual { "allow" } else { "deny" };
    if c.passed() {
        base.to_owned()
    } else {
        format!("{base}!")
    }
}

/// The full actual grid as a terminal table (`!` marks a failing cell).
pub fn table(r: &MatrixResult) -> String {
    let mut out = String::new();
    let actions = actions_of(r);
    let rows = grid_rows(r);
    let width = |header: &str, values: &mut dyn Iterator<Item = usize>| {
        values.fold(header.chars().count(), usize::max)
    };
    let ws = width(
        "subject",
        &mut rows.iter().map(|(l, _, _)| l.chars().count()),
    );
    let wo = width(
        "object",
        &mut rows.iter().map(|(_, o, _)| o.chars().count()),
    );
    // "allow!" is the widest mark
    let wa: Vec<usize> = actions.iter().map(|a| a.chars().count().max(6)).collect();
    let _ = write!(out, "{:<ws$} {:<wo$}", "subject", "object");
    for (a, w) in actions.iter().zip(&wa) {
        let _ = write!(out, " {a:<w$}");
    }
    out.push('\n');
    for (label, object, cells) in rows {
        // (format widths count characters, as the widths above do)
        let _ = write!(out, "{label:<ws$} {object:<wo$}");
        for (c, w) in cells.into_iter().zip(&wa) {
            let _ = write!(out, " {:<w$}", mark(c));
        }
        out.push('\n');
    }
    out
}

fn actions_of(r: &MatrixResult) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in &r.all {
        if !out.contains(&c.action) {
            out.push(c.action.clone());
        }
    }
    out
}

/// The full grid as a markdown table.
pub fn markdown(r: &MatrixResult) -> String {
    let actions = actions_of(r);
    let mut out = format!(
        "### {}\n\n| subject | object | {} |\n| --- | --- |{}\n",
        r.name,
        actions.join(" | "),
        " --- |".repeat(actions.len())
    );
    for (label, object, cells) in grid_rows(r) {
        let marks: Vec<String> = cells.iter().map(|c| mark(c)).collect();
        let _ = writeln!(out, "| {label} | {object} | {} |", marks.join(" | "));
    }
    out
}

/// Every cell as CSV.
pub fn csv(r: &MatrixResult) -> String {
    let mut out =
        String::from("matrix,subject,domain,object,action,expected,actual,passed,decided_by\n");
    let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    for c in &r.all {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{}",
            q(&r.name),
            q(&c.subject),
            q(c.domain.as_deref().unwrap_or("")),
            q(&c.object),
            q(&c.action),
            c.expected.map_or("", word),
            word(c.actual),
            c.passed(),
            q(&c.reason)
        );
    }
    out
}

/// A self-contained HTML page with a coloured allow/deny grid (no external assets).
pub fn html(r: &MatrixResult) -> String {
    let actions = actions_of(r);
    let e = |s: &str| xml_escape(s);
    let mut out = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{name}</title><style>\
         body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #ccc;padding:4px 8px;text-align:center}}\
         .allow{{background:#c8f0c8}}.deny{{background:#f5c6c6}}.fail{{outline:3px solid #000;font-weight:bold}}\
         </style></head><body><h1>{name}</h1><p>{summary}</p><table><tr><th>subject</th><th>object</th>",
        name = e(&r.name),
        summary = e(&format!(
            "{} cells, {} checked, {} failed. Bold outlined cells differ from the expectation.",
            r.cells,
            r.checked,
            r.failures.len()
        ))
    );
    for a in &actions {
        let _ = write!(out, "<th>{}</th>", e(a));
    }
    out.push_str("</tr>\n");
    for (label, object, cells) in grid_rows(r) {
        let _ = write!(out, "<tr><th>{}</th><th>{}</th>", e(&label), e(&object));
        for c in cells {
            let class = if c.actual { "allow" } else { "deny" };
            let fail = if c.passed() { "" } else { " fail" };
            let _ = write!(
                out,
                "<td class=\"{class}{fail}\" title=\"{}\">{}</td>",
                e(&c.reason),
                if c.actual { "allow" } else { "deny" }
            );
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table></body></html>\n");
    out
}

/// The actual grid as an expected matrix (snapshot testing): the same matrix with `expect`
/// replaced by what the policy answers now.
pub fn record(m: &Matrix, cells: &[Cell]) -> Result<String, serde_yaml_ng::Error> {
    let mut doc = serde_yaml_ng::Mapping::new();
    let s = |v: &str| serde_yaml_ng::Value::String(v.to_owned());
    doc.insert(s("name"), s(&m.name));
    if !m.description.is_empty() {
        doc.insert(s("description"), s(&m.description));
    }
    if m.invariant {
        doc.insert(s("invariant"), serde_yaml_ng::Value::Bool(true));
    }
    if let (Some(model), Some(policy)) = (&m.model, &m.policy) {
        doc.insert(s("model"), s(model));
        doc.insert(s("policy"), s(policy));
    }
    let text = std::fs::read_to_string(m.source.as_deref().unwrap_or(std::path::Path::new("")))
        .unwrap_or_default();
    let original: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&text).unwrap_or(serde_yaml_ng::Value::Null);
    for key in ["subjects", "domains", "objects", "actions", "routes"] {
        if let Some(v) = original.get(key) {
            doc.insert(s(key), v.clone());
        }
    }
    if m.domains.is_empty() {
        let mut expect = serde_yaml_ng::Mapping::new();
        for subject in m.subjects.keys() {
            let mut row = serde_yaml_ng::Mapping::new();
            for c in cells.iter().filter(|c| &c.subject == subject && c.actual) {
                let entry = row
                    .entry(s(&c.object))
                    .or_insert_with(|| serde_yaml_ng::Value::Sequence(Vec::new()));
                if let serde_yaml_ng::Value::Sequence(list) = entry {
                    list.push(s(&c.action));
                }
            }
            expect.insert(s(subject), serde_yaml_ng::Value::Mapping(row));
        }
        doc.insert(s("expect"), serde_yaml_ng::Value::Mapping(expect));
    } else {
        let cell = |c: &Cell| {
            serde_yaml_ng::Value::Sequence(vec![
                s(&c.subject),
                s(c.domain.as_deref().unwrap_or("")),
                s(&c.object),
                s(&c.action),
            ])
        };
        doc.insert(
            s("allow"),
            serde_yaml_ng::Value::Sequence(cells.iter().filter(|c| c.actual).map(cell).collect()),
        );
        doc.insert(
            s("deny"),
            serde_yaml_ng::Value::Sequence(cells.iter().filter(|c| !c.actual).map(cell).collect()),
        );
    }
    serde_yaml_ng::to_string(&serde_yaml_ng::Value::Mapping(doc))
}
