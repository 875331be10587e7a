//! The README documents every setting the gateway reads: each `env = "…"` of
//! `src/config.rs` appears in the README's configuration table.

#[test]
fn every_setting_is_in_the_readme() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = std::fs::read_to_string(root.join("src/config.rs")).unwrap();
    let readme = std::fs::read_to_string(root.join("../README.md")).unwrap();
    let settings: Vec<&str> = config
        .split("env = \"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    assert!(settings.len() > 40, "found only {settings:?}");
    // A table row names it in its first cell (`A` or `A` / `B`).
    let first_cells: Vec<&str> = readme
        .lines()
        .filter_map(|l| l.strip_prefix('|')?.split('|').next())
        .collect();
    let missing: Vec<&&str> = settings
        .iter()
        .filter(|name| !first_cells.iter().any(|c| c.contains(&format!("`{name}`"))))
        .collect();
    assert!(
        missing.is_empty(),
        "settings missing from README's table: {missing:?}"
    );
}
