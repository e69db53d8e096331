//! Deployment checks for the compose stack (no Docker needed): `compose.yaml` is validated against
//! the compose-spec JSON Schema (`../shared/schemas/compose-spec.json`, draft-07, resolved
//! offline), and each invariant of the deployment is a checker over the parsed document with
//! its own negative case, so every test can fail:
//!
//! - images pinned (a tag with a version number, never `latest`), in compose and the Dockerfile;
//! - a healthcheck on every long-running service; `depends_on` always with a condition;
//! - no secrets inline (secret-looking variables only as `${VAR}` without a default);
//! - only Grafana (and the console) publish ports, on loopback by default; internal backend network;
//! - tickflow services built from the one Dockerfile; named volumes only; limits and restart policies;
//! - `.env.example` lists every `${VAR}`; Prometheus scrapes every service with TICKFLOW_METRICS_ADDR;
//! - the run configs (`deploy/tickflow/*.toml`) parse and carry the contract's keys.

use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

// ------------------------------------------------------------------------------------------
// loading

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(rel: &str) -> String {
    let p = repo().join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn yaml(text: &str) -> Value {
    serde_norway::from_str(text).unwrap_or_else(|e| panic!("not valid YAML: {e}"))
}

fn compose() -> Value {
    yaml(&read("compose.yaml"))
}

fn assert_clean(what: &str, problems: Vec<String>) {
    assert!(problems.is_empty(), "{what}:\n  {}", problems.join("\n  "));
}

fn assert_flags(problems: Vec<String>, needle: &str) {
    assert!(problems.iter().any(|p| p.contains(needle)), "expected a problem mentioning {needle:?}, got {problems:?}");
}

fn services(doc: &Value) -> Vec<(&str, &Map<String, Value>)> {
    let Some(s) = doc.get("services").and_then(Value::as_object) else { return vec![] };
    s.iter().map(|(k, v)| (k.as_str(), v.as_object().unwrap_or_else(|| panic!("service {k} is not a mapping")))).collect()
}

fn service<'a>(doc: &'a Value, name: &str) -> &'a Map<String, Value> {
    services(doc).into_iter().find(|(n, _)| *n == name).map(|(_, s)| s).unwrap_or_else(|| panic!("no service {name}"))
}

/// One-shot services (run to completion): `restart: "no"` or `on-failure[:N]`.
fn is_oneshot(svc: &Map<String, Value>) -> bool {
    matches!(svc.get("restart").and_then(Value::as_str), Some(r) if r == "no" || r.starts_with("on-failure"))
}

/// The environment as (key, value) pairs, from either the mapping or the `KEY=value` list form.
fn env(svc: &Map<String, Value>) -> Vec<(String, String)> {
    let scalar = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    match svc.get("environment") {
        Some(Value::Object(m)) => m.iter().map(|(k, v)| (k.clone(), scalar(v))).collect(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(|s| match s.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (s.to_string(), String::new()),
            })
            .collect(),
        _ => vec![],
    }
}

fn env_var(svc: &Map<String, Value>, key: &str) -> Option<String> {
    env(svc).into_iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        _ => vec![],
    }
}

// ------------------------------------------------------------------------------------------
// compose interpolation: ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?err}, ${NAME?err},
// ${NAME:+alt}, ${NAME+alt}; `$$` is a literal dollar.

#[derive(Debug, PartialEq)]
struct Interp {
    name: String,
    /// `:-`, `-`, `:?`, `?`, `:+`, `+`, or empty for a plain `${NAME}`.
    op: String,
    arg: String,
}

fn interpolations(s: &str) -> Vec<Interp> {
    let b = s.as_bytes();
    let mut out = vec![];
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'$' {
            i += 1;
            continue;
        }
        match b.get(i + 1) {
            Some(b'$') => i += 2,
            Some(b'{') => {
                // find the matching brace (defaults may nest another ${…})
                let (mut depth, mut j) = (1, i + 2);
                while j < b.len() && depth > 0 {
                    match b[j] {
                        b'{' => depth += 1,
                        b'}' => depth -= 1,
                        _ => {}
                    }
                    j += 1;
                }
                let body = &s[i + 2..j.saturating_sub(1).max(i + 2)];
                let end = body.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(body.len());
                let (name, rest) = body.split_at(end);
                let op_len = if rest.starts_with(':') { 2 } else { rest.len().min(1) };
                let (op, arg) = rest.split_at(op_len.min(rest.len()));
                out.push(Interp { name: name.to_string(), op: op.to_string(), arg: arg.to_string() });
                i = j;
            }
            Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {
                let end = s[i + 1..].find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).map_or(s.len(), |e| i + 1 + e);
                out.push(Interp { name: s[i + 1..end].to_string(), op: String::new(), arg: String::new() });
                i = end;
            }
            _ => i += 1,
        }
    }
    out
}

/// Every string in the document (keys excluded), for the interpolation scan.
fn all_strings<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s) => out.push(s),
        Value::Array(a) => a.iter().for_each(|x| all_strings(x, out)),
        Value::Object(m) => m.values().for_each(|x| all_strings(x, out)),
        _ => {}
    }
}

/// An interpolation that supplies a value of its own when the variable is unset.
fn has_default(i: &Interp) -> bool {
    matches!(i.op.as_str(), ":-" | "-" | ":+" | "+") && !i.arg.is_empty()
}

#[test]
fn interpolation_parser() {
    let v = interpolations("a=${A};b=${B:?set B};c=${C:-x};$$D ${E-} $F");
    let got: Vec<(&str, &str, &str)> = v.iter().map(|i| (i.name.as_str(), i.op.as_str(), i.arg.as_str())).collect();
    assert_eq!(got, [("A", "", ""), ("B", ":?", "set B"), ("C", ":-", "x"), ("E", "-", ""), ("F", "", "")]);
    assert!(has_default(&v[2]) && !has_default(&v[1]) && !has_default(&v[3]));
}

// ------------------------------------------------------------------------------------------
// schema

fn compose_schema() -> Value {
    let p = repo().join("../shared/schemas/compose-spec.json");
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| {
        panic!(
            "{}: {e}\nThe compose-spec JSON Schema is expected in ../shared/schemas/ beside the repository (it is there on CI); \
             fetch schema/compose-spec.json from github.com/compose-spec/compose-spec to run this test locally.",
            p.display()
        )
    });
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn check_schema(doc: &Value, schema: &Value) -> Vec<String> {
    // draft-07 ("$schema": "https://json-schema.org/draft-07/schema"); the meta-schema is bundled
    // with jsonschema, the compose schema has only local "#/definitions/…" references, and the
    // crate is built without `resolve-http`/`resolve-file`, so nothing is fetched.
    let v = jsonschema::draft7::options().build(schema).unwrap_or_else(|e| panic!("compose-spec schema does not compile: {e}"));
    v.iter_errors(doc).map(|e| format!("{}: {e}", e.instance_path())).collect()
}

#[test]
fn compose_schema_is_draft_07() {
    let s = compose_schema();
    let draft = s["$schema"].as_str().unwrap_or_default();
    assert!(draft.contains("draft-07"), "compose-spec.json declares {draft:?}; check_schema assumes draft-07");
}

#[test]
fn compose_validates_against_the_compose_spec() {
    let schema = compose_schema();
    assert_clean("compose.yaml against compose-spec.json", check_schema(&compose(), &schema));
    let bad = yaml("services:\n  a:\n    image: busybox:1.36.1\n    restart: 5\n    imagee: typo\n");
    let problems = check_schema(&bad, &schema);
    assert!(problems.iter().any(|p| p.contains("/services/a")), "{problems:?}");
}

// ------------------------------------------------------------------------------------------
// images pinned

/// `None` when the reference names an exact version (a tag with `major.minor`, or a digest).
fn unpinned(image: &str) -> Option<String> {
    if image.contains('$') {
        return Some(format!("{image}: the version must be written out, not interpolated"));
    }
    if image.contains("@sha256:") {
        return None;
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    let Some((_, tag)) = last.split_once(':') else { return Some(format!("{image}: no tag (means latest)")) };
    if tag == "latest" {
        return Some(format!("{image}: latest"));
    }
    let b = tag.as_bytes();
    let versioned = (1..b.len().saturating_sub(1)).any(|i| b[i] == b'.' && b[i - 1].is_ascii_digit() && b[i + 1].is_ascii_digit());
    (!versioned).then(|| format!("{image}: tag {tag:?} has no major.minor version (floating)"))
}

fn check_images_pinned(doc: &Value) -> Vec<String> {
    services(doc)
        .into_iter()
        .filter_map(|(name, s)| match s.get("image").and_then(Value::as_str) {
            Some(img) => unpinned(img).map(|p| format!("{name}: {p}")),
            None if s.contains_key("build") => Some(format!("{name}: built without an `image:` tag")),
            None => Some(format!("{name}: no image")),
        })
        .collect()
}

#[test]
fn images_are_pinned() {
    assert_clean("unpinned images", check_images_pinned(&compose()));
    let bad = yaml(
        "services:\n  a: {image: 'redis:latest'}\n  b: {image: redis}\n  c: {image: 'grafana/grafana:12'}\n  d: {image: 'x:${TAG:-1.0}'}\n  \
         e: {image: 'registry:5000/app'}\n  ok1: {image: 'registry:5000/app:1.2.3'}\n  ok2: {image: 'prom/prometheus:v3.13.2'}\n  \
         ok3: {image: 'x@sha256:0123'}\n",
    );
    let p = check_images_pinned(&bad);
    for n in ["a:", "b:", "c:", "d:", "e:"] {
        assert!(p.iter().any(|x| x.starts_with(n)), "{n} not flagged: {p:?}");
    }
    assert_eq!(p.len(), 5, "{p:?}");
}

// ------------------------------------------------------------------------------------------
// healthchecks, depends_on, restart, limits

fn check_healthchecks(doc: &Value) -> Vec<String> {
    services(doc)
        .into_iter()
        .filter(|(_, s)| !is_oneshot(s))
        .filter_map(|(name, s)| {
            let h = s.get("healthcheck")?;
            let test = strings(h.get("test"));
            let disabled = h.get("disable") == Some(&Value::Bool(true)) || test.first().is_some_and(|t| t == "NONE");
            (disabled || test.is_empty()).then(|| format!("{name}: healthcheck has no test"))
        })
        .chain(
            services(doc)
                .into_iter()
                .filter(|(_, s)| !is_oneshot(s) && !s.contains_key("healthcheck"))
                .map(|(name, _)| format!("{name}: long-running service without a healthcheck")),
        )
        .collect()
}

#[test]
fn long_running_services_have_healthchecks() {
    assert_clean("healthchecks", check_healthchecks(&compose()));
    let bad = yaml(
        "services:\n  db: {image: 'x:1.0', restart: unless-stopped}\n  off: {image: 'x:1.0', healthcheck: {disable: true}}\n  \
         init: {image: 'x:1.0', restart: 'no'}\n",
    );
    let p = check_healthchecks(&bad);
    assert_flags(p.clone(), "db:");
    assert_flags(p.clone(), "off:");
    assert!(!p.iter().any(|x| x.starts_with("init")), "{p:?}");
}

fn check_depends_on(doc: &Value) -> Vec<String> {
    let all = services(doc);
    let mut out = vec![];
    for (name, s) in &all {
        match s.get("depends_on") {
            None => {}
            Some(Value::Object(deps)) => {
                for (dep, spec) in deps {
                    let cond = spec.get("condition").and_then(Value::as_str);
                    let target = all.iter().find(|(n, _)| n == dep).map(|(_, t)| *t);
                    match (cond, target) {
                        (_, None) => out.push(format!("{name}: depends on unknown service {dep}")),
                        (None, _) => out.push(format!("{name}: depends_on {dep} without a condition")),
                        (Some("service_healthy"), Some(t)) if !t.contains_key("healthcheck") => {
                            out.push(format!("{name}: waits for {dep} to be healthy but {dep} has no healthcheck"))
                        }
                        (Some("service_completed_successfully"), Some(t)) if !is_oneshot(t) => {
                            out.push(format!("{name}: waits for {dep} to complete but {dep} is not a one-shot service"))
                        }
                        (Some("service_healthy" | "service_completed_successfully"), _) => {}
                        (Some(c), _) => {
                            out.push(format!("{name}: depends_on {dep} with condition {c} (use service_healthy or service_completed_successfully)"))
                        }
                    }
                }
            }
            Some(_) => out.push(format!("{name}: depends_on is a list (no conditions); use the long form")),
        }
    }
    out
}

#[test]
fn depends_on_always_has_a_condition() {
    assert_clean("depends_on", check_depends_on(&compose()));
    let bad = yaml(
        "services:\n  db: {image: 'x:1.0'}\n  init: {image: 'x:1.0', restart: unless-stopped}\n  \
         a: {image: 'x:1.0', depends_on: [db]}\n  b: {image: 'x:1.0', depends_on: {db: {restart: true}}}\n  \
         c: {image: 'x:1.0', depends_on: {db: {condition: service_healthy}}}\n  \
         d: {image: 'x:1.0', depends_on: {init: {condition: service_completed_successfully}}}\n  \
         e: {image: 'x:1.0', depends_on: {db: {condition: service_started}}}\n",
    );
    let p = check_depends_on(&bad);
    for n in ["a:", "b:", "c:", "d:", "e:"] {
        assert!(p.iter().any(|x| x.starts_with(n)), "{n} not flagged: {p:?}");
    }
}

fn check_restart_and_limits(doc: &Value) -> Vec<String> {
    let mut out = vec![];
    for (name, s) in services(doc) {
        match s.get("restart").and_then(Value::as_str) {
            None => out.push(format!("{name}: no restart policy")),
            Some("no") | Some("unless-stopped") | Some("always") => {}
            Some(r) if r.starts_with("on-failure") => {}
            Some(r) => out.push(format!("{name}: restart {r:?}")),
        }
        let limits = s.get("deploy").and_then(|d| d.get("resources")).and_then(|r| r.get("limits"));
        for key in ["cpus", "memory"] {
            if limits.and_then(|l| l.get(key)).is_none() {
                out.push(format!("{name}: no deploy.resources.limits.{key}"));
            }
        }
    }
    out
}

#[test]
fn every_service_has_a_restart_policy_and_resource_limits() {
    let doc = compose();
    assert_clean("restart policies / limits", check_restart_and_limits(&doc));
    // long-running services come back after a crash or a reboot; the init job runs once
    for (name, s) in services(&doc) {
        let r = s["restart"].as_str().unwrap();
        if name == "tickflow-init" || name == "tickflow-backtest" {
            assert_eq!(r, "no", "{name}");
        } else {
            assert_eq!(r, "unless-stopped", "{name}");
        }
    }
    let bad = yaml("services:\n  a: {image: 'x:1.0', deploy: {resources: {limits: {cpus: '1'}}}}\n  b: {image: 'x:1.0', restart: sometimes}\n");
    let p = check_restart_and_limits(&bad);
    assert_flags(p.clone(), "a: no restart policy");
    assert_flags(p.clone(), "a: no deploy.resources.limits.memory");
    assert_flags(p, "b: restart");
}

// ------------------------------------------------------------------------------------------
// secrets

fn secret_key(key: &str) -> bool {
    let k = key.to_ascii_uppercase();
    ["PASSWORD", "SECRET", "TOKEN", "KEY"].iter().any(|w| k.contains(w))
}

/// `${VAR}` / `${VAR:?err}` / `${VAR?err}` (or an empty default) and nothing else.
fn only_required_interpolation(v: &str) -> bool {
    let i = interpolations(v);
    i.len() == 1 && !has_default(&i[0]) && v.starts_with("${") && v.ends_with('}') && v.matches("${").count() == 1
}

fn check_no_inline_secrets(doc: &Value) -> Vec<String> {
    let mut out = vec![];
    for (name, s) in services(doc) {
        for (k, v) in env(s) {
            if secret_key(&k) && !only_required_interpolation(&v) {
                out.push(format!("{name}: {k} must be exactly ${{VAR}} or ${{VAR:?…}} from .env, not {v:?}"));
            }
            // credentials embedded in a value, e.g. QDB_CLIENT_CONF=…;password=…;
            let lower = v.to_ascii_lowercase();
            for (pos, _) in lower.match_indices("password=") {
                let rest = &v[pos + "password=".len()..];
                let value = rest.split(';').next().unwrap_or("");
                if !only_required_interpolation(value) {
                    out.push(format!("{name}: {k} embeds a password that is not a ${{VAR:?…}} interpolation"));
                }
            }
        }
    }
    out
}

#[test]
fn no_secrets_inline() {
    let doc = compose();
    assert_clean("inline secrets", check_no_inline_secrets(&doc));
    // and the credentials the contract names are all there, from .env
    for (svc, key) in [
        ("questdb", "QDB_PG_USER"),
        ("questdb", "QDB_PG_PASSWORD"),
        ("questdb", "QDB_HTTP_USER"),
        ("questdb", "QDB_HTTP_PASSWORD"),
        ("grafana", "GF_SECURITY_ADMIN_USER"),
        ("grafana", "GF_SECURITY_ADMIN_PASSWORD"),
        ("questdb", "QDB_PG_READONLY_USER"),
        ("questdb", "QDB_PG_READONLY_PASSWORD"),
        ("grafana", "QDB_PG_READONLY_USER"),
        ("grafana", "QDB_PG_READONLY_PASSWORD"),
    ] {
        let v = env_var(service(&doc, svc), key).unwrap_or_else(|| panic!("{svc}: no {key}"));
        assert!(only_required_interpolation(&v), "{svc}: {key}={v}");
    }
    let bad = yaml(
        "services:\n  a:\n    image: 'x:1.0'\n    environment:\n      DB_PASSWORD: hunter2\n      API_TOKEN: ${TOKEN:-abc}\n      \
         GF_SECURITY_SECRET_KEY: ${K:?required}\n      CONF: 'http::addr=h:9000;username=u;password=p;'\n  \
         b:\n    image: 'x:1.0'\n    environment: ['AWS_SECRET_ACCESS_KEY=xyz', 'OK_PASSWORD=${P}']\n",
    );
    let p = check_no_inline_secrets(&bad);
    assert_flags(p.clone(), "a: DB_PASSWORD");
    assert_flags(p.clone(), "a: API_TOKEN");
    assert_flags(p.clone(), "a: CONF embeds");
    assert_flags(p.clone(), "b: AWS_SECRET_ACCESS_KEY");
    assert_eq!(p.len(), 4, "{p:?}");
}

// ------------------------------------------------------------------------------------------
// ports and networks

fn check_published_ports(doc: &Value, allowed: &[&str]) -> Vec<String> {
    let mut out = vec![];
    for (name, s) in services(doc) {
        if s.get("network_mode").and_then(Value::as_str) == Some("host") {
            out.push(format!("{name}: network_mode host bypasses the port rules"));
        }
        let ports = s.get("ports").and_then(Value::as_array).cloned().unwrap_or_default();
        if ports.is_empty() {
            continue;
        }
        if !allowed.contains(&name) {
            out.push(format!("{name}: publishes ports {ports:?}; only {allowed:?} may"));
            continue;
        }
        for p in ports {
            // short form must start with a host IP that defaults to loopback
            let host_ip = match &p {
                Value::String(s) => {
                    let i = interpolations(s);
                    match i.first() {
                        Some(first) if s.starts_with("${") => Some(first.arg.clone()),
                        _ => s.split(':').next().filter(|_| s.matches(':').count() >= 2).map(str::to_string),
                    }
                }
                Value::Object(m) => m.get("host_ip").and_then(Value::as_str).map(|h| interpolations(h).first().map_or(h.to_string(), |i| i.arg.clone())),
                _ => None,
            };
            if host_ip.as_deref() != Some("127.0.0.1") {
                out.push(format!("{name}: port {p} is not bound to 127.0.0.1 by default"));
            }
        }
    }
    out
}

#[test]
fn only_grafana_and_the_console_publish_ports() {
    assert_clean("published ports", check_published_ports(&compose(), &["grafana", "console"]));
    let bad = yaml(
        "services:\n  redpanda: {image: 'x:1.0', ports: ['19092:19092']}\n  grafana: {image: 'x:1.0', ports: ['3000:3000']}\n  \
         console: {image: 'x:1.0', ports: ['${B:-127.0.0.1}:${P:-8080}:8080']}\n  h: {image: 'x:1.0', network_mode: host}\n",
    );
    let p = check_published_ports(&bad, &["grafana", "console"]);
    assert_flags(p.clone(), "redpanda: publishes");
    assert_flags(p.clone(), "grafana: port");
    assert_flags(p.clone(), "h: network_mode");
    assert!(!p.iter().any(|x| x.starts_with("console")), "{p:?}");
}

fn check_networks(doc: &Value, may_leave_backend: &[&str]) -> Vec<String> {
    let nets = doc.get("networks").and_then(Value::as_object).cloned().unwrap_or_default();
    let internal = |n: &str| nets.get(n).and_then(|v| v.get("internal")).and_then(Value::as_bool) == Some(true);
    let mut out = vec![];
    if !nets.keys().any(|n| internal(n)) {
        out.push("no network with internal: true".to_string());
    }
    for (name, s) in services(doc) {
        let joined: Vec<String> = match s.get("networks") {
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_string).collect(),
            Some(Value::Object(m)) => m.keys().cloned().collect(),
            _ => {
                out.push(format!("{name}: no explicit networks (would join the default network)"));
                continue;
            }
        };
        for n in &joined {
            if !nets.contains_key(n) {
                out.push(format!("{name}: unknown network {n}"));
            } else if !internal(n) && !may_leave_backend.contains(&name) {
                out.push(format!("{name}: on the non-internal network {n}"));
            }
        }
    }
    out
}

#[test]
fn backend_network_is_internal() {
    let doc = compose();
    assert_clean("networks", check_networks(&doc, &["grafana", "console", "tickflow-ingest"]));
    assert_eq!(doc["networks"]["backend"]["internal"], Value::Bool(true));
    for svc in ["redpanda", "questdb", "prometheus"] {
        assert_eq!(strings(service(&doc, svc).get("networks")), ["backend"], "{svc}");
    }
    let bad = yaml(
        "services:\n  db: {image: 'x:1.0', networks: [front]}\n  b: {image: 'x:1.0'}\n  c: {image: 'x:1.0', networks: [nope]}\n\
         networks:\n  front: {}\n",
    );
    let p = check_networks(&bad, &[]);
    assert_flags(p.clone(), "no network with internal");
    assert_flags(p.clone(), "db: on the non-internal network front");
    assert_flags(p.clone(), "b: no explicit networks");
    assert_flags(p, "c: unknown network nope");
}

// ------------------------------------------------------------------------------------------
// tickflow build, volumes

fn check_tickflow_build(doc: &Value) -> Vec<String> {
    let mut out = vec![];
    let mut images = BTreeSet::new();
    for (name, s) in services(doc).into_iter().filter(|(n, _)| n.starts_with("tickflow")) {
        let (context, dockerfile) = match s.get("build") {
            Some(Value::String(c)) => (c.clone(), "Dockerfile".to_string()),
            Some(Value::Object(b)) => (
                b.get("context").and_then(Value::as_str).unwrap_or(".").to_string(),
                b.get("dockerfile").and_then(Value::as_str).unwrap_or("Dockerfile").to_string(),
            ),
            _ => {
                out.push(format!("{name}: not built from the Dockerfile (no build:)"));
                continue;
            }
        };
        if context != "." || dockerfile != "Dockerfile" {
            out.push(format!("{name}: builds {context}/{dockerfile}, expected ./Dockerfile"));
        }
        images.insert(s.get("image").and_then(Value::as_str).unwrap_or_default().to_string());
    }
    if images.len() > 1 {
        out.push(format!("tickflow services tag different images {images:?} (one image for all)"));
    }
    out
}

#[test]
fn tickflow_services_build_from_the_dockerfile() {
    let doc = compose();
    assert_clean("tickflow build", check_tickflow_build(&doc));
    assert!(repo().join("Dockerfile").is_file());
    let bad = yaml(
        "services:\n  tickflow-a: {image: 'tickflow:1.0'}\n  tickflow-b: {image: 'tickflow:1.0', build: {context: ., dockerfile: Other}}\n  \
         tickflow-c: {image: 'tickflow:2.0', build: .}\n",
    );
    let p = check_tickflow_build(&bad);
    assert_flags(p.clone(), "tickflow-a: not built");
    assert_flags(p.clone(), "tickflow-b: builds ./Other");
    assert_flags(p, "different images");
}

/// (source, target) of each volume entry; `source` is None for an anonymous volume.
fn mounts(s: &Map<String, Value>) -> Vec<(Option<String>, String)> {
    s.get("volumes")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|v| match v {
                    Value::String(x) => {
                        let parts: Vec<&str> = x.split(':').collect();
                        if parts.len() == 1 {
                            (None, parts[0].to_string())
                        } else {
                            (Some(parts[0].to_string()), parts[1].to_string())
                        }
                    }
                    Value::Object(m) => {
                        (m.get("source").and_then(Value::as_str).map(str::to_string), m.get("target").and_then(Value::as_str).unwrap_or_default().to_string())
                    }
                    other => (None, other.to_string()),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn is_bind(source: &str) -> bool {
    source.starts_with('.') || source.starts_with('/') || source.starts_with('~') || source.starts_with('$')
}

fn check_volumes(doc: &Value, root: &Path) -> Vec<String> {
    let declared: BTreeSet<String> = doc.get("volumes").and_then(Value::as_object).map(|m| m.keys().cloned().collect()).unwrap_or_default();
    let mut used = BTreeSet::new();
    let mut out = vec![];
    for (name, s) in services(doc) {
        for (source, target) in mounts(s) {
            match source {
                None => out.push(format!("{name}: anonymous volume at {target} (name it)")),
                Some(src) if is_bind(&src) => {
                    if !src.starts_with("./") {
                        out.push(format!("{name}: bind mount {src} is not a path inside the repository"));
                    } else if !root.join(&src[2..]).exists() {
                        out.push(format!("{name}: bind mount {src} does not exist"));
                    }
                }
                Some(src) => {
                    if !declared.contains(&src) {
                        out.push(format!("{name}: volume {src} is not declared under top-level volumes"));
                    }
                    used.insert(src);
                }
            }
        }
    }
    out.extend(declared.difference(&used).map(|v| format!("volume {v} is declared but unused")));
    out
}

#[test]
fn volumes_are_named() {
    let doc = compose();
    assert_clean("volumes", check_volumes(&doc, &repo()));
    // the stateful services keep their data in named volumes
    for (svc, target) in [
        ("redpanda", "/var/lib/redpanda/data"),
        ("questdb", "/var/lib/questdb"),
        ("prometheus", "/prometheus"),
        ("grafana", "/var/lib/grafana"),
        ("tickflow-process", "/var/lib/tickflow"),
    ] {
        let m = mounts(service(&doc, svc));
        assert!(m.iter().any(|(s, t)| t == target && s.as_deref().is_some_and(|s| !is_bind(s))), "{svc}: no named volume at {target}: {m:?}");
    }
    let bad = yaml(
        "services:\n  a:\n    image: 'x:1.0'\n    volumes: ['/data', 'undeclared:/x', './no/such/dir:/y', '/etc/passwd:/z:ro']\n\
         volumes:\n  unused: {}\n",
    );
    let p = check_volumes(&bad, &repo());
    assert_flags(p.clone(), "anonymous volume at /data");
    assert_flags(p.clone(), "volume undeclared is not declared");
    assert_flags(p.clone(), "./no/such/dir does not exist");
    assert_flags(p.clone(), "/etc/passwd is not a path inside");
    assert_flags(p, "volume unused is declared but unused");
}

// ------------------------------------------------------------------------------------------
// .env.example

fn env_example_keys(text: &str) -> BTreeSet<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, _)| k.trim().trim_start_matches("export ").to_string())
        .collect()
}

fn check_env_example(doc: &Value, env_example: &str) -> Vec<String> {
    let mut strs = vec![];
    all_strings(doc, &mut strs);
    let referenced: BTreeSet<String> = strs.iter().flat_map(|s| interpolations(s)).map(|i| i.name).collect();
    let listed = env_example_keys(env_example);
    let mut out: Vec<String> = referenced.difference(&listed).map(|v| format!("${{{v}}} is used in compose.yaml but missing from .env.example")).collect();
    out.extend(listed.difference(&referenced).map(|v| format!("{v} is in .env.example but compose.yaml never uses it")));
    out
}

#[test]
fn env_example_lists_every_variable() {
    let doc = compose();
    let example = read(".env.example");
    assert_clean(".env.example", check_env_example(&doc, &example));
    // secrets ship empty: `${VAR:?…}` then refuses to start until they are set
    for line in example.lines().filter(|l| !l.trim_start().starts_with('#')) {
        if let Some((k, v)) = line.split_once('=') {
            if secret_key(k) {
                assert!(v.trim().is_empty(), ".env.example: {k} must ship empty, not {v:?}");
            }
        }
    }
    let bad = yaml("services:\n  a:\n    image: 'x:1.0'\n    environment: {A: '${NEEDED:?x}', B: '$$NOT_A_VAR', C: '${OPT:-1}'}\n");
    let p = check_env_example(&bad, "# comment\nNEEDED=\nSTALE=1\n");
    assert_flags(p.clone(), "${OPT} is used");
    assert_flags(p.clone(), "STALE is in .env.example");
    assert_eq!(p.len(), 2, "{p:?}");
}

// ------------------------------------------------------------------------------------------
// prometheus

fn scrape_targets(prom: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for job in prom.get("scrape_configs").and_then(Value::as_array).into_iter().flatten() {
        for sc in job.get("static_configs").and_then(Value::as_array).into_iter().flatten() {
            out.extend(strings(sc.get("targets")));
        }
    }
    out
}

fn check_prometheus_targets(doc: &Value, prom: &Value) -> Vec<String> {
    let targets = scrape_targets(prom);
    let mut out = vec![];
    for (name, s) in services(doc) {
        if let Some(addr) = env_var(s, "TICKFLOW_METRICS_ADDR") {
            let port = addr.rsplit(':').next().unwrap_or_default();
            let want = format!("{name}:{port}");
            if !targets.contains(&want) {
                out.push(format!("{name} serves metrics on {addr} but Prometheus does not scrape {want}"));
            }
        }
    }
    out
}

#[test]
fn prometheus_scrapes_every_metrics_service() {
    let doc = compose();
    let prom = yaml(&read("deploy/prometheus/prometheus.yml"));
    assert_clean("prometheus targets", check_prometheus_targets(&doc, &prom));
    // the contract: ingest, processing, paper trading and backtest on 9464 (and Prometheus itself)
    let t = scrape_targets(&prom);
    for want in ["tickflow-ingest:9464", "tickflow-process:9464", "tickflow-paper:9464", "tickflow-backtest:9464", "localhost:9090"] {
        assert!(t.contains(want), "{want} not in {t:?}");
    }
    for svc in ["tickflow-ingest", "tickflow-process", "tickflow-paper", "tickflow-backtest"] {
        assert_eq!(env_var(service(&doc, svc), "TICKFLOW_METRICS_ADDR").as_deref(), Some("0.0.0.0:9464"), "{svc}");
    }
    // the mounted file is the one checked here
    let mounted = mounts(service(&doc, "prometheus"));
    assert!(mounted.contains(&(Some("./deploy/prometheus/prometheus.yml".into()), "/etc/prometheus/prometheus.yml".into())), "{mounted:?}");
    let bad_doc = yaml("services:\n  tickflow-x:\n    image: 'x:1.0'\n    environment: {TICKFLOW_METRICS_ADDR: '0.0.0.0:9464'}\n");
    let p = check_prometheus_targets(&bad_doc, &yaml("scrape_configs:\n  - job_name: other\n    static_configs: [{targets: ['other:9464']}]\n"));
    assert_flags(p, "tickflow-x serves metrics");
}

// ------------------------------------------------------------------------------------------
// tickflow run configs

/// Host path of `path` inside a service, through its bind mounts (`./a:/b` maps /b/x to ./a/x).
fn host_path(s: &Map<String, Value>, path: &str) -> Option<String> {
    mounts(s).into_iter().find_map(|(src, target)| {
        let src = src.filter(|x| x.starts_with("./"))?;
        let rest = path.strip_prefix(target.trim_end_matches('/'))?.strip_prefix('/')?;
        Some(format!("{}/{rest}", src.trim_end_matches('/')))
    })
}

/// The `--config` file of every `tickflow run` service, as (service, host path).
fn run_configs(doc: &Value) -> Vec<(String, Result<String, String>)> {
    let mut out = vec![];
    for (name, s) in services(doc) {
        let cmd = strings(s.get("command"));
        let cmd: Vec<String> = cmd.iter().flat_map(|c| c.split_whitespace().map(str::to_string).collect::<Vec<_>>()).collect();
        let Some(i) = cmd.iter().position(|c| c == "--config" || c == "-c" || c.starts_with("--config=")) else { continue };
        let path = cmd[i].strip_prefix("--config=").map(str::to_string).or_else(|| cmd.get(i + 1).cloned()).unwrap_or_default();
        out.push((name.to_string(), host_path(s, &path).ok_or_else(|| format!("{name}: --config {path} is not under a ./ bind mount"))));
    }
    out
}

fn parse_run_config(text: &str) -> Result<toml::Table, String> {
    let t: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
    let kind = t.get("source").and_then(|s| s.get("kind")).and_then(toml::Value::as_str);
    if !matches!(kind, Some("files" | "kafka" | "live")) {
        return Err(format!("[source] kind = {kind:?}"));
    }
    if t.get("sinks").and_then(|s| s.get("bars_file")).is_none() {
        return Err("[sinks] bars_file missing (`run` requires it)".into());
    }
    Ok(t)
}

#[test]
fn run_configs_parse_as_toml() {
    let doc = compose();
    let configs = run_configs(&doc);
    for svc in ["tickflow-process", "tickflow-paper"] {
        assert!(configs.iter().any(|(s, _)| s == svc), "{svc} does not run a --config: {configs:?}");
    }
    for (svc, path) in &configs {
        let path = path.as_ref().unwrap_or_else(|e| panic!("{e}"));
        let t = parse_run_config(&read(path)).unwrap_or_else(|e| panic!("{svc}: {path}: {e}"));
        let get = |section: &str, key: &str| t.get(section).and_then(|s| s.get(key)).cloned();
        let text = |section: &str, key: &str| get(section, key).as_ref().and_then(toml::Value::as_str).map(str::to_string);
        if svc == "tickflow-process" {
            // the contract: the trades topic (written by tickflow-ingest) followed and checkpointed
            // under a consumer group, bars to Kafka and QuestDB
            assert_eq!(text("source", "kind").as_deref(), Some("kafka"), "{path}");
            assert_eq!(text("source", "topic").as_deref(), Some("tickflow.trades"), "{path}");
            assert_eq!(get("source", "follow").as_ref().and_then(toml::Value::as_bool), Some(true), "{path}");
            assert!(text("source", "group").is_some(), "{path}: [source] group (checkpoints and commits)");
            assert_eq!(get("source", "resume").as_ref().and_then(toml::Value::as_bool), Some(true), "{path}: restores on start");
            assert_eq!(text("sinks", "bars_topic").as_deref(), Some("tickflow.bars"), "{path}: [sinks] bars_topic");
            assert_eq!(get("sinks", "questdb").as_ref().and_then(toml::Value::as_bool), Some(true), "{path}: [sinks] questdb");
            assert!(text("sinks", "trades_topic").is_none(), "{path}: processing must not write the topic it reads");
        }
        if svc == "tickflow-paper" {
            assert_eq!(text("source", "topic").as_deref(), Some("tickflow.trades"), "{path}");
            assert!(get("strategy", "name").is_some(), "{path}: [strategy]");
        }
        // every tickflow job config must be accepted by the job validation itself
        let cfg = tickflow::config::JobConfig::parse(&read(path), std::iter::empty()).unwrap_or_else(|e| panic!("{svc}: {path}: {e:#}"));
        tickflow::job::Job::check(&cfg).unwrap_or_else(|e| panic!("{svc}: {path}: {e:#}"));
    }
    // every shipped run config parses, used or not
    let dir = repo().join("deploy/tickflow");
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            parse_run_config(&std::fs::read_to_string(&p).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        }
    }
    assert!(parse_run_config("[source\nkind = \"live\"").is_err());
    assert!(parse_run_config("[source]\nkind = \"carrier-pigeon\"\n[sinks]\nbars_file = \"b.csv\"\n").is_err());
    let unmounted = yaml("services:\n  t: {image: 'x:1.0', command: ['run', '--config', '/etc/tickflow/live.toml']}\n");
    assert!(run_configs(&unmounted)[0].1.is_err());
}

// ------------------------------------------------------------------------------------------
// the contract's services and settings

#[test]
fn contract_services_and_settings() {
    let doc = compose();
    let names: BTreeSet<&str> = services(&doc).into_iter().map(|(n, _)| n).collect();
    let want = [
        "console",
        "grafana",
        "prometheus",
        "questdb",
        "redpanda",
        "tickflow-backtest",
        "tickflow-ingest",
        "tickflow-init",
        "tickflow-paper",
        "tickflow-process",
    ];
    assert_eq!(names, want.into_iter().collect(), "compose service names (contract)");
    assert_eq!(strings(service(&doc, "console").get("profiles")), ["console"]);
    assert_eq!(strings(service(&doc, "tickflow-backtest").get("profiles")), ["backtest"]);

    // tickflow: brokers, QuestDB, metrics, JSON logs
    for svc in ["tickflow-init", "tickflow-process", "tickflow-paper", "tickflow-backtest"] {
        let s = service(&doc, svc);
        assert_eq!(env_var(s, "KAFKA_BROKERS").as_deref(), Some("redpanda:9092"), "{svc}");
        let conf = env_var(s, "QDB_CLIENT_CONF").unwrap_or_default();
        assert!(conf.starts_with("http::addr=questdb:9000;") && conf.contains("username=${QDB_HTTP_USER") && conf.ends_with(';'), "{svc}: {conf}");
        assert!(env_var(s, "TICKFLOW_LOG").is_some(), "{svc}");
        assert_eq!(env_var(s, "TICKFLOW_LOG_JSON").as_deref(), Some("true"), "{svc}");
    }
    let init = strings(service(&doc, "tickflow-init").get("command")).join(" ");
    assert!(init.contains("tickflow topics create") && init.contains("tickflow questdb init"), "{init}");
    assert!(init.contains("--replication-factor ${TICKFLOW_REPLICATION:-1}"), "{init}");
    assert_eq!(strings(service(&doc, "tickflow-process").get("command")), ["run", "--config", "/etc/tickflow/process.toml"]);
    assert_eq!(strings(service(&doc, "tickflow-paper").get("command")), ["run", "--config", "/etc/tickflow/paper.toml"]);
    let ingest = strings(service(&doc, "tickflow-ingest").get("command"));
    assert_eq!(ingest[0], "ingest", "{ingest:?}");
    assert_eq!(env_var(service(&doc, "tickflow-ingest"), "KAFKA_BROKERS").as_deref(), Some("redpanda:9092"));
    assert!(env_var(service(&doc, "tickflow-ingest"), "QDB_CLIENT_CONF").is_none(), "ingest does not need QuestDB credentials");
    for svc in ["tickflow-ingest", "tickflow-process", "tickflow-paper"] {
        let deps = &service(&doc, svc)["depends_on"];
        assert_eq!(deps["tickflow-init"]["condition"], "service_completed_successfully", "{svc}");
    }

    // redpanda: internal listener for the containers + an external one, production mode
    // (writes fsynced before they are acknowledged)
    let rp = strings(service(&doc, "redpanda").get("command")).join(" ");
    for flag in [
        "--kafka-addr=internal://0.0.0.0:9092,external://0.0.0.0:19092",
        "--advertise-kafka-addr=internal://redpanda:9092,external://localhost:19092",
        "--smp=1",
        "--memory=",
    ] {
        assert!(rp.contains(flag), "redpanda command lacks {flag}: {rp}");
    }
    for unsafe_flag in ["dev-container", "unsafe-bypass-fsync", "--mode=dev"] {
        assert!(!rp.contains(unsafe_flag), "redpanda must fsync: {rp}");
    }
    let health = |svc: &str| strings(service(&doc, svc)["healthcheck"].get("test")).join(" ");
    assert!(health("redpanda").contains("rpk cluster health"));
    assert!(health("questdb").contains("/dev/tcp/127.0.0.1/9003"));
    assert!(health("grafana").contains("/api/health"));
    assert!(health("prometheus").contains("/-/healthy"));
    for svc in ["tickflow-ingest", "tickflow-process", "tickflow-paper"] {
        assert!(health(svc).contains("127.0.0.1:9464/healthz"), "{svc}");
    }

    // grafana: the contract's mounts and the QuestDB plugin
    let g = service(&doc, "grafana");
    let m = mounts(g);
    for (src, dst) in [("./grafana/provisioning", "/etc/grafana/provisioning"), ("./grafana/dashboards", "/var/lib/grafana/dashboards")] {
        assert!(m.iter().any(|(s, t)| s.as_deref() == Some(src) && t == dst), "grafana: {src} -> {dst} not mounted: {m:?}");
    }
    let plugins = env_var(g, "GF_PLUGINS_PREINSTALL_SYNC").or_else(|| env_var(g, "GF_PLUGINS_PREINSTALL")).unwrap_or_default();
    assert!(plugins.split(',').any(|p| p.trim().starts_with("questdb-questdb-datasource")), "{plugins}");
    // pinned to a version, and signature verification is not switched off
    assert!(plugins.split(',').all(|p| p.trim().split('@').nth(1).is_some_and(|v| !v.is_empty())), "unpinned plugin: {plugins}");
    assert!(env_var(g, "GF_PLUGINS_ALLOW_LOADING_UNSIGNED_PLUGINS").is_none());
}

/// #14 hardening: Grafana reads QuestDB through its read-only account only (never the admin
/// one); every service drops all capabilities (QuestDB adds back only what its entrypoint's
/// chown and user switch need) and cannot gain privileges; the tickflow services and
/// Prometheus run on a read-only root filesystem.
#[test]
fn services_are_hardened_and_grafana_reads_with_a_read_only_account() {
    let doc = compose();
    let g = service(&doc, "grafana");
    assert!(env_var(g, "QDB_PG_USER").is_none() && env_var(g, "QDB_PG_PASSWORD").is_none(), "grafana must not get QuestDB's admin account");
    assert_eq!(env_var(service(&doc, "questdb"), "QDB_PG_READONLY_USER_ENABLED").as_deref(), Some("true"));
    let ds = read("grafana/provisioning/datasources/datasources.yaml");
    assert!(!ds.contains("$QDB_PG_USER") && !ds.contains("$QDB_PG_PASSWORD"), "{ds}");
    assert!(ds.contains("$QDB_PG_READONLY_USER") && ds.contains("$QDB_PG_READONLY_PASSWORD"));
    for (name, svc) in services(&doc) {
        assert!(strings(svc.get("security_opt")).iter().any(|o| o == "no-new-privileges:true"), "{name}: no-new-privileges");
        assert_eq!(strings(svc.get("cap_drop")), ["ALL"], "{name}: cap_drop");
        let added = strings(svc.get("cap_add"));
        if name == "questdb" {
            assert_eq!(added, ["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID"], "{name}");
        } else {
            assert!(added.is_empty(), "{name}: cap_add {added:?}");
        }
        if name.starts_with("tickflow-") || name == "prometheus" {
            assert_eq!(svc.get("read_only"), Some(&Value::Bool(true)), "{name}: read_only");
        }
    }
    let env = read(".env.example");
    for key in ["QDB_PG_READONLY_USER=", "QDB_PG_READONLY_PASSWORD="] {
        assert!(env.lines().any(|l| l.starts_with(key)), ".env.example lacks {key}");
    }
}

// ------------------------------------------------------------------------------------------
// Dockerfile

fn check_dockerfile(text: &str) -> Vec<String> {
    let lines: Vec<String> = {
        // join continuation lines
        let mut v = vec![];
        let mut cur = String::new();
        for l in text.lines() {
            let t = l.trim();
            if t.starts_with('#') && cur.is_empty() {
                continue;
            }
            if let Some(x) = t.strip_suffix('\\') {
                cur.push_str(x);
                cur.push(' ');
            } else {
                cur.push_str(t);
                if !cur.trim().is_empty() {
                    v.push(std::mem::take(&mut cur));
                }
                cur.clear();
            }
        }
        v
    };
    let mut out = vec![];
    let mut stages: Vec<String> = vec![];
    let mut last_stage = vec![];
    for l in &lines {
        let upper = l.to_ascii_uppercase();
        if upper.starts_with("FROM ") {
            let parts: Vec<&str> = l.split_whitespace().collect();
            let image = parts.iter().skip(1).find(|p| !p.starts_with("--")).copied().unwrap_or_default();
            if !stages.iter().any(|s| s.eq_ignore_ascii_case(image)) {
                if let Some(p) = unpinned(image) {
                    out.push(format!("FROM {p}"));
                }
            }
            if let Some(i) = parts.iter().position(|p| p.eq_ignore_ascii_case("AS")) {
                stages.push(parts.get(i + 1).unwrap_or(&"").to_string());
            }
            last_stage.clear();
        }
        last_stage.push(l.clone());
    }
    if lines.iter().filter(|l| l.to_ascii_uppercase().starts_with("FROM ")).count() < 2 {
        out.push("not a multi-stage build".into());
    }
    if !lines.iter().any(|l| l.contains("cargo build --release --locked -p tickflow")) {
        out.push("no `cargo build --release --locked -p tickflow`".into());
    }
    let user = last_stage.iter().rev().find(|l| l.to_ascii_uppercase().starts_with("USER ")).map(|l| l[5..].trim().to_string());
    match user.as_deref() {
        None => out.push("the runtime stage runs as root (no USER)".into()),
        Some(u) if u == "root" || u == "0" || u.starts_with("root:") || u.starts_with("0:") => out.push(format!("runtime USER {u}")),
        _ => {}
    }
    if !last_stage.iter().any(|l| l.replace(' ', "") == r#"ENTRYPOINT["tickflow"]"#) {
        out.push(r#"runtime ENTRYPOINT is not ["tickflow"]"#.into());
    }
    if !last_stage.iter().any(|l| l.starts_with("RUN") && l.contains("install") && l.contains(" curl")) {
        out.push("runtime stage does not install curl (the compose healthcheck needs it)".into());
    }
    out
}

#[test]
fn dockerfile_is_multistage_pinned_and_non_root() {
    let text = read("Dockerfile");
    assert_clean("Dockerfile", check_dockerfile(&text));
    assert!(text.contains("FROM rust:1.9") && text.contains("-bookworm"), "builder: a pinned rust >= 1.91 bookworm image");
    assert!(text.contains("cmake") && text.contains("g++") && text.contains("make"), "builder: cmake/make/g++ for librdkafka");
    assert!(text.contains("ca-certificates"), "runtime: ca-certificates");
    let ignore = read(".dockerignore");
    for x in ["target", ".git", ".env"] {
        assert!(ignore.lines().any(|l| l.trim().trim_end_matches('/').trim_start_matches("**/") == x), ".dockerignore lacks {x}");
    }
    let bad = "FROM rust:latest\nRUN cargo build --release\nENTRYPOINT [\"/bin/sh\"]\n";
    let p = check_dockerfile(bad);
    assert_flags(p.clone(), "FROM rust:latest");
    assert_flags(p.clone(), "multi-stage");
    assert_flags(p.clone(), "cargo build");
    assert_flags(p.clone(), "root");
    assert_flags(p.clone(), "ENTRYPOINT");
    assert_flags(p, "curl");
    // a stage referenced by name is not an image
    let ok = "FROM rust:1.94.1-bookworm AS b\nRUN cargo build --release --locked -p tickflow\nFROM b AS runtime\n\
              RUN apt-get install -y curl\nUSER 10001\nENTRYPOINT [\"tickflow\"]\n";
    assert_clean("stage reference", check_dockerfile(ok));
}
