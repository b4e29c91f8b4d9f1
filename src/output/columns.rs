//! Column descriptions and the typed record buffer plugins fill when a flow is written
//! (T2's "output buffer" + bin2txt). Plugins append binary values in column order; the sinks
//! (txt, json) turn them into text. Keeping the record typed lets several sinks share one pass
//! over the plugins and keeps formatting in one place.

/// Scalar value types, named as in headers.txt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    /// The flow direction: `A` for 0, `B` otherwise.
    Dir,
    U8,
    U16,
    U32,
    U64,
    I8,
    I16,
    I32,
    I64,
    H8,
    H16,
    H32,
    H64,
    /// float32 printed with %.7g.
    F,
    /// double printed with %f.
    D,
    /// seconds.nanoseconds (`U64.U32`).
    Ts,
    Mac,
    /// IPv4 or IPv6, chosen by a version byte (0 prints `-`).
    IpX,
    /// String printed without quotes through the sanitizer.
    Sc,
}

impl Ty {
    pub fn name(self) -> &'static str {
        match self {
            Ty::Dir => "C",
            Ty::U8 => "U8",
            Ty::U16 => "U16",
            Ty::U32 => "U32",
            Ty::U64 => "U64",
            Ty::I8 => "I8",
            Ty::I16 => "I16",
            Ty::I32 => "I32",
            Ty::I64 => "I64",
            Ty::H8 => "H8",
            Ty::H16 => "H16",
            Ty::H32 => "H32",
            Ty::H64 => "H64",
            Ty::F => "F",
            Ty::D => "D",
            Ty::Ts => "U64.U32",
            Ty::Mac => "MAC",
            Ty::IpX => "IPX",
            Ty::Sc => "SC",
        }
    }
}

/// One flows.txt column: a scalar or a compound of several scalars, possibly repeating.
#[derive(Clone, Debug)]
pub struct Column {
    pub name: &'static str,
    pub desc: &'static str,
    pub types: &'static [Ty],
    pub repeating: bool,
}

impl Column {
    pub const fn new(name: &'static str, types: &'static [Ty], desc: &'static str) -> Column {
        Column {
            name,
            desc,
            types,
            repeating: false,
        }
    }
    pub const fn rep(name: &'static str, types: &'static [Ty], desc: &'static str) -> Column {
        Column {
            name,
            desc,
            types,
            repeating: true,
        }
    }

    /// The headers.txt type text (`U16_U16`, `SC:R`).
    pub fn type_text(&self) -> String {
        let mut s = self
            .types
            .iter()
            .map(|t| t.name())
            .collect::<Vec<_>>()
            .join("_");
        if self.repeating {
            s.push_str(":R");
        }
        s
    }
}

/// A flow record under construction: values in column order, little-endian binary. Repeating
/// columns start with a u32 repetition count. Strings are a u16 length plus bytes. IPX values
/// are a version byte plus 16 address bytes.
///
/// Some T2 columns depend on the flows written *before* this one in the output (tcpFlags'
/// tcpWS and tcpJA4T test an aggregate over all flows written so far). A worker only knows its
/// own shard's past, so when such a value is undecided the plugin *forks* the record: from then
/// on every value goes to both renderings, except the `split_*` values, which differ. The
/// writer, which sees the global order, keeps the OR of every record's `sets` bits and picks the
/// alternative rendering when that OR meets the record's `needs` bits.
#[derive(Default, Clone)]
pub struct Record {
    pub buf: Vec<u8>,
    /// The alternative rendering (valid when `forked`).
    pub alt: Vec<u8>,
    pub forked: bool,
    /// Global order-dependent bits this record contributes.
    pub sets: u64,
    /// Bits whose global presence selects `alt`.
    pub needs: u64,
}

impl Record {
    pub fn clear(&mut self) {
        self.buf.clear();
        self.alt.clear();
        self.forked = false;
        self.sets = 0;
        self.needs = 0;
    }
    #[inline]
    fn put(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
        if self.forked {
            self.alt.extend_from_slice(b);
        }
    }
    /// Appends a [`Run`] of values. All `N` bytes are copied (a copy of known size, no
    /// library call) and the length then cut to what the run holds.
    #[inline]
    pub fn run<const N: usize>(&mut self, r: &Run<N>) {
        let n = r.n.min(N);
        let len = self.buf.len();
        self.buf.extend_from_slice(&r.b);
        self.buf.truncate(len + n);
        if self.forked {
            let len = self.alt.len();
            self.alt.extend_from_slice(&r.b);
            self.alt.truncate(len + n);
        }
    }
    /// Starts (or extends) an alternative rendering chosen when `needs` bits are set globally.
    pub fn fork(&mut self, needs: u64) {
        if !self.forked {
            self.alt.clear();
            self.alt.extend_from_slice(&self.buf);
            self.forked = true;
        }
        self.needs |= needs;
    }
    /// Declares global order-dependent bits this record sets (see the type's comment).
    #[inline]
    pub fn mark_sets(&mut self, bits: u64) {
        self.sets |= bits;
    }
    /// A u16 that is `plain` in the primary rendering and `alt` in the alternative one.
    #[inline]
    pub fn split_u16(&mut self, plain: u16, alt: u16) {
        self.buf.extend_from_slice(&plain.to_le_bytes());
        self.alt.extend_from_slice(&alt.to_le_bytes());
    }
    /// A string that differs between the two renderings.
    #[inline]
    pub fn split_str(&mut self, plain: &[u8], alt: &[u8]) {
        let (p, a) = (
            plain.len().min(u16::MAX as usize),
            alt.len().min(u16::MAX as usize),
        );
        self.buf.extend_from_slice(&(p as u16).to_le_bytes());
        self.buf.extend_from_slice(&plain[..p]);
        self.alt.extend_from_slice(&(a as u16).to_le_bytes());
        self.alt.extend_from_slice(&alt[..a]);
    }
    #[inline]
    pub fn reps(&mut self, n: u32) {
        self.put(&n.to_le_bytes());
    }
    #[inline]
    pub fn u8(&mut self, v: u8) {
        self.put(&[v]);
    }
    #[inline]
    pub fn u16(&mut self, v: u16) {
        self.put(&v.to_le_bytes());
    }
    #[inline]
    pub fn u32(&mut self, v: u32) {
        self.put(&v.to_le_bytes());
    }
    #[inline]
    pub fn u64(&mut self, v: u64) {
        self.put(&v.to_le_bytes());
    }
    #[inline]
    pub fn i8(&mut self, v: i8) {
        self.put(&[v as u8]);
    }
    #[inline]
    pub fn i16(&mut self, v: i16) {
        self.u16(v as u16);
    }
    #[inline]
    pub fn i32(&mut self, v: i32) {
        self.u32(v as u32);
    }
    #[inline]
    pub fn i64(&mut self, v: i64) {
        self.u64(v as u64);
    }
    #[inline]
    pub fn f32(&mut self, v: f32) {
        self.put(&v.to_le_bytes());
    }
    #[inline]
    pub fn f64(&mut self, v: f64) {
        self.put(&v.to_le_bytes());
    }
    #[inline]
    pub fn ts(&mut self, sec: u64, nsec: u32) {
        self.u64(sec);
        self.u32(nsec);
    }
    #[inline]
    pub fn mac(&mut self, m: [u8; 6]) {
        self.put(&m);
    }
    /// `ver` 4 or 6 (address in the first 4 or all 16 bytes), 0 for "no IP" (`-`).
    #[inline]
    pub fn ip(&mut self, ver: u8, a: &[u8; 16]) {
        self.put(&[ver]);
        self.put(a);
    }
    #[inline]
    pub fn str(&mut self, s: &[u8]) {
        let n = s.len().min(u16::MAX as usize);
        self.buf.reserve(2 + n);
        self.buf.extend_from_slice(&(n as u16).to_le_bytes());
        self.buf.extend_from_slice(&s[..n]);
        if self.forked {
            self.alt.extend_from_slice(&(n as u16).to_le_bytes());
            self.alt.extend_from_slice(&s[..n]);
        }
    }
}

/// A run of values built on the stack and appended to a [`Record`] in one piece
/// ([`Record::run`]): the same encoding as the [`Record`] methods, but a value is a store at
/// an offset the compiler mostly knows, instead of a capacity check, a length update and a
/// check of `forked` per value. `N` is the most the run may hold: writing past it panics.
#[derive(Clone)]
pub struct Run<const N: usize> {
    b: [u8; N],
    n: usize,
}

impl<const N: usize> Default for Run<N> {
    #[inline(always)]
    fn default() -> Self {
        Run { b: [0; N], n: 0 }
    }
}

impl<const N: usize> Run<N> {
    #[inline(always)]
    pub fn new() -> Self {
        Self::default()
    }
    /// The bytes written so far.
    #[inline(always)]
    pub fn as_bytes(&self) -> &[u8] {
        &self.b[..self.n]
    }
    #[inline(always)]
    fn put<const K: usize>(&mut self, v: [u8; K]) {
        self.b[self.n..self.n + K].copy_from_slice(&v);
        self.n += K;
    }
    /// Writes all `K` bytes of `v` (they must fit) but keeps only the first `keep` (at most
    /// `K`): the bytes after them are overwritten by the next value. For lists of up to a
    /// known number of values stored in an array: one store instead of a loop.
    #[inline(always)]
    pub fn prefix<const K: usize>(&mut self, v: [u8; K], keep: usize) {
        self.b[self.n..self.n + K].copy_from_slice(&v);
        self.n += keep.min(K);
    }
    #[inline(always)]
    pub fn reps(&mut self, n: u32) {
        self.put(n.to_le_bytes());
    }
    #[inline(always)]
    pub fn u8(&mut self, v: u8) {
        self.put([v]);
    }
    #[inline(always)]
    pub fn u16(&mut self, v: u16) {
        self.put(v.to_le_bytes());
    }
    #[inline(always)]
    pub fn u32(&mut self, v: u32) {
        self.put(v.to_le_bytes());
    }
    #[inline(always)]
    pub fn u64(&mut self, v: u64) {
        self.put(v.to_le_bytes());
    }
    #[inline(always)]
    pub fn i64(&mut self, v: i64) {
        self.put(v.to_le_bytes());
    }
    #[inline(always)]
    pub fn f32(&mut self, v: f32) {
        self.put(v.to_le_bytes());
    }
    #[inline(always)]
    pub fn ts(&mut self, sec: u64, nsec: u32) {
        self.u64(sec);
        self.u32(nsec);
    }
    #[inline(always)]
    pub fn mac(&mut self, m: [u8; 6]) {
        self.put(m);
    }
    /// As [`Record::ip`].
    #[inline(always)]
    pub fn ip(&mut self, ver: u8, a: &[u8; 16]) {
        self.put([ver]);
        self.put(*a);
    }
}

/// Reads a [`Record`] back value by value (used by the sinks).
#[derive(Clone, Copy)]
pub struct RecordReader<'a> {
    /// What is left to read: one length check per value.
    rest: &'a [u8],
}

/// One decoded scalar.
#[derive(Clone, Copy, Debug)]
pub enum Value<'a> {
    Dir(u8),
    U(u64),
    I(i64),
    H(u64, usize),
    F(f32),
    D(f64),
    Ts(u64, u32),
    Mac([u8; 6]),
    Ip(u8, [u8; 16]),
    Str(&'a [u8]),
}

impl<'a> RecordReader<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        RecordReader { rest: b }
    }
    fn take(&mut self, n: usize) -> &'a [u8] {
        let (s, rest) = self.rest.split_at(n.min(self.rest.len()));
        self.rest = rest;
        s
    }
    #[inline]
    fn le(&mut self, n: usize) -> u64 {
        debug_assert!(n <= 8);
        // whole values are the rule: one 8-byte load, masked to the value's width
        if let Some(s) = self.rest.first_chunk::<8>() {
            self.rest = &self.rest[n..];
            let v = u64::from_le_bytes(*s);
            return if n == 8 {
                v
            } else {
                v & ((1u64 << (8 * n)) - 1)
            };
        }
        // near the end of the record (or a short one): byte by byte, missing bytes read as 0
        let s = self.take(n);
        let mut v = 0u64;
        for (i, &x) in s.iter().enumerate() {
            v |= (x as u64) << (8 * i);
        }
        v
    }
    #[inline]
    pub fn reps(&mut self) -> u32 {
        self.le(4) as u32
    }
    /// The next `n` (<= 8) bytes as a little-endian unsigned value (missing bytes read as 0).
    #[inline(always)]
    pub fn uint(&mut self, n: usize) -> u64 {
        self.le(n)
    }
    /// The next `n` (<= 8) bytes in the low bytes of the result, the bytes after them above
    /// (the caller keeps the low `n`): one load for any width, so a caller reading values of
    /// varying width does not branch on it. Missing bytes read as 0.
    #[inline(always)]
    pub fn word(&mut self, n: usize) -> u64 {
        debug_assert!(n <= 8);
        match self.rest.first_chunk::<8>() {
            Some(s) => {
                self.rest = &self.rest[n..];
                u64::from_le_bytes(*s)
            }
            None => self.le(n),
        }
    }
    /// The next `N` bytes (missing bytes read as 0).
    #[inline(always)]
    pub fn array<const N: usize>(&mut self) -> [u8; N] {
        if let Some(a) = self.rest.first_chunk::<N>() {
            self.rest = &self.rest[N..];
            return *a;
        }
        let s = self.take(N);
        let mut a = [0u8; N];
        a[..s.len()].copy_from_slice(s);
        a
    }
    /// A string: its u16 length, then its bytes.
    #[inline(always)]
    pub fn str(&mut self) -> &'a [u8] {
        let n = self.le(2) as usize;
        self.take(n)
    }
    /// The next `n` bytes (fewer at the end of the record).
    #[inline(always)]
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        self.take(n)
    }
    // inlined into the sinks' loops, so the match on `t` meets the one on the value
    #[inline(always)]
    pub fn value(&mut self, t: Ty) -> Value<'a> {
        match t {
            Ty::Dir => Value::Dir(self.le(1) as u8),
            Ty::U8 => Value::U(self.le(1)),
            Ty::U16 => Value::U(self.le(2)),
            Ty::U32 => Value::U(self.le(4)),
            Ty::U64 => Value::U(self.le(8)),
            Ty::I8 => Value::I(self.le(1) as u8 as i8 as i64),
            Ty::I16 => Value::I(self.le(2) as u16 as i16 as i64),
            Ty::I32 => Value::I(self.le(4) as u32 as i32 as i64),
            Ty::I64 => Value::I(self.le(8) as i64),
            Ty::H8 => Value::H(self.le(1), 2),
            Ty::H16 => Value::H(self.le(2), 4),
            Ty::H32 => Value::H(self.le(4), 8),
            Ty::H64 => Value::H(self.le(8), 16),
            Ty::F => Value::F(f32::from_bits(self.le(4) as u32)),
            Ty::D => Value::D(f64::from_bits(self.le(8))),
            Ty::Ts => {
                let s = self.le(8);
                Value::Ts(s, self.le(4) as u32)
            }
            Ty::Mac => {
                let s = self.take(6);
                let mut m = [0u8; 6];
                m[..s.len()].copy_from_slice(s);
                Value::Mac(m)
            }
            Ty::IpX => {
                let v = self.le(1) as u8;
                let s = self.take(16);
                let mut a = [0u8; 16];
                a[..s.len()].copy_from_slice(s);
                Value::Ip(v, a)
            }
            Ty::Sc => {
                let n = self.le(2) as usize;
                Value::Str(self.take(n))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_of_every_type() {
        let mut r = Record::default();
        r.u8(1);
        r.u16(0xffff);
        r.i64(-4);
        r.f32(1.5);
        r.ts(7, 9);
        r.reps(2);
        r.str(b"eth:ipv4");
        r.ip(4, &[10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        let mut rd = RecordReader::new(&r.buf);
        assert!(matches!(rd.value(Ty::U8), Value::U(1)));
        assert!(matches!(rd.value(Ty::H16), Value::H(0xffff, 4)));
        assert!(matches!(rd.value(Ty::I64), Value::I(-4)));
        assert!(matches!(rd.value(Ty::F), Value::F(x) if x == 1.5));
        assert!(matches!(rd.value(Ty::Ts), Value::Ts(7, 9)));
        assert_eq!(rd.reps(), 2);
        assert!(matches!(rd.value(Ty::Sc), Value::Str(b"eth:ipv4")));
        assert!(matches!(rd.value(Ty::IpX), Value::Ip(4, a) if a[0] == 10 && a[3] == 1));
    }

    #[test]
    fn values_are_masked_to_their_width_and_short_records_read_as_zero() {
        // the 8-byte fast path must not leak the following bytes into a narrower value
        let b = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa];
        let mut r = RecordReader::new(&b);
        assert!(matches!(r.value(Ty::U8), Value::U(0x11)));
        assert!(matches!(r.value(Ty::U16), Value::U(0x3322)));
        assert!(matches!(r.value(Ty::I32), Value::I(x) if x == 0x7766_5544));
        // three bytes left: the rest of the u32 reads as zero, then nothing is left
        assert!(matches!(r.value(Ty::H32), Value::H(0xaa_9988, 8)));
        assert!(matches!(r.value(Ty::U64), Value::U(0)));
        let mut r = RecordReader::new(&b[..9]);
        assert!(matches!(r.value(Ty::U64), Value::U(0x8877_6655_4433_2211)));
        assert!(matches!(r.value(Ty::I8), Value::I(-103)));
    }

    #[test]
    fn forked_record_renders_two_ways() {
        let mut r = Record::default();
        r.u8(1);
        r.fork(0x200);
        r.split_u16(0, 32);
        r.u8(9);
        let mut a = RecordReader::new(&r.buf);
        let mut b = RecordReader::new(&r.alt);
        assert!(matches!(a.value(Ty::U8), Value::U(1)) && matches!(b.value(Ty::U8), Value::U(1)));
        assert!(
            matches!(a.value(Ty::U16), Value::U(0)) && matches!(b.value(Ty::U16), Value::U(32))
        );
        assert!(matches!(a.value(Ty::U8), Value::U(9)) && matches!(b.value(Ty::U8), Value::U(9)));
        assert_eq!(r.needs, 0x200);
    }

    #[test]
    fn run_encodes_like_the_record_methods() {
        let ip = [10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        let mut a = Record::default();
        a.u64(u64::MAX - 1);
        a.ts(7, 9);
        a.u8(3);
        a.reps(2);
        a.u16(0x1234);
        a.u16(0x5678);
        a.u32(0xdead_beef);
        a.i64(-4);
        a.f32(1.5);
        a.mac([1, 2, 3, 4, 5, 6]);
        a.ip(4, &ip);
        let mut r = Run::<72>::new();
        r.u64(u64::MAX - 1);
        r.ts(7, 9);
        r.u8(3);
        r.reps(2);
        // three values written, two kept: the third is overwritten by the next value
        r.prefix::<6>([0x34, 0x12, 0x78, 0x56, 0xff, 0xff], 4);
        r.u32(0xdead_beef);
        r.i64(-4);
        r.f32(1.5);
        r.mac([1, 2, 3, 4, 5, 6]);
        r.ip(4, &ip);
        assert_eq!(r.as_bytes(), &a.buf[..]);
        let mut b = Record::default();
        b.u8(1);
        b.run(&r);
        b.u8(2);
        assert_eq!(b.buf.len(), a.buf.len() + 2);
        assert_eq!(&b.buf[1..b.buf.len() - 1], &a.buf[..]);
        assert_eq!(b.buf[b.buf.len() - 1], 2, "only the run's bytes were kept");
    }

    #[test]
    fn run_goes_to_both_renderings_of_a_forked_record() {
        let mut r = Record::default();
        r.u8(1);
        r.fork(1);
        r.split_u16(0, 32);
        let mut x = Run::<16>::new();
        x.u32(7);
        x.prefix::<4>([1, 2, 3, 4], 0);
        r.run(&x);
        r.str(b"ab");
        assert_eq!(r.buf, [1, 0, 0, 7, 0, 0, 0, 2, 0, b'a', b'b']);
        assert_eq!(r.alt, [1, 32, 0, 7, 0, 0, 0, 2, 0, b'a', b'b']);
    }

    #[test]
    #[should_panic]
    fn run_past_its_size_panics() {
        let mut r = Run::<8>::new();
        r.u32(1);
        r.u64(2);
    }

    #[test]
    fn type_text() {
        assert_eq!(Column::rep("numHdrs", &[Ty::U16], "").type_text(), "U16:R");
        assert_eq!(
            Column::new("x", &[Ty::H8, Ty::H32], "").type_text(),
            "H8_H32"
        );
    }
}
