//! The `database` setting: an SQLite file (the default) or a PostgreSQL URL,
//! from the config file or `FEEDFOLD_DATABASE` (which wins, so that one
//! config file can be shared by workers that each find the database in
//! their own environment, and a password need not sit in the file).

use std::fmt;
use std::path::{Path, PathBuf};

/// The environment variable that overrides the config's `database` key.
pub const DATABASE_ENV: &str = "FEEDFOLD_DATABASE";

/// Where feedfold keeps its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// An SQLite file (absolute, or relative to the working directory).
    Sqlite(PathBuf),
    /// A PostgreSQL database, shared by any number of `feedfold run`s.
    Postgres(PgUrl),
}

/// A `postgres://` (or `postgresql://`) connection URL. Its `Display`
/// hides the password, so logs and error messages can show it.
#[derive(Clone, PartialEq, Eq)]
pub struct PgUrl(String);

impl PgUrl {
    /// The URL as written, password included: only for connecting.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match url::Url::parse(&self.0) {
            Ok(mut u) if u.password().is_some() => {
                // Cannot fail on a URL that already has a password.
                let _ = u.set_password(Some("***"));
                f.write_str(u.as_str())
            }
            Ok(_) => f.write_str(&self.0),
            // Not shown at all when it does not parse: it may hold a password.
            Err(_) => f.write_str("postgres://…"),
        }
    }
}

impl fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PgUrl({self})")
    }
}

impl Database {
    /// Reads a `database` value: a `postgres://` / `postgresql://` URL, or
    /// a file path resolved against `base`. Other URLs are refused (their
    /// scheme alone is named: the rest may hold a password).
    pub fn from_setting(value: &str, base: &Path) -> Result<Database, String> {
        let written = value.trim();
        if written.is_empty() {
            return Err("must not be empty".into());
        }
        let Some(prefix) = super::check::url_prefix(written) else {
            return Ok(Database::Sqlite(base.join(written)));
        };
        let scheme = prefix.trim_end_matches(['/', ':']).to_ascii_lowercase();
        if scheme != "postgres" && scheme != "postgresql" {
            return Err(format!(
                "\"{prefix}…\" is a URL feedfold cannot use; give a file path (SQLite), e.g. \
                 \"{}\", or a postgres://user@host/dbname URL",
                super::DEFAULT_DATABASE
            ));
        }
        match url::Url::parse(written) {
            Ok(u) if u.host_str().is_some_and(|h| !h.is_empty()) || u.query().is_some() => {
                Ok(Database::Postgres(PgUrl(written.to_string())))
            }
            _ => Err(format!(
                "\"{prefix}…\" is not a valid PostgreSQL URL; expected \
                 postgres://user[:password]@host[:port]/dbname[?sslmode=…]"
            )),
        }
    }

    /// The SQLite file, or `None` on PostgreSQL.
    pub fn sqlite(&self) -> Option<&Path> {
        match self {
            Database::Sqlite(path) => Some(path),
            Database::Postgres(_) => None,
        }
    }
}

impl fmt::Display for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Database::Sqlite(path) => write!(f, "{}", path.display()),
            Database::Postgres(url) => write!(f, "{url}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_postgres_urls_are_told_apart() {
        let base = Path::new("/etc/feedfold");
        assert_eq!(
            Database::from_setting("data/ff.db", base),
            Ok(Database::Sqlite(base.join("data/ff.db")))
        );
        for url in [
            "postgres://feedfold:secret@db.example:5433/news?sslmode=require",
            "postgresql://db.example/news",
            "postgres:///news?host=/run/postgresql",
        ] {
            match Database::from_setting(url, base) {
                Ok(Database::Postgres(u)) => assert_eq!(u.expose(), url),
                other => panic!("{url}: {other:?}"),
            }
        }
        let e = Database::from_setting("mysql://root:pw@db/news", base).unwrap_err();
        assert!(e.starts_with("\"mysql://…\" is a URL"), "{e}");
        assert!(!e.contains("pw"), "{e}");
        assert!(Database::from_setting("postgres://", base).is_err());
    }

    #[test]
    fn a_password_is_never_displayed() {
        let db = Database::from_setting("postgres://ff:s3cret@db/news", Path::new("/")).unwrap();
        assert_eq!(db.to_string(), "postgres://ff:***@db/news");
        assert!(!format!("{db:?}").contains("s3cret"));
    }
}
