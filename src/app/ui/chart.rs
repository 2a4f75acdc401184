//! A small SVG line chart: the training loss and the learning curve both use it.

use leptos::prelude::*;

const WIDTH: f64 = 320.0;
const HEIGHT: f64 = 140.0;
const MARGIN: f64 = 28.0;

/// Points `(x, y)` drawn as a polyline with dots, axes labelled with their ranges.
/// `y_range` fixes the vertical scale (e.g. 0..1 for accuracy); `None` fits the data.
#[component]
pub fn LineChart(
    #[prop(into)] points: Signal<Vec<(f64, f64)>>,
    x_label: &'static str,
    y_label: &'static str,
    y_range: Option<(f64, f64)>,
    /// How the y extremes are printed (e.g. as a percentage).
    format_y: fn(f64) -> String,
    testid: &'static str,
) -> impl IntoView {
    let bounds = move || {
        let pts = points.get();
        let (x0, x1) = pts.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| (a.min(p.0), b.max(p.0)));
        let (y0, y1) = y_range.unwrap_or_else(|| {
            pts.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| (a.min(p.1), b.max(p.1)))
        });
        let widen = |lo: f64, hi: f64| if hi > lo { (lo, hi) } else { (lo - 0.5, hi + 0.5) };
        (widen(x0, x1), widen(y0, y1), pts)
    };
    let scaled = move || {
        let ((x0, x1), (y0, y1), pts) = bounds();
        pts.into_iter()
            .map(|(x, y)| {
                let sx = MARGIN + (x - x0) / (x1 - x0) * (WIDTH - 2.0 * MARGIN);
                let sy = HEIGHT - MARGIN - (y - y0) / (y1 - y0) * (HEIGHT - 2.0 * MARGIN);
                (sx, sy)
            })
            .collect::<Vec<_>>()
    };
    let polyline = move || scaled().iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect::<Vec<_>>().join(" ");
    let dots = move || scaled().into_iter().map(|(x, y)| view! { <circle cx=x cy=y r="2.5"></circle> }).collect_view();
    let axis_text = move || {
        let ((x0, x1), (y0, y1), pts) = bounds();
        if pts.is_empty() {
            return (String::new(), String::new(), String::new(), String::new());
        }
        (format!("{x0:.0}"), format!("{x1:.0}"), format_y(y0), format_y(y1))
    };
    view! {
        <svg class="chart" data-testid=testid viewBox=format!("0 0 {WIDTH} {HEIGHT}") role="img" aria-label=y_label>
            <line class="axis" x1=MARGIN y1=HEIGHT - MARGIN x2=WIDTH - MARGIN y2=HEIGHT - MARGIN></line>
            <line class="axis" x1=MARGIN y1=MARGIN x2=MARGIN y2=HEIGHT - MARGIN></line>
            <polyline class="series" points=polyline></polyline>
            <g class="dots">{dots}</g>
            <text x=MARGIN y=HEIGHT - 8.0>{move || axis_text().0}</text>
            <text x=WIDTH - MARGIN y=HEIGHT - 8.0 text-anchor="end">{move || axis_text().1}</text>
            <text x=WIDTH / 2.0 y=HEIGHT - 4.0 text-anchor="middle">{x_label}</text>
            <text x=2.0 y=HEIGHT - MARGIN>{move || axis_text().2}</text>
            <text x=2.0 y=MARGIN - 4.0>{move || axis_text().3}</text>
            <text x=WIDTH / 2.0 y=12.0 text-anchor="middle">{y_label}</text>
        </svg>
    }
}
