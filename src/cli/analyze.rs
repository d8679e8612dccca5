//! `warden analyze who-can | what-can | review | prove`: the policy analysis of
//! `/v1/admin/analysis` on a live database (its accounts, with their attributes and roles) or
//! on a policy file (the `user:<name>` members it names, without attributes). Prints JSON (or
//! CSV for a review, text for a proof); exit 0 done, 1 a property is violated, 2 refused.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::json;

use crate::policy::analysis::{self, Schema};
use crate::policy::decide::Policy;
use crate::policy::model::MODEL;
use crate::policy::rule::RuleSet;
use crate::policy::seed::parse_policy;
use crate::policy::{AttrValue, Object, Subject};
use crate::store::{self, Db};

use super::fail;

/// Where the analysed policy comes from.
#[derive(Debug, Clone, clap::Args)]
pub struct AnalysisSource {
    /// A Warden policy file (policy.csv) instead of a database.
    #[arg(long, conflicts_with = "database_url")]
    pub policy: Option<PathBuf>,
    /// The database whose live policy and accounts to analyse.
    #[arg(
        long,
        env = "WARDEN_DATABASE_URL",
        default_value = "sqlite://warden.db"
    )]
    pub database_url: String,
}

/// Output of `analyze review`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReviewFormat {
    /// One JSON document.
    Json,
    /// CSV with a header line.
    Csv,
}

/// The policy and its accounts (as subjects).
struct Loaded {
    policy: Policy,
    subjects: Vec<Subject>,
    /// Open only for a database (a review diff reads earlier versions from it).
    db: Option<(Db, std::sync::Arc<crate::engine::Snapshot>)>,
}

/// Warden's documents on a database; a policy file's object types carry whatever attributes
/// its application gives them, so no schema is assumed there.
fn schema_for(loaded: &Loaded) -> impl Fn(&str) -> Option<Schema> + Copy {
    let documents = loaded.db.is_some();
    move |object_type: &str| (documents && object_type == "document").then(store::documents::schema)
}

fn file_subjects(rules: &RuleSet) -> Vec<Subject> {
    let scopes: Vec<String> = {
        let mut s: Vec<String> = rules
            .rules
            .iter()
            .filter(|r| r.scope != "*")
            .map(|r| r.scope.clone())
            .collect();
        s.sort();
        s.dedup();
        s
    };
    let mut names: Vec<&str> = rules
        .assignments
        .iter()
        .map(|a| a.member.as_str())
        .chain(rules.rules.iter().map(|r| r.subject.as_str()))
        .filter_map(|m| m.strip_prefix("user:"))
        .collect();
    names.sort_unstable();
    names.dedup();
    names
        .into_iter()
        .map(|n| Subject {
            principal: format!("user:{n}"),
            name: n.to_owned(),
            scopes: scopes.clone(),
            attributes: BTreeMap::new(),
            tenant: crate::policy::rule::DEFAULT_TENANT.into(),
            roles: Vec::new(),
        })
        .collect()
}

async fn load(src: &AnalysisSource) -> Result<Loaded, String> {
    if let Some(path) = &src.policy {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let rules = parse_policy(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let subjects = file_subjects(&rules);
        let policy =
            Policy::from_rows(MODEL, rules.rules, &rules.assignments).map_err(|e| e.to_string())?;
        return Ok(Loaded {
            policy,
            subjects,
            db: None,
        });
    }
    let db = Db::connect(&src.database_url)
        .await
        .map_err(|e| format!("database: {e}"))?;
    let loaded = crate::engine::adapter::SqlAdapter::read(&db)
        .await
        .map_err(|e| format!("database: {e}"))?;
    let snap = crate::engine::Snapshot::compile(loaded).map_err(|e| e.to_string())?;
    let subjects = store::users::all_enabled(&db)
        .await
        .map_err(|e| format!("database: {e}"))?
        .iter()
        .map(|u| u.subject(u.scopes.clone()))
        .collect();
    Ok(Loaded {
        policy: snap.policy().clone(),
        subjects,
        db: Some((db, std::sync::Arc::new(snap))),
    })
}

fn print(v: &serde_json::Value) -> u8 {
    match serde_json::to_string_pretty(v) {
        Ok(s) => {
            println!("{s}");
            0
        }
        Err(e) => fail(e),
    }
}

/// `--attr name=value` as an attribute: an integer when it parses as one, `true`/`false`, else
/// a string.
fn parse_attr(s: &str) -> Result<(String, AttrValue), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}`: write --attr name=value"))?;
    let value = match v {
        "true" => AttrValue::Bool(true),
        "false" => AttrValue::Bool(false),
        _ => v
            .parse::<i32>()
            .map_or_else(|_| AttrValue::Str(v.to_owned()), AttrValue::Int),
    };
    Ok((k.to_owned(), value))
}

/// `warden analyze who-can`: every account allowed `action` on the object (a document by id
/// on a database, or an object type with `--attr`s), with the granting rules and role chains.
pub async fn who_can(
    src: &AnalysisSource,
    object_type: &str,
    object_id: Option<i64>,
    attrs: &[String],
    action: &str,
) -> u8 {
    let loaded = match load(src).await {
        Ok(l) => l,
        Err(e) => return fail(e),
    };
    let mut object = Object::route(object_type);
    for a in attrs {
        match parse_attr(a) {
            Ok((k, v)) => {
                object.attributes.insert(k, v);
            }
            Err(e) => return fail(e),
        }
    }
    if let Some(id) = object_id {
        let Some((db, _)) = &loaded.db else {
            return fail("--object-id needs a database (documents live there)");
        };
        match store::documents::find(db, id).await {
            Ok(Some(d)) => {
                object = crate::http::documents::object(&d.department, &d.owner, d.classification);
            }
            Ok(None) => return fail(format!("no document {id}")),
            Err(e) => return fail(e),
        }
    }
    let known = object_id.is_some() || !attrs.is_empty();
    let mut subjects = Vec::new();
    let mut complete = true;
    let grants = analysis::Grants::new(&loaded.policy, crate::policy::rule::DEFAULT_TENANT);
    // Who the allow rules can reach: the others are denied without deciding.
    let reach = grants.reach(&object, action);
    for s in &loaded.subjects {
        if known && !reach.may_allow(&s.principal) {
            continue;
        }
        let roles = loaded.policy.roles_of(&s.principal);
        if known {
            if let Some(rules) = grants.of(s, &object, action) {
                subjects.push(json!({"username": s.name, "rules": rules, "roles": roles}));
            }
            continue;
        }
        let plan = analysis::plan(
            &loaded.policy,
            s,
            action,
            object_type,
            schema_for(&loaded)(object_type).as_ref(),
        );
        match plan.kind {
            analysis::PlanKind::Never => {}
            analysis::PlanKind::Always => {
                subjects.push(json!({"username": s.name, "roles": roles}));
            }
            analysis::PlanKind::Conditional => {
                complete = false;
                subjects.push(json!({"username": s.name, "roles": roles, "condition": plan.text}));
            }
        }
    }
    print(&json!({"subjects": subjects, "complete": complete}))
}

/// `warden analyze what-can`: per object type or route pattern and action, what `subject`
/// (`user:<name>`) may do and on which objects.
pub async fn what_can(src: &AnalysisSource, subject: &str) -> u8 {
    let loaded = match load(src).await {
        Ok(l) => l,
        Err(e) => return fail(e),
    };
    let Some(s) = loaded.subjects.iter().find(|s| s.principal == subject) else {
        return fail(format!("no enabled account {subject}"));
    };
    let (capabilities, complete) = analysis::what_can(&loaded.policy, s, schema_for(&loaded));
    print(&json!({"subject": subject, "capabilities": capabilities, "complete": complete}))
}

/// `warden analyze review`: every account's permissions, or with `diff` who gained and who
/// lost what from one version to another (a database only).
pub async fn review(src: &AnalysisSource, diff: Option<(i64, i64)>, format: ReviewFormat) -> u8 {
    let loaded = match load(src).await {
        Ok(l) => l,
        Err(e) => return fail(e),
    };
    let Some((from, to)) = diff else {
        let rows = analysis::review(&loaded.policy, &loaded.subjects, schema_for(&loaded));
        return match format {
            ReviewFormat::Csv => {
                print!("{}", analysis::csv(&rows));
                0
            }
            ReviewFormat::Json => print(&json!({"rows": rows})),
        };
    };
    let Some((db, snap)) = &loaded.db else {
        return fail("--diff needs a database (versions live there)");
    };
    let mut policies = Vec::new();
    for v in [from, to] {
        match crate::engine::history::policy_at(db, snap, v).await {
            Ok(Some(p)) => policies.push(p),
            Ok(None) => return fail(format!("no policy version {v}")),
            Err(e) => return fail(e),
        }
    }
    let schema = schema_for(&loaded);
    let before = analysis::review(&policies[0], &loaded.subjects, schema);
    let after = analysis::review(&policies[1], &loaded.subjects, schema);
    let d = analysis::diff(&before, &after);
    match format {
        ReviewFormat::Csv => {
            print!("{}", analysis::diff_csv(&d));
            0
        }
        ReviewFormat::Json => {
            print(&json!({"from": from, "to": to, "gained": d.gained, "lost": d.lost}))
        }
    }
}

/// Output of `analyze prove`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProveFormat {
    /// One line per property (`holds` or `violated`), each violation with its counterexample.
    Text,
    /// One JSON document.
    Json,
}

/// The properties to prove, by matrix name: those of `files`, else the invariant matrices the
/// database stores (what every admin edit proves), else the shipped ones.
fn properties_to_prove(
    files: &[PathBuf],
    loaded: &Loaded,
) -> Result<Vec<(String, analysis::Property)>, String> {
    let matrices: Vec<crate::matrix::Matrix> = if !files.is_empty() {
        let mut out = Vec::new();
        for file in crate::matrix::collect_files(files).map_err(|e| e.to_string())? {
            out.push(crate::matrix::Matrix::from_file(&file).map_err(|e| e.to_string())?);
        }
        out
    } else if let Some((_, snap)) = &loaded.db {
        snap.matrices()
            .into_iter()
            .filter(|m| m.invariant)
            .collect()
    } else {
        crate::matrix::seed::SEED_FILES
            .iter()
            .map(|(file, text)| {
                crate::matrix::Matrix::from_yaml(text)
                    .map_err(|e| format!("policies/matrices/{file}: {e}"))
            })
            .collect::<Result<_, _>>()?
    };
    let properties: Vec<(String, analysis::Property)> = matrices
        .iter()
        .flat_map(|m| m.properties.iter().map(|p| (m.name.clone(), p.clone())))
        .collect();
    if properties.is_empty() {
        return Err("no properties to prove: the matrices have no `properties:`".into());
    }
    Ok(properties)
}

/// A counterexample for people: who, in which tenant, what, on which object, and why.
fn explain(cx: &analysis::Counterexample) -> String {
    let attrs = |m: &BTreeMap<String, AttrValue>| {
        serde_json::to_string(m).unwrap_or_else(|_| "?".to_owned())
    };
    let mut out = format!(
        "  {} {} {} {} in tenant {}\n  roles: {}",
        cx.principal,
        cx.verb(),
        cx.action,
        cx.object,
        cx.tenant,
        if cx.roles.is_empty() {
            "none".to_owned()
        } else {
            cx.roles.join(", ")
        },
    );
    if !cx.assigned_roles.is_empty() {
        out.push_str(&format!(" (assigned {})", cx.assigned_roles.join(", ")));
    }
    out.push_str(&format!(
        "\n  scopes: {}\n  subject attributes: {}\n  object attributes: {}",
        if cx.scopes.is_empty() {
            "none".to_owned()
        } else {
            cx.scopes.join(" ")
        },
        attrs(&cx.subject_attributes),
        attrs(&cx.object_attributes),
    ));
    if cx.rules.is_empty() {
        out.push_str("\n  rules: none applies");
    }
    for r in &cx.rules {
        out.push_str(&format!("\n  rule: {r}"));
    }
    out
}

/// `warden analyze prove`: proves each property of `matrices` (or the stored or shipped ones)
/// on the policy; exit 0 when all hold, 1 when one is violated, 2 when one cannot be proved.
pub async fn prove(src: &AnalysisSource, matrices: &[PathBuf], format: ProveFormat) -> u8 {
    let loaded = match load(src).await {
        Ok(l) => l,
        Err(e) => return fail(e),
    };
    let properties = match properties_to_prove(matrices, &loaded) {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    let mut results = Vec::new();
    for (matrix, property) in &properties {
        match analysis::prove(&loaded.policy, property) {
            Ok(cx) => results.push((matrix, property, cx)),
            Err(e) => return fail(format!("matrix `{matrix}`: {e}")),
        }
    }
    let violated = results.iter().any(|(_, _, cx)| cx.is_some());
    match format {
        ProveFormat::Text => {
            for (matrix, property, cx) in &results {
                match cx {
                    None => println!("holds     {matrix}/{}", property.name),
                    Some(cx) => println!("violated  {matrix}/{}\n{}", property.name, explain(cx)),
                }
            }
        }
        ProveFormat::Json => {
            let items: Vec<serde_json::Value> = results
                .iter()
                .map(|(matrix, property, cx)| {
                    json!({"matrix": matrix, "property": property.name, "holds": cx.is_none(),
                           "counterexample": cx})
                })
                .collect();
            let code = print(&json!({"holds": !violated, "properties": items}));
            if code != 0 {
                return code;
            }
        }
    }
    u8::from(violated)
}
