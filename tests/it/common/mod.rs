//! The integration tests' own fixtures, on top of `tagpub-fixtures` (the
//! archives, git, pypiserver and dirs that unit tests and benches share):
//! projects run with the real binary, its daemon, the fault proxy, devpi.

pub use tagpub_fixtures::pypi::free_port;
pub use tagpub_fixtures::{PypiServer, unique, venv, venv_bin, wheel_bytes, write_wheel};

/// A port on 127.0.0.1 where nothing listens, held (bound, never
/// listening: connections are refused) until the guard drops, so no server
/// another test starts can take it meanwhile.
pub fn closed_port() -> (u16, socket2::Socket) {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
        .expect("a TCP socket");
    socket
        .bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .expect("bind 127.0.0.1:0");
    let port = socket
        .local_addr()
        .expect("local addr")
        .as_socket()
        .expect("an inet address")
        .port();
    (port, socket)
}

pub mod daemon;
pub mod devpi;
pub mod project;
pub mod proxy;
pub mod snapshot;

/// xorshift64*: a seeded generator for the random-kill tests, so a failing
/// run can be replayed with `TAGPUB_CRASH_SEED`.
pub struct Rng {
    pub seed: u64,
    state: u64,
}

impl Rng {
    /// Seeded from `TAGPUB_CRASH_SEED`, else the clock; prints the seed.
    pub fn from_env() -> Rng {
        let seed = std::env::var("TAGPUB_CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        eprintln!("TAGPUB_CRASH_SEED={seed}");
        Rng { seed, state: seed }
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}
