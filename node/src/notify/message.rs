//! What a notification says, whatever the channel: short, with the
//! monitor, what failed, where, since when and a link to the incident.

use openseer_core::alert::Cause;
use openseer_core::calendar::iso;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Down,
    Up,
    Reminder,
    /// "Send a test notification" from the channel's page.
    Test,
}

impl Kind {
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "down" => Some(Kind::Down),
            "up" => Some(Kind::Up),
            "reminder" => Some(Kind::Reminder),
            _ => None,
        }
    }

    /// The event type webhooks carry.
    pub fn event_type(self) -> &'static str {
        match self {
            Kind::Down => "incident.opened",
            Kind::Up => "incident.resolved",
            Kind::Reminder => "incident.reminder",
            Kind::Test => "test",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub kind: Kind,
    /// Stable across retries: the webhook-id and what providers dedupe on.
    pub id: String,
    pub incident_id: i64,
    pub monitor_id: Option<i64>,
    pub monitor_name: String,
    /// "status 500 in eu, us".
    pub summary: String,
    pub regions: Vec<String>,
    pub started_at: i64,
    pub resolved_at: Option<i64>,
    /// The incident's page, when the node knows its public URL.
    pub link: Option<String>,
    pub sent_at: i64,
}

impl Message {
    pub fn title(&self) -> String {
        match self.kind {
            Kind::Down => format!("{} is down", self.monitor_name),
            Kind::Up => format!(
                "{} recovered after {}",
                self.monitor_name,
                duration(self.resolved_at.unwrap_or(self.sent_at) - self.started_at)
            ),
            Kind::Reminder => format!(
                "{} is still down ({})",
                self.monitor_name,
                duration(self.sent_at - self.started_at)
            ),
            Kind::Test => "Test notification from OpenSeer".to_string(),
        }
    }

    /// One or two lines under the title.
    pub fn text(&self) -> String {
        let mut t = match self.kind {
            Kind::Down | Kind::Reminder => {
                format!("{} since {}.", self.summary, iso(self.started_at))
            }
            Kind::Up => format!(
                "Down from {} to {} ({}).",
                iso(self.started_at),
                iso(self.resolved_at.unwrap_or(self.sent_at)),
                self.summary
            ),
            Kind::Test => "This channel works: OpenSeer can reach it.".to_string(),
        };
        if let Some(l) = &self.link {
            t.push(' ');
            t.push_str(l);
        }
        t
    }

    pub fn duration_ms(&self) -> Option<i64> {
        self.resolved_at.map(|r| r - self.started_at)
    }
}

/// "3 min", "2 h 5 min", "40 s".
pub fn duration(ms: i64) -> String {
    let s = (ms / 1000).max(0);
    match s {
        0..=59 => format!("{s} s"),
        60..=3_599 => format!("{} min", s / 60),
        3_600..=86_399 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

/// The regions a cause names, for the message's fields.
pub fn regions_of(cause: &Cause) -> Vec<String> {
    cause.regions.iter().map(|r| r.region.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_say_what_happened_and_how_long() {
        let m = Message {
            kind: Kind::Up,
            id: "osn_1".into(),
            incident_id: 1,
            monitor_id: Some(2),
            monitor_name: "api".into(),
            summary: "status 500 in eu".into(),
            regions: vec!["eu".into()],
            started_at: 0,
            resolved_at: Some(185_000),
            link: Some("https://s.example/incidents/1".into()),
            sent_at: 190_000,
        };
        assert_eq!(m.title(), "api recovered after 3 min");
        assert_eq!(
            m.text(),
            "Down from 1970-01-01T00:00:00Z to 1970-01-01T00:03:05Z (status 500 in eu). https://s.example/incidents/1"
        );
        assert_eq!(duration(7_500_000), "2 h 5 min");
        assert_eq!(duration(90_000_000), "1 d 1 h");
    }
}
