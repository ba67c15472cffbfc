//! Figures written as both PNG (to look at) and SVG (to put in papers), atomically. Text in PNGs
//! uses the bundled DejaVu Sans, so figures look the same on machines without system fonts.

use anyhow::{anyhow, Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;
use std::sync::Once;

const FONT: &str = "sans-serif";
static FONT_BYTES: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

fn register_font() {
    REGISTER.call_once(|| {
        for style in [FontStyle::Normal, FontStyle::Bold] {
            let _ = plotters::style::register_font(FONT, style, FONT_BYTES);
        }
    });
}

/// One line on a panel.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    /// Half-heights of error bars at each point (a standard deviation), or empty for none.
    pub errors: Vec<f64>,
}

/// One chart of a figure.
pub struct Panel {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    pub log_x: bool,
}

fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("drawing failed: {e:?}")
}

/// Draws into `{stem}.png` and `{stem}.svg`.
fn render(
    stem: &Path,
    size: (u32, u32),
    draw: impl Fn(&DrawingArea<SVGBackend, Shift>) -> Result<()>,
    draw_png: impl Fn(&DrawingArea<BitMapBackend, Shift>) -> Result<()>,
) -> Result<()> {
    register_font();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        draw(&root)?;
        root.present().map_err(err)?;
    }
    crate::atomic::write_atomic(&stem.with_extension("svg"), svg.as_bytes())?;
    let png = stem.with_extension("png");
    let tmp = stem.with_extension(format!("tmp-{}.png", std::process::id()));
    let result = (|| -> Result<()> {
        {
            let root = BitMapBackend::new(&tmp, size).into_drawing_area();
            root.fill(&WHITE).map_err(err)?;
            draw_png(&root)?;
            // a full disk shows here, as the encoder writes the file
            root.present().map_err(|e| anyhow!("writing {}: {e}", png.display()))?;
        }
        std::fs::rename(&tmp, &png).with_context(|| format!("writing {}", png.display()))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

fn draw_panels<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, panels: &[Panel]) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let areas = root.split_evenly((1, panels.len()));
    for (area, panel) in areas.iter().zip(panels) {
        let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for s in &panel.series {
            for (i, &(x, y)) in s.points.iter().enumerate() {
                if !(x.is_finite() && y.is_finite()) {
                    continue;
                }
                let e = s.errors.get(i).copied().filter(|e| e.is_finite()).unwrap_or(0.0);
                x0 = x0.min(x);
                x1 = x1.max(x);
                y0 = y0.min(y - e);
                y1 = y1.max(y + e);
            }
        }
        if x0 > x1 {
            (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
        }
        if x1 - x0 < 1e-9 {
            x1 = x0 + 1.0;
        }
        let pad = ((y1 - y0) * 0.05).max(1e-6);
        let (y0, y1) = (y0 - pad, y1 + pad);
        let mut builder = ChartBuilder::on(area);
        builder
            .caption(&panel.title, (FONT, 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60);
        macro_rules! finish {
            ($chart:expr) => {{
                let mut chart = $chart;
                // epochs and sizes are whole numbers: label only whole ticks, without ".0"
                let whole_x = panel
                    .series
                    .iter()
                    .flat_map(|s| s.points.iter())
                    .all(|p| p.0.fract() == 0.0);
                let x_tick = |v: &f64| {
                    if !whole_x {
                        format!("{v}")
                    } else if (v - v.round()).abs() < 1e-9 {
                        format!("{}", v.round() as i64)
                    } else {
                        String::new()
                    }
                };
                chart
                    .configure_mesh()
                    .x_label_formatter(&x_tick)
                    .x_desc(&panel.x_label)
                    .y_desc(&panel.y_label)
                    .label_style((FONT, 13))
                    .draw()
                    .map_err(err)?;
                for (i, s) in panel.series.iter().enumerate() {
                    let color = COLORS[i % COLORS.len()];
                    chart
                        .draw_series(LineSeries::new(s.points.iter().copied(), color.stroke_width(2)))
                        .map_err(err)?
                        .label(&s.name)
                        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
                    let bars = s
                        .points
                        .iter()
                        .zip(&s.errors)
                        .map(|(&(x, y), &e)| PathElement::new(vec![(x, y - e), (x, y + e)], color.stroke_width(2)));
                    chart.draw_series(bars).map_err(err)?;
                    if s.points.len() <= 40 {
                        chart
                            .draw_series(s.points.iter().map(|&p| Circle::new(p, 3, color.filled())))
                            .map_err(err)?;
                    }
                }
                chart
                    .configure_series_labels()
                    .label_font((FONT, 13))
                    .border_style(BLACK)
                    .background_style(WHITE.mix(0.8))
                    .draw()
                    .map_err(err)?;
            }};
        }
        if panel.log_x {
            finish!(builder
                .build_cartesian_2d((x0.max(1e-9)..x1).log_scale(), y0..y1)
                .map_err(err)?);
        } else {
            finish!(builder.build_cartesian_2d(x0..x1, y0..y1).map_err(err)?);
        }
    }
    Ok(())
}

/// A line of an epoch figure: its name and how an epoch's record gives its value.
pub type EpochLine<'a, R> = (&'a str, fn(&R) -> f64);

/// Loss and accuracy per epoch, side by side (problem 75's figure): one line per entry of
/// `loss` and of `accuracy`, at the epochs `epoch` reads from each record.
pub fn loss_and_accuracy<R>(
    stem: &Path,
    history: &[R],
    epoch: fn(&R) -> usize,
    loss: &[EpochLine<R>],
    accuracy: &[EpochLine<R>],
) -> Result<()> {
    let series = |lines: &[EpochLine<R>]| {
        lines
            .iter()
            .map(|(name, f)| Series {
                name: name.to_string(),
                points: history.iter().map(|r| (epoch(r) as f64, f(r))).collect(),
                errors: Vec::new(),
            })
            .collect()
    };
    let panels = [
        Panel {
            title: "loss".into(),
            x_label: "epoch".into(),
            y_label: "cross-entropy".into(),
            series: series(loss),
            log_x: false,
        },
        Panel {
            title: "accuracy".into(),
            x_label: "epoch".into(),
            y_label: "accuracy".into(),
            series: series(accuracy),
            log_x: false,
        },
    ];
    line_panels(stem, &panels)
}

/// Side-by-side line charts (e.g. loss and accuracy per epoch, train and valid).
pub fn line_panels(stem: &Path, panels: &[Panel]) -> Result<()> {
    let size = (560 * panels.len() as u32, 420);
    render(stem, size, |a| draw_panels(a, panels), |a| draw_panels(a, panels))
}

fn draw_confusion<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    labels: &[String],
    m: &[Vec<usize>],
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let k = labels.len();
    let half = 0.5f64;
    // cells are centred on integer coordinates, so the integer ticks name rows and columns
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, 20))
        .margin(16)
        .x_label_area_size(60)
        .y_label_area_size(90)
        .build_cartesian_2d(-half..k as f64 - half, -half..k as f64 - half)
        .map_err(err)?;
    let name = |v: f64, flip: bool| {
        let i = v.round();
        if (v - i).abs() > 1e-6 || i < 0.0 || i >= k as f64 {
            return String::new();
        }
        let i = i as usize;
        labels[if flip { k - 1 - i } else { i }].clone()
    };
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("predicted")
        .y_desc("gold")
        .x_labels(k + 1)
        .y_labels(k + 1)
        .x_label_formatter(&|v| name(*v, false))
        .y_label_formatter(&|v| name(*v, true))
        .label_style((FONT, 13))
        .draw()
        .map_err(err)?;
    let row_total: Vec<f64> = m.iter().map(|r| r.iter().sum::<usize>().max(1) as f64).collect();
    for (g, row) in m.iter().enumerate() {
        for (p, &count) in row.iter().enumerate() {
            let share = count as f64 / row_total[g];
            let shade = (255.0 * (1.0 - 0.85 * share)) as u8;
            let (x, y) = (p as f64, (k - 1 - g) as f64);
            let cell = Rectangle::new(
                [(x - half, y - half), (x + half, y + half)],
                RGBColor(shade, shade, 255).filled(),
            );
            chart.draw_series(std::iter::once(cell)).map_err(err)?;
            let color = if share > 0.5 { WHITE } else { BLACK };
            let text = Text::new(
                count.to_string(),
                (x - 0.25, y + 0.15),
                (FONT, 14).into_font().color(&color),
            );
            chart.draw_series(std::iter::once(text)).map_err(err)?;
        }
    }
    Ok(())
}

/// A confusion matrix (rows gold, columns predicted), shaded by row share, with counts.
pub fn confusion_matrix(stem: &Path, title: &str, labels: &[String], matrix: &[Vec<usize>]) -> Result<()> {
    let side = (120 + 60 * labels.len() as u32).clamp(360, 1400);
    render(
        stem,
        (side, side),
        |a| draw_confusion(a, title, labels, matrix),
        |a| draw_confusion(a, title, labels, matrix),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PNG that cannot be written (here its temporary name is taken by a folder; a full disk
    /// fails the same way) is an error naming the figure, not a bare backend error.
    #[test]
    fn a_figure_that_cannot_be_written_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let stem = dir.path().join("curves");
        std::fs::create_dir(stem.with_extension(format!("tmp-{}.png", std::process::id()))).unwrap();
        let panel = Panel {
            title: "loss".into(),
            x_label: "epoch".into(),
            y_label: "loss".into(),
            series: vec![Series {
                name: "train".into(),
                points: vec![(1.0, 0.5), (2.0, 0.4)],
                errors: Vec::new(),
            }],
            log_x: false,
        };
        let e = line_panels(&stem, &[panel]).unwrap_err().to_string();
        assert!(e.contains("curves.png"), "{e}");
        assert!(!stem.with_extension("png").exists());
    }
}
