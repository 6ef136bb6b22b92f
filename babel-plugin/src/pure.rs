//! Pure helpers exposed to scripts: no node effects, no Rhai state.

use chrono::DateTime;

/// A character `sanitize_sh_param` refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnsafeShParam {
    #[error("Very unsafe subsitution >:( '")]
    SingleQuote,
    #[error("Shell unsafe character detected: {0}")]
    Character(char),
}

/// Text that isn't the number or time a parse helper expects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseValueError {
    #[error("invalid hex number '{text}': {source}")]
    Hex {
        text: String,
        #[source]
        source: std::num::ParseIntError,
    },
    #[error("invalid RFC 3339 time '{text}': {source}")]
    Rfc3339 {
        text: String,
        #[source]
        source: chrono::ParseError,
    },
    #[error("invalid RFC 2822 time '{text}': {source}")]
    Rfc2822 {
        text: String,
        #[source]
        source: chrono::ParseError,
    },
    #[error("invalid time '{text}' for format '{format}': {source}")]
    Time {
        text: String,
        format: String,
        #[source]
        source: chrono::ParseError,
    },
}

/// A task schedule that isn't a seconds-first cron expression.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error(
        "invalid cron schedule '{schedule}': expected 6 or 7 fields (seconds first), got {fields}"
    )]
    FieldCount { schedule: String, fields: usize },
    #[error("invalid cron schedule '{schedule}': {source}")]
    Syntax {
        schedule: String,
        #[source]
        source: croner::errors::CronError,
    },
}

/// Quotes `param` for safe use inside an `sh -c` body.
///
/// The result is always wrapped in double quotes. Unicode alphanumerics, space and
/// `/ : { } , - _ .` pass unchanged, `"` and newline are escaped, anything else is refused.
pub fn sanitize_sh_param(param: &str) -> Result<String, UnsafeShParam> {
    let mut out = String::with_capacity(param.len() + 2);
    out.push('"');
    for c in param.chars() {
        match c {
            '\'' => return Err(UnsafeShParam::SingleQuote),
            c if c.is_alphanumeric() => out.push(c),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '/' | ':' | '{' | '}' | ',' | '-' | '_' | '.' | ' ' => out.push(c),
            c => return Err(UnsafeShParam::Character(c)),
        }
    }
    out.push('"');
    Ok(out)
}

/// Parses a hexadecimal integer; a leading lowercase `0x` is stripped, a sign is accepted.
pub fn parse_hex(s: &str) -> Result<i64, ParseValueError> {
    let digits = s.strip_prefix("0x").unwrap_or(s);
    i64::from_str_radix(digits, 16).map_err(|source| ParseValueError::Hex {
        text: s.to_string(),
        source,
    })
}

/// RFC 3339 timestamp to Unix seconds.
pub fn parse_rfc3339(s: &str) -> Result<i64, ParseValueError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp())
        .map_err(|source| ParseValueError::Rfc3339 {
            text: s.to_string(),
            source,
        })
}

/// RFC 2822 timestamp to Unix seconds.
pub fn parse_rfc2822(s: &str) -> Result<i64, ParseValueError> {
    DateTime::parse_from_rfc2822(s)
        .map(|t| t.timestamp())
        .map_err(|source| ParseValueError::Rfc2822 {
            text: s.to_string(),
            source,
        })
}

/// `s` parsed with a chrono format that includes a UTC offset, to Unix seconds.
pub fn parse_time(s: &str, format: &str) -> Result<i64, ParseValueError> {
    DateTime::parse_from_str(s, format)
        .map(|t| t.timestamp())
        .map_err(|source| ParseValueError::Time {
            text: s.to_string(),
            format: format.to_string(),
            source,
        })
}

/// Current UTC time in Unix seconds.
pub fn system_time() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Checks a task schedule: seconds-first cron with 6 fields, or 7 with a year
/// (the syntax of the `cron` crate Blockvisor used).
pub fn validate_schedule(schedule: &str) -> Result<(), ScheduleError> {
    let fields = schedule.split_whitespace().count();
    if !(6..=7).contains(&fields) {
        return Err(ScheduleError::FieldCount {
            schedule: schedule.to_string(),
            fields,
        });
    }
    schedule_parser()
        .parse(schedule)
        .map(|_| ())
        .map_err(|source| ScheduleError::Syntax {
            schedule: schedule.to_string(),
            source,
        })
}

/// The cron parser matching [`validate_schedule`], for schedulers that evaluate schedules.
pub fn schedule_parser() -> croner::parser::CronParser {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .year(croner::parser::Year::Optional)
        .sloppy_ranges(true)
        .alternative_weekdays(true)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_wraps_and_escapes() {
        assert_eq!(sanitize_sh_param("").unwrap(), "\"\"");
        assert_eq!(
            sanitize_sh_param("a/b:c{d},e-f_g.h i").unwrap(),
            "\"a/b:c{d},e-f_g.h i\""
        );
        assert_eq!(sanitize_sh_param("é ß ٣").unwrap(), "\"é ß ٣\"");
        assert_eq!(
            sanitize_sh_param("say \"hi\"").unwrap(),
            "\"say \\\"hi\\\"\""
        );
        assert_eq!(sanitize_sh_param("a\nb").unwrap(), "\"a\\nb\"");
        assert_eq!(
            sanitize_sh_param("it's").unwrap_err().to_string(),
            "Very unsafe subsitution >:( '"
        );
        for bad in [
            '=', '?', '&', '$', '`', '\\', '@', '+', '%', '#', '~', ';', '\t', '(', ')', '[', ']',
            '*', '!', '<', '>', '|',
        ] {
            assert_eq!(
                sanitize_sh_param(&format!("a{bad}b"))
                    .unwrap_err()
                    .to_string(),
                format!("Shell unsafe character detected: {bad}"),
            );
        }
    }

    #[test]
    fn hex_and_times() {
        assert_eq!(parse_hex("0xff").unwrap(), 255);
        assert_eq!(parse_hex("ff").unwrap(), 255);
        assert_eq!(parse_hex("-a").unwrap(), -10);
        assert!(parse_hex("0XFF").is_err());
        assert!(parse_hex("0xfffffffffffffffff").is_err());
        assert_eq!(parse_rfc3339("1970-01-01T00:01:00Z").unwrap(), 60);
        assert_eq!(
            parse_rfc2822("Thu, 01 Jan 1970 00:00:10 +0000").unwrap(),
            10
        );
        assert_eq!(
            parse_time("1970-01-01 00:00:05 +0000", "%Y-%m-%d %H:%M:%S %z").unwrap(),
            5
        );
        assert!(parse_time("1970-01-01 00:00:05", "%Y-%m-%d %H:%M:%S").is_err());
        assert!(parse_rfc3339("yesterday").is_err());
        assert!(system_time() > 1_600_000_000);
    }

    #[test]
    fn schedules() {
        assert!(validate_schedule("0 */5 * * * *").is_ok());
        assert!(validate_schedule("0 0 1 * * * 2030").is_ok());
        assert!(validate_schedule("*/5 * * * *").is_err());
        assert!(validate_schedule("0 0 25 * * *").is_err());
        assert!(validate_schedule("every minute").is_err());
    }

    #[test]
    fn errors_name_the_text() {
        assert_eq!(
            parse_hex("0XFF").unwrap_err().to_string(),
            "invalid hex number '0XFF': invalid digit found in string"
        );
        let err = parse_rfc3339("yesterday").unwrap_err().to_string();
        assert!(
            err.starts_with("invalid RFC 3339 time 'yesterday': "),
            "{err}"
        );
        let err = parse_rfc2822("yesterday").unwrap_err().to_string();
        assert!(
            err.starts_with("invalid RFC 2822 time 'yesterday': "),
            "{err}"
        );
        let err = parse_time("1970", "%Y %z").unwrap_err().to_string();
        assert!(
            err.starts_with("invalid time '1970' for format '%Y %z': "),
            "{err}"
        );
        assert_eq!(
            validate_schedule("*/5 * * * *").unwrap_err().to_string(),
            "invalid cron schedule '*/5 * * * *': expected 6 or 7 fields (seconds first), got 5"
        );
        let err = validate_schedule("0 0 25 * * *").unwrap_err().to_string();
        assert!(
            err.starts_with("invalid cron schedule '0 0 25 * * *': "),
            "{err}"
        );
    }
}
