//! The container files users get, kept true to what CI runs. CI cannot pull a base image or
//! start a container, so it builds `scripts/image/scratch.Containerfile` and runs its binary
//! in a chroot (scripts/image.sh); these tests hold the user-facing `Containerfile` to the same
//! runtime settings, and `examples/compose/compose.yaml` to the image, to the nginx snippet the
//! forward-auth tests run, and to Warden's secret rules.

use std::path::Path;

use serde_yaml_ng::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The runtime directives of a Containerfile's last stage (continuations joined, spaces
/// collapsed): what a container of the image starts with.
fn runtime_directives(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(head) => current.push_str(head),
            None => {
                current.push_str(line);
                lines.push(current.split_whitespace().collect::<Vec<_>>().join(" "));
                current.clear();
            }
        }
    }
    let last_stage = lines
        .iter()
        .rposition(|l| l.starts_with("FROM "))
        .expect("a FROM line");
    lines[last_stage..]
        .iter()
        .filter(|l| {
            [
                "USER ",
                "ENV ",
                "WORKDIR ",
                "VOLUME ",
                "EXPOSE ",
                "HEALTHCHECK ",
                "ENTRYPOINT ",
                "CMD ",
            ]
            .iter()
            .any(|d| l.starts_with(d))
        })
        .cloned()
        .collect()
}

#[test]
fn the_containerfile_runs_warden_as_the_image_ci_smoke_tests_does() {
    let user_facing = runtime_directives(&read("Containerfile"));
    let tested = runtime_directives(&read("scripts/image/scratch.Containerfile"));
    assert_eq!(user_facing, tested);
    // and what the script checks in the built image is what both say
    for expected in [
        "USER 10001:10001",
        "ENV WARDEN_LISTEN=0.0.0.0:8080 WARDEN_DATABASE_URL=sqlite:///data/warden.db",
        r#"VOLUME ["/data"]"#,
        r#"ENTRYPOINT ["/usr/local/bin/warden"]"#,
        r#"CMD ["serve"]"#,
    ] {
        assert!(
            tested.iter().any(|l| l == expected),
            "{expected}: {tested:?}"
        );
    }
    let healthcheck = tested
        .iter()
        .find(|l| l.starts_with("HEALTHCHECK "))
        .expect("a HEALTHCHECK");
    assert!(
        healthcheck.ends_with(r#"CMD ["/usr/local/bin/warden", "healthcheck"]"#),
        "{healthcheck}"
    );
    let script = read("scripts/image.sh");
    assert!(
        script.contains(r#"["CMD", "/usr/local/bin/warden", "healthcheck"]"#)
            && script.contains(r#""User": "10001:10001""#),
        "scripts/image.sh checks the built image against other settings"
    );
}

fn compose() -> Value {
    serde_yaml_ng::from_str(&read("examples/compose/compose.yaml")).expect("compose.yaml parses")
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut at = v;
    for key in path {
        at = &at[*key];
    }
    at.as_str()
        .unwrap_or_else(|| panic!("{}: not a string: {at:?}", path.join(".")))
}

#[test]
fn the_compose_file_trusts_exactly_nginx_and_hands_the_admin_password_over_as_a_private_file() {
    let c = compose();
    let nginx_ip = str_at(
        &c,
        &["services", "nginx", "networks", "edge", "ipv4_address"],
    );
    assert_eq!(
        str_at(
            &c,
            &[
                "services",
                "warden",
                "environment",
                "WARDEN_TRUSTED_PROXIES"
            ]
        ),
        format!("{nginx_ip}/32")
    );
    // nginx's fixed address is in the subnet, outside the range handed out dynamically
    let ipam = &c["networks"]["edge"]["ipam"]["config"][0];
    assert_eq!(str_at(ipam, &["subnet"]), "172.29.80.0/24");
    assert_eq!(str_at(ipam, &["ip_range"]), "172.29.80.128/25");
    let last: u8 = nginx_ip
        .strip_prefix("172.29.80.")
        .and_then(|o| o.parse().ok())
        .expect("in 172.29.80.0/24");
    assert!((2..128).contains(&last), "{nginx_ip}");

    // the secret: written as the image's user, readable by it alone (Warden refuses others)
    let secret = &c["services"]["warden"]["secrets"][0];
    let source = str_at(secret, &["source"]);
    assert_eq!(
        str_at(
            &c,
            &[
                "services",
                "warden",
                "environment",
                "WARDEN_ADMIN_PASSWORD_FILE"
            ]
        ),
        format!("/run/secrets/{source}")
    );
    assert_eq!(str_at(secret, &["uid"]), "10001");
    assert_eq!(str_at(secret, &["gid"]), "10001");
    let mode = secret["mode"].as_u64().expect("mode is a number (0o400)");
    assert_eq!(mode, 0o400, "mode {mode:o}");
    assert_eq!(
        str_at(&c, &["secrets", source, "environment"]),
        "WARDEN_ADMIN_PASSWORD"
    );
    // no secret value in the file itself, and the database URL only from the environment
    let url = str_at(
        &c,
        &["services", "warden", "environment", "WARDEN_DATABASE_URL"],
    );
    assert!(url.contains("${POSTGRES_PASSWORD:?"), "{url}");
    assert!(url.ends_with("@postgres:5432/warden"), "{url}");
    // the image's HEALTHCHECK, as the Containerfile states it
    let test: Vec<&str> = c["services"]["warden"]["healthcheck"]["test"]
        .as_sequence()
        .expect("a test")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(test, ["CMD", "/usr/local/bin/warden", "healthcheck"]);
    // nothing but nginx is published
    for service in ["postgres", "warden", "app"] {
        assert!(
            c["services"][service]["ports"].is_null(),
            "{service} publishes a port"
        );
    }
}

/// The `s/PATTERN/REPLACEMENT/` expressions of the nginx service's sed command, the pattern's
/// `[.]` read as a dot.
fn sed_expressions(command: &str) -> Vec<(String, String)> {
    command
        .split("'s/")
        .skip(1)
        .map(|rest| {
            let mut parts = rest.splitn(3, '/');
            let pattern = parts.next().expect("pattern").replace("[.]", ".");
            let replacement = parts.next().expect("replacement").to_owned();
            (pattern, replacement)
        })
        .collect()
}

#[test]
fn the_compose_file_runs_the_shipped_nginx_snippet_with_every_loopback_address_replaced() {
    let c = compose();
    let nginx = &c["services"]["nginx"];
    let volume = nginx["volumes"][0].as_str().expect("a volume");
    let (host, container) = volume
        .strip_suffix(":ro")
        .and_then(|v| v.split_once(':'))
        .expect("host:container:ro");
    let canonical = |p: &Path| p.canonicalize().unwrap_or_else(|e| panic!("{p:?}: {e}"));
    assert_eq!(
        canonical(&root().join("examples/compose").join(host)),
        canonical(&root().join("scripts/nginx/forward-auth.conf")),
        "the shipped snippet, not a copy"
    );
    let command = nginx["command"][0].as_str().expect("a command");
    assert!(
        command.contains(&format!(" {container} > /etc/nginx/conf.d/default.conf")),
        "{command}"
    );
    let expressions = sed_expressions(command);
    assert_eq!(expressions.len(), 3, "{command}");
    let mut config = read("scripts/nginx/forward-auth.conf");
    for (pattern, replacement) in &expressions {
        assert!(
            config.contains(pattern.as_str()),
            "the snippet no longer has {pattern}: the compose file would leave it unchanged"
        );
        // sed without `g`: the first match on every line
        config = config
            .lines()
            .map(|l| l.replacen(pattern.as_str(), replacement, 1))
            .collect::<Vec<_>>()
            .join("\n");
    }
    for line in config.lines().filter(|l| !l.trim_start().starts_with('#')) {
        assert!(!line.contains("127.0.0.1"), "left on loopback: {line}");
    }
    // the names it now points at are the compose file's services, on the image's port
    assert!(config.contains("server warden:8080;"), "{config}");
    assert!(config.contains("proxy_pass http://app:80;"), "{config}");
    assert!(config.contains("listen 8000;"), "{config}");
    assert!(c["services"]["warden"].is_mapping() && c["services"]["app"].is_mapping());
    assert_eq!(
        nginx["ports"][0].as_str(),
        Some("127.0.0.1:8000:8000"),
        "published on the host's loopback, on the port nginx listens on"
    );
}
