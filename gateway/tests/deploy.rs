//! The cluster's compose file cannot run here (no Docker engine), so this
//! reads it, and the nginx configuration beside it, and checks that they are
//! what the README's "Cluster" section says: three gateways sharing one
//! JWT_SECRET, Redis 7, PostgreSQL and a balancer with sticky sessions, every
//! service with a healthcheck, and only settings the README documents.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_yaml_ng::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn compose() -> Value {
    serde_yaml_ng::from_str(&read("compose.yaml")).expect("compose.yaml is YAML")
}

fn readme_section(title: &str) -> String {
    let readme = read("README.md");
    let start = readme
        .find(&format!("\n## {title}\n"))
        .unwrap_or_else(|| panic!("README has a {title} section"));
    let rest = &readme[start + 4..];
    let end = rest.find("\n## ").unwrap_or(rest.len());
    rest[..end].to_owned()
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is a string"))
}

fn environment(service: &Value) -> BTreeMap<String, String> {
    service["environment"]
        .as_mapping()
        .expect("environment as a mapping")
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().unwrap().to_owned(),
                v.as_str().map_or_else(
                    || serde_yaml_ng::to_string(v).unwrap().trim().to_owned(),
                    str::to_owned,
                ),
            )
        })
        .collect()
}

const GATEWAYS: [&str; 3] = ["gateway1", "gateway2", "gateway3"];

#[test]
fn three_gateways_share_one_secret_redis_and_postgres() {
    let compose = compose();
    let services = &compose["services"];
    let envs: Vec<_> = GATEWAYS
        .iter()
        .map(|name| {
            let service = &services[*name];
            assert_eq!(
                service["build"].as_str(),
                Some("."),
                "{name} is built from the Dockerfile"
            );
            environment(service)
        })
        .collect();
    for env in &envs {
        assert_eq!(env, &envs[0], "every node has the same settings");
        assert!(
            env["JWT_SECRET"].starts_with("${JWT_SECRET"),
            "one shared secret from the environment, never a literal"
        );
        assert_eq!(env["REDIS_URL"], "redis://redis:6379");
        assert!(
            env["DATABASE_URL"].starts_with("postgres://")
                && env["DATABASE_URL"].contains("@postgres:5432/")
        );
    }
    // Per-address limits see clients, not the balancer.
    let balancer_ip = compose["services"]["balancer"]["networks"]["default"]["ipv4_address"]
        .as_str()
        .expect("the balancer has a fixed address");
    assert_eq!(envs[0]["TRUSTED_PROXIES"], balancer_ip);
    assert!(str_of(&services["redis"], "image").starts_with("redis:7"));
    assert!(str_of(&services["postgres"], "image").starts_with("postgres:"));
    for name in GATEWAYS {
        let depends = &services[name]["depends_on"];
        for needed in ["redis", "postgres"] {
            assert_eq!(
                depends[needed]["condition"].as_str(),
                Some("service_healthy"),
                "{name} waits for {needed}"
            );
        }
        let check = serde_yaml_ng::to_string(&services[name]["healthcheck"]["test"]).unwrap();
        assert!(
            check.contains("/readyz"),
            "{name} is checked on /readyz: {check}"
        );
    }
}

#[test]
fn every_service_has_a_healthcheck() {
    let compose = compose();
    let services = compose["services"].as_mapping().unwrap();
    let names: Vec<&str> = services.keys().map(|k| k.as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "gateway1", "gateway2", "gateway3", "redis", "postgres", "balancer"
        ]
    );
    for (name, service) in services {
        assert!(
            service["healthcheck"]["test"].is_sequence(),
            "{name:?} has a healthcheck"
        );
    }
}

#[test]
fn the_balancer_is_sticky_and_passes_websockets_to_every_node() {
    let compose = compose();
    let balancer = &compose["services"]["balancer"];
    assert!(str_of(balancer, "image").starts_with("nginx:"));
    let volumes = serde_yaml_ng::to_string(&balancer["volumes"]).unwrap();
    assert!(volumes.contains("./deploy/nginx.conf:/etc/nginx/nginx.conf"));
    let nginx = read("deploy/nginx.conf");
    let upstream = nginx
        .split("upstream gateways {")
        .nth(1)
        .and_then(|rest| rest.split('}').next())
        .expect("an upstream of the gateways");
    assert!(upstream.contains("ip_hash;"), "sticky sessions for polling");
    for name in GATEWAYS {
        assert!(
            upstream.contains(&format!("server {name}:3000")),
            "{name} behind the balancer"
        );
    }
    assert!(nginx.contains("proxy_set_header Upgrade $http_upgrade;"));
    assert!(nginx.contains("proxy_set_header Connection $connection_upgrade;"));
    assert!(nginx.contains("proxy_http_version 1.1;"));
}

#[test]
fn the_readme_names_what_the_compose_file_runs_and_sets() {
    let cluster = readme_section("Cluster");
    let configuration = readme_section("Configuration");
    let compose = compose();
    for name in compose["services"].as_mapping().unwrap().keys() {
        let name = name.as_str().unwrap();
        assert!(
            cluster.contains(&format!("`{name}`")),
            "README Cluster names {name}"
        );
    }
    for setting in environment(&compose["services"]["gateway1"]).keys() {
        assert!(
            configuration.contains(&format!("| `{setting}`")),
            "README Configuration documents {setting}"
        );
    }
    for setting in [
        "REDIS_URL",
        "JWT_SECRET",
        "DATABASE_URL",
        "NODE_HEARTBEAT",
        "NODE_TIMEOUT",
        "REDIS_TIMEOUT",
    ] {
        assert!(
            cluster.contains(&format!("`{setting}`")),
            "README Cluster names {setting}"
        );
    }
    for words in [
        "ip_hash",
        "sticky sessions",
        "scripts/cluster.sh",
        "compose.yaml",
    ] {
        assert!(cluster.contains(words), "README Cluster mentions {words}");
    }
}
