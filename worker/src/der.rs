//! Just enough DER to read a certificate's subject, issuer and not-after,
//! without pulling a full X.509 library into the worker. Anything unexpected
//! yields `None`: these are informational fields, never a reason to fail.

struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8]) -> Self {
        Reader { data }
    }

    /// Reads one TLV; returns (tag, contents).
    fn next(&mut self) -> Option<(u8, &'a [u8])> {
        let (&tag, rest) = self.data.split_first()?;
        let (&first, mut rest) = rest.split_first()?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let mut len = 0usize;
            for &b in &rest[..n] {
                len = (len << 8) | usize::from(b);
            }
            rest = &rest[n..];
            len
        };
        if rest.len() < len {
            return None;
        }
        let (contents, after) = rest.split_at(len);
        self.data = after;
        Some((tag, contents))
    }

    fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertSummary {
    pub subject: String,
    pub issuer: String,
    pub not_after_ms: i64,
}

pub fn summarize(cert: &[u8]) -> Option<CertSummary> {
    let (_, certificate) = Reader::new(cert).next()?;
    let (_, tbs) = Reader::new(certificate).next()?;
    let mut r = Reader::new(tbs);
    let (mut tag, mut field) = r.next()?;
    if tag == 0xa0 {
        // Explicit version; the serial number follows.
        (tag, field) = r.next()?;
    }
    let _ = (tag, field);
    let _signature = r.next()?;
    let (_, issuer) = r.next()?;
    let (_, validity) = r.next()?;
    let (_, subject) = r.next()?;
    let mut v = Reader::new(validity);
    let _not_before = v.next()?;
    let (time_tag, not_after) = v.next()?;
    Some(CertSummary {
        subject: name(subject),
        issuer: name(issuer),
        not_after_ms: time(time_tag, not_after)?,
    })
}

/// Renders a Name as `CN=example.com, O=Example` (known attributes only).
fn name(der: &[u8]) -> String {
    let mut parts = Vec::new();
    let mut sets = Reader::new(der);
    while let Some((_, set)) = sets.next() {
        let mut atvs = Reader::new(set);
        while let Some((_, atv)) = atvs.next() {
            let mut a = Reader::new(atv);
            let (Some((_, oid)), Some((_, value))) = (a.next(), a.next()) else {
                continue;
            };
            let label = match oid {
                [0x55, 0x04, 0x03] => "CN",
                [0x55, 0x04, 0x0a] => "O",
                [0x55, 0x04, 0x0b] => "OU",
                [0x55, 0x04, 0x06] => "C",
                _ => continue,
            };
            parts.push(format!("{label}={}", String::from_utf8_lossy(value)));
        }
        if sets.is_empty() {
            break;
        }
    }
    parts.join(", ")
}

/// UTCTime (`YYMMDDHHMMSSZ`) or GeneralizedTime (`YYYYMMDDHHMMSSZ`) to unix ms.
fn time(tag: u8, der: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(der).ok()?.strip_suffix('Z')?;
    let (year, rest) = match tag {
        0x17 if s.len() == 12 => {
            let yy: i64 = s[..2].parse().ok()?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &s[2..])
        }
        0x18 if s.len() == 14 => (s[..4].parse().ok()?, &s[4..]),
        _ => return None,
    };
    let num = |i: usize| -> Option<i64> { rest.get(i..i + 2)?.parse().ok() };
    let (month, day, h, m, sec) = (num(0)?, num(2)?, num(4)?, num(6)?, num(8)?);
    Some((days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + sec) * 1000)
}

/// Howard Hinnant's days-from-civil.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse() {
        assert_eq!(time(0x17, b"700101000000Z"), Some(0));
        assert_eq!(time(0x18, b"20231114221320Z"), Some(1_700_000_000_000));
        assert_eq!(time(0x17, b"231114221320Z"), Some(1_700_000_000_000));
        assert_eq!(time(0x17, b"garbage"), None);
    }

    #[test]
    fn garbage_is_none_not_a_panic() {
        assert_eq!(summarize(&[]), None);
        assert_eq!(summarize(&[0x30, 0x82, 0xff]), None);
        assert_eq!(summarize(&[0x30, 0x03, 0x30, 0x01]), None);
    }
}
