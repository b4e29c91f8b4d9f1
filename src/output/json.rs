//! jsonSink: one JSON object per flow (`PREFIX_flows.json`), as T2's jsonSink writes them:
//! hex values, IPs, MACs and timestamps are strings, repeating and compound columns are arrays,
//! repeating columns without repetitions are left out, floats have 17 significant digits.

use super::columns::{Column, RecordReader, Value};
use crate::textfmt as tf;

fn write_json_value(v: Value, out: &mut Vec<u8>) {
    match v {
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
    }
}

/// Appends one JSON line for a record.
pub fn write_record(cols: &[Column], rec: &[u8], out: &mut Vec<u8>) {
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
                write_json_value(r.value(t), out);
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::columns::{Record, Ty};

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
