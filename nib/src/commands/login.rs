//! `nib login`: email + password → session token → a scoped API key saved with mode 0600.

use std::io::{BufRead, Write};

use babel_api::pb::api::v1 as api;
use bv_base::api_endpoint::ApiTls;
use eyre::{Result, bail};

use crate::api_client::{Api, api_err};
use crate::cli::LoginArgs;
use crate::config::Credentials;

/// What nib's key may do: publish protocols and images, nothing else.
pub const NIB_SCOPES: &[&str] = &[
    "protocol:read",
    "protocol:write",
    "image:read",
    "image:write",
    "archive:read",
];

pub async fn run(args: LoginArgs, format: crate::cli::Format) -> Result<()> {
    let email = match args.email {
        Some(e) => e,
        None => prompt("email: ", false)?,
    };
    let password = match args.password {
        Some(p) => p,
        None => prompt("password: ", true)?,
    };
    // Saved with the credentials, so later commands find it from any directory.
    let ca_file = args
        .ca_file
        .as_deref()
        .map(std::path::absolute)
        .transpose()?;
    let tls = ApiTls {
        ca_file,
        insecure: args.insecure,
    };
    let mut anon = Api::connect(&args.api, &tls, None).await?;
    let session = anon
        .auth
        .login(api::LoginRequest { email, password })
        .await
        .map_err(api_err("login failed"))?
        .into_inner();
    if let Some(expected) = &args.user_id
        && expected != &session.user_id
    {
        bail!(
            "these credentials belong to user {}, not {expected}",
            session.user_id
        );
    }
    let mut api = Api::connect(&args.api, &tls, Some(&session.token)).await?;
    let key = api
        .api_keys
        .create(api::CreateApiKeyRequest {
            label: "nib_token".into(),
            scopes: NIB_SCOPES.iter().map(|s| s.to_string()).collect(),
        })
        .await
        .map_err(api_err("cannot create an API key"))?
        .into_inner();
    let creds = Credentials {
        token: key.api_key,
        api_url: args.api,
        ca_file: tls.ca_file,
        insecure: tls.insecure,
    };
    let path = creds.save()?;
    match format {
        crate::cli::Format::Text => println!("Logged in; API key saved to {}", path.display()),
        crate::cli::Format::Json => println!(
            "{}",
            serde_json::json!({
                "user_id": session.user_id,
                "api_url": creds.api_url,
                "credentials_file": path.display().to_string(),
            })
        ),
    }
    Ok(())
}

fn prompt(label: &str, hidden: bool) -> Result<String> {
    let stdin = std::io::stdin();
    eprint!("{label}");
    std::io::stderr().flush()?;
    let restore = if hidden { no_echo(&stdin) } else { None };
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if let Some(t) = restore {
        let _ = nix::sys::termios::tcsetattr(&stdin, nix::sys::termios::SetArg::TCSANOW, &t);
        eprintln!();
    }
    read?;
    let value = line.trim_end_matches(['\r', '\n']).to_string();
    if value.is_empty() {
        bail!("{} must not be empty", label.trim_end_matches([':', ' ']));
    }
    Ok(value)
}

/// Turn off echo on a terminal; returns the settings to restore.
fn no_echo(stdin: &std::io::Stdin) -> Option<nix::sys::termios::Termios> {
    use nix::sys::termios::{LocalFlags, SetArg, tcgetattr, tcsetattr};
    let original = tcgetattr(stdin).ok()?;
    let mut quiet = original.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    tcsetattr(stdin, SetArg::TCSANOW, &quiet).ok()?;
    Some(original)
}
