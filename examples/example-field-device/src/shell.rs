//! One process, as a long-running app is: commands read from stdin, one a
//! line, against one manager and one vault, so a lock or a failed online
//! login can be seen from outside (`token` after `lock` answers nothing).
//!
//! ```text
//! login USER PASSCODE     online device login, then the passcode enrolled
//!                         (offline: a counted unlock with it)
//! unlock USER PASSCODE    offline unlock (counted)
//! lock USER               the key and every token of USER leave memory
//! token USER              an access token of USER: its fingerprint only
//! status USER             what the vault knows
//! quit
//! ```

use std::collections::HashMap;
use std::io::BufRead as _;

use anyhow::{Context as _, Result, bail};
use authresult_core::{AuthManager, Password};
use example_common::{Settings, fingerprint, print_error};

use crate::tablet::Tablet;

/// Runs commands from stdin until `quit` or its end; a failed command
/// prints its error chain and the next one runs.
pub(crate) async fn run(tablet: &Tablet, settings: &Settings, qr: bool) -> Result<()> {
    let (manager, provider) = tablet.manager(settings)?;
    // One manager per user for the whole process, as an app keeps them:
    // what `lock` must empty.
    let mut managers: HashMap<String, AuthManager> = HashMap::new();
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let line = line.context("cannot read a command from stdin")?;
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.first() == Some(&"quit") {
            break;
        }
        if words.is_empty() {
            continue;
        }
        // Idle users are locked before any command, as an app's timer would.
        tablet.lock_idle();
        if let Some(user) = words.get(1) {
            managers
                .entry((*user).to_owned())
                .or_insert_with(|| manager.for_user(*user));
        }
        let user_manager = words.get(1).and_then(|u| managers.get(*u));
        if let Err(e) = command(tablet, user_manager, &provider, &words, qr).await {
            print_error(&e);
        }
        println!("> done: {}", words[0]);
    }
    Ok(())
}

async fn command(
    tablet: &Tablet,
    manager: Option<&AuthManager>,
    provider: &str,
    words: &[&str],
    qr: bool,
) -> Result<()> {
    let Some(manager) = manager else {
        bail!(
            "a command names a user (login USER PASSCODE | unlock USER PASSCODE | lock USER | token USER | status USER | quit)"
        );
    };
    match words {
        ["login", user, passcode] => {
            let passcode = Password::new((*passcode).to_owned());
            tablet.login(manager, provider, user, &passcode, qr).await
        }
        ["unlock", user, passcode] => {
            let passcode = Password::new((*passcode).to_owned());
            tablet.unlock(user, &passcode).await
        }
        ["lock", user] => {
            tablet.lock(user);
            Ok(())
        }
        ["token", user] => {
            let token = manager
                .access_token(provider)
                .await
                .with_context(|| format!("{user}: no access token"))?;
            println!("{user}: access token sha256:{}", fingerprint(token.secret()));
            Ok(())
        }
        ["status", user] => tablet.status(user).await,
        _ => bail!(
            "unknown command (login USER PASSCODE | unlock USER PASSCODE | lock USER | token USER | status USER | quit)"
        ),
    }
}
