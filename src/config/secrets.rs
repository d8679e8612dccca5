//! Where secrets may come from: the environment, a file only its owner can read, or stdin
//! (`warden admin reset-password`) — never a flag's value, which every local user can read in
//! `/proc/PID/cmdline` or `ps`.

use std::path::Path;

use clap::parser::ValueSource;
use secrecy::SecretString;

use super::ConfigError;

/// Flags whose value is a secret: `(clap id, flag, where to put the secret instead)`. They
/// exist only to be refused with a message saying where the secret goes.
const SECRET_FLAGS: [(&str, &str, &str); 2] = [
    (
        "admin_password",
        "--admin-password",
        "set WARDEN_ADMIN_PASSWORD or use --admin-password-file",
    ),
    (
        "signing_key",
        "--signing-key",
        "set WARDEN_SIGNING_KEY or use --signing-key-file",
    ),
];

/// The clap ids of `--database-url` (serve, the subcommands' `DatabaseArg`, `matrix
/// --database-url`): refused on the command line only when the URL holds a password.
const DATABASE_URL_IDS: [&str; 2] = ["database_url", "url"];

/// Refuses a secret given as a flag's value, in the command or any of its subcommands: the
/// message names the flag and where the secret goes instead, never the value.
pub fn refuse_command_line_secrets(matches: &clap::ArgMatches) -> Result<(), ConfigError> {
    let mut next = Some(matches);
    while let Some(m) = next {
        for (id, flag, instead) in SECRET_FLAGS {
            if on_command_line(m, id) {
                return Err(ConfigError(format!(
                    "{flag} is refused: a value on the command line is readable by every local \
                     user (/proc/PID/cmdline); {instead}"
                )));
            }
        }
        for id in DATABASE_URL_IDS {
            if !on_command_line(m, id) {
                continue;
            }
            if let Ok(Some(url)) = m.try_get_one::<String>(id) {
                let shown = crate::store::redacted(url);
                if shown != *url {
                    return Err(ConfigError(format!(
                        "--database-url {shown} is refused: it holds a password, and a value on \
                         the command line is readable by every local user (/proc/PID/cmdline); \
                         set WARDEN_DATABASE_URL instead"
                    )));
                }
            }
        }
        next = m.subcommand().map(|(_, sub)| sub);
    }
    Ok(())
}

fn on_command_line(m: &clap::ArgMatches, id: &str) -> bool {
    // `value_source` panics on an id the command does not define: ask only about present ones.
    m.ids().any(|i| i.as_str() == id) && m.value_source(id) == Some(ValueSource::CommandLine)
}

/// Reads a secret from `path` (named in errors as `flag`), refusing a file that its group or
/// others may read, as ssh refuses such a private key.
pub fn read_secret_file(flag: &str, path: &Path) -> Result<SecretString, ConfigError> {
    let err = |e: std::io::Error| ConfigError(format!("{flag} {}: {e}", path.display()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).map_err(err)?.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(ConfigError(format!(
                "{flag} {path}: the file is readable by its group or others (mode {mode:04o}); \
                 a secret must be readable by its owner only: run `chmod 600 {path}`",
                path = path.display(),
                mode = mode & 0o7777,
            )));
        }
    }
    std::fs::read_to_string(path)
        .map(SecretString::from)
        .map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_secret_file_others_can_read_is_refused_with_the_fix_and_one_only_its_owner_can_read_is_read()
     {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("key");
        std::fs::write(&path, "secret-material").expect("write");
        for mode in [0o644, 0o640, 0o604, 0o660] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
            let e = read_secret_file("--signing-key-file", &path)
                .expect_err("refused")
                .to_string();
            assert!(e.contains("chmod 600"), "{mode:o}: {e}");
            assert!(e.contains(&path.display().to_string()), "{e}");
            assert!(!e.contains("secret-material"), "{e}");
        }
        for mode in [0o600, 0o400] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
            let s = read_secret_file("--signing-key-file", &path).expect("read");
            assert_eq!(secrecy::ExposeSecret::expose_secret(&s), "secret-material");
        }
    }
}
