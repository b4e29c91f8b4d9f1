//! jsonSink: one JSON object per flow (`PREFIX_flows.json`), as T2's jsonSink writes them:
//! hex values, IPs, MACs and timestamps are strings, repeating and compound columns are arrays,
//! repeating columns without repetitions are left out, floats have 17 significant digits.

use super::columns::{Column, RecordReader, Ty};
use crate::textfmt as tf;
use crate::textput as tp;

/// Bytes of the line buffer: longer lines are written to the output in pieces.
const LINE: usize = 4096;

/// Room one piece of a line needs: a value between two quotes (or a column's key, at most
/// [`KEY_CHUNK`] bytes at a time).
const ROOM: usize = tp::WINDOW + 2;

/// Keys are copied in chunks of this many bytes (fixed-size copies, no `memcpy` call).
const KEY_CHUNK: usize = 32;

/// One column: its value types, whether it repeats, and its key text `,"name":` in
/// `JsonFormatter::keys`.
struct JsonColumn {
    types: &'static [Ty],
    repeating: bool,
    key: std::ops::Range<usize>,
    /// The key, then padding, when it fits one chunk (most do): copied from here without a
    /// loop.
    short_key: Option<[u8; KEY_CHUNK + 1]>,
}

/// Formats records of one column list as flows.json lines (see the module comment).
///
/// Like [`super::txt::TxtFormatter`]: the column keys are prepared once, and a line is built
/// in a reused buffer of fixed size, each piece stored into a window of it after one check
/// for room, then appended to the output at once.
pub struct JsonFormatter {
    columns: Vec<JsonColumn>,
    /// The keys back to back, then `KEY_CHUNK` bytes of padding.
    keys: Vec<u8>,
    buf: Box<[u8; LINE]>,
    /// The text of one float (from `textfmt`'s `Vec` writer).
    float: Vec<u8>,
}

impl JsonFormatter {
    pub fn new(cols: &[Column]) -> Self {
        let mut keys = Vec::new();
        let columns = cols
            .iter()
            .map(|c| {
                let start = keys.len();
                keys.extend_from_slice(b",\"");
                keys.extend_from_slice(c.name.as_bytes());
                keys.extend_from_slice(b"\":");
                let key = &keys[start..];
                let short_key = (key.len() <= KEY_CHUNK).then(|| {
                    let mut k = [0u8; KEY_CHUNK + 1];
                    k[..key.len()].copy_from_slice(key);
                    k
                });
                JsonColumn {
                    types: c.types,
                    repeating: c.repeating,
                    key: start..keys.len(),
                    short_key,
                }
            })
            .collect();
        keys.resize(keys.len() + KEY_CHUNK, 0);
        JsonFormatter {
            columns,
            keys,
            buf: Box::new([0; LINE]),
            float: Vec::with_capacity(32),
        }
    }

    /// Appends the flows.json line of a record.
    pub fn write(&mut self, rec: &[u8], out: &mut Vec<u8>) {
        let mut r = RecordReader::new(rec);
        let mut line = Line {
            buf: &mut self.buf,
            pos: 0,
            out,
        };
        line.put(|w| {
            w[0] = b'{';
            1
        });
        // the first key written drops its leading comma
        let mut skip = 1;
        for c in &self.columns {
            let reps = if c.repeating { r.reps() } else { 1 };
            if c.repeating && reps == 0 {
                continue;
            }
            match &c.short_key {
                Some(k) => line.short_key(k, skip, c.key.len()),
                None => line.key(&self.keys, c.key.start + skip..c.key.end),
            }
            skip = 0;
            if let (false, &[t]) = (c.repeating, c.types) {
                // most columns: one value
                put_value(&mut line, &mut r, t, &mut self.float);
                continue;
            }
            let compound = c.types.len() > 1;
            if c.repeating {
                line.byte(b'[');
            }
            for k in 0..reps {
                if k > 0 {
                    line.byte(b',');
                }
                if compound {
                    line.byte(b'[');
                }
                for (j, &t) in c.types.iter().enumerate() {
                    if j > 0 {
                        line.byte(b',');
                    }
                    put_value(&mut line, &mut r, t, &mut self.float);
                }
                if compound {
                    line.byte(b']');
                }
            }
            if c.repeating {
                line.byte(b']');
            }
        }
        line.put(|w| {
            w[..2].copy_from_slice(b"}\n");
            2
        });
        line.finish();
    }
}

/// Appends one JSON line for a record (builds a [`JsonFormatter`] each time: for tests and
/// one-off lines).
pub fn write_record(cols: &[Column], rec: &[u8], out: &mut Vec<u8>) {
    JsonFormatter::new(cols).write(rec, out);
}

/// One value of type `t` read from the record.
#[inline(always)]
fn put_value(line: &mut Line, r: &mut RecordReader, t: Ty, float: &mut Vec<u8>) {
    match t {
        Ty::Dir => {
            let d = r.uint(1);
            line.put(|w| {
                w[..3].copy_from_slice(if d == 0 { b"\"A\"" } else { b"\"B\"" });
                3
            })
        }
        Ty::U8 => put(line, r.uint(1), tp::put_u64),
        Ty::U16 => put(line, r.uint(2), tp::put_u64),
        Ty::U32 => put(line, r.uint(4), tp::put_u64),
        Ty::U64 => put(line, r.uint(8), tp::put_u64),
        Ty::I8 => put(line, r.uint(1) as i8 as i64, tp::put_i64),
        Ty::I16 => put(line, r.uint(2) as i16 as i64, tp::put_i64),
        Ty::I32 => put(line, r.uint(4) as i32 as i64, tp::put_i64),
        Ty::I64 => put(line, r.uint(8) as i64, tp::put_i64),
        Ty::H8 => quoted(line, r.uint(1), |w, v| tp::put_hex(w, v, 1)),
        Ty::H16 => quoted(line, r.uint(2), |w, v| tp::put_hex(w, v, 2)),
        Ty::H32 => quoted(line, r.uint(4), |w, v| tp::put_hex(w, v, 4)),
        Ty::H64 => quoted(line, r.uint(8), |w, v| tp::put_hex(w, v, 8)),
        Ty::F => {
            let v = f32::from_bits(r.uint(4) as u32);
            let mut done = false;
            put(line, v, |w, v| {
                let n = tp::put_json_f32(w, v);
                done = n.is_some();
                n.unwrap_or(0)
            });
            if !done {
                line.float(f64::from(v), float);
            }
        }
        Ty::D => line.float(f64::from_bits(r.uint(8)), float),
        Ty::Ts => {
            let sec = r.uint(8);
            let nsec = r.uint(4) as u32;
            quoted(line, (sec, nsec), |w, (s, ns)| tp::put_ts(w, s, ns))
        }
        Ty::Mac => quoted(line, r.array(), tp::put_mac),
        Ty::IpX => {
            let ver = r.uint(1);
            let a: [u8; 16] = r.array();
            quoted(line, a, |w, a| match ver {
                4 => tp::put_ipv4(w, [a[0], a[1], a[2], a[3]]),
                6 => tp::put_ipv6(w, a),
                _ => {
                    w[0] = b'-';
                    1
                }
            })
        }
        Ty::Sc => line.string(r.str()),
    }
}

/// A value's text as it is.
#[inline(always)]
fn put<V>(line: &mut Line, v: V, put: impl FnOnce(&mut tp::Window, V) -> usize) {
    line.put(|w| match w.first_chunk_mut() {
        Some(w) => put(w, v),
        None => unreachable!("ROOM holds a window"),
    })
}

/// A value's text between double quotes.
#[inline(always)]
fn quoted<V>(line: &mut Line, v: V, put: impl FnOnce(&mut tp::Window, V) -> usize) {
    line.put(|w| {
        w[0] = b'"';
        let Some(inner) = w[1..].first_chunk_mut() else {
            unreachable!("ROOM holds a window after the quote");
        };
        let n = put(inner, v);
        w[1 + n] = b'"';
        n + 2
    })
}

/// Moves `buf[..pos]` to the output (for lines longer than the buffer); returns the new
/// position, 0.
#[cold]
#[inline(never)]
fn spill(buf: &[u8; LINE], pos: usize, out: &mut Vec<u8>) -> usize {
    out.extend_from_slice(&buf[..pos]);
    0
}

/// A line under construction: `buf[..pos]`, after what `out` got already.
struct Line<'a> {
    buf: &'a mut [u8; LINE],
    pos: usize,
    out: &'a mut Vec<u8>,
}

impl Line<'_> {
    /// What `put` stores into a window at the end of the line.
    #[inline(always)]
    fn put(&mut self, put: impl FnOnce(&mut [u8; ROOM]) -> usize) {
        if self.pos > LINE - ROOM {
            self.spill();
        }
        let Some(w) = self.buf[self.pos..].first_chunk_mut() else {
            unreachable!("room was made above");
        };
        self.pos += put(w);
    }

    #[inline(always)]
    fn byte(&mut self, b: u8) {
        self.put(|w| {
            w[0] = b;
            1
        })
    }

    /// A key of `len` bytes (at most `KEY_CHUNK`) from `key[skip..]` (`skip` 0 or 1).
    #[inline(always)]
    fn short_key(&mut self, key: &[u8; KEY_CHUNK + 1], skip: usize, len: usize) {
        let Some(chunk) = key[skip.min(1)..].first_chunk::<KEY_CHUNK>() else {
            unreachable!("the key array has one byte more than a chunk");
        };
        self.put(|w| {
            w[..KEY_CHUNK].copy_from_slice(chunk);
            len - skip
        })
    }

    /// `keys[range]`, in fixed-size chunks (`keys` has `KEY_CHUNK` bytes of padding).
    #[inline(always)]
    fn key(&mut self, keys: &[u8], range: std::ops::Range<usize>) {
        let mut at = range.start;
        while at < range.end {
            let n = (range.end - at).min(KEY_CHUNK);
            let Some(chunk) = keys[at..].first_chunk::<KEY_CHUNK>() else {
                unreachable!("keys are padded");
            };
            self.put(|w| {
                w[..KEY_CHUNK].copy_from_slice(chunk);
                n
            });
            at += n;
        }
    }

    /// jsonSink's float text (see [`tf::push_json_f64_17`]).
    #[inline]
    fn float(&mut self, v: f64, text: &mut Vec<u8>) {
        text.clear();
        tf::push_json_f64_17(text, v);
        // at most "-1.2345678901234567e-308" (24 bytes): always fits
        match text.get(..ROOM) {
            None => self.put(|w| {
                w[..text.len()].copy_from_slice(text);
                text.len()
            }),
            Some(_) => {
                self.spill();
                self.out.extend_from_slice(text);
            }
        }
    }

    /// A string between double quotes, through the sanitizer.
    #[inline]
    fn string(&mut self, s: &[u8]) {
        self.byte(b'"');
        let need = tp::SANITIZED_PER_BYTE * s.len() + 8;
        if need > LINE - self.pos {
            self.spill();
        }
        if need > LINE - self.pos {
            // longer than the buffer: straight to the output
            tf::push_sanitized(self.out, s);
        } else {
            self.pos += tp::put_sanitized(&mut self.buf[self.pos..], s);
        }
        self.byte(b'"');
    }

    /// Moves the line so far to the output (for lines longer than the buffer).
    #[inline(always)]
    fn spill(&mut self) {
        // the fields go separately: a `Line` passed to a call would live in memory
        self.pos = spill(self.buf, self.pos, self.out);
    }

    fn finish(self) {
        self.out.extend_from_slice(&self.buf[..self.pos]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::columns::Record;

    /// The line of a record the plain way: a `Value` per scalar through `textfmt`'s `Vec`
    /// writers (the formatter before [`JsonFormatter`], kept as the reference).
    fn reference_line(cols: &[Column], rec: &[u8]) -> Vec<u8> {
        use crate::output::columns::Value;
        let value = |v: Value, out: &mut Vec<u8>| match v {
            Value::Dir(d) => out.extend_from_slice(if d == 0 { b"\"A\"" } else { b"\"B\"" }),
            Value::U(x) => tf::push_u64(out, x),
            Value::I(x) => tf::push_i64(out, x),
            Value::H(x, w) => {
                out.push(b'"');
                tf::push_hex(out, x, w);
                out.push(b'"');
            }
            Value::F(x) => tf::push_json_f64_17(out, x as f64),
            Value::D(x) => tf::push_json_f64_17(out, x),
            Value::Ts(s, ns) => {
                out.push(b'"');
                tf::push_ts(out, s, ns);
                out.push(b'"');
            }
            Value::Mac(m) => {
                out.push(b'"');
                tf::push_mac(out, m);
                out.push(b'"');
            }
            Value::Ip(ver, a) => {
                out.push(b'"');
                match ver {
                    4 => tf::push_ipv4(out, [a[0], a[1], a[2], a[3]]),
                    6 => tf::push_ipv6(out, a),
                    _ => out.push(b'-'),
                }
                out.push(b'"');
            }
            Value::Str(s) => {
                out.push(b'"');
                tf::push_sanitized(out, s);
                out.push(b'"');
            }
        };
        let mut out = Vec::new();
        let mut r = RecordReader::new(rec);
        out.push(b'{');
        let mut first = true;
        for c in cols {
            let reps = if c.repeating { r.reps() } else { 1 };
            if c.repeating && reps == 0 {
                continue;
            }
            if !first {
                out.push(b',');
            }
            first = false;
            out.push(b'"');
            out.extend_from_slice(c.name.as_bytes());
            out.extend_from_slice(b"\":");
            let compound = c.types.len() > 1;
            if c.repeating {
                out.push(b'[');
            }
            for k in 0..reps {
                if k > 0 {
                    out.push(b',');
                }
                if compound {
                    out.push(b'[');
                }
                for (j, &t) in c.types.iter().enumerate() {
                    if j > 0 {
                        out.push(b',');
                    }
                    value(r.value(t), &mut out);
                }
                if compound {
                    out.push(b']');
                }
            }
            if c.repeating {
                out.push(b']');
            }
        }
        out.extend_from_slice(b"}\n");
        out
    }

    /// The formatter against the reference on random columns and records (see the txt
    /// test), names of every length around the key chunk, one formatter per column list.
    #[test]
    fn random_records_match_the_reference() {
        use crate::output::txt::tests::{check_random_records, random_columns};
        use crate::testutil::XorShift;
        let mut r = XorShift(0x150a_7e57);
        for round in 0..300 {
            let n = 1 + r.below(60) as usize;
            let mut cols = random_columns(&mut r, n);
            for c in &mut cols {
                let len = r.below(70) as usize;
                c.name = Box::leak("k".repeat(len).into_boxed_str());
            }
            let mut f = JsonFormatter::new(&cols);
            check_random_records(
                &mut r,
                &cols,
                round,
                |rec, out| f.write(rec, out),
                reference_line,
            );
        }
    }

    #[test]
    fn object_with_arrays_and_omitted_empty_repeats() {
        const COLS: &[Column] = &[
            Column::new("dir", &[Ty::Dir], ""),
            Column::rep("numHdrs", &[Ty::U16], ""),
            Column::rep("vlanID", &[Ty::U16], ""),
            Column::new("ipOptCpCl_Num", &[Ty::H8, Ty::H32], ""),
            Column::new("srcIP", &[Ty::IpX], ""),
        ];
        let mut r = Record::default();
        r.u8(0);
        r.reps(1);
        r.u16(3);
        r.reps(0);
        r.u8(0);
        r.u32(0);
        r.ip(4, &[192, 168, 1, 212, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        let mut out = Vec::new();
        write_record(COLS, &r.buf, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"dir\":\"A\",\"numHdrs\":[3],\"ipOptCpCl_Num\":[\"0x00\",\"0x00000000\"],\"srcIP\":\"192.168.1.212\"}\n"
        );
    }
}
