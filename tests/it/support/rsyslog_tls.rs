//! TLS fixtures: certificates made by the test with the `openssl` command line (never by the
//! library under test), and a real rsyslogd (Debian `rsyslog-gnutls`, `rsyslog-relp`) whose
//! inputs are TLS listeners presenting good and bad server certificates, a plain-text TCP
//! input, and imrelp with TLS. Loopback only; every message is stored as a line of the
//! `support::rsyslog` template, with the input's name first.

use std::fs;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::require;
use super::rsyslog::{free_port, parse_records, rsyslogd_path, Record};

/// The client certificate's name, which imrelp's `tls.permittedPeer` lists.
pub const CLIENT_NAME: &str = "client.falco.test";

/// A CA, a second CA, and certificates: `server` (localhost, 127.0.0.1), `client`
/// ([`CLIENT_NAME`]), `wrongname` (other.example), `expired` (January 2020), `otherserver`
/// (issued by the other CA). Each as `<name>.pem` and `<name>.key` (mode 0600).
pub struct Certs {
    pub dir: PathBuf,
    _tmp: tempfile::TempDir,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Certs {
    /// `None` (skipped, loudly) without the openssl command; under `CI=true` that fails.
    pub fn make() -> Option<Certs> {
        if !require("openssl") {
            return None;
        }
        let tmp = tempfile::Builder::new()
            .prefix("fo-certs-")
            .tempdir()
            .unwrap();
        let dir = tmp.path().to_path_buf();
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        for ca in ["ca", "otherca"] {
            let mut a = vec!["req", "-x509"];
            a.extend(ec);
            let (key, pem, subj) = (
                format!("{ca}.key"),
                format!("{ca}.pem"),
                format!("/CN={ca}"),
            );
            a.extend(["-keyout", &key, "-out", &pem, "-days", "30", "-subj", &subj]);
            openssl(&dir, &a);
        }
        let leaf = |name: &str, ca: &str, san: &str| {
            let (key, csr, pem, ext) = (
                format!("{name}.key"),
                format!("{name}.csr"),
                format!("{name}.pem"),
                format!("{name}.ext"),
            );
            let subj = format!("/CN={name}");
            let mut a = vec!["req"];
            a.extend(ec);
            a.extend(["-keyout", &key, "-out", &csr, "-subj", &subj]);
            openssl(&dir, &a);
            fs::write(
                dir.join(&ext),
                format!(
                    "subjectAltName={san}\nbasicConstraints=CA:FALSE\n\
                     keyUsage=digitalSignature,keyEncipherment\n\
                     extendedKeyUsage=serverAuth,clientAuth\n"
                ),
            )
            .unwrap();
            let (ca_pem, ca_key) = (format!("{ca}.pem"), format!("{ca}.key"));
            openssl(
                &dir,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &csr,
                    "-CA",
                    &ca_pem,
                    "-CAkey",
                    &ca_key,
                    "-CAcreateserial",
                    "-out",
                    &pem,
                    "-days",
                    "30",
                    "-extfile",
                    &ext,
                ],
            );
        };
        leaf("server", "ca", "DNS:localhost,IP:127.0.0.1");
        leaf("client", "ca", &format!("DNS:{CLIENT_NAME}"));
        leaf("wrongname", "ca", "DNS:other.example");
        leaf("otherserver", "otherca", "DNS:localhost,IP:127.0.0.1");
        // Expired: `openssl ca` takes explicit dates.
        fs::create_dir_all(dir.join("db")).unwrap();
        fs::write(dir.join("db/index.txt"), "").unwrap();
        fs::write(dir.join("db/serial"), "01\n").unwrap();
        fs::write(
            dir.join("ca.cnf"),
            "[ca]\ndefault_ca=x\n[x]\ndatabase=db/index.txt\nserial=db/serial\n\
             new_certs_dir=db\ndefault_md=sha256\npolicy=p\n[p]\ncommonName=supplied\n",
        )
        .unwrap();
        let mut a = vec!["req"];
        a.extend(ec);
        a.extend([
            "-keyout",
            "expired.key",
            "-out",
            "expired.csr",
            "-subj",
            "/CN=expired",
        ]);
        openssl(&dir, &a);
        openssl(
            &dir,
            &[
                "ca",
                "-batch",
                "-config",
                "ca.cnf",
                "-cert",
                "ca.pem",
                "-keyfile",
                "ca.key",
                "-in",
                "expired.csr",
                "-out",
                "expired.pem",
                "-startdate",
                "20200101000000Z",
                "-enddate",
                "20200201000000Z",
                "-extfile",
                "server.ext",
                "-notext",
            ],
        );
        for e in fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "key") {
                use std::os::unix::fs::PermissionsExt;
                fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
            }
        }
        Some(Certs { dir, _tmp: tmp })
    }

    pub fn path(&self, file: &str) -> String {
        self.dir.join(file).display().to_string()
    }

    /// `SHA256:AB:...` of a certificate, as `openssl x509 -fingerprint -sha256` prints it.
    pub fn fingerprint(&self, name: &str) -> String {
        let out = Command::new("openssl")
            .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
            .arg(self.dir.join(format!("{name}.pem")))
            .output()
            .expect("openssl x509");
        let text = String::from_utf8(out.stdout).unwrap();
        let hex = text.trim().rsplit('=').next().unwrap().to_string();
        format!("SHA256:{hex}")
    }

    /// The `syslog_output.tls` block (flow style) of a client that trusts `ca` and presents
    /// the client certificate, plus `extra` keys.
    pub fn client_tls(&self, extra: &str) -> String {
        format!(
            "{{ca_cert: {}, client_cert: {}, client_key: {}{extra}}}",
            self.path("ca.pem"),
            self.path("client.pem"),
            self.path("client.key")
        )
    }
}

/// The inputs of [`RsyslogTls`], by name (the stored records' first field).
pub const INPUTS: [&str; 6] = ["tls", "wrongname", "expired", "otherca", "plain", "relptls"];

/// rsyslogd with one input per entry of [`INPUTS`]:
/// - `tls`: imtcp, gtls, mode 1, `x509/certvalid`: requires a client certificate from the CA
///   (mTLS); presents `server` (localhost, 127.0.0.1);
/// - `wrongname`, `expired`, `otherca`: gtls with anonymous clients, presenting those
///   certificates;
/// - `plain`: imtcp in clear text;
/// - `relptls`: imrelp with `tls="on"`, `tls.authMode="name"`, `tls.permittedPeer` =
///   [`CLIENT_NAME`].
///
/// All write through a direct queue into one file.
pub struct RsyslogTls {
    pub dir: PathBuf,
    tmp: Option<tempfile::TempDir>,
    pub ports: [u16; 6],
    out: PathBuf,
    conf: PathBuf,
    pidfile: PathBuf,
    child: Option<Child>,
}

impl RsyslogTls {
    pub fn start(certs: &Certs) -> RsyslogTls {
        let bin = rsyslogd_path();
        assert!(
            bin.exists(),
            "rsyslogd not found at {}: these tests need rsyslog, rsyslog-gnutls and rsyslog-relp \
             (scripts/deps installs them)",
            bin.display()
        );
        assert!(
            Path::new("/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so").exists()
                || Path::new("/usr/lib/rsyslog/lmnsd_gtls.so").exists(),
            "rsyslog's gtls driver is missing: install rsyslog-gnutls (scripts/deps does)"
        );
        let tmp = tempfile::Builder::new()
            .prefix("fo-rsyslog-tls-")
            .tempdir()
            .unwrap();
        let dir = tmp.path().to_path_buf();
        let mut r = RsyslogTls {
            ports: [0; 6].map(|_| free_port()),
            out: dir.join("out.log"),
            conf: dir.join("rsyslog.conf"),
            pidfile: dir.join("rsyslogd.pid"),
            dir,
            tmp: Some(tmp),
            child: None,
        };
        r.write_conf(certs);
        r.spawn();
        r.wait_ready();
        r
    }

    pub fn port(&self, input: &str) -> u16 {
        let i = INPUTS.iter().position(|n| *n == input).expect("input name");
        self.ports[i]
    }

    fn write_conf(&self, c: &Certs) {
        let gtls = |name: &str, cert: &str, auth: &str| {
            format!(
                "input(type=\"imtcp\" address=\"127.0.0.1\" port=\"{}\" name=\"{name}\" \
                 ruleset=\"store\" streamDriver.name=\"gtls\" streamDriver.mode=\"1\" \
                 streamDriver.authMode=\"{auth}\" streamDriver.CAFile=\"{}\" \
                 streamDriver.CertFile=\"{}\" streamDriver.KeyFile=\"{}\")\n",
                self.port(name),
                c.path("ca.pem"),
                c.path(&format!("{cert}.pem")),
                c.path(&format!("{cert}.key")),
            )
        };
        let mut conf = format!(
            "global(workDirectory=\"{}\" maxMessageSize=\"64k\")\nmodule(load=\"imtcp\")\n",
            self.dir.display()
        );
        conf += &gtls("tls", "server", "x509/certvalid");
        conf += &gtls("wrongname", "wrongname", "anon");
        conf += &gtls("expired", "expired", "anon");
        conf += &gtls("otherca", "otherserver", "anon");
        conf += &format!(
            "input(type=\"imtcp\" address=\"127.0.0.1\" port=\"{}\" name=\"plain\" ruleset=\"store\")\n",
            self.port("plain")
        );
        conf += &format!(
            "module(load=\"imrelp\")\n\
             input(type=\"imrelp\" address=\"127.0.0.1\" port=\"{}\" name=\"relptls\" ruleset=\"store\" \
             tls=\"on\" tls.caCert=\"{}\" tls.myCert=\"{}\" tls.myPrivKey=\"{}\" \
             tls.authMode=\"name\" tls.permittedPeer=[\"{CLIENT_NAME}\"])\n",
            self.port("relptls"),
            c.path("ca.pem"),
            c.path("server.pem"),
            c.path("server.key"),
        );
        conf += &format!(
            "template(name=\"t\" type=\"string\" string=\"%inputname%|%syslogfacility%|%syslogseverity%|%syslogtag%|%app-name%|%procid%|%hostname%|%timereported:::date-rfc3339%|%msg%\\n\")\n\
             ruleset(name=\"store\" queue.type=\"Direct\") {{\n  action(type=\"omfile\" file=\"{}\" template=\"t\")\n}}\n",
            self.out.display()
        );
        fs::write(&self.conf, conf).unwrap();
    }

    fn spawn(&mut self) {
        let _ = fs::remove_file(&self.pidfile);
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("rsyslogd.stderr"))
            .unwrap();
        let child = Command::new(rsyslogd_path())
            .arg("-n")
            .arg("-f")
            .arg(&self.conf)
            .arg("-i")
            .arg(&self.pidfile)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start rsyslogd");
        self.child = Some(child);
    }

    pub fn daemon_output(&self) -> String {
        fs::read_to_string(self.dir.join("rsyslogd.stderr")).unwrap_or_default()
    }

    /// Ready = every input accepts connections and a probe through `plain` is stored
    /// (bounded: 15 s).
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        let probe = format!("ready {}", self.out.display());
        while Instant::now() < deadline {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("rsyslogd exited ({status}):\n{}", self.daemon_output());
            }
            let listening = self.ports.iter().all(|p| {
                TcpStream::connect_timeout(&([127, 0, 0, 1], *p).into(), Duration::from_millis(100))
                    .is_ok()
            });
            if listening {
                if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port("plain"))) {
                    use std::io::Write;
                    let frame = format!("<13>Jan  1 00:00:00 probe: {probe}");
                    let _ = s.write_all(format!("{} {frame}", frame.len()).as_bytes());
                }
                std::thread::sleep(Duration::from_millis(50));
                if self.all_records().iter().any(|r| r.msg.trim() == probe) {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "rsyslogd (TLS) not ready after 15 s:\n{}",
            self.daemon_output()
        );
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn freeze(&self, freeze: bool) {
        let child = self.child.as_ref().expect("rsyslogd is running");
        let sig = if freeze { libc::SIGSTOP } else { libc::SIGCONT };
        // SAFETY: kill(2) with our own child's pid (not yet waited for, so not reused).
        assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, sig) }, 0);
    }

    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
        self.wait_ready();
    }

    fn all_records(&self) -> Vec<Record> {
        parse_records(&fs::read_to_string(&self.out).unwrap_or_default())
    }

    /// What an input stored, probes left out.
    pub fn records(&self, input: &str) -> Vec<Record> {
        self.all_records()
            .into_iter()
            .filter(|r| r.input == input && r.tag != "probe:")
            .collect()
    }

    /// Every stored line of every input (probes left out), raw, for "nothing stored" checks.
    pub fn stored_text(&self) -> String {
        fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.contains("|probe:|"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for RsyslogTls {
    fn drop(&mut self) {
        self.kill();
        if let Some(tmp) = self.tmp.take() {
            if std::thread::panicking() {
                let _ = tmp.keep();
            }
        }
    }
}
