//! Static assets compiled into the binary: our own CSS and JS, and htmx with
//! its SSE extension from the npm registry (see build.rs). URLs carry a
//! content hash so they can be cached forever.

pub struct Asset {
    pub name: &'static str,
    pub bytes: &'static [u8],
    pub content_type: &'static str,
}

pub const ASSETS: &[Asset] = &[
    Asset {
        name: "app.css",
        bytes: include_bytes!("../assets/app.css"),
        content_type: "text/css; charset=utf-8",
    },
    Asset {
        name: "app.js",
        bytes: include_bytes!("../assets/app.js"),
        content_type: "text/javascript; charset=utf-8",
    },
    Asset {
        name: "htmx.min.js",
        bytes: include_bytes!(concat!(env!("OUT_DIR"), "/htmx.min.js")),
        content_type: "text/javascript; charset=utf-8",
    },
    Asset {
        name: "sse.min.js",
        bytes: include_bytes!(concat!(env!("OUT_DIR"), "/sse.min.js")),
        content_type: "text/javascript; charset=utf-8",
    },
];

pub fn get(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

/// FNV-1a of the bytes: stable, cheap, enough to bust caches.
fn fingerprint(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

pub fn url(name: &str) -> String {
    match get(name) {
        Some(a) => format!(
            "/static/{}?v={:x}",
            a.name,
            fingerprint(a.bytes) & 0xffff_ffff
        ),
        None => format!("/static/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::ASSETS;

    /// The budget is 100 KB of JS and CSS gzipped; holding the uncompressed
    /// total under it holds the compressed one a fortiori.
    #[test]
    fn scripts_and_styles_fit_the_budget() {
        let total: usize = ASSETS.iter().map(|a| a.bytes.len()).sum();
        assert!(total < 100 * 1024, "JS + CSS is {total} bytes uncompressed");
        assert!(ASSETS.iter().all(|a| !a.bytes.is_empty()));
    }
}
