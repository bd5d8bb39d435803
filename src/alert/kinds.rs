//! The kinds an alert is made of: its priority, each field's JSON kind, and what produced it.

/// Falco's priority, numerically equal to the syslog severity.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Hash)]
#[repr(u8)]
pub enum Priority {
    Emergency = 0,
    Alert = 1,
    Critical = 2,
    Error = 3,
    Warning = 4,
    Notice = 5,
    Informational = 6,
    Debug = 7,
}

impl Priority {
    pub const ALL: [Priority; 8] = [
        Priority::Emergency,
        Priority::Alert,
        Priority::Critical,
        Priority::Error,
        Priority::Warning,
        Priority::Notice,
        Priority::Informational,
        Priority::Debug,
    ];

    /// The priority with this number (0..=7), as the C ABI passes it.
    pub fn from_i32(value: i32) -> Option<Priority> {
        usize::try_from(value)
            .ok()
            .and_then(|i| Self::ALL.get(i).copied())
    }

    /// The name Falco prints ("Warning", "Informational", ...).
    pub fn name(self) -> &'static str {
        match self {
            Priority::Emergency => "Emergency",
            Priority::Alert => "Alert",
            Priority::Critical => "Critical",
            Priority::Error => "Error",
            Priority::Warning => "Warning",
            Priority::Notice => "Notice",
            Priority::Informational => "Informational",
            Priority::Debug => "Debug",
        }
    }

    /// Parses a priority name the way Falco's config does (case-insensitive, "info" accepted).
    pub fn parse(name: &str) -> Option<Priority> {
        let lower = name.trim().to_ascii_lowercase();
        match lower.as_str() {
            "emergency" => Some(Priority::Emergency),
            "alert" => Some(Priority::Alert),
            "critical" => Some(Priority::Critical),
            "error" => Some(Priority::Error),
            "warning" => Some(Priority::Warning),
            "notice" => Some(Priority::Notice),
            "info" | "informational" => Some(Priority::Informational),
            "debug" => Some(Priority::Debug),
            _ => None,
        }
    }
}

/// How a field's value is rendered in JSON (the C ABI's `FALCO_FIELD_*`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FieldKind {
    String,
    Number,
    Bool,
    Null,
    Json,
}

impl FieldKind {
    pub fn from_i32(value: i32) -> Option<FieldKind> {
        match value {
            0 => Some(FieldKind::String),
            1 => Some(FieldKind::Number),
            2 => Some(FieldKind::Bool),
            3 => Some(FieldKind::Null),
            4 => Some(FieldKind::Json),
            _ => None,
        }
    }
}

/// What produced the alert: a rule match (`emit`) or a generic message (`emit_msg`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AlertKind {
    Event,
    Message,
}
