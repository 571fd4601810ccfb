//! Loss curves: appended to a CSV as training goes, and drawn to a PNG plot.

use std::io::Write;
use std::path::Path;

use image::{Rgb, RgbImage};

use super::pixel_font::{draw_text, fill_rect, put, text_height, text_width};

/// Named series of (step, value) points.
pub type Series = Vec<(String, Vec<(f64, f64)>)>;

/// Appends `step,name,value` rows (creating the file with a header).
pub fn append_csv(path: &Path, step: usize, values: &[(&str, f64)]) -> std::io::Result<()> {
    let new = !path.exists();
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    if new {
        writeln!(f, "step,series,value")?;
    }
    for (name, v) in values {
        writeln!(f, "{step},{name},{v}")?;
    }
    Ok(())
}

/// Reads the CSV back as series name -> (step, value) points.
pub fn read_csv(path: &Path) -> std::io::Result<Series> {
    let text = std::fs::read_to_string(path)?;
    let mut series: Series = Vec::new();
    for line in text.lines().skip(1) {
        let mut parts = line.split(',');
        let (Some(s), Some(name), Some(v)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let (Ok(s), Ok(v)) = (s.parse::<f64>(), v.parse::<f64>()) else {
            continue;
        };
        match series.iter_mut().find(|(n, _)| n == name) {
            Some((_, pts)) => pts.push((s, v)),
            None => series.push((name.to_string(), vec![(s, v)])),
        }
    }
    Ok(series)
}

const COLOURS: [[u8; 3]; 6] = [
    [220, 50, 47],
    [38, 139, 210],
    [133, 153, 0],
    [211, 54, 130],
    [181, 137, 0],
    [42, 161, 152],
];

/// Colour of the labels.
const INK: [u8; 3] = [60, 60, 60];

/// Draws every series on a log-scale y axis, one colour each, with a light moving average so
/// the trend reads through minibatch noise. Labelled: a legend of the series names (CSV order)
/// along the top, the decades on the y axis, the first and last step on the x axis
/// (each phase counts from 0).
pub fn plot(series: &Series, width: u32, height: u32) -> RgbImage {
    let mut img = RgbImage::from_pixel(width, height, Rgb([255, 255, 255]));
    // `left` leaves room for the decade labels, `legend` for the names above the plot.
    let (pad, left, legend, scale) = (30u32, 48u32, 12u32, 2u32);
    let pts = series.iter().flat_map(|(_, p)| p.iter());
    let max_x = pts.clone().map(|p| p.0).fold(1.0, f64::max);
    let ys: Vec<f64> = pts
        .map(|p| p.1)
        .filter(|v| *v > 0.0 && v.is_finite())
        .collect();
    let lo = ys
        .iter()
        .cloned()
        .fold(f64::INFINITY, f64::min)
        .max(1e-6)
        .log10()
        .floor();
    let hi = ys
        .iter()
        .cloned()
        .fold(f64::NEG_INFINITY, f64::max)
        .max(1e-5)
        .log10()
        .ceil()
        .max(lo + 1.0);
    let to_px = |x: f64, y: f64| -> (i64, i64) {
        let px = left as f64 + x / max_x * (width - left - pad) as f64;
        let py = (height - pad) as f64
            - (y.max(1e-12).log10() - lo) / (hi - lo) * (height - 2 * pad - legend) as f64;
        (px as i64, py as i64)
    };
    // Axes and decade grid lines.
    for d in (lo as i64)..=(hi as i64) {
        let (_, y) = to_px(0.0, 10f64.powi(d as i32));
        for x in left..width - pad {
            put(&mut img, x as i64, y, [225, 225, 225]);
        }
        let label = decade_label(d);
        let x = left as i64 - 6 - text_width(&label, scale) as i64;
        draw_text(
            &mut img,
            x,
            y - (text_height(scale) / 2) as i64,
            &label,
            scale,
            INK,
        );
    }
    for x in left..width - pad {
        put(&mut img, x as i64, (height - pad) as i64, [0, 0, 0]);
    }
    for y in pad..height - pad {
        put(&mut img, left as i64, y as i64, [0, 0, 0]);
    }
    // x axis: the first and last step at the ends, its name in the middle.
    let below = (height - pad + 6) as i64;
    draw_text(&mut img, left as i64, below, "0", scale, INK);
    let last = format!("{max_x}");
    let right = (width - pad) as i64 - text_width(&last, scale) as i64;
    draw_text(&mut img, right, below, &last, scale, INK);
    // Each training phase counts its own steps from 0, so the series share the x axis.
    let x_name = "step of each phase";
    let mid = (left + (width - left - pad) / 2) as i64 - text_width(x_name, scale) as i64 / 2;
    draw_text(&mut img, mid, below, x_name, scale, INK);
    let mut legend_x = left as i64 + 4;
    for (i, (name, points)) in series.iter().enumerate() {
        let c = COLOURS[i % COLOURS.len()];
        // Legend: a swatch of the series' colour, then its name.
        fill_rect(&mut img, legend_x, 7, 16, 4, c);
        draw_text(&mut img, legend_x + 20, 4, name, scale, INK);
        legend_x += 20 + text_width(name, scale) as i64 + 16;
        let k = (points.len() / 50).max(1);
        let smooth: Vec<(f64, f64)> = (0..points.len())
            .map(|j| {
                let a = j.saturating_sub(k);
                let win = &points[a..=j];
                (
                    points[j].0,
                    win.iter().map(|p| p.1).sum::<f64>() / win.len() as f64,
                )
            })
            .collect();
        for w in smooth.windows(2) {
            let (a, b) = (to_px(w[0].0, w[0].1), to_px(w[1].0, w[1].1));
            line(&mut img, a, b, c);
        }
    }
    img
}

/// "1" and "10" for the first decades, "1e-2" style otherwise.
fn decade_label(d: i64) -> String {
    match d {
        0 => "1".into(),
        1 => "10".into(),
        _ => format!("1e{d}"),
    }
}

fn line(img: &mut RgbImage, (x0, y0): (i64, i64), (x1, y1): (i64, i64), c: [u8; 3]) {
    let n = (x1 - x0).abs().max((y1 - y0).abs()).max(1);
    for s in 0..=n {
        let x = x0 + (x1 - x0) * s / n;
        let y = y0 + (y1 - y0) * s / n;
        put(img, x, y, c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_round_trips_and_plot_draws_every_series() {
        let dir = std::env::temp_dir().join(format!("showo-curves-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("loss.csv");
        let _ = std::fs::remove_file(&path);
        for s in 0..20 {
            append_csv(&path, s, &[("flow", 1.0 / (s + 1) as f64), ("ce", 2.0)]).unwrap();
        }
        let series = read_csv(&path).unwrap();
        assert_eq!(series.len(), 2);
        assert_eq!(series[0].1.len(), 20);
        let img = plot(&series, 320, 200);
        let coloured = |c: [u8; 3]| img.pixels().filter(|p| p.0 == c).count();
        assert!(coloured(COLOURS[0]) > 50 && coloured(COLOURS[1]) > 50);
        // The legend names and axis labels are drawn: ink in the legend band and left of the
        // y axis, where no curve goes.
        let ink = |x0: u32, x1: u32, y0: u32, y1: u32| {
            (x0..x1)
                .flat_map(|x| (y0..y1).map(move |y| (x, y)))
                .filter(|&(x, y)| img.get_pixel(x, y).0 == INK)
                .count()
        };
        assert!(ink(48, 320, 0, 16) > 40, "legend names");
        assert!(ink(0, 44, 20, 180) > 20, "decade labels");
        assert!(ink(0, 320, 176, 200) > 20, "step labels");
    }

    #[test]
    fn decades_read_naturally() {
        assert_eq!(decade_label(0), "1");
        assert_eq!(decade_label(1), "10");
        assert_eq!(decade_label(-2), "1e-2");
        assert_eq!(decade_label(3), "1e3");
    }
}
