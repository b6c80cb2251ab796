//! Our UDP loop: batches of queries in ([`mmsg`]), answers built on the spot where no
//! upstream server is needed ([`answer`]), batches of answers out. hickory's own loop
//! spends a task, a channel hop and several allocations on every query; here a query
//! costs a parse, a lookup and an encode. Forwarded queries the cache cannot answer go
//! to tasks of their own, owned by the loop so that they end with it.

mod answer;
mod mmsg;
mod wire;

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;

use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::task::JoinSet;

use crate::handler::Handler;
use answer::Step;
use mmsg::RecvBatch;

pub(crate) use answer::encode;

/// Serves queries on `socket` until the task is aborted (or the socket fails for good).
pub(crate) async fn serve(socket: UdpSocket, handler: Handler) {
    let socket = Arc::new(socket);
    let mut batch = RecvBatch::new();
    let mut answers: Vec<(Vec<u8>, SocketAddr)> = Vec::with_capacity(mmsg::BATCH);
    let mut forwards = JoinSet::new();
    loop {
        if let Err(err) = socket.readable().await {
            tracing::warn!(%err, "DNS UDP socket failed");
            return;
        }
        let fd = socket.as_raw_fd();
        let received = socket.try_io(Interest::READABLE, || batch.receive(fd));
        match received {
            Ok(_) => {}
            Err(err) if is_transient(&err) => continue,
            Err(err) => {
                tracing::warn!(%err, "DNS UDP receive failed");
                continue;
            }
        }
        for i in 0..batch.len() {
            let (bytes, src) = batch.datagram(i);
            let Some(src) = src else { continue };
            match answer::step(&handler, bytes, src) {
                Step::Answer(bytes) => answers.push((bytes, src)),
                Step::Forward(request) => {
                    forwards.spawn(forward(Arc::clone(&socket), handler.clone(), request));
                }
                Step::Ignore => {}
            }
        }
        send_all(&socket, &answers).await;
        answers.clear();
        // Finished forwards are collected as we go, so the set stays small.
        while forwards.try_join_next().is_some() {}
    }
}

/// Receive errors that say nothing about the socket: try again.
fn is_transient(err: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionRefused, Interrupted, WouldBlock};
    // ECONNREFUSED: an ICMP error for an earlier answer of ours, queued on the socket.
    matches!(err.kind(), WouldBlock | Interrupted | ConnectionRefused)
}

/// Sends every answer, waiting for room in the socket's buffer when it is full.
async fn send_all(socket: &UdpSocket, answers: &[(Vec<u8>, SocketAddr)]) {
    let fd = socket.as_raw_fd();
    let mut done = 0;
    while done < answers.len() {
        match socket.try_io(Interest::WRITABLE, || mmsg::send(fd, &answers[done..])) {
            Ok(n) => done += n.max(1),
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {
                if socket.writable().await.is_err() {
                    return;
                }
            }
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => {
                tracing::debug!(%err, "could not send DNS answers");
                return;
            }
        }
    }
}

/// Asks upstream for `request`, then answers it.
async fn forward(
    socket: Arc<UdpSocket>,
    handler: Handler,
    request: Box<hickory_server::server::Request>,
) {
    let reply = handler.reply(&request).await;
    let bytes = encode(reply.message(&request));
    if let Err(err) = socket.send_to(&bytes, request.src()).await {
        tracing::debug!(%err, dst = %request.src(), "could not send DNS answer");
    }
}

#[cfg(test)]
#[path = "same_answers_tests.rs"]
mod same_answers_tests;
