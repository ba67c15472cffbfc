//! Figures written as both PNG (to look at) and SVG (to put in papers), atomically. Text in PNGs
//! uses the bundled DejaVu Sans, so figures look the same on machines without system fonts.

use anyhow::{anyhow, Context, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
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
    /// A dashed vertical line at this x, named in the legend (the best epoch).
    pub marker: Option<(f64, String)>,
}

/// The legend goes in the corner whose box (40% of the width, 35% of the height) holds the
/// fewest points of the panel, so it does not cover a curve (plotters would put it at the
/// middle right, where a valid curve rises as a model over-fits). `to_unit` maps a point into
/// the unit square of the plot area.
fn legend_corner(series: &[Series], to_unit: impl Fn(f64, f64) -> (f64, f64)) -> SeriesLabelPosition {
    use SeriesLabelPosition::*;
    let corners = [
        (UpperRight, true, true),
        (UpperLeft, false, true),
        (LowerRight, true, false),
        (LowerLeft, false, false),
    ];
    let inside = |(right, upper): (bool, bool), (u, v): (f64, f64)| {
        (if right { u >= 0.6 } else { u <= 0.4 }) && (if upper { v >= 0.65 } else { v <= 0.35 })
    };
    let points: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|s| s.points.iter())
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .map(|&(x, y)| to_unit(x, y))
        .collect();
    let (position, ..) = corners
        .into_iter()
        .min_by_key(|&(_, right, upper)| points.iter().filter(|&&p| inside((right, upper), p)).count())
        .expect("four corners");
    position
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
        // the right margin leaves room for half of the last x tick's label
        builder
            .caption(&panel.title, (FONT, 20))
            .margin(12)
            .margin_right(28)
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
                    } else if (v - v.round()).abs() < 1e-9 && (!panel.log_x || one_two_five(*v)) {
                        format!("{}", v.round() as i64)
                    } else {
                        String::new()
                    }
                };
                chart
                    .configure_mesh()
                    // a log axis has a light line at every 1..9 × 10ᵏ: they crowd into a band
                    .x_max_light_lines(if panel.log_x { 0 } else { 10 })
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
                if let Some((x, name)) = &panel.marker {
                    let grey = RGBColor(90, 90, 90);
                    // dashes of 6 px with 4 px gaps
                    let line = DashedLineSeries::new([(*x, y0), (*x, y1)], 6, 4, grey.stroke_width(1));
                    chart
                        .draw_series(line)
                        .map_err(err)?
                        .label(name)
                        .legend(move |(x, y)| {
                            PathElement::new(vec![(x + 9, y - 6), (x + 9, y + 6)], grey.stroke_width(1))
                        });
                }
                let corner = {
                    let to_unit = |x: f64, y: f64| {
                        let u = if panel.log_x {
                            (x.max(1e-9).ln() - x0.max(1e-9).ln()) / (x1.ln() - x0.max(1e-9).ln())
                        } else {
                            (x - x0) / (x1 - x0)
                        };
                        (u, (y - y0) / (y1 - y0))
                    };
                    legend_corner(&panel.series, to_unit)
                };
                chart
                    .configure_series_labels()
                    .position(corner)
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

/// Whether `v` is 1, 2 or 5 × 10ᵏ: the ticks a log axis labels (all nine per decade run into
/// each other).
fn one_two_five(v: f64) -> bool {
    if v <= 0.0 {
        return false;
    }
    let lead = v / 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0].iter().any(|d| (lead - d).abs() < 1e-6)
}

/// A line of an epoch figure: its name and how an epoch's record gives its value.
pub type EpochLine<'a, R> = (&'a str, fn(&R) -> f64);

/// Loss and accuracy per epoch, side by side (problem 75's figure): one line per entry of
/// `loss` and of `accuracy`, at the epochs `epoch` reads from each record, and the best epoch
/// marked on both.
pub fn loss_and_accuracy<R>(
    stem: &Path,
    history: &[R],
    epoch: fn(&R) -> usize,
    best_epoch: usize,
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
            marker: best_epoch_marker(best_epoch),
        },
        Panel {
            title: "accuracy".into(),
            x_label: "epoch".into(),
            y_label: "accuracy".into(),
            series: series(accuracy),
            log_x: false,
            marker: best_epoch_marker(best_epoch),
        },
    ];
    line_panels(stem, &panels)
}

/// The marker of an epoch figure's best epoch (none for 0, a run with no epoch yet).
pub fn best_epoch_marker(epoch: usize) -> Option<(f64, String)> {
    (epoch > 0).then(|| (epoch as f64, format!("best epoch {epoch}")))
}

/// Side-by-side line charts (e.g. loss and accuracy per epoch, train and valid).
pub fn line_panels(stem: &Path, panels: &[Panel]) -> Result<()> {
    let size = (560 * panels.len() as u32, 420);
    render(stem, size, |a| draw_panels(a, panels), |a| draw_panels(a, panels))
}

/// A cell's colour for its share of the gold row: white at 0, deep blue at 1.
fn shade(share: f64) -> RGBColor {
    let v = (255.0 * (1.0 - 0.85 * share.clamp(0.0, 1.0))) as u8;
    RGBColor(v, v, 255)
}

/// Above this many classes zero counts are left out (R52's matrix is mostly zeros).
const MANY_CLASSES: usize = 12;

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
    let many = k > MANY_CLASSES;
    let longest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(1) as u32;
    let y_area = (7 * longest + 40).clamp(90, 190);
    let main_width = root.dim_in_pixel().0.saturating_sub(100);
    // predicted labels stand upright when they are wider than a cell, and then need their
    // length in height
    let upright = 7 * longest > main_width.saturating_sub(y_area + 32) / k.max(1) as u32;
    let x_area = if upright { (7 * longest + 24).clamp(60, 170) } else { 60 };
    let (main, scale) = root.split_horizontally(main_width);
    // cells are centred on integer coordinates, so the integer ticks name rows and columns
    let mut chart = ChartBuilder::on(&main)
        .caption(title, (FONT, 20))
        .margin(16)
        .x_label_area_size(x_area)
        .y_label_area_size(y_area)
        .build_cartesian_2d(-half..k as f64 - half, -half..k as f64 - half)
        .map_err(err)?;
    let (w, h) = chart.plotting_area().dim_in_pixel();
    let cell = w.min(h) as f64 / k.max(1) as f64;
    let label_size = (cell * 0.7).clamp(8.0, 13.0);
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
        .x_label_formatter(&|v| if upright { String::new() } else { name(*v, false) })
        .y_label_formatter(&|v| name(*v, true))
        .label_style((FONT, label_size))
        .axis_desc_style((FONT, 13))
        .draw()
        .map_err(err)?;
    if upright {
        // plotters centres an x label on its tick, which would put half of an upright one
        // inside the plot: these start just below the axis and read downwards
        let style = TextStyle::from((FONT, label_size).into_font().transform(FontTransform::Rotate90))
            .pos(Pos::new(HPos::Left, VPos::Center));
        for (i, label) in labels.iter().enumerate() {
            let (x, y) = chart.backend_coord(&(i as f64, -half));
            main.draw(&Text::new(label.as_str(), (x, y + 6), style.clone()))
                .map_err(err)?;
        }
    }
    // one size for every count, so that the widest (672 in R52's diagonal) fits its cell
    let digits = m.iter().flatten().max().map_or(1, |c| c.to_string().len()) as f64;
    let count_size = (cell * 0.45).min(cell * 0.85 / (0.62 * digits)).clamp(5.0, 16.0);
    let row_total: Vec<f64> = m.iter().map(|r| r.iter().sum::<usize>().max(1) as f64).collect();
    for (g, row) in m.iter().enumerate() {
        for (p, &count) in row.iter().enumerate() {
            let share = count as f64 / row_total[g];
            let (x, y) = (p as f64, (k - 1 - g) as f64);
            let cell = Rectangle::new([(x - half, y - half), (x + half, y + half)], shade(share).filled());
            chart.draw_series(std::iter::once(cell)).map_err(err)?;
            if count == 0 && many {
                continue;
            }
            let color = if share > 0.5 { WHITE } else { BLACK };
            let style = TextStyle::from((FONT, count_size).into_font())
                .color(&color)
                .pos(Pos::new(HPos::Center, VPos::Center));
            let text = Text::new(count.to_string(), (x, y), style);
            chart.draw_series(std::iter::once(text)).map_err(err)?;
        }
    }
    draw_colour_scale(&scale, x_area)
}

/// The colour scale beside a confusion matrix: share of the gold row, 0 to 1.
fn draw_colour_scale<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, bottom: u32) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let mut bar = ChartBuilder::on(area)
        .margin_top(52)
        .margin_bottom(16 + bottom)
        .margin_right(8)
        .y_label_area_size(58)
        .build_cartesian_2d(0f64..1f64, 0f64..1f64)
        .map_err(err)?;
    bar.configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_labels(5)
        .y_desc("share of gold row")
        .label_style((FONT, 11))
        .axis_desc_style((FONT, 12))
        .draw()
        .map_err(err)?;
    let steps = 50;
    let bands = (0..steps).map(|i| {
        let (a, b) = (i as f64 / steps as f64, (i + 1) as f64 / steps as f64);
        Rectangle::new([(0.0, a), (1.0, b)], shade((a + b) / 2.0).filled())
    });
    bar.draw_series(bands).map_err(err)?;
    Ok(())
}

/// A confusion matrix (rows gold, columns predicted), shaded by row share, with counts and a
/// colour scale.
pub fn confusion_matrix(stem: &Path, title: &str, labels: &[String], matrix: &[Vec<usize>]) -> Result<()> {
    let side = (120 + 60 * labels.len() as u32).clamp(360, 1400);
    render(
        stem,
        (side + 100, side),
        |a| draw_confusion(a, title, labels, matrix),
        |a| draw_confusion(a, title, labels, matrix),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A log axis labels 1, 2 and 5 of each decade and nothing between.
    #[test]
    fn log_axes_label_one_two_and_five_per_decade() {
        let labelled: Vec<u32> = (1..=20000).filter(|&v| one_two_five(v as f64)).collect();
        assert_eq!(
            labelled,
            [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000]
        );
        assert!(!one_two_five(0.0) && !one_two_five(-10.0) && one_two_five(0.5));
    }

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
            marker: None,
        };
        let e = line_panels(&stem, &[panel]).unwrap_err().to_string();
        assert!(e.contains("curves.png"), "{e}");
        assert!(!stem.with_extension("png").exists());
    }

    fn svg(stem: &Path) -> String {
        std::fs::read_to_string(stem.with_extension("svg")).unwrap()
    }

    /// Each text element of an SVG from plotters: its opening tag, and its content (on the
    /// line after the tag).
    fn texts(svg: &str) -> Vec<(&str, &str)> {
        let lines: Vec<&str> = svg.lines().collect();
        lines
            .windows(2)
            .filter(|w| w[0].starts_with("<text"))
            .map(|w| (w[0], w[1]))
            .collect()
    }

    /// Over-fitting: train loss falls steeply from the upper left into the lower half while
    /// valid loss turns back up to the upper right. Only the first train point reaches the
    /// upper left, so the legend goes there (plotters' default, the middle right, covers the
    /// valid curve).
    #[test]
    fn the_legend_takes_the_corner_the_curves_leave_empty() {
        let line = |name: &str, f: fn(f64) -> f64| Series {
            name: name.into(),
            points: (1..=20).map(|e| (e as f64, f(e as f64))).collect(),
            errors: Vec::new(),
        };
        let series = [
            line("train", |e| 1.0 / e),
            line("valid", |e| 0.6 + 0.02 * (e - 6.0).powi(2) / 4.0),
        ];
        let to_unit = |x: f64, y: f64| ((x - 1.0) / 19.0, y / 1.2);
        assert!(matches!(
            legend_corner(&series, to_unit),
            SeriesLabelPosition::UpperLeft
        ));
    }

    /// Epoch figures mark the best epoch, label only whole epochs, and leave the last tick's
    /// label room inside the figure.
    #[test]
    fn epoch_figures_mark_the_best_epoch_with_whole_ticks() {
        struct R {
            epoch: usize,
            loss: f64,
        }
        let history: Vec<R> = (1..=7)
            .map(|epoch| R {
                epoch,
                loss: 1.0 / epoch as f64,
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let stem = dir.path().join("curves");
        loss_and_accuracy(
            &stem,
            &history,
            |r| r.epoch,
            5,
            &[("train", |r| r.loss)],
            &[("train", |r| r.loss)],
        )
        .unwrap();
        let svg = svg(&stem);
        let shown: Vec<&str> = texts(&svg).into_iter().map(|(_, t)| t).collect();
        let best = shown.iter().filter(|&&t| t == "best epoch 5").count();
        assert_eq!(best, 2, "one legend entry per panel: {shown:?}");
        let fractional = shown.contains(&"1.5") || shown.contains(&"6.5");
        assert!(!fractional, "fractional epoch ticks: {shown:?}");
        assert!(shown.contains(&"7"), "the last epoch is labelled: {shown:?}");
    }

    /// R52's matrix: 52 classes, a diagonal count of 672. Counts sit centred in their cells at a
    /// size that fits three digits, predicted labels stand upright, zero counts are left out,
    /// and a colour scale says what the shades mean.
    #[test]
    fn a_many_class_confusion_matrix_stays_readable() {
        let k = 52;
        let labels: Vec<String> = (0..k).map(|i| format!("money-supply-{i}")).collect();
        let matrix: Vec<Vec<usize>> = (0..k)
            .map(|g| {
                (0..k)
                    .map(|p| if g == p { 672 - g } else { usize::from(p == (g + 1) % k) })
                    .collect()
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let stem = dir.path().join("confusion");
        confusion_matrix(&stem, "confusion matrix (test)", &labels, &matrix).unwrap();
        let svg = svg(&stem);
        let texts = texts(&svg);
        let (tag, _) = texts
            .iter()
            .find(|(_, t)| *t == "672")
            .expect("the count 672 is drawn whole");
        assert!(tag.contains("text-anchor=\"middle\""), "{tag}");
        assert!(!texts.iter().any(|(_, t)| *t == "0"), "zero counts are left out");
        assert!(texts.iter().any(|(_, t)| *t == "share of gold row"), "a colour scale");
        let upright = texts
            .iter()
            .filter(|(_, t)| *t == "money-supply-3")
            .any(|(tag, _)| tag.contains("rotate(90"));
        assert!(upright, "upright predicted labels");
        assert!(stem.with_extension("png").is_file());
    }
}
