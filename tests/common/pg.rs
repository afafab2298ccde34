//! A throwaway PostgreSQL server for the tests of the PostgreSQL store:
//! one per test process, shared by its tests (each gets a fresh database,
//! so they run in parallel), stopped when the last test holding it ends.
//!
//! Uses Debian's packaged server (`apt-get install postgresql`), found
//! under /usr/lib/postgresql/*/bin (or `FEEDFOLD_PG_BIN`). initdb refuses
//! to run as root, so as root the server runs as the `postgres` user.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// A running server: data directory, socket and log in one temp dir.
pub struct PgServer {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

static SERVER: Mutex<Weak<PgServer>> = Mutex::new(Weak::new());
static DATABASES: AtomicUsize = AtomicUsize::new(0);

/// The server of this test process, started on first use; `None` (the
/// test [`super::skip`]s, or fails under CI) when PostgreSQL is not
/// installed. Hold the `Arc` for the whole test.
pub fn require_pg() -> Option<Arc<PgServer>> {
    let Some(bin) = pg_bin() else {
        super::skip(
            "PostgreSQL is not installed (no initdb under /usr/lib/postgresql/*/bin; \
             apt-get install postgresql, or set FEEDFOLD_PG_BIN)",
        );
        return None;
    };
    let mut slot = SERVER.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(server) = slot.upgrade() {
        return Some(server);
    }
    let server = Arc::new(PgServer::start(bin, false));
    *slot = Arc::downgrade(&server);
    Some(server)
}

/// A server of the test's own that also speaks TLS, with a self-signed
/// certificate (made by `openssl`) no platform trusts; stopped on drop.
pub fn require_pg_tls() -> Option<PgServer> {
    let Some(bin) = pg_bin() else {
        super::skip("PostgreSQL is not installed (apt-get install postgresql)");
        return None;
    };
    Some(PgServer::start(bin, true))
}

/// The newest installed version's bin directory.
fn pg_bin() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("FEEDFOLD_PG_BIN") {
        let dir = PathBuf::from(dir);
        return dir.join("initdb").exists().then_some(dir);
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn check(what: &str, out: Output) {
    assert!(
        out.status.success(),
        "{what}: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl PgServer {
    fn start(bin: PathBuf, tls: bool) -> PgServer {
        let dir = tempfile::Builder::new()
            .prefix("feedfold-pg-")
            .tempdir()
            .expect("temp dir for PostgreSQL");
        let as_postgres = is_root();
        if as_postgres {
            let out = Command::new("chown")
                .arg("postgres:postgres")
                .arg(dir.path())
                .output()
                .expect("chown runs");
            check("chown the data dir to postgres", out);
        }
        let mut server = PgServer {
            dir,
            bin,
            port: 0,
            as_postgres,
        };
        let data = server.data();
        let out = server
            .tool("initdb")
            .arg("-D")
            .arg(&data)
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"])
            .arg("--locale=C")
            .output()
            .expect("initdb runs");
        check("initdb", out);
        let mut tls_options = String::new();
        if tls {
            let (key, cert) = (
                server.dir.path().join("key"),
                server.dir.path().join("cert"),
            );
            let out = Command::new("openssl")
                .args([
                    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                ])
                .args(["-subj", "/CN=127.0.0.1", "-keyout"])
                .arg(&key)
                .arg("-out")
                .arg(&cert)
                .output()
                .expect("openssl runs");
            check("a self-signed certificate", out);
            if server.as_postgres {
                let out = Command::new("chown")
                    .arg("postgres:postgres")
                    .arg(&key)
                    .arg(&cert)
                    .output()
                    .expect("chown runs");
                check("chown the key to postgres", out);
            }
            tls_options = format!(
                " -c ssl=on -c ssl_cert_file='{}' -c ssl_key_file='{}'",
                cert.display(),
                key.display()
            );
        }
        // The port is free when picked and may be taken before the server
        // binds it: try a few.
        for attempt in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let options = format!(
                "-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories='{}' \
                 -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
                 -c max_connections=300{tls_options}",
                server.dir.path().display()
            );
            let out = server
                .tool("pg_ctl")
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(server.dir.path().join("log"))
                .args(["-w", "-t", "60", "-o", &options, "start"])
                .output()
                .expect("pg_ctl runs");
            if out.status.success() {
                server.port = port;
                return server;
            }
            let log = std::fs::read_to_string(server.dir.path().join("log")).unwrap_or_default();
            assert!(attempt < 4, "PostgreSQL did not start:\n{log}");
        }
        unreachable!("the loop returns or panics")
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A server program, run as `postgres` when we are root.
    fn tool(&self, name: &str) -> Command {
        let path = self.bin.join(name);
        if self.as_postgres {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(path);
            cmd
        } else {
            Command::new(path)
        }
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `psql` on database `db` as the superuser (any uid: trust auth over TCP).
    pub fn psql(&self, db: &str) -> Command {
        let mut cmd = Command::new(self.bin.join("psql"));
        cmd.args(["-h", "127.0.0.1", "-U", "postgres", "-X", "-q"])
            .args(["-v", "ON_ERROR_STOP=1", "-p"])
            .arg(self.port.to_string())
            .args(["-d", db]);
        cmd
    }

    /// Creates an empty database for one test and returns its URL.
    pub fn fresh_db(&self) -> String {
        let name = format!(
            "t{}_{}",
            std::process::id(),
            DATABASES.fetch_add(1, Ordering::SeqCst)
        );
        let out = self
            .psql("postgres")
            .args(["-c", &format!("CREATE DATABASE {name}")])
            .output()
            .expect("psql runs");
        check("CREATE DATABASE", out);
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// The server's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    /// The temp dir holding data, socket and log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let data = self.data();
        let _ = self
            .tool("pg_ctl")
            .arg("-D")
            .arg(&data)
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

/// Runs `f` with a client of the database at `url`, on a runtime of its own.
pub fn with_client<T>(url: &str, f: impl AsyncFnOnce(&tokio_postgres::Client) -> T) -> T {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(conn);
        f(&client).await
    })
}
