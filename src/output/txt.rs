//! txtSink: flows.txt lines and headers.txt (spec/txtSink.md).

use super::columns::{Column, RecordReader, Ty, Value};
use crate::textfmt as tf;

/// The header line: `%` + names joined by TAB.
pub fn header_line(cols: &[Column]) -> Vec<u8> {
    let mut out = b"%".to_vec();
    for (i, c) in cols.iter().enumerate() {
        if i > 0 {
            out.push(b'\t');
        }
        out.extend_from_slice(c.name.as_bytes());
    }
    out.push(b'\n');
    out
}

/// Appends one scalar as text.
#[inline(always)]
pub fn write_value(v: Value, t: Ty, out: &mut Vec<u8>) {
    match v {
        Value::Dir(d) => out.push(if d == 0 { b'A' } else { b'B' }),
        Value::U(x) => tf::push_u64(out, x),
        Value::I(x) => tf::push_i64(out, x),
        Value::H(x, w) => tf::push_hex(out, x, w),
        Value::F(x) => tf::push_g7(out, x),
        Value::D(x) => tf::push_f6(out, x),
        Value::Ts(s, ns) => tf::push_ts(out, s, ns),
        Value::Mac(m) => tf::push_mac(out, m),
        Value::Ip(ver, a) => match ver {
            4 => tf::push_ipv4(out, [a[0], a[1], a[2], a[3]]),
            6 => tf::push_ipv6(out, a),
            _ => out.push(b'-'),
        },
        Value::Str(s) => {
            debug_assert_eq!(t, Ty::Sc);
            tf::push_sanitized(out, s)
        }
    }
}

/// Appends one flows.txt line for a record.
pub fn write_record(cols: &[Column], rec: &[u8], out: &mut Vec<u8>) {
    let mut r = RecordReader::new(rec);
    for (i, c) in cols.iter().enumerate() {
        if i > 0 {
            out.push(b'\t');
        }
        let reps = if c.repeating { r.reps() } else { 1 };
        for k in 0..reps {
            if k > 0 {
                out.push(b';');
            }
            for (j, &t) in c.types.iter().enumerate() {
                if j > 0 {
                    out.push(b'_');
                }
                let v = r.value(t);
                write_value(v, t, out);
            }
        }
    }
    out.push(b'\n');
}

/// headers.txt: the comment block, then one line per column.
pub fn headers_file(preamble: &[String], cols: &[Column]) -> String {
    let mut s = String::new();
    for l in preamble {
        s.push_str(l);
        s.push('\n');
    }
    s.push_str("# Col No.\tType\tName\tDescription\n");
    for (i, c) in cols.iter().enumerate() {
        s.push_str(&format!(
            "{}\t{}\t{}\t{}\n",
            i + 1,
            c.type_text(),
            c.name,
            c.desc
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::columns::Record;

    #[test]
    fn line_with_compound_repeating_and_empty_columns() {
        const COLS: &[Column] = &[
            Column::new("dir", &[Ty::Dir], ""),
            Column::rep("numHdrs", &[Ty::U16], ""),
            Column::rep("vlanID", &[Ty::U16], ""),
            Column::new("ipOptCpCl_Num", &[Ty::H8, Ty::H32], ""),
            Column::new("srcIP", &[Ty::IpX], ""),
            Column::new("avg", &[Ty::F], ""),
        ];
        let mut r = Record::default();
        r.u8(1);
        r.reps(2);
        r.u16(5);
        r.u16(7);
        r.reps(0);
        r.u8(0);
        r.u32(0);
        r.ip(0, &[0; 16]);
        r.f32(158.39186);
        let mut out = Vec::new();
        write_record(COLS, &r.buf, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "B\t5;7\t\t0x00_0x00000000\t-\t158.3919\n"
        );
        assert_eq!(header_line(&COLS[..2]), b"%dir\tnumHdrs\n");
    }
}
