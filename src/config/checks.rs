//! Checks that span keys, worded as Falco words them (`configuration.cpp` `load_yaml`,
//! `init_outputs.cpp`), in Falco's order.

use super::error::ConfigError;
use super::keys::Config;

/// Falco's `no outputs configured` error (`app/actions/init_outputs.cpp`).
pub const NO_OUTPUT_ERROR: &str =
    "No output configured, please make sure at least one output is configured and enabled.";

pub fn check_channels(config: &Config, origin: &str) -> Result<(), ConfigError> {
    let missing = |what: &str, key: &str| {
        ConfigError::invalid(format!(
            "Error reading config file ({origin}): {what} output enabled but no {key} in \
             configuration block (config key `{what}_output.{key}` is empty)"
        ))
    };
    if config.file.enabled && config.file.filename.is_empty() {
        return Err(missing("file", "filename"));
    }
    if config.program.enabled && config.program.program.trim().is_empty() {
        return Err(missing("program", "program"));
    }
    if config.http.enabled && config.http.url.is_empty() {
        return Err(missing("http", "url"));
    }
    if config.otlp.enabled && config.otlp.url.is_empty() {
        return Err(missing("otlp", "url"));
    }
    let any = config.stdout.enabled
        || config.file.enabled
        || config.syslog.enabled
        || config.program.enabled
        || config.http.enabled
        || config.otlp.enabled;
    if !any {
        return Err(ConfigError::invalid(format!(
            "{NO_OUTPUT_ERROR} (none of stdout_output, syslog_output, file_output, \
             program_output, http_output, otlp_output has `enabled: true`)"
        )));
    }
    Ok(())
}
