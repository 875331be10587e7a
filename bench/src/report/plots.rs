//! The plots under bench/results/: latency percentiles, memory against
//! sockets, and the soak's memory over time.

use std::collections::HashSet;
use std::path::Path;

use anyhow::Result;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::loaded::Results;
use super::table::{num, raw};
use crate::results::{Doc, Latency, Outcome};
use crate::scen::capacity::{Capacity, Step};
use crate::scen::soak::{Sample, Soak};
use crate::server::Kind;

const SERVERS: [(Kind, RGBColor); 2] = [
    (Kind::Gateway, RGBColor(200, 60, 20)),
    (Kind::Reference, RGBColor(30, 90, 200)),
];

/// Draws every plot the results allow; returns the files' names.
pub fn draw(out: &Path, res: &Results) -> Result<Vec<String>> {
    let font = [
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/TTF/DejaVuSans.ttf",
        "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    ]
    .iter()
    .find_map(|p| std::fs::read(p).ok())
    .ok_or_else(|| {
        anyhow::anyhow!("no DejaVuSans.ttf font found (apt-get install fonts-dejavu-core)")
    })?;
    let font: &'static [u8] = Box::leak(font.into_boxed_slice());
    let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, font);
    let mut files = Vec::new();
    if latency(out, res)? {
        files.push("latency.png".to_owned());
    }
    if memory(out, res)? {
        files.push("memory.png".to_owned());
    }
    if soak(out, res)? {
        files.push("soak.png".to_owned());
    }
    Ok(files)
}

/// A latency panel: its title and, per server, the medians of p50, p90,
/// p99, p99.9 and max (NaN where not measured).
type Panel = (String, Box<dyn Fn(Kind) -> Vec<f64>>);

fn percentiles<P, O: Outcome>(d: &Doc<P, O>, k: Kind, f: fn(&O) -> Option<&Latency>) -> Vec<f64> {
    let fields: [fn(&Latency) -> f64; 5] = [
        |l| l.p50_ms,
        |l| l.p90_ms,
        |l| l.p99_ms,
        |l| l.p999_ms,
        |l| l.max_ms,
    ];
    fields
        .iter()
        .map(|g| {
            d.stat(k, |o| f(o).map(g))
                .map(|s| s.med)
                .unwrap_or(f64::NAN)
        })
        .collect()
}

fn panels(res: &Results) -> Vec<Panel> {
    let mut panels: Vec<Panel> = Vec::new();
    if let Some(d) = res.relay.clone() {
        panels.push((
            format!("relay, {} msg/s offered", raw(d.params.rate)),
            Box::new({
                let d = d.clone();
                move |k| percentiles(&d, k, |r| Some(&r.fixed.latency))
            }),
        ));
        panels.push((
            format!("relay at saturation (window {})", d.params.window),
            Box::new(move |k| percentiles(&d, k, |r| Some(&r.saturation.latency))),
        ));
    }
    if let Some(d) = res.join.clone() {
        panels.push((
            format!("join storm: room:joined ({} sockets)", d.params.sockets),
            Box::new({
                let d = d.clone();
                move |k| percentiles(&d, k, |r| Some(&r.storm.latency))
            }),
        ));
        panels.push((
            format!("join, light ({} sockets)", d.params.light_sockets),
            Box::new({
                let d = d.clone();
                move |k| percentiles(&d, k, |r| Some(&r.light.latency))
            }),
        ));
        panels.push((
            format!("join, {} joins/s offered", raw(d.params.paced_joins_per_s)),
            Box::new(move |k| percentiles(&d, k, |r| Some(&r.paced.latency))),
        ));
    }
    panels
}

fn latency(out: &Path, res: &Results) -> Result<bool> {
    let panels = panels(res);
    if panels.is_empty() {
        return Ok(false);
    }
    let labels = ["p50", "p90", "p99", "p99.9", "max"];
    let path = out.join("latency.png");
    let root = BitMapBackend::new(&path, (400 * panels.len() as u32, 380)).into_drawing_area();
    root.fill(&WHITE)?;
    let areas = root.split_evenly((1, panels.len()));
    for (area, (title, medians)) in areas.iter().zip(panels.iter()) {
        let series: Vec<(Kind, RGBColor, Vec<f64>)> =
            SERVERS.iter().map(|&(k, c)| (k, c, medians(k))).collect();
        let all: Vec<f64> = series
            .iter()
            .flat_map(|s| s.2.iter().copied())
            .filter(|x| x.is_finite() && *x > 0.0)
            .collect();
        let lo = all.iter().copied().fold(f64::INFINITY, f64::min).max(0.001) / 2.0;
        let hi = all.iter().copied().fold(0.0, f64::max).max(lo * 4.0) * 2.0;
        let mut ch = ChartBuilder::on(area)
            .caption(title, ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(55)
            .build_cartesian_2d(-0.3f64..(labels.len() as f64 - 0.7), (lo..hi).log_scale())?;
        ch.configure_mesh()
            .x_labels(labels.len())
            .x_label_formatter(&|x| {
                let i = x.round() as usize;
                if (x - x.round()).abs() < 0.01 {
                    labels.get(i).map(|p| (*p).to_owned()).unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_desc("latency, ms (log)")
            .draw()?;
        for (k, c, v) in series {
            let pts: Vec<(f64, f64)> = v
                .iter()
                .enumerate()
                .filter(|(_, y)| y.is_finite() && **y > 0.0)
                .map(|(i, y)| (i as f64, *y))
                .collect();
            ch.draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))?
                .label(k.name())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 15, y)], c.stroke_width(2))
                });
            ch.draw_series(pts.iter().map(|p| Circle::new(*p, 3, c.filled())))?;
        }
        legend(&mut ch)?;
    }
    root.present()?;
    Ok(true)
}

fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    ch: &mut ChartContext<'a, DB, CT>,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    ch.configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;
    Ok(())
}

/// One line per run and server, labelled once per server.
struct Curve {
    kind: Kind,
    color: RGBColor,
    pts: Vec<(f64, f64)>,
}

/// A panel of curves against a linear or log y axis.
fn curves(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    title: &str,
    (x_desc, y_desc): (&str, &str),
    curves: &[Curve],
    log_y: bool,
) -> Result<()> {
    let maxx = curves
        .iter()
        .flat_map(|c| c.pts.iter().map(|p| p.0))
        .fold(1.0f64, f64::max);
    let maxy = curves
        .iter()
        .flat_map(|c| c.pts.iter().map(|p| p.1))
        .fold(0.0f64, f64::max);
    let mut seen = HashSet::new();
    macro_rules! draw {
        ($ch:expr) => {{
            let mut ch = $ch;
            ch.configure_mesh().x_desc(x_desc).y_desc(y_desc).draw()?;
            for c in curves {
                let s = ch.draw_series(LineSeries::new(
                    c.pts.iter().copied().filter(|p| !log_y || p.1 > 0.0),
                    c.color.stroke_width(2),
                ))?;
                if seen.insert(c.kind) {
                    let color = c.color;
                    s.label(c.kind.name()).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 15, y)], color.stroke_width(2))
                    });
                }
            }
            legend(&mut ch)?;
        }};
    }
    let mut b = ChartBuilder::on(area);
    b.caption(title, ("sans-serif", 12))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(50);
    if log_y {
        draw!(b.build_cartesian_2d(0.0..maxx * 1.05, (0.01..maxy.max(0.1) * 2.0).log_scale())?);
    } else {
        draw!(b.build_cartesian_2d(0.0..maxx * 1.05, 0.0..maxy.max(10.0) * 1.1)?);
    }
    Ok(())
}

/// One of two panels of curves, one curve per run: title, axes, log y, and
/// the point an item of a run (a capacity step, a soak sample) makes.
struct Panel2<'a, T> {
    title: String,
    axes: (&'a str, &'a str),
    log_y: bool,
    xy: fn(&T) -> (f64, f64),
}

/// Two panels over the same `items` of each run.
fn side_by_side<P, O: Outcome, T>(
    path: &Path,
    d: &Doc<P, O>,
    items: fn(&O) -> &[T],
    panels: [Panel2<'_, T>; 2],
) -> Result<()> {
    let root = BitMapBackend::new(path, (800, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(400);
    for (area, p) in [left, right].iter().zip(panels) {
        let runs: Vec<Curve> = SERVERS
            .iter()
            .flat_map(|&(kind, color)| {
                d.results(kind).map(move |run| Curve {
                    kind,
                    color,
                    pts: items(run).iter().map(p.xy).collect(),
                })
            })
            .collect();
        curves(area, &p.title, p.axes, &runs, p.log_y)?;
    }
    root.present()?;
    Ok(())
}

/// RSS against sockets (capacity), with the idle per-socket figure in the
/// caption, beside the probe relay's p99.
fn memory(out: &Path, res: &Results) -> Result<bool> {
    let Some(d) = &res.capacity else {
        return Ok(false);
    };
    let per = |k: Kind| {
        res.idle
            .as_ref()
            .and_then(|i| i.stat(k, |r| Some(r.per_socket_bytes)))
            .map(|s| format!("{:.1} KB", s.med / 1024.0))
            .unwrap_or_else(|| "–".into())
    };
    let rss = Panel2 {
        title: format!(
            "server RSS (idle: gateway {}/socket, reference {})",
            per(Kind::Gateway),
            per(Kind::Reference)
        ),
        axes: ("sockets", "RSS, MB"),
        log_y: false,
        xy: |s: &Step| (s.sockets as f64, s.rss_kb as f64 / 1024.0),
    };
    let p99 = Panel2 {
        title: "probe relay p99 vs sockets".into(),
        axes: ("sockets", "p99, ms (log)"),
        log_y: true,
        xy: |s: &Step| (s.sockets as f64, s.probe.latency.p99_ms),
    };
    let path = out.join("memory.png");
    side_by_side(&path, &**d, |r: &Capacity| &r.steps, [rss, p99])?;
    Ok(true)
}

/// The soak: server RSS and open files over time.
fn soak(out: &Path, res: &Results) -> Result<bool> {
    let Some(d) = &res.soak else {
        return Ok(false);
    };
    let rss = Panel2 {
        title: format!(
            "soak: server RSS over {} s (warm-up {} s)",
            num(d.params.secs),
            num(d.params.warmup_secs)
        ),
        axes: ("seconds", "RSS, MB"),
        log_y: false,
        xy: |s: &Sample| (s.t_s, s.rss_kb as f64 / 1024.0),
    };
    let fds = Panel2 {
        title: "soak: server open files".into(),
        axes: ("seconds", "fds"),
        log_y: false,
        xy: |s: &Sample| (s.t_s, s.open_fds as f64),
    };
    let path = out.join("soak.png");
    side_by_side(&path, &**d, |r: &Soak| &r.samples, [rss, fds])?;
    Ok(true)
}
