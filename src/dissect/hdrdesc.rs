//! The per-packet header description (`hdrDesc`) and header count (`numHdrs`), core.md 6.1.

use arrayvec::ArrayVec;

/// T2's buffer is 128 bytes including the NUL: at most 127 characters.
pub const MAX_LEN: usize = 127;

/// Room for a whole [`Template`] past any text shorter than it (see [`HdrDesc::set`]).
const BUF_LEN: usize = 128;

/// A complete hdrDesc known in advance (the dissector's fast path): its text, zero-padded to a
/// fixed size so that it is copied in one fixed-size move, and its length and header count.
pub struct Template {
    pub text: [u8; Template::SIZE],
    pub len: u8,
    pub count: u16,
}

impl Template {
    pub const SIZE: usize = 32;

    /// The template of `text` (at most [`Template::SIZE`] bytes), standing for `count` headers.
    pub const fn new(text: &str, count: u16) -> Template {
        let b = text.as_bytes();
        assert!(b.len() <= Template::SIZE);
        let mut t = [0u8; Template::SIZE];
        let mut i = 0;
        while i < b.len() {
            t[i] = b[i];
            i += 1;
        }
        Template {
            text: t,
            len: b.len() as u8,
            count,
        }
    }
}

/// hdrDesc under construction: names are appended with their leading ':' (except the very first
/// link name); on overflow the text is cut to 124 characters + "..." and HDOVRN is raised.
#[derive(Clone)]
pub struct HdrDesc {
    buf: [u8; BUF_LEN],
    len: usize,
    pub count: u16,
    pub overrun: bool,
    /// The caller's number of the [`Template`] the text is, if it is one unchanged (see
    /// [`HdrDesc::set`]).
    template: Option<u8>,
}

impl Default for HdrDesc {
    fn default() -> HdrDesc {
        HdrDesc {
            buf: [0; BUF_LEN],
            len: 0,
            count: 0,
            overrun: false,
            template: None,
        }
    }
}

impl HdrDesc {
    pub fn clear(&mut self) {
        self.len = 0;
        self.count = 0;
        self.overrun = false;
        self.template = None;
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Replaces the text with a template's; `id` is the caller's number for it, given back by
    /// [`HdrDesc::template`] until the text changes.
    #[inline]
    pub fn set(&mut self, t: &Template, id: u8) {
        self.buf[..Template::SIZE].copy_from_slice(&t.text);
        self.len = t.len as usize;
        self.count = t.count;
        self.overrun = false;
        self.template = Some(id);
    }

    /// The number of the template the text is ([`HdrDesc::set`]), None when it was built
    /// name by name.
    #[inline]
    pub fn template(&self) -> Option<u8> {
        self.template
    }

    /// Appends one header name. `first` names (the link layer) have no ':' prefix.
    /// A `first` name is written without ':' only when it really is the first thing written
    /// (PPI puts "ppi" before the inner link's first name).
    pub fn add(&mut self, name: &str, first: bool) {
        self.count += 1;
        if !(first && self.count == 1) {
            self.push_tail(b":");
        }
        self.push_tail(name.as_bytes());
    }

    /// Appends a name that stands for several headers (`fcoe:fc`, `ppp:mp`): each part counts.
    pub fn add_multi(&mut self, names: &str) {
        for part in names.split(':') {
            self.add(part, false);
        }
    }

    /// VLAN/MPLS blocks: `name{n}`; the `{n}` adds `n - 2` to the count on top of the two adds.
    pub fn add_repeated(&mut self, name: &str, n: u16) {
        self.add(name, false);
        if n >= 2 {
            let mut tmp = ArrayVec::<u8, 8>::new();
            tmp.push(b'{');
            let mut digits = ArrayVec::<u8, 5>::new();
            let mut v = n;
            loop {
                digits.push(b'0' + (v % 10) as u8);
                v /= 10;
                if v == 0 {
                    break;
                }
            }
            tmp.extend(digits.iter().rev().copied());
            tmp.push(b'}');
            self.count += 1;
            self.push_tail(&tmp);
            self.count += n - 2;
        }
    }

    /// Appends `UNK(0xhhhh)`, `UNK(0xhh)` or `UNK(n)` for an unknown protocol value.
    pub fn add_unknown_hex(&mut self, v: u32, digits: usize) {
        let mut tmp = ArrayVec::<u8, 16>::new();
        tmp.try_extend_from_slice(b"UNK(0x").ok();
        for i in (0..digits).rev() {
            let d = ((v >> (4 * i)) & 0xf) as u8;
            tmp.push(if d < 10 { b'0' + d } else { b'a' + d - 10 });
        }
        tmp.push(b')');
        self.add(std::str::from_utf8(&tmp).unwrap_or("UNK"), false);
    }

    pub fn add_unknown_dec(&mut self, v: u8) {
        let mut tmp = ArrayVec::<u8, 16>::new();
        tmp.try_extend_from_slice(b"UNK(").ok();
        if v >= 100 {
            tmp.push(b'0' + v / 100);
        }
        if v >= 10 {
            tmp.push(b'0' + (v / 10) % 10);
        }
        tmp.push(b'0' + v % 10);
        tmp.push(b')');
        self.add(std::str::from_utf8(&tmp).unwrap_or("UNK"), false);
    }

    fn push_tail(&mut self, s: &[u8]) {
        self.template = None;
        if self.overrun {
            return;
        }
        let room = MAX_LEN - self.len;
        if s.len() <= room {
            self.buf[self.len..self.len + s.len()].copy_from_slice(s);
            self.len += s.len();
        } else {
            self.buf[self.len..MAX_LEN].copy_from_slice(&s[..room]);
            self.buf[MAX_LEN - 3..MAX_LEN].copy_from_slice(b"...");
            self.len = MAX_LEN;
            self.overrun = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_counts_and_repetition() {
        let mut d = HdrDesc::default();
        d.add("eth", true);
        d.add_repeated("vlan", 2);
        d.add("pppoes", false);
        d.add("ppp", false);
        d.add("ipv4", false);
        d.add("udp", false);
        assert_eq!(d.as_bytes(), b"eth:vlan{2}:pppoes:ppp:ipv4:udp");
        assert_eq!(d.count, 7);
    }

    #[test]
    fn empty_first_name_for_raw_ipv4_links() {
        let mut d = HdrDesc::default();
        d.add("ipv4", false);
        d.add("tcp", false);
        assert_eq!(d.as_bytes(), b":ipv4:tcp");
        assert_eq!(d.count, 2);
    }

    #[test]
    fn overflow_cuts_to_124_plus_dots() {
        let mut d = HdrDesc::default();
        d.add("eth", true);
        d.add("ipv4", false);
        d.add("udp", false);
        for _ in 0..20 {
            d.add("dtls1.2", false);
        }
        assert_eq!(d.count, 23);
        assert!(d.overrun);
        assert_eq!(d.as_bytes().len(), 127);
        assert!(d.as_bytes().ends_with(b"dtls1.2..."));
    }

    #[test]
    fn templates_replace_the_text() {
        let mut d = HdrDesc::default();
        for _ in 0..30 {
            d.add("dtls1.2", false);
        }
        assert!(d.overrun);
        assert_eq!(d.template(), None);
        d.set(&Template::new("eth:vlan{2}:ipv6:icmpv6", 5), 7);
        assert_eq!(d.as_bytes(), b"eth:vlan{2}:ipv6:icmpv6");
        assert_eq!((d.count, d.overrun, d.template()), (5, false, Some(7)));
        d.add("x", false);
        assert_eq!(d.as_bytes(), b"eth:vlan{2}:ipv6:icmpv6:x");
        assert_eq!(d.template(), None);
        d.set(&Template::new("eth", 1), 0);
        d.clear();
        assert_eq!(d.template(), None);
    }

    #[test]
    fn unknown_values() {
        let mut d = HdrDesc::default();
        d.add("eth", true);
        d.add_unknown_hex(0x115c, 4);
        d.add_unknown_dec(170);
        assert_eq!(d.as_bytes(), b"eth:UNK(0x115c):UNK(170)");
    }
}
