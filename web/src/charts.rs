//! Charts as inline SVG, drawn on the server: readable without JavaScript,
//! with each value in an SVG `<title>` (shown on hover).

use maud::{html, Markup, PreEscaped};

use crate::time::iso;

/// One bar of an uptime strip: its time span and what was measured in it.
pub struct UptimeSegment {
    pub start: i64,
    pub end: i64,
    /// `None`: nothing ran then.
    pub uptime: Option<f64>,
    pub checks: i64,
}

fn uptime_class(u: Option<f64>) -> &'static str {
    match u {
        None => "none",
        Some(u) if u >= 0.999 => "good",
        Some(u) if u >= 0.95 => "fair",
        Some(_) => "bad",
    }
}

pub fn percent(u: f64) -> String {
    let p = u * 100.0;
    if p >= 99.995 || p == 0.0 {
        format!("{p:.0}%")
    } else if p >= 99.0 {
        format!("{p:.2}%")
    } else {
        format!("{p:.1}%")
    }
}

/// A strip of bars, oldest on the left; `label` names it for screen readers.
pub fn uptime_bar(label: &str, segments: &[UptimeSegment]) -> Markup {
    let n = segments.len().max(1) as f64;
    let w = 100.0 / n;
    html! {
        svg.uptime-bar viewBox="0 0 100 10" preserveAspectRatio="none" role="img" aria-label=(label) {
            @for (i, s) in segments.iter().enumerate() {
                rect class=(uptime_class(s.uptime)) x=(format!("{:.3}", i as f64 * w)) y="0" width=(format!("{:.3}", (w - 0.3).max(0.1))) height="10" {
                    title {
                        (iso(s.start)) " – " (iso(s.end)) ": "
                        @match s.uptime { Some(u) => { (percent(u)) " up of " (s.checks) " checks" }, None => { "no checks" } }
                    }
                }
            }
        }
    }
}

/// One point of a latency chart (milliseconds), or a gap.
pub struct LatencyPoint {
    pub start: i64,
    pub end: i64,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    /// The slowest check of the bucket: drawn, so an outlier is always seen.
    pub max: Option<f64>,
}

const W: f64 = 600.0;
const H: f64 = 180.0;
const PAD_L: f64 = 44.0;
const PAD_B: f64 = 18.0;

/// p50/p95/p99 lines over the range, a y axis in ms, and a hover title on
/// every bucket.
pub fn latency_chart(label: &str, points: &[LatencyPoint]) -> Markup {
    let max = points
        .iter()
        .filter_map(|p| p.max.or(p.p99).or(p.p95).or(p.p50))
        .fold(0.0f64, f64::max);
    let top = nice_ceiling(max);
    let n = points.len().max(1) as f64;
    let x = |i: usize| PAD_L + (i as f64 + 0.5) * (W - PAD_L) / n;
    let y = |v: f64| (H - PAD_B) - v / top * (H - PAD_B - 6.0);
    let line = |pick: fn(&LatencyPoint) -> Option<f64>| -> String {
        // Gaps break the line: each run of values is its own path segment.
        let mut d = String::new();
        let mut pen_down = false;
        for (i, p) in points.iter().enumerate() {
            match pick(p) {
                Some(v) if pen_down => d += &format!("L{:.1},{:.1} ", x(i), y(v)),
                // A run's first point also draws a dot (a zero-length segment
                // with round caps), so a lone bucket is visible.
                Some(v) => {
                    d += &format!("M{:.1},{:.1} l0,0 ", x(i), y(v));
                    pen_down = true;
                }
                None => pen_down = false,
            }
        }
        d
    };
    let bucket_w = (W - PAD_L) / n;
    html! {
        figure.chart {
            svg viewBox=(format!("0 0 {W} {H}")) role="img" aria-label=(label) {
                @for frac in [0.0, 0.5, 1.0] {
                    line.grid x1=(PAD_L) x2=(W) y1=(format!("{:.1}", y(top * frac))) y2=(format!("{:.1}", y(top * frac))) {}
                    text.axis x=(PAD_L - 4.0) y=(format!("{:.1}", y(top * frac) + 4.0)) text-anchor="end" { (axis_value(top * frac)) }
                }
                text.axis x=(PAD_L) y=(H - 2.0) { @if let Some(p) = points.first() { (axis_time(p.start)) } }
                text.axis x=(W) y=(H - 2.0) text-anchor="end" { @if let Some(p) = points.last() { (axis_time(p.end)) } }
                path.max d=(line(|p| p.max)) {}
                path.p99 d=(line(|p| p.p99)) {}
                path.p95 d=(line(|p| p.p95)) {}
                path.p50 d=(line(|p| p.p50)) {}
                @for (i, p) in points.iter().enumerate() {
                    rect.hover x=(format!("{:.1}", PAD_L + i as f64 * bucket_w)) y="0" width=(format!("{:.2}", bucket_w)) height=(H - PAD_B) {
                        title { (iso(p.start)) ": " (ms_or_dash(p.p50)) " p50 · " (ms_or_dash(p.p95)) " p95 · " (ms_or_dash(p.p99)) " p99 · " (ms_or_dash(p.max)) " max" }
                    }
                }
            }
            figcaption.legend { span.p50 { "p50" } " " span.p95 { "p95" } " " span.p99 { "p99" } " " span.max { "max" } " (ms)" }
        }
    }
}

fn axis_value(v: f64) -> String {
    if v >= 10.0 || v == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// `2026-11-25 14:20 UTC`: SVG text cannot be turned into local time by the
/// page script, so it says which zone it is in.
fn axis_time(ms: i64) -> String {
    let iso = iso(ms);
    format!("{} {} UTC", &iso[..10], &iso[11..16])
}

fn ms_or_dash(v: Option<f64>) -> PreEscaped<String> {
    PreEscaped(match v {
        Some(v) => format!("{v:.1} ms"),
        None => "–".into(),
    })
}

/// 1, 2 or 5 times a power of ten, at least `v` (and at least 1).
fn nice_ceiling(v: f64) -> f64 {
    if v <= 1.0 {
        return 1.0;
    }
    let mag = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * mag >= v {
            return m * mag;
        }
    }
    10.0 * mag
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_say_what_they_show() {
        let s = [
            UptimeSegment {
                start: 0,
                end: 3_600_000,
                uptime: Some(1.0),
                checks: 360,
            },
            UptimeSegment {
                start: 3_600_000,
                end: 7_200_000,
                uptime: Some(0.5),
                checks: 10,
            },
            UptimeSegment {
                start: 7_200_000,
                end: 10_800_000,
                uptime: None,
                checks: 0,
            },
        ];
        let svg = uptime_bar("Uptime, last 3 hours", &s).into_string();
        assert!(svg.contains("aria-label=\"Uptime, last 3 hours\""));
        assert!(
            svg.contains("class=\"good\"")
                && svg.contains("class=\"bad\"")
                && svg.contains("class=\"none\"")
        );
        assert!(svg.contains("50.0% up of 10 checks"));
        assert!(svg.contains("no checks"));
    }

    #[test]
    fn latency_lines_break_at_gaps_and_titles_carry_values() {
        let p = |i: i64, v: Option<f64>| LatencyPoint {
            start: i * 60_000,
            end: (i + 1) * 60_000,
            p50: v,
            p95: v.map(|v| v * 2.0),
            p99: v.map(|v| v * 3.0),
            max: v.map(|v| v * 100.0),
        };
        let svg = latency_chart("Latency", &[p(0, Some(10.0)), p(1, None), p(2, Some(12.0))])
            .into_string();
        let p50 = svg
            .split("class=\"p50\" d=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert_eq!(
            p50.matches('M').count(),
            2,
            "a gap starts a new segment: {p50}"
        );
        assert_eq!(
            p50.matches("l0,0").count(),
            2,
            "each run starts with a dot: {p50}"
        );
        assert!(
            svg.contains("10.0 ms p50 · 20.0 ms p95 · 30.0 ms p99 · 1000.0 ms max"),
            "{svg}"
        );
        // The slowest check sets the axis and has a line of its own.
        assert!(svg.contains("class=\"max\" d=\"M"), "{svg}");
        assert!(svg.contains("– p50"));
    }

    #[test]
    fn axes_round_up() {
        assert_eq!(nice_ceiling(0.3), 1.0);
        assert_eq!(nice_ceiling(37.0), 50.0);
        assert_eq!(nice_ceiling(120.0), 200.0);
        assert_eq!(nice_ceiling(1000.0), 1000.0);
        assert_eq!(
            (axis_value(0.5), axis_value(0.0), axis_value(50.0)),
            ("0.5".into(), "0".into(), "50".into())
        );
        assert_eq!(axis_time(0), "1970-01-01 00:00 UTC");
    }
}
