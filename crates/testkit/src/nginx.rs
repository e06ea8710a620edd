//! [`Nginx`]: a private nginx in the foreground with the test's `server` blocks, its
//! scratch files in a directory of its own, killed on drop. For tests where the gateway is
//! the point (forward auth with `auth_request`).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long nginx may take to accept connections.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub struct Nginx {
    dir: PathBuf,
    child: Child,
}

impl Nginx {
    /// Starts nginx with `servers` (the `server { … }` blocks of its `http` context) and
    /// waits until `port`, one of theirs, accepts connections. Panics with the remedy if
    /// nginx is not installed.
    pub fn start(servers: &str, port: u16) -> Nginx {
        let dir = std::env::temp_dir().join(format!("tessera-nginx-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create nginx dir");
        // Readable by other users too, should nginx run as one of its own.
        let open = std::os::unix::fs::PermissionsExt::from_mode(0o755);
        std::fs::set_permissions(&dir, open).expect("open the nginx dir");
        let d = dir.display();
        let config = format!(
            "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  \
             fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
             {servers}\n}}\n"
        );
        std::fs::write(dir.join("nginx.conf"), config).expect("write nginx.conf");
        let binary = ["/usr/sbin/nginx", "/usr/bin/nginx"]
            .into_iter()
            .find(|path| std::path::Path::new(path).exists())
            .unwrap_or("nginx");
        let child = Command::new(binary)
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start nginx: install it (apt-get install -y nginx-light)");
        let nginx = Nginx { dir, child };
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nginx did not listen on {port}: {}",
                nginx.error_log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        nginx
    }

    /// What nginx logged (for failure messages).
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }
}

/// One process (`master_process off`): killing it leaves no worker behind (a killed
/// master's workers would live on, orphaned, holding the port).
impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
