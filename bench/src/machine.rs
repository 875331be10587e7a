//! The machine and the versions under test, recorded with every results file.

use std::path::Path;
use std::process::Command;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Machine {
    pub nproc: usize,
    pub cpu: String,
    pub kernel: String,
    pub mem: String,
    pub load_avg: String,
    pub rustc: String,
    pub node: String,
    pub git: String,
    pub socketioxide: String,
    pub tokio: String,
    #[serde(rename = "socket.io")]
    pub socket_io: String,
    #[serde(rename = "@nestjs/core")]
    pub nestjs_core: String,
    pub ws: String,
}

impl Machine {
    pub fn capture(root: &Path) -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split(':').nth(1))
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|| "?".to_owned());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        Machine {
            nproc: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(0),
            cpu,
            kernel: cmd("uname", &["-r"], root),
            mem: meminfo.lines().next().unwrap_or("").to_owned(),
            load_avg: std::fs::read_to_string("/proc/loadavg")
                .unwrap_or_default()
                .trim()
                .to_owned(),
            rustc: cmd("rustc", &["--version"], root),
            node: cmd("node", &["--version"], root),
            git: cmd("git", &["rev-parse", "--short", "HEAD"], root),
            socketioxide: lock_version(root, "socketioxide"),
            tokio: lock_version(root, "tokio"),
            socket_io: npm_version(root, "socket.io"),
            nestjs_core: npm_version(root, "@nestjs/core"),
            ws: npm_version(root, "ws"),
        }
    }
}

fn cmd(c: &str, args: &[&str], dir: &Path) -> String {
    Command::new(c)
        .args(args)
        .current_dir(dir)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "?".to_owned())
}

fn lock_version(root: &Path, name: &str) -> String {
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).unwrap_or_default();
    let key = format!("name = \"{name}\"\nversion = \"");
    lock.find(&key)
        .and_then(|p| lock[p + key.len()..].split('"').next())
        .unwrap_or("?")
        .to_owned()
}

fn npm_version(root: &Path, pkg: &str) -> String {
    #[derive(Deserialize)]
    struct Package {
        version: String,
    }
    let p = root
        .join("conformance/reference/node_modules")
        .join(pkg)
        .join("package.json");
    std::fs::read_to_string(p)
        .ok()
        .and_then(|s| serde_json::from_str::<Package>(&s).ok())
        .map(|p| p.version)
        .unwrap_or_else(|| "?".to_owned())
}
