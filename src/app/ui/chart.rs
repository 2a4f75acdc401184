//! A small SVG line chart of one or more series: the training loss, the learning curve
//! and the contenders' curves all use it.

use leptos::prelude::*;

const WIDTH: f64 = 320.0;
const HEIGHT: f64 = 140.0;
const MARGIN: f64 = 28.0;

/// One line: its name (the legend's), a CSS class (its colour) and its points `(x, y)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: &'static str,
    pub class: &'static str,
    pub points: Vec<(f64, f64)>,
}

impl Series {
    /// The only line of a chart.
    pub fn single(points: Vec<(f64, f64)>) -> Vec<Series> {
        vec![Series { name: "", class: "", points }]
    }
}

/// Series drawn as polylines with dots, axes labelled with their ranges, and a legend
/// when there are several. `y_range` fixes the vertical scale (e.g. 0..1 for accuracy);
/// `None` fits the data.
#[component]
pub fn LineChart(
    #[prop(into)] series: Signal<Vec<Series>>,
    x_label: &'static str,
    y_label: &'static str,
    y_range: Option<(f64, f64)>,
    /// How the y extremes are printed (e.g. as a percentage).
    format_y: fn(f64) -> String,
    testid: &'static str,
) -> impl IntoView {
    let bounds = move || {
        let all: Vec<(f64, f64)> = series.get().into_iter().flat_map(|s| s.points).collect();
        let (x0, x1) = all.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| (a.min(p.0), b.max(p.0)));
        let (y0, y1) = y_range.unwrap_or_else(|| {
            all.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| (a.min(p.1), b.max(p.1)))
        });
        let widen = |lo: f64, hi: f64| if hi > lo { (lo, hi) } else { (lo - 0.5, hi + 0.5) };
        (widen(x0, x1), widen(y0, y1), !all.is_empty())
    };
    let scale = move |points: &[(f64, f64)]| {
        let ((x0, x1), (y0, y1), _) = bounds();
        points
            .iter()
            .map(|(x, y)| {
                let sx = MARGIN + (x - x0) / (x1 - x0) * (WIDTH - 2.0 * MARGIN);
                let sy = HEIGHT - MARGIN - (y - y0) / (y1 - y0) * (HEIGHT - 2.0 * MARGIN);
                (sx, sy)
            })
            .collect::<Vec<_>>()
    };
    let lines = move || {
        series
            .get()
            .into_iter()
            .map(|s| {
                let scaled = scale(&s.points);
                let polyline = scaled.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect::<Vec<_>>().join(" ");
                let dots =
                    scaled.into_iter().map(|(x, y)| view! { <circle cx=x cy=y r="2.5"></circle> }).collect_view();
                view! {
                    <g class=format!("line {}", s.class) data-series=s.class>
                        <polyline class="series" points=polyline></polyline>
                        <g class="dots">{dots}</g>
                    </g>
                }
            })
            .collect_view()
    };
    let legend = move || {
        let named: Vec<Series> = series.get().into_iter().filter(|s| !s.name.is_empty()).collect();
        (named.len() > 1).then(|| {
            view! {
                <ul class="legend">
                    {named.into_iter().map(|s| view! { <li class=format!("line {}", s.class)><span class="swatch"></span>{s.name}</li> }).collect_view()}
                </ul>
            }
        })
    };
    let axis_text = move || {
        let ((x0, x1), (y0, y1), any) = bounds();
        if !any {
            return (String::new(), String::new(), String::new(), String::new());
        }
        (format!("{x0:.0}"), format!("{x1:.0}"), format_y(y0), format_y(y1))
    };
    view! {
        <figure class="chart-figure">
            <svg class="chart" data-testid=testid viewBox=format!("0 0 {WIDTH} {HEIGHT}") role="img" aria-label=y_label>
                <line class="axis" x1=MARGIN y1=HEIGHT - MARGIN x2=WIDTH - MARGIN y2=HEIGHT - MARGIN></line>
                <line class="axis" x1=MARGIN y1=MARGIN x2=MARGIN y2=HEIGHT - MARGIN></line>
                {lines}
                <text x=MARGIN y=HEIGHT - 8.0>{move || axis_text().0}</text>
                <text x=WIDTH - MARGIN y=HEIGHT - 8.0 text-anchor="end">{move || axis_text().1}</text>
                <text x=WIDTH / 2.0 y=HEIGHT - 4.0 text-anchor="middle">{x_label}</text>
                <text x=2.0 y=HEIGHT - MARGIN>{move || axis_text().2}</text>
                <text x=2.0 y=MARGIN - 4.0>{move || axis_text().3}</text>
                <text x=WIDTH / 2.0 y=12.0 text-anchor="middle">{y_label}</text>
            </svg>
            {legend}
        </figure>
    }
}
