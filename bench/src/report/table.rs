//! Formatting figures and the tables' rows.

use crate::results::{Doc, Outcome};
use crate::server::Kind;
use crate::stats::Stat;

/// A figure of an outcome, or of a part of one.
pub type Fig<T> = fn(&T) -> f64;
/// A figure some runs may lack.
pub type MaybeFig<T> = fn(&T) -> Option<f64>;
/// A part of an outcome (a phase).
pub type Part<O, P> = fn(&O) -> &P;

const G: Kind = Kind::Gateway;
const R: Kind = Kind::Reference;

/// A figure with as many digits as it deserves.
pub fn num(x: f64) -> String {
    let x = if x == 0.0 { 0.0 } else { x };
    if x.fract() == 0.0 && x.abs() < 100_000.0 {
        return format!("{x:.0}");
    }
    let a = x.abs();
    if a >= 100_000.0 {
        let s = format!("{:.0}", x);
        // thousands separators
        let (neg, digits) = s
            .strip_prefix('-')
            .map(|d| (true, d))
            .unwrap_or((false, &s[..]));
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        if neg { format!("-{out}") } else { out }
    } else if a >= 100.0 {
        format!("{:.0}", x)
    } else if a >= 10.0 {
        format!("{:.1}", x)
    } else if a >= 1.0 {
        format!("{:.2}", x)
    } else {
        format!("{:.3}", x)
    }
}

/// A number as the results file writes it (`5.0`, `0.174`): the texts and
/// tables that quote parameters and raw figures keep the file's spelling.
pub fn raw(x: f64) -> String {
    serde_json::Value::from(x).to_string()
}

pub fn cell(s: Option<Stat>, scale: f64) -> String {
    match s {
        None => "–".to_owned(),
        Some(s) if s.n == 1 => num(s.med * scale),
        Some(s) => format!(
            "{} [{}–{}]",
            num(s.med * scale),
            num(s.min * scale),
            num(s.max * scale)
        ),
    }
}

/// Gateway over reference (`invert`: reference over gateway, for figures
/// where lower is better), on medians.
pub fn ratio(g: Option<Stat>, r: Option<Stat>, invert: bool) -> Option<f64> {
    let (g, r) = (g?.med, r?.med);
    // Only between two positive figures (a growth or a slope may be negative).
    (g > 0.0 && r > 0.0).then(|| if invert { r / g } else { g / r })
}

pub fn fmt_ratio(x: Option<f64>) -> String {
    x.map(|x| format!("{}×", num(x)))
        .unwrap_or_else(|| "–".to_owned())
}

pub fn met(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "**met**",
        Some(false) => "**missed**",
        None => "not measured",
    }
}

/// One figure of both servers.
pub fn both<P, O: Outcome>(
    d: &Doc<P, O>,
    f: impl Fn(&O) -> Option<f64>,
) -> (Option<Stat>, Option<Stat>) {
    (d.stat(G, &f), d.stat(R, &f))
}

/// The Targets table: `| target | gateway | reference | ratio | goal | verdict |`.
pub fn target(md: &mut String, label: &str, cells: [&str; 5]) {
    md.push_str(&format!("| {label} |"));
    for c in cells {
        match c {
            "" => md.push_str(" |"),
            c => md.push_str(&format!(" {c} |")),
        }
    }
    md.push('\n');
}

/// A side-by-side section: its heading, text and the table head.
pub fn section_head(md: &mut String, title: &str, text: &str) {
    md.push_str(&format!(
        "## {title}\n\n{text}\n\n| | Gateway | Reference | Gateway better by |\n|---|---|---|---|\n"
    ));
}

/// A row of a side-by-side table: the figure's median [min–max] for each
/// server and the gateway's advantage (`invert`: lower is better).
pub fn row<P, O: Outcome>(
    md: &mut String,
    d: &Doc<P, O>,
    label: &str,
    scale: f64,
    invert: bool,
    f: impl Fn(&O) -> Option<f64>,
) {
    line(md, d, label, scale, Some(invert), f);
}

/// A row without a ratio (a figure both servers are given, or one where
/// "better" means nothing).
pub fn row_plain<P, O: Outcome>(
    md: &mut String,
    d: &Doc<P, O>,
    label: &str,
    scale: f64,
    f: impl Fn(&O) -> Option<f64>,
) {
    line(md, d, label, scale, None, f);
}

fn line<P, O: Outcome>(
    md: &mut String,
    d: &Doc<P, O>,
    label: &str,
    scale: f64,
    invert: Option<bool>,
    f: impl Fn(&O) -> Option<f64>,
) {
    let (a, b) = both(d, f);
    let x = invert.map_or_else(|| "–".to_owned(), |i| fmt_ratio(ratio(a, b, i)));
    md.push_str(&format!(
        "| {label} | {} | {} | {x} |\n",
        cell(a, scale),
        cell(b, scale)
    ));
}

/// The rows `<phase>: <label>` of each phase of an outcome: `(label, lower
/// is better, figure)`.
pub fn phase_rows<P, O: Outcome, Ph>(
    md: &mut String,
    d: &Doc<P, O>,
    phases: &[(&str, Part<O, Ph>)],
    figs: &[(&str, bool, Fig<Ph>)],
) {
    for (name, part) in phases {
        for (label, invert, f) in figs {
            row(md, d, &format!("{name}: {label}"), 1.0, *invert, |r| {
                Some(f(part(r)))
            });
        }
    }
}

/// A Targets row comparing both servers' medians: cells, ratio (`invert`:
/// lower is better), the goal and whether it is met.
pub fn compared(
    md: &mut String,
    label: &str,
    (g, r): (Option<Stat>, Option<Stat>),
    invert: bool,
    goal: &str,
    verdict: &str,
) {
    target(
        md,
        label,
        [
            &cell(g, 1.0),
            &cell(r, 1.0),
            &fmt_ratio(ratio(g, r, invert)),
            goal,
            verdict,
        ],
    );
}

/// The failed runs of a results file, after its tables.
pub fn failures<P, O: Outcome>(md: &mut String, d: &Doc<P, O>) {
    let f = d.failures();
    if !f.is_empty() {
        md.push_str("Failed runs (a run that ended in an error has no figures above):\n\n");
        for x in f {
            md.push_str(&format!("- {x}\n"));
        }
        md.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_get_the_digits_they_deserve() {
        assert_eq!(num(0.0), "0");
        assert_eq!(num(-0.0), "0");
        assert_eq!(num(13672.0), "13672");
        assert_eq!(num(128276.0), "128,276");
        assert_eq!(num(-1234567.4), "-1,234,567");
        assert_eq!(num(348.4), "348");
        assert_eq!(num(20.54), "20.5");
        assert_eq!(num(8.684), "8.68");
        assert_eq!(num(0.3234), "0.323");
        assert_eq!(raw(5.0), "5.0");
        assert_eq!(raw(75.916), "75.916");
    }

    #[test]
    fn cells_and_ratios() {
        let s = |med: f64| Stat {
            min: med - 1.0,
            med,
            max: med + 1.0,
            n: 3,
        };
        assert_eq!(cell(Some(s(10.0)), 1.0), "10 [9–11]");
        assert_eq!(cell(None, 1.0), "–");
        assert_eq!(cell(Some(Stat { n: 1, ..s(2.0) }), 0.5), "1");
        assert_eq!(ratio(Some(s(10.0)), Some(s(5.0)), false), Some(2.0));
        assert_eq!(ratio(Some(s(10.0)), Some(s(5.0)), true), Some(0.5));
        assert_eq!(ratio(Some(s(10.0)), Some(s(0.0)), false), None);
        assert_eq!(ratio(Some(s(10.0)), Some(s(-5.0)), true), None);
        assert_eq!(fmt_ratio(Some(8.44)), "8.44×");
    }

    #[test]
    fn nan_figures_format_without_panicking() {
        let nan = Stat::of(vec![f64::NAN, f64::NAN]).unwrap();
        assert_eq!(cell(Some(nan), 1.0), "NaN [NaN–NaN]");
        assert_eq!(ratio(Some(nan), Some(nan), false), None);
    }
}
