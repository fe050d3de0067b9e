//! Times in pages: ISO 8601 UTC inside `<time datetime=...>`; the page
//! script shows them in the viewer's own time zone. The arithmetic is the
//! core's calendar.

use maud::{html, Markup};
pub use openseer_core::calendar::{ago, iso};

/// "12 s ago", counting on in the page (the script moves it every second,
/// from the server's clock at `now`, so a wrong client clock does not
/// matter).
pub fn ago_el(ms: i64, now: i64) -> Markup {
    html! { time.ago datetime=(iso(ms)) data-now=(now) { (ago(ms, now)) } }
}

pub fn time_el(ms: i64) -> Markup {
    let iso = iso(ms);
    html! { time datetime=(iso) { (iso.replace('T', " ").replace('Z', " UTC")) } }
}
