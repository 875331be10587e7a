//! The README's configuration table and `gateway --help` come from the same
//! definitions: every argument of [`Config`] (its environment variable, its
//! flag and its default) is a row of the table, and the table has no row
//! for a setting the gateway does not read.

use clap::CommandFactory;
use gateway::Config;

/// The table's rows as (variable cell, flag cell, default cell).
fn rows(readme: &str) -> Vec<(String, String, String)> {
    let start = readme
        .find("| Variable | Flag | Default | Meaning |")
        .expect("the configuration table");
    readme[start..]
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
            (
                cells[0].to_owned(),
                cells[1].to_owned(),
                cells[2].to_owned(),
            )
        })
        .collect()
}

fn readme() -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(root.join("../README.md")).expect("README.md")
}

#[test]
fn every_setting_is_a_row_with_its_flag_and_default() {
    let rows = rows(&readme());
    let command = Config::command();
    let mut wrong = Vec::new();
    let mut settings = 0;
    for arg in command.get_arguments() {
        let Some(env) = arg.get_env() else {
            continue; // --help, --version
        };
        settings += 1;
        let env = env.to_string_lossy();
        let Some((_, flag, default)) = rows
            .iter()
            .find(|(vars, _, _)| vars.contains(&format!("`{env}`")))
        else {
            wrong.push(format!("{env}: no row"));
            continue;
        };
        let long = arg.get_long().expect("every setting has a flag");
        if !flag.contains(&format!("`--{long}`")) {
            wrong.push(format!("{env}: flag --{long} not in {flag:?}"));
        }
        let defaults: Vec<String> = arg
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect();
        match defaults.as_slice() {
            [] => {
                // No default: the row says what happens when unset, in words.
                if default.starts_with('`') {
                    wrong.push(format!("{env}: no default, the README says {default:?}"));
                }
            }
            values => {
                let value = values.join(",");
                if !default.contains(&format!("`{value}`")) {
                    wrong.push(format!(
                        "{env}: default {value:?}, the README says {default:?}"
                    ));
                }
            }
        }
    }
    assert!(settings > 60, "found only {settings} settings");
    assert!(
        wrong.is_empty(),
        "README's table disagrees:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn every_row_is_a_setting() {
    let command = Config::command();
    let envs: Vec<String> = command
        .get_arguments()
        .filter_map(|a| a.get_env())
        .map(|e| e.to_string_lossy().into_owned())
        .collect();
    // Aliases the gateway reads besides its arguments.
    let aliases = ["JWT_ACCESS_SECRET"];
    let mut unknown = Vec::new();
    for (vars, _, _) in rows(&readme()) {
        for name in vars.split('`').skip(1).step_by(2) {
            if !envs.iter().any(|e| e == name) && !aliases.contains(&name) {
                unknown.push(name.to_owned());
            }
        }
    }
    assert!(unknown.is_empty(), "rows for no setting: {unknown:?}");
}

#[test]
fn help_groups_the_settings_by_concern() {
    let help = Config::command().render_long_help().to_string();
    for heading in [
        "HTTP and operations",
        "Authentication and accounts",
        "Rooms, ICE servers and errors",
        "Limits",
        "Cluster",
        "The app's own users and rooms",
    ] {
        assert!(
            help.contains(&format!("{heading}:")),
            "no {heading:?} in --help"
        );
    }
}

#[test]
fn the_limits_table_names_real_settings_with_their_defaults() {
    let command = Config::command();
    let mut wrong = Vec::new();
    for bound in gateway::limits::BOUNDS {
        let Some(setting) = bound.setting else {
            continue;
        };
        let Some(arg) = command
            .get_arguments()
            .find(|a| a.get_env().is_some_and(|e| e == setting))
        else {
            wrong.push(format!("{setting}: no such setting"));
            continue;
        };
        let default: Vec<String> = arg
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect();
        if default.join(",") != bound.default {
            wrong.push(format!(
                "{setting}: {:?} in limits, {default:?} in config",
                bound.default
            ));
        }
    }
    // Every setting of the Limits group is in the table.
    for arg in Config::command().get_arguments() {
        let (Some(env), Some(heading)) = (arg.get_env(), arg.get_help_heading()) else {
            continue;
        };
        let env = env.to_string_lossy();
        if heading == "Limits"
            && env != "TRUSTED_PROXIES"
            && !gateway::limits::BOUNDS
                .iter()
                .any(|b| b.setting == Some(&*env))
        {
            wrong.push(format!("{env}: a limit missing from limits::BOUNDS"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
