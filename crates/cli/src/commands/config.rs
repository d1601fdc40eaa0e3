use std::process::ExitCode;

use clap::Subcommand;

use crate::context::Context;

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print every setting, its effective value and where it came from.
    Show,
    /// Print the path of the config file in use (or the one chatkeep would read).
    Path,
}

pub fn run(ctx: &Context, command: ConfigCommand) -> anyhow::Result<ExitCode> {
    let config = &ctx.config;
    match command {
        ConfigCommand::Show => {
            if ctx.json {
                ctx.print_json(&config.described())?;
            } else {
                match &config.file {
                    Some(file) => say!("Config file: {}\n", file.display()),
                    None => say!("Config file: none (defaults and environment only)\n"),
                }
                let key_width = config.entries().iter().map(|e| e.key.len()).max().unwrap_or(0);
                let value_width = config.entries().iter().map(|e| e.value.chars().count()).max().unwrap_or(0).min(60);
                say!("{:key_width$}  {:value_width$}  SOURCE", "KEY", "VALUE");
                for entry in config.entries() {
                    say!("{:key_width$}  {:value_width$}  {}", entry.key, entry.value, entry.source);
                }
                say!(
                    "\nEnvironment variables override the file: {}.",
                    config.entries().iter().map(|e| e.env).collect::<Vec<_>>().join(", ")
                );
            }
        }
        ConfigCommand::Path => {
            let path =
                config.file.clone().or_else(|| chatkeep_core::config::PlatformDirs::detect().default_config_file());
            match path {
                Some(path) if ctx.json => {
                    ctx.print_json(&serde_json::json!({ "path": path, "exists": path.exists() }))?
                }
                Some(path) => say!("{}", path.display()),
                None => anyhow::bail!("no platform config folder is known here; pass --config PATH"),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
