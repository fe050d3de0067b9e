//! Times in pages: ISO 8601 UTC inside `<time datetime=...>`; the page
//! script shows them in the viewer's own time zone. The arithmetic is the
//! core's calendar.

use maud::{html, Markup};
pub use openseer_core::calendar::{ago, iso};

pub fn time_el(ms: i64) -> Markup {
    let iso = iso(ms);
    html! { time datetime=(iso) { (iso.replace('T', " ").replace('Z', " UTC")) } }
}
