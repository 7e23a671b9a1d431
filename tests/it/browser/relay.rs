//! A TCP relay between the browser and the server, so a test can drop the
//! page's connections while the server runs on (`cut`: the sockets close,
//! as when a phone's network goes), and point the same page address at a
//! restarted server (`to`). Bytes pass untouched (TLS included); the relay
//! is the page's origin, an address, which the server serves.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub struct Relay {
    pub addr: SocketAddr,
    upstream: Arc<Mutex<SocketAddr>>,
    pipes: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Relay {
    /// A relay on a free loopback port to `upstream`.
    pub async fn new(upstream: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let upstream = Arc::new(Mutex::new(upstream));
        let pipes: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (to, kept) = (upstream.clone(), pipes.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut inner, _)) = listener.accept().await {
                let there = *to.lock().unwrap();
                kept.lock().unwrap().push(tokio::spawn(async move {
                    if let Ok(mut outer) = TcpStream::connect(there).await {
                        let _ = tokio::io::copy_bidirectional(&mut inner, &mut outer).await;
                    }
                }));
            }
        });
        Relay {
            addr,
            upstream,
            pipes,
            accept,
        }
    }

    /// Close every connection through the relay, both ways.
    pub fn cut(&self) {
        for p in self.pipes.lock().unwrap().drain(..) {
            p.abort();
        }
    }

    /// New connections go to `upstream`.
    pub fn to(&self, upstream: SocketAddr) {
        *self.upstream.lock().unwrap() = upstream;
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}
