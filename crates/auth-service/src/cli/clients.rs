//! `auth-service clients new`: a secret for a new OAuth confidential client, and the
//! configuration entry that admits it.

use std::process::ExitCode;

use clap::Subcommand;

use crate::oauth;

#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// Make a secret for a new confidential client: prints the secret once (for the
    /// service) and the `[[oauth.clients]]` entry to add to the configuration file.
    New {
        /// The client id, e.g. `billing` (tokens say `sub: svc:billing`).
        id: String,
        /// A scope the client may be granted (repeat for several).
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
    },
}

/// Runs one `clients` command.
pub fn run(action: ClientsCommand) -> ExitCode {
    match action {
        ClientsCommand::New { id, scopes } => new_client(&id, scopes),
    }
}

fn new_client(id: &str, scopes: Vec<String>) -> ExitCode {
    let result = oauth::new_secret()
        .map_err(|_| "no randomness available".to_owned())
        .and_then(|(secret, hash)| {
            let client = oauth::ClientSettings {
                id: id.to_owned(),
                secret_sha256: hash,
                scopes,
            };
            oauth::Clients::new(&[], std::slice::from_ref(&client))?;
            Ok((secret, client))
        });
    match result {
        Ok((secret, client)) => {
            let scopes: Vec<String> = client.scopes.iter().map(|s| format!("{s:?}")).collect();
            println!("client_secret for {id} (give it to the service; it is stored nowhere):");
            println!("{secret}");
            println!();
            println!("Add to the auth-service configuration file (--config):");
            println!("[[oauth.clients]]");
            println!("id = {:?}", client.id);
            println!("secret_sha256 = {:?}", client.secret_sha256);
            println!("scopes = [{}]", scopes.join(", "));
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("auth-service: {err}");
            ExitCode::FAILURE
        }
    }
}
