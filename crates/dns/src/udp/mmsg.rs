//! Batched datagram I/O: `recvmmsg` takes up to [`BATCH`] queries in one system call and
//! `sendmmsg` sends their answers in one, where a `recvfrom`/`sendto` pair per query
//! would cost two system calls (and two wake-ups) each.
//!
//! The `mmsghdr` arrays hold raw pointers into the buffers, so they are built afresh on
//! the stack for each call: the buffers themselves stay plain, `Send` data that a tokio
//! task may hold across awaits.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

/// Datagrams per system call.
pub(crate) const BATCH: usize = 32;

/// Room for one query: as hickory's own UDP loop allows (a DNS query is far smaller;
/// a bigger datagram arrives cut, flagged, and is dropped).
pub(crate) const DATAGRAM: usize = 4096;

/// The receive side: [`BATCH`] buffers and what arrived in each.
pub(crate) struct RecvBatch {
    buffers: Vec<[u8; DATAGRAM]>,
    arrived: Vec<Arrived>,
}

/// One received datagram: its length and sender (`None`: not IP, or cut short).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Arrived {
    pub len: usize,
    pub src: Option<SocketAddr>,
}

impl RecvBatch {
    pub(crate) fn new() -> Self {
        Self {
            buffers: vec![[0u8; DATAGRAM]; BATCH],
            arrived: Vec::with_capacity(BATCH),
        }
    }

    /// The `i`th datagram of the last [`RecvBatch::receive`].
    pub(crate) fn datagram(&self, i: usize) -> (&[u8], Option<SocketAddr>) {
        let arrived = self.arrived[i];
        (&self.buffers[i][..arrived.len], arrived.src)
    }

    /// How many datagrams the last receive took.
    pub(crate) fn len(&self) -> usize {
        self.arrived.len()
    }

    /// Takes what is queued on `fd` (non-blocking), at most [`BATCH`] datagrams; fails
    /// with `WouldBlock` when nothing is.
    pub(crate) fn receive(&mut self, fd: RawFd) -> io::Result<usize> {
        self.arrived.clear();
        // SAFETY: all-zero bytes are valid values of these plain C structs.
        let mut addrs: [libc::sockaddr_storage; BATCH] = unsafe { zeroed() };
        // SAFETY: as above.
        let mut iovs: [libc::iovec; BATCH] = unsafe { zeroed() };
        // SAFETY: as above; null pointers and zero lengths until filled in below.
        let mut headers: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
        for (i, buffer) in self.buffers.iter_mut().enumerate() {
            iovs[i].iov_base = buffer.as_mut_ptr().cast();
            iovs[i].iov_len = buffer.len();
            headers[i].msg_hdr.msg_name = (&raw mut addrs[i]).cast();
            headers[i].msg_hdr.msg_namelen = sockaddr_storage_len();
            headers[i].msg_hdr.msg_iov = &raw mut iovs[i];
            headers[i].msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: every header points at a live buffer, address slot and iovec of this
        // frame, with their true lengths; the kernel writes only within them. BATCH fits
        // in a c_uint.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                headers.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = usize::try_from(n).unwrap_or(0).min(BATCH);
        for (header, addr) in headers.iter().zip(&addrs).take(n) {
            let cut = header.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
            let len = usize::try_from(header.msg_len).unwrap_or(0).min(DATAGRAM);
            let src = if cut { None } else { from_sockaddr(addr) };
            self.arrived.push(Arrived { len, src });
        }
        Ok(n)
    }
}

/// Sends `messages[..]` (answer, destination) with as few `sendmmsg` calls as the socket
/// allows (non-blocking). Returns how many were handled: sent, or dropped for an error
/// of their own (an unreachable destination must not hold up the rest). `WouldBlock`
/// when the socket's buffer is full before the first.
pub(crate) fn send(fd: RawFd, messages: &[(Vec<u8>, SocketAddr)]) -> io::Result<usize> {
    let count = messages.len().min(BATCH);
    // SAFETY: all-zero bytes are valid values of these plain C structs.
    let mut addrs: [libc::sockaddr_storage; BATCH] = unsafe { zeroed() };
    // SAFETY: as above.
    let mut iovs: [libc::iovec; BATCH] = unsafe { zeroed() };
    // SAFETY: as above; null pointers and zero lengths until filled in below.
    let mut headers: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
    for (i, (bytes, dst)) in messages.iter().take(count).enumerate() {
        // The kernel only reads through iov_base on send.
        iovs[i].iov_base = bytes.as_ptr().cast_mut().cast();
        iovs[i].iov_len = bytes.len();
        headers[i].msg_hdr.msg_name = (&raw mut addrs[i]).cast();
        headers[i].msg_hdr.msg_namelen = to_sockaddr(*dst, &mut addrs[i]);
        headers[i].msg_hdr.msg_iov = &raw mut iovs[i];
        headers[i].msg_hdr.msg_iovlen = 1;
    }
    // SAFETY: the first `count` headers point at live answers, addresses and iovecs of
    // this frame with their true lengths; `count` <= BATCH fits in a c_uint.
    let n = unsafe {
        libc::sendmmsg(
            fd,
            headers.as_mut_ptr(),
            count as libc::c_uint,
            libc::MSG_DONTWAIT,
        )
    };
    if n >= 0 {
        return Ok(usize::try_from(n).unwrap_or(0));
    }
    let err = io::Error::last_os_error();
    if err.kind() == io::ErrorKind::WouldBlock || err.kind() == io::ErrorKind::Interrupted {
        return Err(err);
    }
    // The first message failed on its own (EPERM from a firewall, EHOSTUNREACH...):
    // give it up, the caller goes on with the next.
    tracing::debug!(%err, dst = %messages[0].1, "could not send DNS answer");
    Ok(1)
}

fn sockaddr_storage_len() -> libc::socklen_t {
    size_of::<libc::sockaddr_storage>() as libc::socklen_t
}

/// The IP address and port in `addr`, if it holds one.
fn from_sockaddr(addr: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match libc::c_int::from(addr.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says a sockaddr_in is stored; sockaddr_storage is big
            // and aligned enough for it.
            let v4 =
                unsafe { &*(addr as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr));
            Some(SocketAddrV4::new(ip, u16::from_be(v4.sin_port)).into())
        }
        libc::AF_INET6 => {
            // SAFETY: the family says a sockaddr_in6 is stored; sockaddr_storage is big
            // and aligned enough for it.
            let v6 =
                unsafe { &*(addr as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let ip = Ipv6Addr::from(v6.sin6_addr.s6_addr);
            Some(
                SocketAddrV6::new(
                    ip,
                    u16::from_be(v6.sin6_port),
                    v6.sin6_flowinfo,
                    v6.sin6_scope_id,
                )
                .into(),
            )
        }
        _ => None,
    }
}

/// Writes `addr` into `storage`; returns the length that counts.
fn to_sockaddr(addr: SocketAddr, storage: &mut libc::sockaddr_storage) -> libc::socklen_t {
    match addr {
        SocketAddr::V4(v4) => {
            // SAFETY: sockaddr_storage is big and aligned enough for a sockaddr_in, and
            // we hold it exclusively.
            let out = unsafe {
                &mut *(storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>()
            };
            out.sin_family = libc::AF_INET as libc::sa_family_t;
            out.sin_port = v4.port().to_be();
            out.sin_addr.s_addr = u32::from(*v4.ip()).to_be();
            size_of::<libc::sockaddr_in>() as libc::socklen_t
        }
        SocketAddr::V6(v6) => {
            // SAFETY: sockaddr_storage is big and aligned enough for a sockaddr_in6, and
            // we hold it exclusively.
            let out = unsafe {
                &mut *(storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            out.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            out.sin6_port = v6.port().to_be();
            out.sin6_flowinfo = v6.flowinfo();
            out.sin6_addr.s6_addr = v6.ip().octets();
            out.sin6_scope_id = v6.scope_id();
            size_of::<libc::sockaddr_in6>() as libc::socklen_t
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_addresses_round_trip() {
        for text in ["127.0.1.10:53", "[fd00::1]:5353", "[::1]:1"] {
            let addr: SocketAddr = text.parse().expect("literal");
            // SAFETY: all-zero bytes are a valid sockaddr_storage.
            let mut storage: libc::sockaddr_storage = unsafe { zeroed() };
            to_sockaddr(addr, &mut storage);
            assert_eq!(from_sockaddr(&storage), Some(addr));
        }
    }
}
