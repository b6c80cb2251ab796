//! Deleting an nftables table over netlink, without the `nft` tool: one batch (begin,
//! delete-table, end) on a netfilter socket. Starting `nft` costs 7-15 ms (it loads its
//! libraries and the whole ruleset); the request itself is a fraction of a millisecond,
//! and `down` pays it once per project.

use std::io;
use std::os::fd::AsRawFd;

use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_NETFILTER};

/// `NFNL_SUBSYS_NFTABLES`: the nftables subsystem of nfnetlink.
const SUBSYS_NFTABLES: u16 = 10;
/// `NFT_MSG_DELTABLE`.
const MSG_DELTABLE: u16 = 2;
/// `NFNL_MSG_BATCH_BEGIN` and `NFNL_MSG_BATCH_END` (`NLMSG_MIN_TYPE` and the next).
const MSG_BATCH_BEGIN: u16 = 16;
const MSG_BATCH_END: u16 = 17;
/// `NFTA_TABLE_NAME`.
const ATTR_TABLE_NAME: u16 = 1;
/// `NFPROTO_INET`: the `inet` family of `table inet NAME`.
pub const FAMILY_INET: u8 = 1;

const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLMSG_ERROR: u16 = 2;
const HEADER_LEN: usize = 16;

/// Deletes table `name` of `family`. `Ok(false)` when there is no such table.
pub fn delete_table(family: u8, name: &str) -> io::Result<bool> {
    let mut sock = Socket::new(NETLINK_NETFILTER)?;
    sock.bind_auto()?;
    sock.connect(&SocketAddr::new(0, 0))?;
    set_receive_timeout(&sock, 5)?;
    let mut table = name.as_bytes().to_vec();
    table.push(0);
    let subsys = SUBSYS_NFTABLES.to_be();
    let mut buf = Vec::new();
    message(&mut buf, MSG_BATCH_BEGIN, NLM_F_REQUEST, 1, 0, subsys, &[]);
    message(
        &mut buf,
        (SUBSYS_NFTABLES << 8) | MSG_DELTABLE,
        NLM_F_REQUEST | NLM_F_ACK,
        2,
        family,
        0,
        &[(ATTR_TABLE_NAME, &table)],
    );
    message(&mut buf, MSG_BATCH_END, NLM_F_REQUEST, 3, 0, subsys, &[]);
    sock.send(&buf, 0)?;
    loop {
        let (data, _) = sock.recv_from_full()?;
        if data.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "netfilter socket closed",
            ));
        }
        if let Some(code) = ack_of(&data, 2) {
            return match code {
                0 => Ok(true),
                e if -e == libc::ENOENT => Ok(false),
                e => Err(io::Error::from_raw_os_error(-e)),
            };
        }
    }
}

/// Appends one netlink message: header, `nfgenmsg` (family, version 0, `res_id` as given,
/// already in network order), then the attributes, each padded to 4 bytes.
fn message(
    buf: &mut Vec<u8>,
    kind: u16,
    flags: u16,
    seq: u32,
    family: u8,
    res_id: u16,
    attrs: &[(u16, &[u8])],
) {
    let start = buf.len();
    buf.extend_from_slice(&[0; HEADER_LEN]);
    buf.extend_from_slice(&[family, 0]);
    buf.extend_from_slice(&res_id.to_ne_bytes());
    for (kind, data) in attrs {
        let len = 4 + data.len();
        buf.extend_from_slice(&(len as u16).to_ne_bytes());
        buf.extend_from_slice(&kind.to_ne_bytes());
        buf.extend_from_slice(data);
        buf.resize(buf.len() + (4 - len % 4) % 4, 0);
    }
    let total = (buf.len() - start) as u32;
    buf[start..start + 4].copy_from_slice(&total.to_ne_bytes());
    buf[start + 4..start + 6].copy_from_slice(&kind.to_ne_bytes());
    buf[start + 6..start + 8].copy_from_slice(&flags.to_ne_bytes());
    buf[start + 8..start + 12].copy_from_slice(&seq.to_ne_bytes());
}

/// The error code (0: done) of the kernel's answer to message `seq` among `data`, if any.
fn ack_of(data: &[u8], seq: u32) -> Option<i32> {
    let mut offset = 0;
    while offset + HEADER_LEN <= data.len() {
        let field = |at: usize, n: usize| &data[offset + at..offset + at + n];
        let len = u32::from_ne_bytes(field(0, 4).try_into().ok()?) as usize;
        let kind = u16::from_ne_bytes(field(4, 2).try_into().ok()?);
        let this = u32::from_ne_bytes(field(8, 4).try_into().ok()?);
        if kind == NLMSG_ERROR && this == seq && offset + HEADER_LEN + 4 <= data.len() {
            return Some(i32::from_ne_bytes(field(HEADER_LEN, 4).try_into().ok()?));
        }
        if len < HEADER_LEN {
            break;
        }
        offset += (len + 3) & !3;
    }
    None
}

fn set_receive_timeout(sock: &Socket, secs: i64) -> io::Result<()> {
    let tv = libc::timeval {
        tv_sec: secs,
        tv_usec: 0,
    };
    // SAFETY: setsockopt reads a valid timeval of the size given from a live socket.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&raw const tv).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delete_table_batch_is_laid_out_as_nfnetlink_expects() {
        let mut buf = Vec::new();
        message(
            &mut buf,
            (SUBSYS_NFTABLES << 8) | MSG_DELTABLE,
            NLM_F_REQUEST | NLM_F_ACK,
            2,
            FAMILY_INET,
            0,
            &[(ATTR_TABLE_NAME, b"abc\0")],
        );
        // 16 header + 4 nfgenmsg + 4 attribute header + 4 name.
        assert_eq!(buf.len(), 28);
        assert_eq!(u32::from_ne_bytes(buf[0..4].try_into().unwrap()), 28);
        assert_eq!(u16::from_ne_bytes(buf[4..6].try_into().unwrap()), 0x0a02);
        assert_eq!(buf[16], FAMILY_INET);
        assert_eq!(u16::from_ne_bytes(buf[20..22].try_into().unwrap()), 8);
        assert_eq!(&buf[24..28], b"abc\0");
        // A name whose attribute is not a multiple of 4 is padded.
        let mut odd = Vec::new();
        message(&mut odd, 1, 0, 1, 0, 0, &[(1, b"ab\0")]);
        assert_eq!(odd.len(), 28);
    }

    #[test]
    fn the_answer_to_our_message_is_found_among_others() {
        let mut data = Vec::new();
        for (seq, code) in [(1u32, -1i32), (2, -libc::ENOENT)] {
            data.extend_from_slice(&36u32.to_ne_bytes());
            data.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
            data.extend_from_slice(&0u16.to_ne_bytes());
            data.extend_from_slice(&seq.to_ne_bytes());
            data.extend_from_slice(&0u32.to_ne_bytes());
            data.extend_from_slice(&code.to_ne_bytes());
            data.extend_from_slice(&[0; 16]);
        }
        assert_eq!(ack_of(&data, 2), Some(-libc::ENOENT));
        assert_eq!(ack_of(&data, 3), None);
    }
}
