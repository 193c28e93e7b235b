//! SVG charts of throughput results (with `plotters`' SVG backend, no system fonts needed: the
//! backend emits `<text>` elements and the viewer picks the font).
//!
//! [`write_svg`] draws one 1200x500 picture with two panels: on the left a horizontal bar chart
//! of [`Bar`]s ("Throughput per system (rows/s)", a human-readable value on each bar), on the
//! right a line chart of [`Series`] ("Throughput over time", x = seconds since start, y = rows/s,
//! one line per series, with a legend).
//!
//! Non-finite values (NaN, ±inf) are skipped; empty inputs draw a "no data" panel.

use std::path::Path;

use anyhow::{Context, Result};
use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// One system / measurement: a bar in the left panel.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Bar {
    pub label: String,
    pub rows_per_s: f64,
}

/// One line in the right panel: `(seconds since start, rows/s)` points.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

const WIDTH: u32 = 1200;
const HEIGHT: u32 = 500;
/// Width of the left (bar chart) panel in pixels.
const LEFT_W: u32 = 540;
/// Longest label drawn on the bar chart's axis before it is cut with "…".
const MAX_LABEL_CHARS: usize = 28;
const FONT: &str = "sans-serif";
// plotters' SVG backend writes `font-size = size / 1.24`, so these are ~1.24x the pixel size.
const TITLE_SIZE: f64 = 26.0;
const CAPTION_SIZE: f64 = 21.0;
const LABEL_SIZE: f64 = 16.0;
const VALUE_SIZE: f64 = 15.0;

/// Tableau 10.
const PALETTE: [RGBColor; 10] = [
    RGBColor(0x4e, 0x79, 0xa7),
    RGBColor(0xf2, 0x8e, 0x2b),
    RGBColor(0xe1, 0x57, 0x59),
    RGBColor(0x76, 0xb7, 0xb2),
    RGBColor(0x59, 0xa1, 0x4f),
    RGBColor(0xed, 0xc9, 0x48),
    RGBColor(0xb0, 0x7a, 0xa1),
    RGBColor(0xff, 0x9d, 0xa7),
    RGBColor(0x9c, 0x75, 0x5f),
    RGBColor(0xba, 0xb0, 0xac),
];

fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Formats a number with 3 significant digits and a k/M/G/T suffix: `102345.0` -> `"102k"`,
/// `1_500_000.0` -> `"1.5M"`, `12.0` -> `"12"`, `0.25` -> `"0.25"`. Non-finite -> `"n/a"`.
pub fn human(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".to_string();
    }
    const UNITS: [(f64, &str); 5] = [(1.0, ""), (1e3, "k"), (1e6, "M"), (1e9, "G"), (1e12, "T")];
    let a = v.abs();
    // Largest unit such that the value rounds to >= 1 of it (so 999_600 is "1M", not "1000k").
    let (scale, suffix) = UNITS
        .iter()
        .rev()
        .find(|(scale, _)| *scale == 1.0 || a >= scale * 0.9995)
        .copied()
        .unwrap_or((1.0, ""));
    let s = a / scale;
    let decimals = if s >= 99.95 {
        0
    } else if s >= 9.995 {
        1
    } else {
        2
    };
    let mut text = format!("{s:.decimals$}");
    if text.contains('.') {
        text = text.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    let sign = if v < 0.0 && text != "0" { "-" } else { "" };
    format!("{sign}{text}{suffix}")
}

/// Formats an axis value in seconds: integers without decimals, otherwise up to 2 decimals.
fn seconds(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round())
    } else {
        let t = format!("{v:.2}");
        t.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

fn truncate_label(s: &str) -> String {
    if s.chars().count() <= MAX_LABEL_CHARS {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(MAX_LABEL_CHARS - 1).collect();
        t.push('…');
        t
    }
}

/// `lo..hi` (including 0) that always has a positive width, padded by `headroom` (a fraction of
/// the span) above, and by up to 20% below when there are negative values.
fn value_range(lo: f64, hi: f64, headroom: f64) -> (f64, f64) {
    let lo = lo.min(0.0);
    let hi = hi.max(0.0);
    if hi - lo <= 0.0 || !(hi - lo).is_finite() {
        return (0.0, 1.0);
    }
    let span = hi - lo;
    let lo = if lo < 0.0 {
        lo - span * headroom.clamp(0.05, 0.2)
    } else {
        lo
    };
    (lo, hi + span * headroom)
}

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// The bar chart's category axis: `-0.5..n-0.5`, with key points (ticks, labels) only at the
/// bar centres `0, 1, .., n-1`.
#[derive(Clone, Copy)]
struct BarAxis(usize);

impl Ranged for BarAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let frac = (value + 0.5) / self.0.max(1) as f64;
        limit.0 + (frac * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        let max = hint.max_num_points().max(1);
        let step = self.0.div_ceil(max).max(1);
        (0..self.0).step_by(step).map(|i| i as f64).collect()
    }

    fn range(&self) -> std::ops::Range<f64> {
        -0.5..self.0 as f64 - 0.5
    }
}

/// Writes one SVG (1200x500) with two panels: the bar chart of `bars` on the left and the
/// throughput-over-time line chart of `series` on the right. Non-finite values are skipped.
pub fn write_svg(path: &Path, title: &str, bars: &[Bar], series: &[Series]) -> Result<()> {
    {
        let root = SVGBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).context("plot: fill background")?;
        let body = if title.is_empty() {
            root.clone()
        } else {
            root.titled(title, (FONT, TITLE_SIZE).into_font().style(FontStyle::Bold))
                .context("plot: draw title")?
        };
        let (left, right) = body.split_horizontally(LEFT_W);
        draw_bars(&left, bars).context("plot: draw bar chart")?;
        draw_series(&right, series).context("plot: draw line chart")?;
        root.present()
            .with_context(|| format!("plot: write {}", path.display()))?;
    }
    Ok(())
}

/// Draws `caption` and a centred "no data" in `area`.
fn draw_empty(area: &Area, caption: &str) -> Result<()> {
    let (w, h) = area.dim_in_pixel();
    let (w, h) = (w as i32, h as i32);
    area.draw(&Text::new(
        caption.to_string(),
        (w / 2, 8),
        (FONT, CAPTION_SIZE)
            .into_font()
            .color(&BLACK)
            .pos(Pos::new(HPos::Center, VPos::Top)),
    ))?;
    area.draw(&Rectangle::new(
        [(40, 45), (w - 20, h - 40)],
        BLACK.mix(0.3).stroke_width(1),
    ))?;
    area.draw(&Text::new(
        "no data",
        (w / 2, h / 2),
        (FONT, LABEL_SIZE)
            .into_font()
            .color(&BLACK.mix(0.6))
            .pos(Pos::new(HPos::Center, VPos::Center)),
    ))?;
    Ok(())
}

const BAR_CAPTION: &str = "Throughput per system (rows/s)";
const LINE_CAPTION: &str = "Throughput over time";

fn draw_bars(area: &Area, bars: &[Bar]) -> Result<()> {
    let bars: Vec<&Bar> = bars.iter().filter(|b| b.rows_per_s.is_finite()).collect();
    if bars.is_empty() {
        return draw_empty(area, BAR_CAPTION);
    }
    let n = bars.len();
    let labels: Vec<String> = bars.iter().map(|b| truncate_label(&b.label)).collect();
    let lo = bars.iter().map(|b| b.rows_per_s).fold(0.0, f64::min);
    let hi = bars.iter().map(|b| b.rows_per_s).fold(0.0, f64::max);
    // Room on the right for the value label of the longest bar.
    let (x_lo, x_hi) = value_range(lo, hi, 0.2);
    let max_chars = labels.iter().map(|l| l.chars().count()).max().unwrap_or(1);
    let label_area = (max_chars as u32 * 7 + 16).clamp(50, 230);

    // Bar i sits at y = n-1-i so that the first bar is on top; ticks only at bar centres.
    let y_range = BarAxis(n);
    let mut chart = ChartBuilder::on(area)
        .caption(BAR_CAPTION, (FONT, CAPTION_SIZE))
        .margin(10)
        .margin_right(25)
        .x_label_area_size(45)
        .y_label_area_size(label_area)
        .build_cartesian_2d(x_lo..x_hi, y_range)?;

    let label_of = |y: &f64| -> String {
        let k = y.round();
        if k < 0.0 || k >= n as f64 || (y - k).abs() > 1e-6 {
            return String::new();
        }
        labels[n - 1 - k as usize].clone()
    };
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_labels(6)
        .y_labels(n)
        .x_label_formatter(&|v| human(*v))
        .y_label_formatter(&label_of)
        .x_desc("rows/s")
        .label_style((FONT, LABEL_SIZE))
        .axis_desc_style((FONT, LABEL_SIZE))
        .bold_line_style(BLACK.mix(0.12))
        .light_line_style(TRANSPARENT)
        .draw()?;

    let half = if n == 1 { 0.3 } else { 0.35 };
    chart.draw_series(bars.iter().enumerate().map(|(i, b)| {
        let y = (n - 1 - i) as f64;
        let v = b.rows_per_s;
        Rectangle::new(
            [(v.min(0.0), y - half), (v.max(0.0), y + half)],
            color(i).filled(),
        )
    }))?;
    // Value labels just past the end of each bar (left of it for a negative value).
    let value_style = (FONT, VALUE_SIZE).into_font().color(&BLACK);
    chart.draw_series(bars.iter().enumerate().map(|(i, b)| {
        let y = (n - 1 - i) as f64;
        let v = b.rows_per_s;
        let (dx, h) = if v < 0.0 {
            (-5, HPos::Right)
        } else {
            (5, HPos::Left)
        };
        let style = value_style.pos(Pos::new(h, VPos::Center));
        EmptyElement::at((v, y)) + Text::new(human(v), (dx, 0), style)
    }))?;
    Ok(())
}

/// A series after cleaning: (index in the input, for its colour; label; finite points by time).
type Clean<'a> = (usize, &'a str, Vec<(f64, f64)>);

fn draw_series(area: &Area, series: &[Series]) -> Result<()> {
    // Finite points only, sorted by time; series left with no point are dropped.
    let series: Vec<Clean> = series
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut pts: Vec<(f64, f64)> = s
                .points
                .iter()
                .copied()
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .collect();
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            (i, s.label.as_str(), pts)
        })
        .filter(|(_, _, pts)| !pts.is_empty())
        .collect();
    if series.is_empty() {
        return draw_empty(area, LINE_CAPTION);
    }
    let all = || series.iter().flat_map(|(_, _, p)| p.iter());
    let x_min = all().map(|p| p.0).fold(f64::INFINITY, f64::min);
    let x_max = all().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
    let (x_lo, x_hi) = if x_max > x_min {
        (x_min.min(0.0), x_max)
    } else {
        // One distinct time: centre it.
        (x_min - 1.0, x_min + 1.0)
    };
    let y_lo = all().map(|p| p.1).fold(0.0, f64::min);
    let y_hi = all().map(|p| p.1).fold(0.0, f64::max);
    // Leave room at the top for the legend (about 22 px per entry of a ~370 px tall plot).
    let legend_frac = ((series.len() as f64 * 22.0 + 16.0) / 370.0).min(0.6);
    let (y_lo, y_hi) = value_range(y_lo, y_hi, legend_frac / (1.0 - legend_frac) + 0.04);

    let mut chart = ChartBuilder::on(area)
        .caption(LINE_CAPTION, (FONT, CAPTION_SIZE))
        .margin(10)
        .margin_right(25)
        .x_label_area_size(45)
        .y_label_area_size(65)
        .build_cartesian_2d(x_lo..x_hi, y_lo..y_hi)?;
    chart
        .configure_mesh()
        .x_labels(8)
        .y_labels(6)
        .x_label_formatter(&|v| seconds(*v))
        .y_label_formatter(&|v| human(*v))
        .x_desc("seconds")
        .y_desc("rows/s")
        .label_style((FONT, LABEL_SIZE))
        .axis_desc_style((FONT, LABEL_SIZE))
        .bold_line_style(BLACK.mix(0.12))
        .light_line_style(BLACK.mix(0.04))
        .draw()?;

    for (i, label, pts) in &series {
        let c = color(*i);
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))?
            .label(truncate_label(label))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(3)));
        // Markers when there are few points (a single point has no line at all).
        if pts.len() <= 40 {
            chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, c.filled())))?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font((FONT, LABEL_SIZE))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .draw()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn temp_svg(tag: &str) -> std::path::PathBuf {
        static N: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        std::env::temp_dir().join(format!(
            "starpipe-plot-{tag}-{}-{nanos}-{}.svg",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ))
    }

    fn bar(label: &str, v: f64) -> Bar {
        Bar {
            label: label.to_string(),
            rows_per_s: v,
        }
    }

    fn ramp(label: &str, peak: f64, secs: usize) -> Series {
        Series {
            label: label.to_string(),
            points: (0..=secs)
                .map(|t| {
                    let t = t as f64;
                    let y = peak * (t / 5.0).min(1.0) * (1.0 + 0.05 * (t * 0.7).sin());
                    (t, y)
                })
                .collect(),
        }
    }

    #[test]
    fn human_formats() {
        assert_eq!(human(102_345.0), "102k");
        assert_eq!(human(1_500_000.0), "1.5M");
        assert_eq!(human(12.0), "12");
        assert_eq!(human(0.0), "0");
        assert_eq!(human(0.25), "0.25");
        assert_eq!(human(999.0), "999");
        assert_eq!(human(999.7), "1k");
        assert_eq!(human(12_340.0), "12.3k");
        assert_eq!(human(999_600.0), "1M");
        assert_eq!(human(2.5e9), "2.5G");
        assert_eq!(human(-45_000.0), "-45k");
        assert_eq!(human(f64::NAN), "n/a");
    }

    #[test]
    fn plot_writes_svg_with_labels() {
        let path = temp_svg("main");
        let bars = vec![
            bar("starpipe", 412_345.0),
            bar("Flink CDC", 101_900.0),
            bar("Routine Load", 250_000.0),
            bar("Kafka Connect sink", 38_500.0),
        ];
        let series = vec![
            ramp("starpipe", 410_000.0, 60),
            ramp("Flink CDC", 100_000.0, 60),
        ];
        write_svg(&path, "starpipe vs others: sbtest, 1M rows", &bars, &series).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.contains("<svg"));
        for b in &bars {
            assert!(svg.contains(&b.label), "missing bar label {}", b.label);
        }
        assert!(svg.contains("Throughput over time"));
        assert!(svg.contains("Throughput per system (rows/s)"));
        assert!(
            svg.contains(">412k<") || svg.contains("412k\n"),
            "value label"
        );
        assert!(
            svg.contains("seconds") && svg.contains("rows/s"),
            "axis labels"
        );
        if std::env::var_os("STARPIPE_PLOT_KEEP").is_some() {
            eprintln!("kept {}", path.display());
        } else {
            std::fs::remove_file(&path).ok();
        }
    }

    #[test]
    fn plot_edge_cases_do_not_panic() {
        let nan = f64::NAN;
        let cases: Vec<(&str, Vec<Bar>, Vec<Series>)> = vec![
            ("empty", vec![], vec![]),
            (
                "single",
                vec![bar("only", 5.0)],
                vec![Series {
                    label: "one point".into(),
                    points: vec![(3.0, 7.0)],
                }],
            ),
            (
                "zeros",
                vec![bar("a", 0.0), bar("b", 0.0)],
                vec![Series {
                    label: "flat".into(),
                    points: vec![(0.0, 0.0), (1.0, 0.0), (2.0, 0.0)],
                }],
            ),
            (
                "nan",
                vec![bar("nan", nan), bar("inf", f64::INFINITY), bar("ok", 10.0)],
                vec![
                    Series {
                        label: "all nan".into(),
                        points: vec![(nan, 1.0), (1.0, nan)],
                    },
                    Series {
                        label: "some".into(),
                        points: vec![(0.0, 1.0), (nan, 2.0), (2.0, 3.0)],
                    },
                    Series {
                        label: "empty".into(),
                        points: vec![],
                    },
                ],
            ),
            ("all-nan", vec![bar("x", nan)], vec![]),
            (
                "negative & <escape>",
                vec![bar("neg", -5.0), bar("pos", 5.0)],
                vec![Series {
                    label: "a<b>&c".into(),
                    points: vec![(0.0, -3.0), (0.0, 4.0)],
                }],
            ),
        ];
        for (tag, bars, series) in cases {
            let path = temp_svg("edge");
            write_svg(&path, tag, &bars, &series).unwrap_or_else(|e| panic!("{tag}: {e:#}"));
            let svg = std::fs::read_to_string(&path).unwrap();
            assert!(svg.contains("<svg"), "{tag}");
            assert!(svg.contains("Throughput over time"), "{tag}");
            if std::env::var_os("STARPIPE_PLOT_KEEP").is_some() {
                eprintln!("kept {}", path.display());
            } else {
                std::fs::remove_file(&path).ok();
            }
        }
    }
}
