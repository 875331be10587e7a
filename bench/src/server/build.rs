//! Building the servers before a run (or checking that they are built).

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Result, bail};

/// Builds both servers: the release gateway (cargo) and the reference (npm ci
/// when node_modules is missing, then `npm run build`). With `skip`, only
/// checks that the artefacts exist.
pub fn build(
    root: &Path,
    gateway_bin: &Path,
    gateway: bool,
    reference: bool,
    skip: bool,
) -> Result<()> {
    if gateway {
        if !skip {
            eprintln!("building: cargo build --release -p gateway");
            let st = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                .args(["build", "--release", "-p", "gateway"])
                .current_dir(root)
                .status()?;
            if !st.success() {
                bail!("cargo build --release -p gateway failed");
            }
        }
        if !gateway_bin.exists() {
            bail!(
                "{} is missing (cargo build --release -p gateway)",
                gateway_bin.display()
            );
        }
    }
    if reference {
        let dir = root.join("conformance/reference");
        if !skip {
            if !dir.join("node_modules").exists() {
                eprintln!("building: npm ci (conformance/reference)");
                let st = Command::new("npm").arg("ci").current_dir(&dir).status()?;
                if !st.success() {
                    bail!("npm ci failed in conformance/reference");
                }
            }
            eprintln!("building: npm run build (conformance/reference)");
            let st = Command::new("npm")
                .args(["run", "build"])
                .current_dir(&dir)
                .stdout(Stdio::null())
                .status()?;
            if !st.success() {
                bail!("npm run build failed in conformance/reference");
            }
        }
        if !dir.join("dist/main.js").exists() {
            bail!("conformance/reference/dist/main.js is missing (npm ci && npm run build)");
        }
    }
    Ok(())
}
