//! A real RabbitMQ node (Debian's `rabbitmq-server`, installed by `.ci/test-deps.sh`) on
//! 127.0.0.1 for the queue tests: its own node name, AMQP port, distribution and epmd ports, data
//! and log directories and Erlang cookie, so it never meets the host's broker. It can be stopped
//! and started again on the same data (durable queues and messages survive), and is killed when
//! dropped. The tests read what Refract publishes with another client: pika, in the test venv.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{free_port, venv_tool};

const SERVER: &str = "/usr/lib/rabbitmq/bin/rabbitmq-server";
const CTL: &str = "/usr/lib/rabbitmq/bin/rabbitmqctl";

/// A RabbitMQ node on loopback.
pub struct Rabbit {
    /// `amqp://guest:guest@127.0.0.1:PORT/%2f`.
    pub url: String,
    /// The AMQP port.
    pub port: u16,
    node: String,
    epmd: u16,
    dist: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl Rabbit {
    /// Start a fresh node and wait until it accepts AMQP connections.
    pub fn start() -> Rabbit {
        assert!(
            Path::new(SERVER).is_file(),
            "{SERVER} missing: run .ci/test-deps.sh (make test does)"
        );
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        std::fs::write(dir.path().join("enabled_plugins"), "[].\n").unwrap();
        std::fs::write(
            dir.path().join("rabbitmq.conf"),
            format!("listeners.tcp.1 = 127.0.0.1:{port}\nlog.console = false\n"),
        )
        .unwrap();
        let mut rabbit = Rabbit {
            url: format!("amqp://guest:guest@127.0.0.1:{port}/%2f"),
            port,
            node: format!("refract-test-{port}@localhost"),
            epmd: free_port(),
            dist: free_port(),
            child: None,
            dir,
        };
        rabbit.start_again();
        rabbit
    }

    fn env(&self, cmd: &mut Command) {
        let d = self.dir.path();
        cmd.env("HOME", d)
            .env("RABBITMQ_NODENAME", &self.node)
            .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_NODE_PORT", self.port.to_string())
            .env("RABBITMQ_DIST_PORT", self.dist.to_string())
            .env("ERL_EPMD_PORT", self.epmd.to_string())
            .env("ERL_EPMD_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_MNESIA_BASE", d.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", d.join("log"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", d.join("enabled_plugins"))
            .env("RABBITMQ_CONFIG_FILE", d.join("rabbitmq"))
            .env("RABBITMQ_PLUGINS_EXPAND_DIR", d.join("plugins-expand"))
            .env(
                "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS",
                "-kernel inet_dist_use_interface {127,0,0,1}",
            );
    }

    /// Start the node (again, on the same data) and wait for it.
    pub fn start_again(&mut self) {
        let mut cmd = Command::new(SERVER);
        self.env(&mut cmd);
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        self.child = Some(cmd.spawn().expect("start rabbitmq-server"));
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if self.answers() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "RabbitMQ did not start within 90 s; logs in {}",
                self.dir.path().join("log").display()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Whether the node has finished booting (an AMQP client connects and opens a channel).
    fn answers(&self) -> bool {
        if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            return false;
        }
        let mut cmd = Command::new(CTL);
        self.env(&mut cmd);
        cmd.args(["-n", &self.node, "-q", "await_startup"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Stop the node (its data stays for [`Rabbit::start_again`]).
    pub fn stop(&mut self) {
        let mut cmd = Command::new(CTL);
        self.env(&mut cmd);
        let _ = cmd
            .args(["-n", &self.node, "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Some(mut child) = self.child.take() {
            let deadline = Instant::now() + Duration::from_secs(30);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Run a pika script (Python, with `pika` imported and `URL` set to the broker) and return
    /// its standard output.
    pub fn pika(&self, script: &str) -> String {
        let program = format!(
            "import json, pika, sys\nURL = pika.URLParameters({:?})\n{script}",
            self.url
        );
        let out = Command::new(venv_tool("python"))
            .args(["-c", &program])
            .output()
            .expect("run python");
        assert!(
            out.status.success(),
            "pika script failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Declare (once) a durable queue `queue` bound to every `image.*` event, as a consumer
    /// service would.
    pub fn bind_events(&self, queue: &str) {
        self.pika(&format!(
            r#"
c = pika.BlockingConnection(URL)
ch = c.channel()
ch.exchange_declare("refract.events", exchange_type="topic", durable=True)
ch.queue_declare("{queue}", durable=True)
ch.queue_bind("{queue}", "refract.events", routing_key="image.*")
c.close()
"#
        ));
    }

    /// Take every message waiting in `queue`: its routing key, message id, persistence and
    /// JSON body (`event`) each.
    pub fn take(&self, queue: &str) -> Vec<serde_json::Value> {
        let out = self.pika(&format!(
            r#"
c = pika.BlockingConnection(URL)
ch = c.channel()
while True:
    method, props, body = ch.basic_get("{queue}", auto_ack=True)
    if method is None:
        break
    print(json.dumps({{"key": method.routing_key, "id": props.message_id,
                      "persistent": props.delivery_mode == 2, "event": json.loads(body)}}))
c.close()
"#
        ));
        out.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Where the node keeps its data.
    pub fn data(&self) -> PathBuf {
        self.dir.path().join("mnesia")
    }
}

impl Drop for Rabbit {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.stop();
        }
        let _ = Command::new("epmd")
            .args(["-port", &self.epmd.to_string(), "-kill"])
            .env("ERL_EPMD_PORT", self.epmd.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
