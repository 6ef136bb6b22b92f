//! Pure helpers exposed to scripts: no node effects, no Rhai state.

use chrono::DateTime;

/// Quotes `param` for safe use inside an `sh -c` body.
///
/// The result is always wrapped in double quotes. Unicode alphanumerics, space and
/// `/ : { } , - _ .` pass unchanged, `"` and newline are escaped, anything else is refused.
pub fn sanitize_sh_param(param: &str) -> Result<String, String> {
    let mut out = String::with_capacity(param.len() + 2);
    out.push('"');
    for c in param.chars() {
        match c {
            '\'' => return Err("Very unsafe subsitution >:( '".to_string()),
            c if c.is_alphanumeric() => out.push(c),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '/' | ':' | '{' | '}' | ',' | '-' | '_' | '.' | ' ' => out.push(c),
            c => return Err(format!("Shell unsafe character detected: {c}")),
        }
    }
    out.push('"');
    Ok(out)
}

/// Parses a hexadecimal integer; a leading lowercase `0x` is stripped, a sign is accepted.
pub fn parse_hex(s: &str) -> Result<i64, String> {
    let digits = s.strip_prefix("0x").unwrap_or(s);
    i64::from_str_radix(digits, 16).map_err(|err| format!("invalid hex number '{s}': {err}"))
}

/// RFC 3339 timestamp to Unix seconds.
pub fn parse_rfc3339(s: &str) -> Result<i64, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp())
        .map_err(|err| format!("invalid RFC 3339 time '{s}': {err}"))
}

/// RFC 2822 timestamp to Unix seconds.
pub fn parse_rfc2822(s: &str) -> Result<i64, String> {
    DateTime::parse_from_rfc2822(s)
        .map(|t| t.timestamp())
        .map_err(|err| format!("invalid RFC 2822 time '{s}': {err}"))
}

/// `s` parsed with a chrono format that includes a UTC offset, to Unix seconds.
pub fn parse_time(s: &str, format: &str) -> Result<i64, String> {
    DateTime::parse_from_str(s, format)
        .map(|t| t.timestamp())
        .map_err(|err| format!("invalid time '{s}' for format '{format}': {err}"))
}

/// Current UTC time in Unix seconds.
pub fn system_time() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Checks a task schedule: seconds-first cron with 6 fields, or 7 with a year
/// (the syntax of the `cron` crate Blockvisor used).
pub fn validate_schedule(schedule: &str) -> Result<(), String> {
    let fields = schedule.split_whitespace().count();
    if !(6..=7).contains(&fields) {
        return Err(format!(
            "invalid cron schedule '{schedule}': expected 6 or 7 fields (seconds first), got {fields}"
        ));
    }
    schedule_parser()
        .parse(schedule)
        .map(|_| ())
        .map_err(|err| format!("invalid cron schedule '{schedule}': {err}"))
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
            sanitize_sh_param("it's").unwrap_err(),
            "Very unsafe subsitution >:( '"
        );
        for bad in [
            '=', '?', '&', '$', '`', '\\', '@', '+', '%', '#', '~', ';', '\t', '(', ')', '[', ']',
            '*', '!', '<', '>', '|',
        ] {
            assert_eq!(
                sanitize_sh_param(&format!("a{bad}b")).unwrap_err(),
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
}
